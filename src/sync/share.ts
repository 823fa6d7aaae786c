import { counted } from '../core/display.js';
import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import { CshareError } from '../core/errors.js';
import { logger } from '../core/log.js';
import type { ReplicaStatus } from '../core/Replica.js';
import { refusedMessage, type RefusedPath } from '../core/refused.js';
import { openWorktree } from '../store/openWorktree.js';
import { serveSyncControl } from './syncControl.js';
import { helloAsSharer } from './hello.js';
import { encodeJoinCode, newShareSecrets, worktreeIdToString, type ShareSecrets } from './joinCode.js';
import { createCshareNode, type CshareNode } from './libp2p/Libp2pNode.js';
import { loadOrCreateIdentity } from './libp2p/identity.js';
import type { PrivateKey } from './libp2p/types.js';
import { startRelay, type RunningRelay } from './relayServer.js';
import { RpcConnection } from './rpc/RpcConnection.js';
import { SyncLoop } from './SyncLoop.js';
import type { SessionEvent, SyncState } from './SyncSession.js';
import { setStep } from './step.js';
import { checkRelayAddress, connectTimeoutMs, dialAny } from './dial.js';

const log = logger('share');

/** How often a running share or join checks that its store is still in place (see `StoreGuard`). */
export const STORE_CHECK_MS = 1000;

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
  | { type: 'sharing'; root: string; files: number; codes: { readWrite: string; readOnly: string }; relay: string[]; resumed?: ResumedRelay }
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
  signal: AbortSignal;
}

/**
 * Shares the worktree containing `cwd` until `signal` aborts (Ctrl-C, SIGTERM or
 * `cshare unshare`): uploads what the relay lacks, prints the join codes, then streams every
 * saved change to the relay and applies everyone else's. With `once`, uploads and exits.
 */
export async function share(opts: ShareOptions): Promise<{ codes: { readWrite: string; readOnly: string }; relay: string[]; uploaded: number; refused: RefusedPath[]; resumed?: ResumedRelay }> {
  // A malformed --relay is said at once, before anything is opened or created.
  if (opts.relay !== undefined) checkRelayAddress(opts.relay);
  if (opts.relay !== undefined && opts.serve) throw new CshareError('USAGE', `--relay and ${SERVE_FLAG} exclude each other: --relay shares through a relay, ${SERVE_FLAG} from this process`);
  const stop = new AbortController();
  // A store moved away or replaced under the running share stops it (see StoreGuard).
  let lost: CshareError | undefined;
  const guard = { command: 'share', everyMs: STORE_CHECK_MS, onLost: (err: CshareError) => ((lost = err), stop.abort()) };
  const wt = await openWorktree({ cwd: opts.cwd, statusView: false, flushWrites: true, guard });
  const { replica } = wt;
  replica.onRefused = (r) => opts.onEvent(refusedEvent(r));
  const cleanups: [string, () => Promise<void>][] = [['closing the store', () => wt.close()]];
  let loop: SyncLoop | undefined;
  const onAbort = () => {
    opts.onStop?.(loop?.standing() ?? { notUploaded: 0, inSync: false });
    stop.abort();
  };
  opts.signal.addEventListener('abort', onAbort, { once: true });
  try {
    let state = await replica.getMeta<ShareState>('share');
    const resumed = !opts.relay && !opts.serve && state?.relay ? resumedRelay(state.relay[0]!) : undefined;
    if (resumed) opts.onEvent({ type: 'resuming', ...resumed, message: resumingMessage(resumed) });
    if (state && (state.announced ?? state.acked >= 0)) {
      // Resuming: what changed while nobody watched must not leak silently (a new secret file).
      const { changed } = await replica.status();
      if (changed.length > 0 && !opts.yes) {
        const ok = opts.confirm ? await opts.confirm(changed) : false;
        if (!ok) {
          throw new CshareError(
            'CONFIRM_REQUIRED',
            `${counted(changed.length, 'file')} changed while cshare was not running: ${changed.slice(0, 10).map((c) => c.path).join(', ')}${changed.length > 10 ? ', ...' : ''}. Review them, then run cshare share --yes to upload them`,
            { changed },
          );
        }
      }
    }
    // Another relay, or this process instead of a relay: a new share (new codes).
    if (!state || (opts.relay && state.relay?.[0] !== opts.relay) || (opts.serve && state.relay !== null)) {
      const s = newShareSecrets();
      state = {
        worktreeId: worktreeIdToString(s.worktreeId), readWrite: hex(s.readWrite), readOnly: hex(s.readOnly),
        // A new share uploads the whole state (first contact).
        relay: opts.relay ? [opts.relay] : null, relaySeq: 0, acked: -1,
      };
      await replica.putMeta('share', state);
    }
    // Nothing after the acknowledged seq may be compacted away, from the first scan on.
    await replica.holdLogAfter(state.acked);
    const secrets: ShareSecrets = { worktreeId: Buffer.from(state.worktreeId, 'hex'), readWrite: Buffer.from(state.readWrite, 'hex'), readOnly: Buffer.from(state.readOnly, 'hex') };
    const saveState = async (s: SyncState) => replica.putMeta('share', { ...state, relaySeq: s.relaySeq, acked: s.acked });

    let relay: RunningRelay | undefined;
    let node: CshareNode | undefined;
    let relayAddrs: string[];
    // Registering: with the operator's token, or with the in-process relay's own, which only
    // this process knows (nobody else may register worktrees on it).
    let token = opts.relayToken;
    if (state.relay) {
      node = await createCshareNode({ listen: [], relayClient: false, privateKey: await peerKey(replica.root, stop.signal), signal: stop.signal });
      cleanups.unshift(['stopping libp2p', () => node!.stop()]);
      relayAddrs = state.relay;
    } else {
      // Its identity and ports are kept in the store, so the codes stay the same from one
      // start to the next and joiners holding them reconnect. A token of its own: only this
      // share registers on it.
      token = randomBytes(16).toString('hex');
      relay = await startRelay({ dataDir: join(replica.root, '.cshare', 'relay'), listen: opts.listen, signal: stop.signal, service: { admission: { tokens: [token] } } });
      cleanups.unshift(['closing the in-process relay', () => relay!.close()]);
      relayAddrs = relay.addresses;
      for (const m of relay.moved) {
        opts.onEvent({
          type: 'warning', ...m,
          message: `${m.reason}, so this share listens on ${m.now} instead of ${m.stored}: the join codes printed before do not reach it; give joiners the new codes below (the old ones work again once that port is free and share restarts)`,
        });
      }
    }
    const codes = {
      readWrite: encodeJoinCode({ relay: relayAddrs, worktreeId: secrets.worktreeId, secret: secrets.readWrite, readOnly: false }),
      readOnly: encodeJoinCode({ relay: relayAddrs, worktreeId: secrets.worktreeId, secret: secrets.readOnly, readOnly: true }),
    };

    const connect = async (signal: AbortSignal) => {
      const conn = relay
        ? relay.connectLocal(replica.identity.replicaId)
        : new RpcConnection(await dialAny(node!, relayAddrs, signal), { peer: `relay ${relayAddrs[0]}` });
      try {
        const hello = await helloAsSharer(conn, { replica, worktreeId: state!.worktreeId, secrets, name: basename(replica.root), token, signal });
        return { conn, access: hello.access! };
      } catch (err) {
        conn.close();
        throw err;
      }
    };

    let uploaded = 0;
    const syncState: SyncState = { relaySeq: state.relaySeq, acked: state.acked };
    loop = new SyncLoop({
      replica, worktreeId: state.worktreeId, state: syncState, saveState, connect, signal: stop.signal, once: opts.once,
      beforeLocalChange: () => wt.guard?.assertIntact(),
      unreachableHint: `check that the relay runs and that this machine can reach it${resumed ? `, or run cshare share ${SERVE_FLAG} to share from this process instead (a new share, with new join codes)` : ''}`,
      // The in-process relay is always there; a relay elsewhere may never answer.
      giveUpAfterMs: opts.retry || relay ? undefined : connectTimeoutMs(),
      onEvent: (e) => {
        if (e.type === 'uploaded') uploaded += e.changes;
        opts.onEvent(e);
      },
      onInSync: async () => {
        if (!state!.announced) {
          state = { ...state!, announced: true };
          await saveState(syncState);
        }
        // Anything saved since the watch began (during the first scan and upload) is
        // recorded and uploaded next.
        watcher?.release();
        opts.onEvent({ type: 'sharing', root: replica.root, files: replica.fileCount(), codes, relay: relayAddrs, ...(resumed ? { resumed } : {}) });
      },
    });
    // Watching starts before the first scan: every save after it is seen, with no rescan of
    // the whole tree once the upload is done.
    const watcher = opts.once ? undefined : await loop.watchHeld(replica.root);
    if (watcher) cleanups.unshift(['stopping the watcher', () => watcher.close()]);
    if (!opts.once) {
      const control = await serveSyncControl({ replica, loop, state: syncState, stop, command: 'share', info: () => ({ sharing: 'on', codes, relay: relayAddrs }) });
      cleanups.unshift(['closing the control socket', () => control.close()]);
    }
    await loop.run();
    if (lost) throw lost;
    return { codes, relay: relayAddrs, uploaded, refused: replica.refusedPaths(), ...(resumed ? { resumed } : {}) };
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
    stop.abort();
    // Every resource is released even when one fails to close; failures are logged.
    for (const [name, c] of cleanups) {
      setStep(name);
      await c().catch((err: unknown) => log('cleanup failed: %s', (err as Error)?.message ?? err));
    }
  }
}

function resumedRelay(relay: string): ResumedRelay {
  return { relay, without: `cshare share ${SERVE_FLAG}` };
}

/** What a share that resumes its relay says before it connects. */
function resumingMessage(r: ResumedRelay): string {
  return `Resuming the share through the relay it used before: ${r.relay} (${r.without} shares from this process instead, with new join codes; --relay <addr> through another relay)`;
}

/** The event of a path that is not shared or not written (once per path; see `Replica.onRefused`). */
export function refusedEvent(r: RefusedPath): Extract<SessionEvent, { type: 'error' }> {
  return { type: 'error', code: r.code, message: refusedMessage(r), path: r.path, reason: r.reason };
}

/**
 * This worktree's libp2p key, in `.cshare/peer/` (owner-only): its peer id stays the same
 * across runs, because a relay binds each replica id to the peer that first used it.
 */
export async function peerKey(root: string, signal: AbortSignal): Promise<PrivateKey> {
  return (await loadOrCreateIdentity({ dataDir: join(root, '.cshare', 'peer'), signal })).privateKey;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
