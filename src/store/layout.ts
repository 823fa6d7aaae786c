/**
 * Where a worktree's store and its caches live, and the lean helpers `cshare status` needs
 * before it knows whether it must load anything: nothing here loads LevelDB, Yjs or the
 * scanner.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CshareError } from '../core/errors.js';
import { STATUS_VIEW_MAGIC, STATUS_VIEW_VERSION } from '../core/statusViewFormat.js';
import { viewRefused, type RefusedPath } from '../core/refused.js';

/** The key of a file's version: a file replaced by rename has another inode. */
export function fileKey(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** Where a worktree's store lives inside it. */
export const STORE_DIR = '.cshare';
/** The blob packs' directory in {@link STORE_DIR} (see `BlobPacks`). */
export const PACKS_DIR = 'packs';

/**
 * The worktree root for `cwd`: the nearest ancestor holding `.cshare/`, else the nearest
 * holding `.git`, else `cwd` itself (like `git init` would pick).
 */
export function findWorktreeRoot(cwd: string): string {
  const start = resolve(cwd);
  let st;
  try {
    st = statSync(start);
  } catch (err) {
    throw new CshareError('NOT_A_DIRECTORY', `${start} does not exist`, { path: start }, { cause: err });
  }
  if (!st.isDirectory()) throw new CshareError('NOT_A_DIRECTORY', `${start} is not a directory`, { path: start });
  for (const marker of [STORE_DIR, '.git']) {
    for (let dir = start; ; dir = dirname(dir)) {
      if (existsSync(join(dir, marker))) return dir;
      if (dirname(dir) === dir) break;
    }
  }
  return start;
}

/** The status view (see `core/statusView.ts`). */
export function statusViewPath(root: string): string {
  return join(root, STORE_DIR, 'status-view');
}

/** The status cache (see `status/statusCache.ts`). */
export function statusCachePath(root: string): string {
  return join(root, STORE_DIR, 'status-cache');
}

/** The LevelDB directory. */
export function levelDir(root: string): string {
  return join(root, STORE_DIR, 'store');
}

/** Does LevelDB's `CURRENT` name a manifest that exists? (What opening checks first.) */
export function storeLooksIntact(storeDir: string): boolean {
  try {
    const m = /^(MANIFEST-\d+)\n$/.exec(readFileSync(join(storeDir, 'CURRENT'), 'utf8'));
    return m !== null && existsSync(join(storeDir, m[1]!));
  } catch {
    return false; // no CURRENT (or unreadable): opening the store is what reports why
  }
}

/**
 * The status view's key (its file's version, see `fileKey`) and how many live files it
 * holds, from its header alone; undefined when there is no view of this version.
 */
export function readStatusViewHeader(root: string): { key: string; files: number; replicaId: string; refused: RefusedPath[] } | undefined {
  let fd: number;
  try {
    fd = openSync(statusViewPath(root), 'r');
  } catch {
    return undefined; // no view: the caller opens the store
  }
  try {
    const key = fileKey(fstatSync(fd));
    const len = Buffer.alloc(4);
    if (readSync(fd, len, 0, 4, 0) !== 4) return undefined;
    const n = len.readUInt32LE(0);
    const header = Buffer.alloc(Math.min(n, 1 << 20));
    if (n > header.byteLength || readSync(fd, header, 0, n, 4) !== n) return undefined;
    const h = JSON.parse(header.toString('utf8')) as { magic?: unknown; version?: unknown; files?: unknown; replicaId?: unknown; refused?: unknown };
    if (h.magic !== STATUS_VIEW_MAGIC || h.version !== STATUS_VIEW_VERSION || !Number.isSafeInteger(h.files) || typeof h.replicaId !== 'string') return undefined;
    return { key, files: h.files as number, replicaId: h.replicaId, refused: viewRefused(h.refused) };
  } catch {
    return undefined; // a damaged view is found (and removed) by the full read
  } finally {
    closeSync(fd);
  }
}

/** Bytes in a store directory's files (without opening it); a missing directory has none. */
export function storeDirBytes(dir: string): number {
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    try {
      total += statSync(join(dir, name)).size;
    } catch {
      // A file LevelDB compacted away between readdir and stat has no size to count.
    }
  }
  return total;
}

/**
 * Writes a cache file whole: a temp file beside it, flushed, then renamed over it, so a crash
 * leaves the old file or the new one, never a torn one that could vouch for the wrong tree.
 * The temp file is removed if anything fails, and the error thrown.
 */
export function writeFileReplacing(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w', 0o600);
    try {
      for (let off = 0; off < bytes.byteLength; ) off += writeSync(fd, bytes, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
