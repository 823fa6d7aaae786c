import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath, resolve } from 'node:path';
import { counted } from '../core/display.js';
import { CshareError } from '../core/errors.js';
import { logger } from '../core/log.js';
import type { RefusedPath } from '../core/refused.js';
import { Replica } from '../core/Replica.js';
import { compareGitPaths } from '../core/Scanner.js';
import { NodeFs } from '../store/fs/NodeFs.js';
import type { WorktreeWatch } from '../store/fs/WorktreeWatcher.js';
import { MemoryStore } from '../store/memory/MemoryStore.js';
import { openWorktree, STORE_DIR, type OpenWorktree } from '../store/openWorktree.js';
import { connectTimeoutMs, dialAny } from './dial.js';
import { helloAsJoiner } from './hello.js';
import { decodeJoinCode, worktreeIdToString, type JoinCode } from './joinCode.js';
import { defaultJoinFolder } from './joinFolder.js';
import { createCshareNode } from './libp2p/Libp2pNode.js';
import { setStep } from './step.js';
import { SyncLoop } from './SyncLoop.js';
import { startLive, type StartLive } from './liveHost.js';
import { greeted, peerKey, refusedEvent, SyncRun } from './SyncRun.js';
import type { SessionEvent, SyncState } from './SyncSession.js';
import { serveSyncControl } from './syncControl.js';
import { cshareConnection, type CshareConnection } from './connection.js';

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
  /** Starts the editor server on this join (see `liveHost.ts`); not with `once`. */
  live?: StartLive;
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

/** Connects to the share's relay and says hello as a joiner of `replica`. */
type JoinConnect = (replica: Replica, signal: AbortSignal) => Promise<{ conn: CshareConnection; access: 'rw' | 'ro' }>;

/** What the join was told about the folder before it starts (see {@link checkJoinStart}). */
interface JoinStart {
  /** The join state stored by an earlier join of this folder. */
  saved: JoinState | undefined;
  /** The folder was joined to this share before: only changes are fetched. */
  rejoin: boolean;
  /** Local files the share lacks go up (the user agreed). */
  uploadLocal: boolean;
}

async function joinInto(opts: JoinOptions, ctx: { code: JoinCode; worktreeId: string; root: string; progress: JoinProgress }): Promise<JoinResult> {
  const { code, worktreeId, root } = ctx;
  // A dry run keeps nothing (a fresh key will do); a join keeps its peer id across runs.
  const privateKey = opts.dryRun ? undefined : await peerKey(root, opts.signal);
  const node = await createCshareNode({ listen: [], relayClient: false, privateKey, signal: opts.signal });
  try {
    const connect: JoinConnect = async (replica, signal) => {
      const conn = cshareConnection(await dialAny(node, code.relay, signal), { peer: `relay ${code.relay[0]}` });
      const hello = await greeted(conn, (c) => helloAsJoiner(c, { replica, worktreeId, secret: code.secret, signal }));
      return { conn, access: hello.access ?? 'ro' };
    };
    const run = new SyncRun('join');
    const wt = opts.dryRun ? undefined : await openWorktree({ cwd: root, exactRoot: true, statusView: false, flushWrites: true, guard: run.guard });
    let start: JoinStart | JoinResult;
    // Refused before it starts (another share's folder, differing files, no consent): the
    // store is closed before the error goes up (and a store or folder the join made goes).
    try {
      start = await checkJoinStart(opts, { wt, root, worktreeId, connect });
    } catch (err) {
      await wt?.close();
      throw err;
    }
    if (!('rejoin' in start)) return start;
    return await syncJoin(opts, { ...ctx, ...start, wt: wt!, run, connect });
  } finally {
    setStep('stopping libp2p');
    await node.stop();
  }
}

/**
 * What stands before a join of `root`: a folder of another share, or shared itself, is
 * refused; a first join into a folder with files previews what it would change (a dry run
 * returns that), refuses to overwrite a differing file without `force`, and uploads local
 * files only with consent; a rejoin asks before uploading what changed meanwhile.
 */
async function checkJoinStart(opts: JoinOptions, ctx: { wt: OpenWorktree | undefined; root: string; worktreeId: string; connect: JoinConnect }): Promise<JoinStart | JoinResult> {
  const { wt, root, worktreeId, connect } = ctx;
  const saved = wt ? await wt.replica.getMeta<JoinState>('join') : undefined;
  const rejoin = saved?.worktreeId === worktreeId;
  const other = saved && !rejoin ? `joined to another share (${saved.worktreeId.slice(0, 8)})` : wt && (await wt.replica.getMeta<{ worktreeId: string }>('share')) ? 'shared itself (cshare share)' : undefined;
  if (other) {
    // Its files would go up into this share as new ones: refused, with what to do instead.
    throw new CshareError('WOULD_OVERWRITE', `${root} is ${other}: joining ${worktreeId.slice(0, 8)} here would upload its files into this share. Join into another folder, or move its store aside first (mv .cshare .cshare.old)`, { root });
  }
  let uploadLocal = false;
  const hasLocalFiles = existsSync(root) && readdirSync(root).some((n) => n !== STORE_DIR);
  if (opts.dryRun || (!rejoin && hasLocalFiles)) {
    // Fetch the shared state into a scratch replica to see what the join would change.
    const changes = await preview(root, (r, s) => connect(r, s), worktreeId, opts.signal);
    if (opts.dryRun) return { root, files: changes.filter((c) => c.change !== 'keep').length, changes };
    refuseOverwrites(opts, changes);
    const uploads = changes.filter((c) => c.change === 'upload');
    if (uploads.length > 0) await consent(opts, uploads, 'are not in the share');
    uploadLocal = uploads.length > 0;
  } else if (rejoin && wt) {
    // Rejoining: what changed here while not joined goes up only with consent (a secret
    // added meanwhile must not leak from a joiner either), as `share` asks when it resumes.
    const { changed } = await wt.replica.status();
    if (changed.length > 0) await consent(opts, changed.map((c) => ({ path: c.path, change: c.change })), 'changed while this folder was not joined');
  }
  return { saved, rejoin, uploadLocal };
}

/** Local files that differ from the shared version stop a first join, unless `force`. */
function refuseOverwrites(opts: JoinOptions, changes: JoinChange[]): void {
  const conflicts = changes.filter((c) => c.change === 'overwrite');
  if (conflicts.length === 0 || opts.force) return;
  throw new CshareError(
    'WOULD_OVERWRITE',
    `${counted(conflicts.length, 'local file')} ${conflicts.length === 1 ? 'differs' : 'differ'} from the shared version: ${conflicts.slice(0, 10).map((c) => c.path).join(', ')}${conflicts.length > 10 ? ', ...' : ''}. Nothing was changed. Use --dry-run to see all, or --force to replace them (each local version is kept in cshare log)`,
    { conflicts: conflicts.map((c) => c.path) },
  );
}

/**
 * Runs the join's sync loop to its end: a first join detaches the folder's own files first;
 * the watcher starts after the first catch-up, the control socket at once, and `joined` is
 * said once in sync.
 */
async function syncJoin(opts: JoinOptions, ctx: JoinStart & { code: JoinCode; worktreeId: string; root: string; progress: JoinProgress; wt: OpenWorktree; run: SyncRun; connect: JoinConnect }): Promise<JoinResult> {
  const { code, worktreeId, root, progress, wt, run, connect, saved, rejoin, uploadLocal } = ctx;
  const { replica } = wt;
  replica.onRefused = (r) => opts.onEvent(refusedEvent(r));
  run.stopOn(opts.signal, (standing) => opts.onStop?.({ ...standing, root }));
  run.hold('closing the store', () => wt.close());
  try {
    if (!rejoin) {
      // Local files are recorded (nothing is lost) and detached, so the shared entries
      // decide what every path holds; equal files are then left untouched.
      await replica.detachLocalFiles();
    }
    const state: JoinState = rejoin ? saved! : { worktreeId, relaySeq: 0, acked: replica.seq };
    await replica.putMeta('join', state);
    // Nothing after the acknowledged seq may be compacted away, from the first scan on.
    await replica.holdLogAfter(state.acked);
    const saveState = async (s: SyncState) => replica.putMeta('join', { worktreeId, relaySeq: s.relaySeq, acked: s.acked, stored: s.stored ?? 0 });
    let watcher: WorktreeWatch | undefined;
    const loop = new SyncLoop({
      replica, worktreeId, state, saveState, signal: run.stop.signal, once: opts.once, firstCatchUpWithoutScan: !rejoin, uploadLocal,
      beforeLocalChange: () => wt.guard?.assertIntact(),
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
        watcher = await loop.watchHeld(root);
        run.hold('stopping the watcher', () => watcher!.close());
      },
      onInSync: async (session) => {
        watcher?.release();
        progress.joined = true;
        opts.onEvent({ type: 'joined', root, files: replica.fileCount(), access: session ? accessOf(code) : 'ro' });
      },
    });
    run.loop = loop;
    if (!opts.once) {
      const control = await serveSyncControl({ replica, loop, state, stop: run.stop, command: 'join', info: () => ({ sharing: 'joined', relay: code.relay, readOnly: code.readOnly }) });
      run.hold('closing the control socket', () => control.close());
      await startLive({ start: opts.live, loop, run, replica, role: 'joiner', readOnly: code.readOnly });
    }
    await loop.run();
    run.throwIfLost();
    return { root, files: replica.fileCount(), refused: replica.refusedPaths() };
  } finally {
    await run.end();
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
async function preview(root: string, connect: JoinConnect, worktreeId: string, signal: AbortSignal): Promise<JoinChange[]> {
  const scratch = mkdtempSync(joinPath(tmpdir(), 'cshare-preview-'));
  const replica = await Replica.open({ fs: new NodeFs(scratch), kv: new MemoryStore(), env: {} });
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
  const replica = await Replica.open({ fs: new NodeFs(root), kv: new MemoryStore(), env: {} });
  try {
    return (await replica.files()).files;
  } finally {
    replica.close();
  }
}
