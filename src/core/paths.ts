import { CshareError } from './errors.js';

/** Longest relative path cshare accepts, in UTF-16 code units (PATH_MAX on Linux is 4096 bytes). */
export const MAX_REL_PATH = 4096;

/**
 * Longest name (one path segment) cshare accepts, in UTF-8 bytes: NAME_MAX of Linux, macOS and
 * Windows file systems. A longer name cannot be written anywhere, so an entry that has one
 * would fail every apply of every replica.
 */
export const MAX_NAME_BYTES = 255;

/**
 * Code points HFS+ ignores in names (git's `next_hfs_char`): on a Mac `.g\u200Cit` *is* `.git`.
 * Every name is compared with them removed, on every platform, as git does with
 * `core.protectHFS`, since a path refused on one replica must be refused on all.
 */
const HFS_IGNORABLE = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/g;
const HAS_HFS_IGNORABLE = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/;

/**
 * Names that are `.git` or `.cshare` to some file system (git's `is_ntfs_dotgit` and
 * `is_ntfs_dot_generic`, `core.protectNTFS`): NTFS drops trailing dots and spaces (`.git.`,
 * `.git  `), reads anything after a `:` as an alternate data stream (`.git::$INDEX_ALLOCATION`
 * is the folder `.git`), and knows 8.3 short names (`GIT~1`, `CSHARE~1`, and for a name whose
 * short forms ran out, the first two letters, a 4-digit hash and `~N`: `cs` + 4 hex digits,
 * refused whatever the hash). Matched against the lower-cased name.
 */
const NTFS_DOTGIT = /^(?:\.git|git~1)[. ]*(?::.*)?$/s;
const NTFS_DOTCSHARE = /^(?:\.cshare|cshare~[1-4]|cs[0-9a-f]{4}~[1-9])[. ]*(?::.*)?$/s;

/**
 * `.git` or `.cshare` if `name` (one path segment) is that folder, or an alias of it on some
 * platform (any case, NTFS trailing dots and spaces, streams and short names, HFS+ ignorable
 * code points); undefined otherwise. A peer on Linux can write `.git.`, which a replica on
 * Windows opens as `.git`: a hook written there runs on the victim's next `git commit`.
 */
export function reservedNameOf(name: string): '.git' | '.cshare' | undefined {
  const n = HAS_HFS_IGNORABLE.test(name) ? name.replace(HFS_IGNORABLE, '') : name;
  const c = n.charCodeAt(0);
  // Only names starting with '.', 'g' or 'c' (any case) can be one: most names stop here.
  if (c !== 46 && (c | 0x20) !== 103 && (c | 0x20) !== 99) return undefined;
  const lower = n.replace(/[A-Z]+/g, (s) => s.toLowerCase());
  if (NTFS_DOTGIT.test(lower)) return '.git';
  if (NTFS_DOTCSHARE.test(lower)) return '.cshare';
  return undefined;
}

/** UTF-8 length of `s` (a lone surrogate counts 3, as the encoder writes U+FFFD). */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/**
 * Why the segment `path[start, end)` is not a safe name, or undefined. `highest` is its highest
 * UTF-16 code unit: a name of plain characters that does not start with '.', 'g' or 'c' cannot
 * be an alias of `.git` or `.cshare`, and most names are only looked at that far (this runs
 * for every path a scan touches).
 */
function segmentProblem(path: string, start: number, end: number, highest: number): string | undefined {
  const len = end - start;
  if (len === 0) return 'path has an empty segment';
  const first = path.charCodeAt(start);
  if (first === 46 && len <= 2 && (len === 1 || path.charCodeAt(start + 1) === 46)) return 'path has a "." or ".." segment';
  // At most 3 bytes per UTF-16 unit: only long segments need counting.
  if (len * 3 > MAX_NAME_BYTES && utf8Length(path.slice(start, end)) > MAX_NAME_BYTES) return `a name in the path is longer than ${MAX_NAME_BYTES} bytes`;
  if (highest < 0x200c && first !== 46 && (first | 0x20) !== 103 && (first | 0x20) !== 99) return undefined;
  const reserved = reservedNameOf(path.slice(start, end));
  if (reserved !== undefined) return `path is inside ${reserved}/ (or an alias of it on some file system)`;
  return undefined;
}

/**
 * Why `path` is not a safe worktree-relative path, or `undefined` if it is.
 *
 * A safe path is relative, uses `/`, has no empty, `.` or `..` segment, no NUL or backslash,
 * no name longer than {@link MAX_NAME_BYTES} bytes, and no `.git` or `.cshare` segment at any
 * depth, nor an alias of one (see {@link reservedNameOf}; compared case-insensitively, as
 * git's `verify_path` does with `core.protectNTFS` and `core.protectHFS`, because on a
 * case-insensitive disk `.GIT/hooks` *is* `.git/hooks`). Every path that arrives from a peer
 * goes through this before it touches the disk (the relay checks it too): see
 * ARCHITECTURE.md "Safety rules".
 */
export function unsafeRelPathReason(path: string): string | undefined {
  if (typeof path !== 'string' || path.length === 0) return 'path is empty';
  if (path.length > MAX_REL_PATH) return `path is longer than ${MAX_REL_PATH} characters`;
  if (path.charCodeAt(0) === 47 /* / */) return 'path is absolute';
  let start = 0;
  let highest = 0;
  for (let i = 0; i <= path.length; i++) {
    const c = i < path.length ? path.charCodeAt(i) : 47;
    if (c === 0) return 'path contains a NUL character';
    if (c === 92 /* \ */) return 'path contains a backslash';
    if (c !== 47) {
      if (c > highest) highest = c;
      continue;
    }
    const problem = segmentProblem(path, start, i, highest);
    if (problem !== undefined) return problem;
    start = i + 1;
    highest = 0;
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
 * Why a symlink at `linkPath` (a safe relative path) must not point at `target`, or undefined.
 *
 * cshare never writes through a symlink (see `NodeFs`), but editors, build tools and git
 * follow them, so a link a peer sets must not lead out of the worktree or into `.git/` or
 * `.cshare/`. The kernel resolves `a/..` as the parent of wherever `a` points, not as `.`:
 * `y -> .` then `x -> y/..` leaves the worktree although `x`'s target reads as the root, and
 * such links chain to any depth. So `..` is allowed only at the start of a target (the kernel
 * then climbs the real folders the link sits in), at most as many times as the link is deep;
 * after that come names only, none of them `.git`/`.cshare` or an alias. A target that follows
 * the rule stays inside whatever the other links are (`NodeFs.symlink` also resolves it with
 * the kernel when it creates the link, for links the user made).
 */
export function unsafeLinkTargetReason(linkPath: string, target: string): string | undefined {
  if (typeof target !== 'string' || target.length === 0) return 'the target is empty';
  if (target.length > MAX_REL_PATH) return `the target is longer than ${MAX_REL_PATH} characters`;
  if (target.includes('\0')) return 'the target contains a NUL character';
  if (target.includes('\\')) return 'the target contains a backslash';
  if (target.charCodeAt(0) === 47) return 'the target is absolute';
  const depth = linkPath.split('/').length - 1;
  let ups = 0;
  let names = 0;
  for (const seg of target.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (names > 0) return 'the target has ".." after a name (through a symlink that leads out of the worktree)';
      if (++ups > depth) return 'the target leaves the worktree';
      continue;
    }
    names++;
    const reserved = reservedNameOf(seg);
    if (reserved !== undefined) return `the target points into ${reserved}/`;
  }
  return undefined;
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

/**
 * The file that re-admits secrets and scratch files on one machine (see `ignore/secrets.ts`).
 * What leaves a machine is decided on it: the file is never shared, and never taken from a peer.
 */
export const LOCAL_POLICY_FILE = '.cshareinclude';

/**
 * Is the last segment of `path` the local policy file, in any case (a case-insensitive disk
 * holds one file for both)? A peer's entry with such a name is refused (`ManifestDoc`): written
 * where the user has none, it would decide what this machine uploads.
 */
export function isLocalPolicyFile(path: string): boolean {
  const name = path.length === LOCAL_POLICY_FILE.length ? path : path.slice(path.lastIndexOf('/') + 1);
  return name.length === LOCAL_POLICY_FILE.length && name.toLowerCase() === LOCAL_POLICY_FILE;
}
