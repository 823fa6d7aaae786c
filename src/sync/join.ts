import { counted } from '../core/display.js';
import { existsSync, lstatSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { CshareError } from '../core/errors.js';
import { logger } from '../core/log.js';
import { compareGitPaths } from '../core/Scanner.js';
import type { Replica } from '../core/Replica.js';
import { openWorktree, STORE_DIR } from '../store/openWorktree.js';
import { MemoryStore } from '../store/memory/MemoryStore.js';
import { NodeFs } from '../store/fs/NodeFs.js';
import { Replica as ReplicaClass } from '../core/Replica.js';
import { helloAsJoiner } from './hello.js';
import { decodeJoinCode, worktreeIdToString, type JoinCode } from './joinCode.js';
import { createCshareNode } from './libp2p/Libp2pNode.js';
import { RpcConnection } from './rpc/RpcConnection.js';
import type { WorktreeWatch } from '../store/fs/WorktreeWatcher.js';
import { SyncLoop } from './SyncLoop.js';
import { peerKey, refusedEvent, STORE_CHECK_MS } from './share.js';
import { connectTimeoutMs, dialAny } from './dial.js';
import type { RefusedPath } from '../core/refused.js';
import { serveSyncControl } from './syncControl.js';
import type { SessionEvent, SyncState } from './SyncSession.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { setStep } from './step.js';
import { defaultJoinFolder } from './joinFolder.js';

const log = logger('join');

/** What `join` keeps in the store, so joining the same directory again fetches only changes. */
export interface JoinState extends SyncState {
  worktreeId: string;
}

/** Events of a running join (one JSON line each with `--json`). */
export type JoinEvent = { type: 'joined'; root: string; files: number; access: 'rw' | 'ro' } | SessionEvent;

/**
 * A file the join would change: `create` or `overwrite` a local file with the shared one, or
 * `upload` a local file the share does not have (only with consent: see `JoinOptions.yes`);
 * or one it leaves alone although the share has the path: `keep` a local file that is not
 * shared from here (a secret, ignored), which an apply never writes over.
 */
export interface JoinChange {
  path: string;
  change: 'create' | 'overwrite' | 'upload' | 'keep';
}

/** Options for {@link join}. */
export interface JoinOptions {
  code: string;
  /** Target directory (default: a new folder named after the shared worktree; see `defaultJoinFolder`). */
  dir?: string;
  cwd: string;
  once?: boolean;
  dryRun?: boolean;
  force?: boolean;
  /** Keep trying to reach the relay for ever, instead of giving up after {@link connectTimeoutMs}. */
  retry?: boolean;
  /**
   * Upload local files the share does not have (or that changed while not joined) without
   * asking. Otherwise `confirm` asks (on a terminal), and without it the join refuses with
   * `CONFIRM_REQUIRED`: joining never sends a file of this folder to everyone unasked.
   */
  yes?: boolean;
  confirm?: (files: { path: string; change: string }[]) => Promise<boolean>;
  onEvent: (event: JoinEvent) => void;
  /** Told, as `signal` aborts, where the join stood (see `SyncLoop.standing`). */
  onStop?: (standing: { notUploaded: number; inSync: boolean; root: string }) => void;
  signal: AbortSignal;
}

/**
 * Joins a shared worktree into a directory, then keeps it in sync both ways until `signal`
 * aborts (or, with `once`, exits after writing the current state). Never destroys data: in a
 * directory that was not joined before, files that differ from the shared version stop the
 * join unless `force`, and then each local version is recorded in the local history before it
 * is replaced.
 */
export async function join(opts: JoinOptions): Promise<JoinResult> {
  const code = decodeJoinCode(opts.code);
  const worktreeId = worktreeIdToString(code.worktreeId);
  // Without a folder, one named after the shared worktree, as git clone names it.
  const root = opts.dir !== undefined ? resolve(opts.cwd, opts.dir) : await defaultJoinFolder({ cwd: opts.cwd, code, worktreeId, retry: opts.retry, unreachableHint: UNREACHABLE_HINT, signal: opts.signal });
  // A dry run changes nothing, not even the folder.
  const made = opts.dryRun ? undefined : makeJoinFolder(root);
  const progress: JoinProgress = { connected: false, joined: false };
  try {
    return await joinInto(opts, { code, worktreeId, root, progress });
  } catch (err) {
    if (made) removeWhatItMade(root, made, progress);
    throw err;
  }
}

/** What a join has done so far: what may be removed when it fails. */
interface JoinProgress {
  /** The relay accepted the hello of the join itself: from here on files may be written. */
  connected: boolean;
  /** The worktree was announced (`joined`): the user has it. */
  joined: boolean;
}

/** What {@link makeJoinFolder} found and made. */
interface MadeFolder {
  /** The first folder it created (the join folder or a parent of it), if it created any. */
  created?: string;
  /** Whether `.cshare/` was there before. */
  hadStore: boolean;
}

/**
 * Makes the folder to join into. A file in its place is `NOT_A_DIRECTORY` with what to do;
 * what it had to create is remembered, so that a join that fails leaves nothing behind.
 */
function makeJoinFolder(root: string): MadeFolder {
  if (existsSync(root) && !statSync(root).isDirectory()) {
    throw new CshareError('NOT_A_DIRECTORY', `${root} is a file, not a folder: name a folder to join into (a new one, or one whose files are to be kept in sync)`, { root });
  }
  const hadStore = existsSync(joinPath(root, STORE_DIR));
  try {
    return { created: mkdirSync(root, { recursive: true }), hadStore };
  } catch (err) {
    throw new CshareError('NOT_A_DIRECTORY', `cannot create the folder ${root} to join into (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); name another one`, { root }, { cause: err });
  }
}

/**
 * After a join that was refused or failed: a folder it created goes, unless the worktree was
 * announced (then its files are the user's); a store it created in an existing folder goes
 * if nothing reached the disk yet (before that, the folder's own files are untouched; after,
 * the store holds the local versions a `--force` replaced).
 */
function removeWhatItMade(root: string, made: MadeFolder, progress: JoinProgress): void {
  const target = made.created !== undefined ? (progress.joined ? undefined : made.created) : !made.hadStore && !progress.connected ? joinPath(root, STORE_DIR) : undefined;
  if (target === undefined) return;
  try {
    rmSync(target, { recursive: true, force: true });
    log('removed %s, made by a join that did not succeed', target);
  } catch (err) {
    log('could not remove %s: %s', target, (err as Error).message);
  }
}

/** What {@link join} returns. */
export interface JoinResult {
  root: string;
  files: number;
  changes?: JoinChange[];
  refused?: RefusedPath[];
}

async function joinInto(opts: JoinOptions, ctx: { code: JoinCode; worktreeId: string; root: string; progress: JoinProgress }): Promise<JoinResult> {
  const { code, worktreeId, root, progress } = ctx;
  // A dry run keeps nothing (a fresh key will do); a join keeps its peer id across runs.
  const privateKey = opts.dryRun ? undefined : await peerKey(root, opts.signal);
  const node = await createCshareNode({ listen: [], relayClient: false, privateKey, signal: opts.signal });
  try {
    const connect = async (replica: Replica, signal: AbortSignal) => {
      const conn = new RpcConnection(await dialAny(node, code.relay, signal), { peer: `relay ${code.relay[0]}` });
      try {
        const hello = await helloAsJoiner(conn, { replica, worktreeId, secret: code.secret, signal });
        return { conn, access: hello.access ?? 'ro' };
      } catch (err) {
        conn.close();
        throw err;
      }
    };

    const stop = new AbortController();
    // A store moved away or replaced under the running join stops it (see StoreGuard).
    let lost: CshareError | undefined;
    const guard = { command: 'join', everyMs: STORE_CHECK_MS, onLost: (err: CshareError) => ((lost = err), stop.abort()) };
    const wt = opts.dryRun ? undefined : await openWorktree({ cwd: root, exactRoot: true, statusView: false, flushWrites: true, guard });
    let saved: JoinState | undefined;
    let rejoin = false;
    let uploadLocal = false;
    // Refused before it starts (another share's folder, differing files, no consent): the
    // store is closed before the error goes up (and a store or folder the join made goes).
    try {
      saved = wt ? await wt.replica.getMeta<JoinState>('join') : undefined;
      rejoin = saved?.worktreeId === worktreeId;
      const other = saved && !rejoin ? `joined to another share (${saved.worktreeId.slice(0, 8)})` : wt && (await wt.replica.getMeta<{ worktreeId: string }>('share')) ? 'shared itself (cshare share)' : undefined;
      if (other) {
        // Its files would go up into this share as new ones: refused, with what to do instead.
        throw new CshareError('WOULD_OVERWRITE', `${root} is ${other}: joining ${worktreeId.slice(0, 8)} here would upload its files into this share. Join into another folder, or move its store aside first (mv .cshare .cshare.old)`, { root });
      }
      const hasLocalFiles = existsSync(root) && readdirSync(root).some((n) => n !== STORE_DIR);
      if (opts.dryRun || (!rejoin && hasLocalFiles)) {
        // Fetch the shared state into a scratch replica to see what the join would change.
        const changes = await preview(root, (r, s) => connect(r, s), worktreeId, opts.signal);
        const conflicts = changes.filter((c) => c.change === 'overwrite');
        if (opts.dryRun) return { root, files: changes.filter((c) => c.change !== 'keep').length, changes };
        if (conflicts.length > 0 && !opts.force) {
          throw new CshareError(
            'WOULD_OVERWRITE',
            `${counted(conflicts.length, 'local file')} ${conflicts.length === 1 ? 'differs' : 'differ'} from the shared version: ${conflicts.slice(0, 10).map((c) => c.path).join(', ')}${conflicts.length > 10 ? ', ...' : ''}. Nothing was changed. Use --dry-run to see all, or --force to replace them (each local version is kept in cshare log)`,
            { conflicts: conflicts.map((c) => c.path) },
          );
        }
        const uploads = changes.filter((c) => c.change === 'upload');
        if (uploads.length > 0) await consent(opts, uploads, 'are not in the share');
        uploadLocal = uploads.length > 0;
      } else if (rejoin && wt) {
        // Rejoining: what changed here while not joined goes up only with consent (a secret
        // added meanwhile must not leak from a joiner either), as `share` asks when it resumes.
        const { changed } = await wt.replica.status();
        if (changed.length > 0) await consent(opts, changed.map((c) => ({ path: c.path, change: c.change })), 'changed while this folder was not joined');
      }
    } catch (err) {
      await wt?.close();
      throw err;
    }
    const { replica } = wt!;
    replica.onRefused = (r) => opts.onEvent(refusedEvent(r));
    let loop: SyncLoop | undefined;
    const onAbort = () => {
      opts.onStop?.({ ...(loop?.standing() ?? { notUploaded: 0, inSync: false }), root });
      stop.abort();
    };
    opts.signal.addEventListener('abort', onAbort, { once: true });
    const cleanups: [string, () => Promise<void>][] = [['closing the store', () => wt!.close()]];
    try {
      let firstJoin = false;
      if (!rejoin) {
        // Local files are recorded (nothing is lost) and detached, so the shared entries
        // decide what every path holds; equal files are then left untouched.
        await replica.detachLocalFiles();
        firstJoin = true;
      }
      const state: JoinState = rejoin ? saved! : { worktreeId, relaySeq: 0, acked: replica.seq };
      await replica.putMeta('join', state);
      // Nothing after the acknowledged seq may be compacted away, from the first scan on.
      await replica.holdLogAfter(state.acked);
      const saveState = async (s: SyncState) => replica.putMeta('join', { worktreeId, relaySeq: s.relaySeq, acked: s.acked });
      let watcher: WorktreeWatch | undefined;
      loop = new SyncLoop({
        replica, worktreeId, state, saveState, signal: stop.signal, once: opts.once, firstCatchUpWithoutScan: firstJoin, uploadLocal,
        beforeLocalChange: () => wt!.guard?.assertIntact(),
        unreachableHint: UNREACHABLE_HINT,
        giveUpAfterMs: opts.retry ? undefined : connectTimeoutMs(),
        connect: async (signal) => {
          const c = await connect(replica, signal);
          progress.connected = true;
          return c;
        },
        onEvent: opts.onEvent,
        // Watched from before the upload's scan of the tree, as a sharer is: anything saved
        // after that scan is a watcher event, so no second pass over the whole tree is needed
        // once in sync (at 100,000 files each pass took the joiner ~65 MB further up). The
        // catch-up's own writes come before the watch, so they are no burst to scan again.
        onCaughtUp: async () => {
          if (opts.once || watcher) return;
          watcher = await loop!.watchHeld(root);
          cleanups.unshift(['stopping the watcher', () => watcher!.close()]);
        },
        onInSync: async (session) => {
          watcher?.release();
          progress.joined = true;
          opts.onEvent({ type: 'joined', root, files: replica.fileCount(), access: session ? accessOf(code) : 'ro' });
        },
      });
      if (!opts.once) {
        const control = await serveSyncControl({ replica, loop, state, stop, command: 'join', info: () => ({ sharing: 'joined', relay: code.relay, readOnly: code.readOnly }) });
        cleanups.unshift(['closing the control socket', () => control.close()]);
      }
      await loop.run();
      if (lost) throw lost;
      return { root, files: replica.fileCount(), refused: replica.refusedPaths() };
    } finally {
      opts.signal.removeEventListener('abort', onAbort);
      stop.abort();
      for (const [name, c] of cleanups) {
        setStep(name);
        await c().catch((err: unknown) => log('cleanup failed: %s', (err as Error)?.message ?? err));
      }
    }
  } finally {
    setStep('stopping libp2p');
    await node.stop();
  }
}

/** What a joiner that cannot reach its relay can do about it. */
const UNREACHABLE_HINT = 'if the sharer stopped or restarted elsewhere, or the relay moved, ask for a new join code';

/** Goes on only if the user agrees (`--yes`, or `confirm` on a terminal) to upload `files`. */
async function consent(opts: JoinOptions, files: { path: string; change: string }[], what: string): Promise<void> {
  if (opts.yes || (opts.confirm && (await opts.confirm(files)))) return;
  const list = files.slice(0, 10).map((f) => f.path).join(', ');
  throw new CshareError(
    'CONFIRM_REQUIRED',
    `${counted(files.length, 'local file')} ${files.length === 1 ? what.replace(/^are /, 'is ') : what} and would be uploaded to everyone: ${list}${files.length > 10 ? ', ...' : ''}. Nothing was changed. Review them (--dry-run lists them), then join again with --yes`,
    { files },
  );
}

function accessOf(code: JoinCode): 'rw' | 'ro' {
  return code.readOnly ? 'ro' : 'rw';
}

/** The shared state fetched into a scratch directory, compared with `root`. */
async function preview(
  root: string,
  connect: (replica: Replica, signal: AbortSignal) => Promise<{ conn: RpcConnection; access: 'rw' | 'ro' }>,
  worktreeId: string,
  signal: AbortSignal,
): Promise<JoinChange[]> {
  const scratch = mkdtempSync(joinPath(tmpdir(), 'cshare-preview-'));
  const replica = await ReplicaClass.open({ fs: new NodeFs(scratch), kv: new MemoryStore(), env: {} });
  try {
    const loop = new SyncLoop({
      replica, worktreeId, state: { relaySeq: 0, acked: replica.seq }, saveState: async () => {}, signal, once: true,
      connect: (s) => connect(replica, s), onEvent: () => {},
    });
    await loop.run();
    // The share's files from its manifest, not from a scan of the scratch copy: this machine's
    // rules would leave out the share's `.env`, which a local `.env` must then be said to keep.
    const remote = replica.sharedFiles().sort((a, b) => compareGitPaths(a.path, b.path));
    const local = new Map((await localFiles(root)).map((f) => [f.path, f.digest]));
    const shared = new Set(remote.map((f) => f.path));
    const changes: JoinChange[] = [];
    for (const f of remote) {
      const mine = local.get(f.path);
      if (mine === f.digest) continue;
      // Something here that this machine does not share (a secret, an ignored file, a folder)
      // is never written over: only looked at, never read (it may be a FIFO).
      const kept = mine === undefined && heldHere(root, f.path);
      changes.push({ path: f.path, change: kept ? 'keep' : mine !== undefined ? 'overwrite' : 'create' });
    }
    for (const path of local.keys()) if (!shared.has(path)) changes.push({ path, change: 'upload' });
    return changes;
  } finally {
    replica.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Is there anything at `path` under `root` (or a file where it needs a folder)? Nothing is read. */
function heldHere(root: string, path: string): boolean {
  try {
    return lstatSync(joinPath(root, path), { throwIfNoEntry: false }) !== undefined;
  } catch (err) {
    // A file where the path needs a folder: it stays, and the shared file is not written.
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return true;
    throw err;
  }
}

async function localFiles(root: string) {
  // A dry run into a folder that does not exist yet: nothing there.
  if (!existsSync(root)) return [];
  const replica = await ReplicaClass.open({ fs: new NodeFs(root), kv: new MemoryStore(), env: {} });
  try {
    return (await replica.files()).files;
  } finally {
    replica.close();
  }
}
