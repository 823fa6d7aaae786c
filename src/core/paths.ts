import { CshareError } from './errors.js';

/** Longest relative path cshare accepts, in UTF-16 code units (PATH_MAX on Linux is 4096 bytes). */
export const MAX_REL_PATH = 4096;

/**
 * Why `path` is not a safe worktree-relative path, or `undefined` if it is.
 *
 * A safe path is relative, uses `/`, has no empty, `.` or `..` segment, no NUL or backslash,
 * and no `.git` or `.cshare` segment at any depth (compared case-insensitively, as git's
 * `verify_path` does, because on a case-insensitive disk `.GIT/hooks` *is* `.git/hooks`).
 * Every path that arrives from a peer goes through this before it touches the disk: see the
 * safety rules in DESIGN.md.
 */
export function unsafeRelPathReason(path: string): string | undefined {
  if (typeof path !== 'string' || path.length === 0) return 'path is empty';
  if (path.length > MAX_REL_PATH) return `path is longer than ${MAX_REL_PATH} characters`;
  if (path.charCodeAt(0) === 47 /* / */) return 'path is absolute';
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    const c = i < path.length ? path.charCodeAt(i) : 47;
    if (c === 0) return 'path contains a NUL character';
    if (c === 92 /* \ */) return 'path contains a backslash';
    if (c !== 47) continue;
    const len = i - start;
    if (len === 0) return 'path has an empty segment';
    // Only segments starting with '.' can be '.', '..', '.git' or '.cshare'.
    if (path.charCodeAt(start) === 46) {
      if (len <= 2 && (len === 1 || path.charCodeAt(start + 1) === 46)) return 'path has a "." or ".." segment';
      if (len === 4 || len === 7) {
        const seg = path.slice(start, i).toLowerCase();
        if (seg === '.git' || seg === '.cshare') return `path is inside ${seg}/`;
      }
    }
    start = i + 1;
  }
  return undefined;
}

/** Is `path` a safe worktree-relative path (see {@link unsafeRelPathReason})? */
export function isSafeRelPath(path: string): boolean {
  return unsafeRelPathReason(path) === undefined;
}

/** Throws `BAD_PATH` unless `path` is a safe worktree-relative path (see {@link unsafeRelPathReason}). */
export function assertSafeRelPath(path: string): void {
  const reason = unsafeRelPathReason(path);
  if (reason !== undefined) {
    throw new CshareError('BAD_PATH', `Refusing unsafe path ${JSON.stringify(String(path).slice(0, 200))}: ${reason}.`, { path });
  }
}

/**
 * Is `name` (one path segment) a temporary file of cshare's own atomic writes
 * (`.<name>.cshare-tmp-<12 hex>`, see `NodeFs`)? A process killed between writing one and
 * renaming it into place leaves it behind; it is never the user's file, so scans skip it
 * instead of sharing it.
 */
export function isCshareTempName(name: string): boolean {
  return /^\..+\.cshare-(tmp|aside)-[0-9a-f]{12}$/.test(name);
}

/**
 * Is `name` a file a write moved aside (`.<name>.cshare-aside-<12 hex>`): what the path held
 * when a new version took its place, kept a moment in case a writer that had it open was
 * still writing (see `NodeFs`). Skipped by scans like a temp file; a leftover is removed
 * once it is old.
 */
export function isCshareAsideName(name: string): boolean {
  return /^\..+\.cshare-aside-[0-9a-f]{12}$/.test(name);
}
