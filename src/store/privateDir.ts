import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { logger } from '../core/log.js';
import { ioError } from './fs/ioError.js';

const log = logger('store');

/**
 * Makes a worktree's `.cshare/` owner-only: created 0700, and a store from before made private
 * (folders 0700, files without group and other bits). It holds the read-write join secret in
 * plain text and every version of every file, including ones never shared. The files cshare
 * writes itself are created 0600; LevelDB creates its own 0644, so {@link tightenStore} runs
 * again when a process closes the store (meanwhile the 0700 folder keeps others out).
 * Returns whether anything was changed.
 */
export function makeStorePrivate(dir: string): boolean {
  const st = lstatSync(dir, { throwIfNoEntry: false });
  if (st === undefined) {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      throw ioError('create', dir, err);
    }
    // mkdir's mode passes through the umask, which only takes bits away.
    return true;
  }
  if (!st.isDirectory() || (st.mode & 0o077) === 0) return false;
  tighten(dir, 0);
  log('made %s owner-only', dir);
  return true;
}

/** Drops the group and other bits of everything in the store folder `dir` (a few levels down). */
export function tightenStore(dir: string): void {
  if (lstatSync(dir, { throwIfNoEntry: false })?.isDirectory()) tighten(dir, 0);
}

/** Drops the group and other bits of `dir` and, a few levels down, of everything in it. */
function tighten(dir: string, depth: number): void {
  try {
    if (lstatSync(dir).mode & 0o077) chmodSync(dir, 0o700);
    if (depth > 3) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) tighten(path, depth + 1);
      else if (e.isFile()) {
        const mode = lstatSync(path).mode & 0o7777;
        if (mode & 0o077) chmodSync(path, mode & 0o700);
      }
    }
  } catch (err) {
    throw ioError('make owner-only', dir, err);
  }
}
