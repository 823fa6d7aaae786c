import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import { counted } from '../core/display.js';
import { CshareError } from '../core/errors.js';
import type { Replica, ReplicaStatus } from '../core/Replica.js';
import type { RefusedPath } from '../core/refused.js';
import type { WorktreeWatch } from '../store/fs/WorktreeWatcher.js';
import { openWorktree, type OpenWorktree } from '../store/openWorktree.js';
import { checkRelayAddress, connectTimeoutMs, dialAny } from './dial.js';
import { helloAsSharer } from './hello.js';
import { encodeJoinCode, newShareSecrets, worktreeIdToString, type ShareSecrets } from './joinCode.js';
import { createCshareNode, type CshareNode } from './libp2p/Libp2pNode.js';
import { startRelay, type RunningRelay } from './relayServer.js';
import { SyncLoop } from './SyncLoop.js';
import { greeted, peerKey, refusedEvent, SyncRun } from './SyncRun.js';
import type { SessionEvent, SyncState } from './SyncSession.js';
import { serveSyncControl } from './syncControl.js';
import { startLive, type StartLive } from './liveHost.js';
import { cshareConnection } from './connection.js';

/** What `share` keeps in the store, so running it again resumes the same share (same code). */
export interface ShareState extends SyncState {
  worktreeId: string;
  readWrite: string;
  readOnly: string;
  /** Relay addresses, or null when the sharer serves joiners itself. */
  relay: string[] | null;
  /**
   * The join codes were printed once: from then on, what changes while cshare is not running
   * goes up only with consent. A share that never reached its relay shared nothing yet.
   * (Absent in stores from before it: then an acknowledged upload tells.)
   */
  announced?: boolean;
}

/** Events of a running share (one JSON line each with `--json`). */
export type ShareEvent =
  | { type: 'sharing'; root: string; files: number; codes: JoinCodes; relay: string[]; resumed?: ResumedRelay }
  /** Said before connecting: a share without `--relay` resumes through the relay it used before. */
  | { type: 'resuming'; message: string } & ResumedRelay
  /** A port this share listened on before is taken: its join codes changed (see `planListen`). */
  | { type: 'warning'; message: string; stored: string; now: string; reason: string }
  | SessionEvent;

/**
 * A `share` without `--relay` in a worktree shared through a relay before resumes through that
 * relay (same codes); `--serve` shares from this process instead. Said, so that nobody
 * uploads to a relay they forgot, or wonders why the codes name it.
 */
export interface ResumedRelay {
  /** The relay it resumes with. */
  relay: string;
  /** How to share without it. */
  without: string;
}

/** The flag that shares from this process although a relay was used before. */
export const SERVE_FLAG = '--serve';

/** Options for {@link share}. */
export interface ShareOptions {
  cwd: string;
  /** Relay multiaddr; without it this process serves joiners itself. */
  relay?: string;
  /** The relay operator's token (`--relay-token`), for a relay that requires one to register. */
  relayToken?: string;
  /** Where the built-in relay listens (without `relay`). */
  listen?: string[];
  /**
   * Serve joiners from this process even if the worktree was shared through a relay before
   * (a new share, with new codes); without it, a share without `relay` resumes that relay.
   */
  serve?: boolean;
  /** Upload changes made while cshare was not running without asking. */
  yes?: boolean;
  /** Asks the user (on a TTY) whether to upload those changes. */
  confirm?: (changed: ReplicaStatus['changed']) => Promise<boolean>;
  once?: boolean;
  /** Keep trying to reach the relay for ever, instead of giving up after {@link connectTimeoutMs}. */
  retry?: boolean;
  onEvent: (event: ShareEvent) => void;
  /** Told, as `signal` aborts, where the share stood (see `SyncLoop.standing`). */
  onStop?: (standing: { notUploaded: number; inSync: boolean }) => void;
  /** Starts the editor server on this share (see `liveHost.ts`); not with `once`. */
  live?: StartLive;
  signal: AbortSignal;
}

/** What {@link share} returns, once it stopped (or, with `once`, uploaded). */
export interface ShareResult {
  codes: JoinCodes;
  relay: string[];
  uploaded: number;
  refused: RefusedPath[];
  resumed?: ResumedRelay;
}

/** The read-write and the read-only join code of a share. */
export interface JoinCodes {
  readWrite: string;
  readOnly: string;
}

/**
 * Shares the worktree containing `cwd` until `signal` aborts (Ctrl-C, SIGTERM or
 * `cshare unshare`): uploads what the relay lacks, prints the join codes, then streams every
 * saved change to the relay and applies everyone else's. With `once`, uploads and exits.
 */
export async function share(opts: ShareOptions): Promise<ShareResult> {
  checkShareFlags(opts);
  const run = new SyncRun('share');
  const wt = await openWorktree({ cwd: opts.cwd, statusView: false, flushWrites: true, guard: run.guard });
  run.hold('closing the store', () => wt.close());
  const { replica } = wt;
  replica.onRefused = (r) => opts.onEvent(refusedEvent(r));
  run.stopOn(opts.signal, (standing) => opts.onStop?.(standing));
  try {
    const stored = await replica.getMeta<ShareState>('share');
    const resumed = !opts.relay && !opts.serve && stored?.relay ? resumedRelay(stored.relay[0]!) : undefined;
    if (resumed) opts.onEvent({ type: 'resuming', ...resumed, message: resumingMessage(resumed) });
    if (stored && (stored.announced ?? stored.acked >= 0)) await confirmChangesSinceLastRun(replica, opts);
    const state = await shareState(replica, stored, opts);
    // Nothing after the acknowledged seq may be compacted away, from the first scan on.
    await replica.holdLogAfter(state.acked);
    const secrets: ShareSecrets = { worktreeId: Buffer.from(state.worktreeId, 'hex'), readWrite: Buffer.from(state.readWrite, 'hex'), readOnly: Buffer.from(state.readOnly, 'hex') };
    const relay = await reachRelay({ replica, state, opts, run });
    const codes = joinCodes(relay.addrs, secrets);
    const uploaded = await syncShare({ opts, run, wt, state, secrets, relay, codes, resumed });
    run.throwIfLost();
    return { codes, relay: relay.addrs, uploaded, refused: replica.refusedPaths(), ...(resumed ? { resumed } : {}) };
  } finally {
    await run.end();
  }
}

/** A malformed `--relay`, or one with `--serve`, is said at once, before anything is opened or created. */
function checkShareFlags(opts: ShareOptions): void {
  if (opts.relay !== undefined) checkRelayAddress(opts.relay);
  if (opts.relay !== undefined && opts.serve) throw new CshareError('USAGE', `--relay and ${SERVE_FLAG} exclude each other: --relay shares through a relay, ${SERVE_FLAG} from this process`);
}

/**
 * Resuming a share: what changed while nobody watched must not leak silently (a new secret
 * file). Goes on if nothing did, or with `yes`, or if `confirm` agrees; else
 * `CONFIRM_REQUIRED`.
 */
async function confirmChangesSinceLastRun(replica: Replica, opts: ShareOptions): Promise<void> {
  const { changed } = await replica.status();
  if (changed.length === 0 || opts.yes) return;
  const ok = opts.confirm ? await opts.confirm(changed) : false;
  if (ok) return;
  throw new CshareError(
    'CONFIRM_REQUIRED',
    `${counted(changed.length, 'file')} changed while cshare was not running: ${changed.slice(0, 10).map((c) => c.path).join(', ')}${changed.length > 10 ? ', ...' : ''}. Review them, then run cshare share --yes to upload them`,
    { changed },
  );
}

/**
 * The share's state: the stored one, or, for a first share, another relay, or this process
 * instead of a relay, a new share (new secrets, so new codes), stored at once.
 */
async function shareState(replica: Replica, stored: ShareState | undefined, opts: ShareOptions): Promise<ShareState> {
  if (stored && !(opts.relay && stored.relay?.[0] !== opts.relay) && !(opts.serve && stored.relay !== null)) return stored;
  const s = newShareSecrets();
  const state: ShareState = {
    worktreeId: worktreeIdToString(s.worktreeId), readWrite: hex(s.readWrite), readOnly: hex(s.readOnly),
    // A new share uploads the whole state (first contact).
    relay: opts.relay ? [opts.relay] : null, relaySeq: 0, acked: -1,
  };
  await replica.putMeta('share', state);
  return state;
}

/** The relay a share goes through: one elsewhere (through a libp2p node of its own), or one in this process. */
interface ReachedRelay {
  /** Its addresses, as the join codes name them. */
  addrs: string[];
  /** The relay in this process, when the share serves joiners itself. */
  local?: RunningRelay;
  /** The libp2p node that dials the relay elsewhere. */
  node?: CshareNode;
  /**
   * What registers the worktree: the operator's token, or the in-process relay's own, which
   * only this process knows (nobody else may register worktrees on it).
   */
  token?: string;
}

/**
 * Gets ready to reach the share's relay: a libp2p node for a relay elsewhere, or a relay
 * started in this process. Either is held by `run` until the share ends.
 */
async function reachRelay(ctx: { replica: Replica; state: ShareState; opts: ShareOptions; run: SyncRun }): Promise<ReachedRelay> {
  const { replica, state, opts, run } = ctx;
  const signal = run.stop.signal;
  if (state.relay) {
    const node = await createCshareNode({ listen: [], relayClient: false, privateKey: await peerKey(replica.root, signal), signal });
    run.hold('stopping libp2p', () => node.stop());
    return { addrs: state.relay, node, token: opts.relayToken };
  }
  // Its identity and ports are kept in the store, so the codes stay the same from one
  // start to the next and joiners holding them reconnect. A token of its own: only this
  // share registers on it.
  const token = randomBytes(16).toString('hex');
  const local = await startRelay({ dataDir: join(replica.root, '.cshare', 'relay'), listen: opts.listen, signal, service: { admission: { tokens: [token] } } });
  run.hold('closing the in-process relay', () => local.close());
  for (const m of local.moved) {
    opts.onEvent({
      type: 'warning', ...m,
      message: `${m.reason}, so this share listens on ${m.now} instead of ${m.stored}: the join codes printed before do not reach it; give joiners the new codes below (the old ones work again once that port is free and share restarts)`,
    });
  }
  return { addrs: local.addresses, local, token };
}

/** The read-write and read-only codes of a share through `relay`. */
function joinCodes(relay: string[], secrets: ShareSecrets): JoinCodes {
  return {
    readWrite: encodeJoinCode({ relay, worktreeId: secrets.worktreeId, secret: secrets.readWrite, readOnly: false }),
    readOnly: encodeJoinCode({ relay, worktreeId: secrets.worktreeId, secret: secrets.readOnly, readOnly: true }),
  };
}

/**
 * Runs the share's sync loop to its end: the watcher (from before the first scan), the
 * control socket, and the `sharing` event once in sync. Returns how many changes it uploaded.
 */
async function syncShare(ctx: { opts: ShareOptions; run: SyncRun; wt: OpenWorktree; state: ShareState; secrets: ShareSecrets; relay: ReachedRelay; codes: JoinCodes; resumed: ResumedRelay | undefined }): Promise<number> {
  const { opts, run, wt, secrets, relay, codes, resumed } = ctx;
  const { replica } = wt;
  let state = ctx.state;
  const saveState = async (s: SyncState) => replica.putMeta('share', { ...state, relaySeq: s.relaySeq, acked: s.acked, stored: s.stored ?? 0 });
  const connect = async (signal: AbortSignal) => {
    const conn = relay.local
      ? relay.local.connectLocal(replica.identity.replicaId)
      : cshareConnection(await dialAny(relay.node!, relay.addrs, signal), { peer: `relay ${relay.addrs[0]}` });
    const hello = await greeted(conn, (c) => helloAsSharer(c, { replica, worktreeId: state.worktreeId, secrets, name: basename(replica.root), token: relay.token, signal }));
    return { conn, access: hello.access! };
  };
  let uploaded = 0;
  let watcher: WorktreeWatch | undefined;
  const syncState: SyncState = { relaySeq: state.relaySeq, acked: state.acked, stored: state.stored ?? 0 };
  const loop = new SyncLoop({
    replica, worktreeId: state.worktreeId, state: syncState, saveState, connect, signal: run.stop.signal, once: opts.once,
    beforeLocalChange: () => wt.guard?.assertIntact(),
    unreachableHint: `check that the relay runs and that this machine can reach it${resumed ? `, or run cshare share ${SERVE_FLAG} to share from this process instead (a new share, with new join codes)` : ''}`,
    // The in-process relay is always there; a relay elsewhere may never answer.
    giveUpAfterMs: opts.retry || relay.local ? undefined : connectTimeoutMs(),
    onEvent: (e) => {
      if (e.type === 'uploaded') uploaded += e.changes;
      opts.onEvent(e);
    },
    onInSync: async () => {
      if (!state.announced) {
        state = { ...state, announced: true };
        await saveState(syncState);
      }
      // Anything saved since the watch began (during the first scan and upload) is
      // recorded and uploaded next.
      watcher?.release();
      opts.onEvent({ type: 'sharing', root: replica.root, files: replica.fileCount(), codes, relay: relay.addrs, ...(resumed ? { resumed } : {}) });
    },
  });
  run.loop = loop;
  // Watching starts before the first scan: every save after it is seen, with no rescan of
  // the whole tree once the upload is done.
  watcher = opts.once ? undefined : await loop.watchHeld(replica.root);
  if (watcher) run.hold('stopping the watcher', () => watcher!.close());
  if (!opts.once) {
    const control = await serveSyncControl({ replica, loop, state: syncState, stop: run.stop, command: 'share', info: () => ({ sharing: 'on', codes, relay: relay.addrs }) });
    run.hold('closing the control socket', () => control.close());
    await startLive({ start: opts.live, loop, run, replica, role: 'sharer', readOnly: false });
  }
  await loop.run();
  return uploaded;
}

function resumedRelay(relay: string): ResumedRelay {
  return { relay, without: `cshare share ${SERVE_FLAG}` };
}

/** What a share that resumes its relay says before it connects. */
function resumingMessage(r: ResumedRelay): string {
  return `Resuming the share through the relay it used before: ${r.relay} (${r.without} shares from this process instead, with new join codes; --relay <addr> through another relay)`;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
