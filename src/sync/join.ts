import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { CshareError } from '../core/errors.js';
import { logger } from '../core/log.js';
import type { Replica } from '../core/Replica.js';
import { openWorktree } from '../store/openWorktree.js';
import { MemoryStore } from '../store/memory/MemoryStore.js';
import { NodeFs } from '../store/fs/NodeFs.js';
import { Replica as ReplicaClass } from '../core/Replica.js';
import { helloAsJoiner } from './hello.js';
import { decodeJoinCode, worktreeIdToString, type JoinCode } from './joinCode.js';
import { createCshareNode } from './libp2p/Libp2pNode.js';
import { RpcConnection } from './rpc/RpcConnection.js';
import type { WorktreeWatch } from '../store/fs/WorktreeWatcher.js';
import { SyncLoop } from './runSync.js';
import { dialAny, peerKey } from './share.js';
import { serveSyncControl } from './syncControl.js';
import type { SessionEvent, SyncState } from './SyncSession.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { setStep } from './step.js';

const log = logger('join');

/** What `join` keeps in the store, so joining the same directory again fetches only changes. */
export interface JoinState extends SyncState {
  worktreeId: string;
}

/** Events of a running join (one JSON line each with `--json`). */
export type JoinEvent = { type: 'joined'; root: string; files: number; access: 'rw' | 'ro' } | SessionEvent;

/** A local file the join would change. */
export interface JoinChange {
  path: string;
  change: 'create' | 'overwrite';
}

/** Options for {@link join}. */
export interface JoinOptions {
  code: string;
  /** Target directory (default: a new folder named after the worktree id). */
  dir?: string;
  cwd: string;
  once?: boolean;
  dryRun?: boolean;
  force?: boolean;
  onEvent: (event: JoinEvent) => void;
  signal: AbortSignal;
}

/**
 * Joins a shared worktree into a directory, then keeps it in sync both ways until `signal`
 * aborts (or, with `once`, exits after writing the current state). Never destroys data: in a
 * directory that was not joined before, files that differ from the shared version stop the
 * join unless `force`, and then each local version is recorded in the local history before it
 * is replaced.
 */
export async function join(opts: JoinOptions): Promise<{ root: string; files: number; changes?: JoinChange[] }> {
  const code = decodeJoinCode(opts.code);
  const worktreeId = worktreeIdToString(code.worktreeId);
  const root = resolve(opts.cwd, opts.dir ?? `cshare-${worktreeId.slice(0, 8)}`);
  try {
    mkdirSync(root, { recursive: true });
  } catch (err) {
    throw new CshareError('NOT_A_DIRECTORY', `cannot create ${root}: ${(err as Error).message}`, { root }, { cause: err });
  }
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

    const wt = opts.dryRun ? undefined : await openWorktree({ cwd: root, exactRoot: true, statusView: false, flushWrites: true });
    const saved = wt ? await wt.replica.getMeta<JoinState>('join') : undefined;
    const rejoin = saved?.worktreeId === worktreeId;
    const hasLocalFiles = readdirSync(root).some((n) => n !== '.cshare');
    if (opts.dryRun || (!rejoin && hasLocalFiles)) {
      // Fetch the shared state into a scratch replica to see what the join would change.
      const changes = await preview(root, (r, s) => connect(r, s), worktreeId, opts.signal);
      const conflicts = changes.filter((c) => c.change === 'overwrite');
      if (opts.dryRun) return { root, files: changes.length, changes };
      if (conflicts.length > 0 && !opts.force) {
        await wt?.close();
        throw new CshareError(
          'WOULD_OVERWRITE',
          `${conflicts.length} local file(s) differ from the shared version: ${conflicts.slice(0, 10).map((c) => c.path).join(', ')}${conflicts.length > 10 ? ', ...' : ''}. Nothing was changed. Use --dry-run to see all, or --force to replace them (each local version is kept in cshare log)`,
          { conflicts: conflicts.map((c) => c.path) },
        );
      }
    }
    const { replica } = wt!;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
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
      const loop = new SyncLoop({
        replica, worktreeId, state, saveState, signal: stop.signal, once: opts.once, firstCatchUpWithoutScan: firstJoin,
        connect: (signal) => connect(replica, signal),
        onEvent: opts.onEvent,
        // Watched from before the upload's scan of the tree, as a sharer is: anything saved
        // after that scan is a watcher event, so no second pass over the whole tree is needed
        // once in sync (at 100,000 files each pass took the joiner ~65 MB further up). The
        // catch-up's own writes come before the watch, so they are no burst to scan again.
        onCaughtUp: async () => {
          if (opts.once || watcher) return;
          watcher = await loop.watchHeld(root);
          cleanups.unshift(['stopping the watcher', () => watcher!.close()]);
        },
        onInSync: async (session) => {
          watcher?.release();
          opts.onEvent({ type: 'joined', root, files: replica.fileCount(), access: session ? accessOf(code) : 'ro' });
        },
      });
      if (!opts.once) {
        const control = await serveSyncControl({ replica, loop, state, stop, info: () => ({ sharing: 'joined', relay: code.relay, readOnly: code.readOnly }) });
        cleanups.unshift(['closing the control socket', () => control.close()]);
      }
      await loop.run();
      return { root, files: replica.fileCount() };
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
    const remote = await replica.files();
    const local = new Map((await localFiles(root)).map((f) => [f.path, f.digest]));
    return remote.files
      .filter((f) => local.get(f.path) !== f.digest)
      .map((f) => ({ path: f.path, change: local.has(f.path) ? ('overwrite' as const) : ('create' as const) }));
  } finally {
    replica.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function localFiles(root: string) {
  const replica = await ReplicaClass.open({ fs: new NodeFs(root), kv: new MemoryStore(), env: {} });
  try {
    return (await replica.files()).files;
  } finally {
    replica.close();
  }
}
