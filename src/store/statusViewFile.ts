/**
 * Where the status view lives (`.cshare/status-view`, see `core/statusView.ts`), and the
 * lean helpers `cshare status` uses to answer without opening the store: nothing here loads
 * LevelDB or Yjs.
 */
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CshareError } from '../core/errors.js';
import { decodeStatusView, encodeStatusView, type StatusView } from '../core/statusView.js';

/** Where a worktree's store lives inside it. */
export const STORE_DIR = '.cshare';
/** The blob packs' directory in {@link STORE_DIR} (see `BlobPacks`). */
export const PACKS_DIR = 'packs';
const VIEW_FILE = 'status-view';

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

export function statusViewPath(root: string): string {
  return join(root, STORE_DIR, VIEW_FILE);
}

/**
 * The worktree's status view, or undefined when there is none that can be used. One that
 * cannot (damaged, or of another version) is removed, so the next close writes it again.
 */
export function readStatusView(root: string): StatusView | undefined {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(statusViewPath(root));
  } catch {
    return undefined;
  }
  const view = decodeStatusView(bytes);
  if (!view) rmSync(statusViewPath(root), { force: true });
  return view;
}

/** Removes the view; it must be gone before the store changes, so a failure is an error. */
export function removeStatusView(root: string): void {
  try {
    rmSync(statusViewPath(root), { force: true });
  } catch (err) {
    throw new CshareError('IO', `cannot remove ${statusViewPath(root)} before writing to the store: ${(err as Error).message}`, {}, { cause: err });
  }
}

/** Writes the view (temp file, flush, rename). */
export function writeStatusView(root: string, view: StatusView): void {
  const path = statusViewPath(root);
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    const bytes = encodeStatusView(view);
    for (let off = 0; off < bytes.byteLength; ) off += writeSync(fd, bytes, off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
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
