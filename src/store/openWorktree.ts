import { existsSync, lstatSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { CshareError } from '../core/errors.js';
import { Replica } from '../core/Replica.js';
import { NodeFs } from './fs/NodeFs.js';
import { logger } from '../core/log.js';
import { LevelStore } from './level/LevelStore.js';
import { BlobPacks } from './fs/BlobPacks.js';
import { storeLockedError } from './announce.js';
import { findWorktreeRoot, PACKS_DIR, STORE_DIR, statusViewPath } from './layout.js';
import { removeStatusView, writeStatusView } from './statusViewFile.js';
import { StoreGuard } from './StoreGuard.js';
import { makeStorePrivate, tightenStore } from './privateDir.js';

const log = logger('store');

export { findWorktreeRoot, STORE_DIR } from './layout.js';

/** An open replica and what must be closed with it. */
export interface OpenWorktree {
  replica: Replica;
  store: LevelStore;
  /** The store's guard, when asked for (see `StoreGuard`). */
  guard?: StoreGuard;
  close(): Promise<void>;
}

/** Options of {@link openWorktree}. */
export interface OpenWorktreeOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  textLimit?: number;
  exactRoot?: boolean;
  /**
   * Write the status view when closing (default true). `share` and `join` do not: at 100,000
   * files it takes ~0.8 s and ~90 MB at the end of a process that may be at its peak already;
   * the first `status` after them loads the store and writes it.
   */
  statusView?: boolean;
  /**
   * Flush files that applies left unflushed once applies pause (see `core/unflushed.ts`);
   * `share` and `join` do. A short command does not start that work (100,000 files took
   * ~10 s to flush after a `join --once`, and the command could not exit before it ended).
   */
  flushWrites?: boolean;
  /**
   * Guard the store while the process runs (`share`, `join`): `onLost` is called once when it
   * vanished or was replaced (see `StoreGuard`), and every later write to it fails.
   */
  guard?: { command: string; onLost: (err: CshareError) => void; everyMs?: number };
}

/**
 * Opens the replica of the worktree containing `cwd`, creating `.cshare/` on first use.
 * Errors name what to do: a damaged store is `STORE_CORRUPT` (move `.cshare` aside), one in use
 * by a running `share`/`join` is `STORE_LOCKED` (naming its pid and how to stop it).
 */
export async function openWorktree(opts: OpenWorktreeOptions): Promise<OpenWorktree> {
  const root = opts.exactRoot ? resolve(opts.cwd) : findWorktreeRoot(opts.cwd);
  const storeDir = join(root, STORE_DIR);
  const store = await openStore(root, storeDir);
  let packs: BlobPacks | undefined;
  let guard: StoreGuard | undefined;
  try {
    if (opts.guard) {
      guard = StoreGuard.take({ root, ...opts.guard });
      store.beforeWrite = () => guard!.assertIntact();
    }
    packs = BlobPacks.open(join(storeDir, PACKS_DIR));
    const env = opts.env ?? process.env;
    const replica = await Replica.open({
      fs: new NodeFs(root),
      kv: store,
      packs,
      env,
      home: env.HOME ?? homedir(),
      location: rootLocation(root),
      textLimit: opts.textLimit,
      flushWrites: opts.flushWrites,
    });
    const opened = { root, storeDir, replica, store, packs, guard };
    return { replica, store, guard, close: () => closeWorktree(opened, { statusView: opts.statusView !== false }) };
  } catch (err) {
    guard?.close();
    packs?.close();
    await store.close();
    throw err;
  }
}

/**
 * Opens the LevelDB store in `.cshare/` (made owner-only, and ignored by git), creating it on
 * first use. Its first write removes the status view, which describes the store as committed.
 */
async function openStore(root: string, storeDir: string): Promise<LevelStore> {
  const st = existsSync(storeDir) ? lstatSync(storeDir) : undefined;
  if (st && !st.isDirectory()) {
    throw new CshareError('STORE_CORRUPT', `${storeDir} exists but is not a directory; move it aside`, { path: storeDir });
  }
  makeStorePrivate(storeDir);
  let store: LevelStore;
  try {
    store = await LevelStore.open(join(storeDir, 'store'));
  } catch (err) {
    // Say who holds it: a running share or join announces its pid beside its control socket.
    if (err instanceof CshareError && err.code === 'STORE_LOCKED') throw storeLockedError(root, err);
    throw err;
  }
  // The status view describes the store as committed: it goes before the first change.
  store.beforeFirstWrite = () => removeStatusView(root);
  ignoreStoreInGit(storeDir);
  return store;
}

/**
 * Closes what {@link openWorktree} opened, after writing the status view again for the next
 * `status` when this process changed the store or there was none (best effort: without one,
 * `status` loads the store and writes it).
 */
async function closeWorktree(
  w: { root: string; storeDir: string; replica: Replica; store: LevelStore; packs: BlobPacks; guard: StoreGuard | undefined },
  opts: { statusView: boolean },
): Promise<void> {
  if (opts.statusView && (w.store.wrote || !existsSync(statusViewPath(w.root)))) {
    try {
      writeStatusView(w.root, await w.replica.statusView());
    } catch (err) {
      log('could not write the status view: %s', (err as Error).message);
    }
  }
  w.replica.close();
  w.packs.close();
  await w.store.close();
  w.guard?.close();
  // LevelDB's own files are 0644 (see privateDir.ts).
  try {
    tightenStore(w.storeDir);
  } catch (err) {
    log('could not make %s owner-only: %s', w.storeDir, (err as Error).message);
  }
}

/** What `.cshare/.gitignore` holds: git ignores everything in the store, itself included. */
export const STORE_GITIGNORE = '*\n';

/**
 * Makes git leave the store alone: `git add -A` would commit it (and a later checkout rewrite
 * it under a running share), `git clean -fd` delete all history and undo, `git stash -u` move
 * it away from a running process. Written when a store is created and whenever one is opened
 * (stores made before this existed, or a file someone emptied). Failing to only loses that
 * protection, not the command: logged.
 */
function ignoreStoreInGit(storeDir: string): void {
  const path = join(storeDir, '.gitignore');
  try {
    if (existsSync(path) && readFileSync(path, 'utf8') === STORE_GITIGNORE) return;
    writeFileSync(path, STORE_GITIGNORE);
  } catch (err) {
    log('could not write %s: %s', path, (err as Error).message);
  }
}

/** Which directory the worktree root is (device and inode), to tell a copied store (`Replica.open`). */
function rootLocation(root: string): { dev: number; ino: number } | undefined {
  try {
    const st = statSync(root);
    return { dev: st.dev, ino: st.ino };
  } catch (err) {
    log('cannot tell where %s is (%s): the copied-store check is skipped', root, (err as Error).message);
    return undefined;
  }
}
