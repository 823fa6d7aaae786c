/**
 * The status cache (`.cshare/status-cache`): what the last whole-tree `cshare status` of a
 * worktree found, and enough of how it found it to tell with one `lstat` per file and per
 * directory that nothing has changed since. Git keeps the same for `git status` in its index
 * (stat data refreshed by every status) and its untracked cache (each directory's stat and
 * entries, so an unchanged directory is not listed again).
 *
 * It holds:
 *   - the key of the status view it was computed against (the view file's inode, size and
 *     times: a new view is a new file) and of the environment that picks the git config and
 *     excludes files (`HOME`, `XDG_CONFIG_HOME`, `GIT_CONFIG_GLOBAL`, the text limit);
 *   - every file outside the tree the scan read (git config, excludes files, the git index)
 *     and every ignore rule file it read, with their stat: any of them changed (or appeared)
 *     and the cache is not used, since which paths are shared may have changed;
 *   - each directory the walk listed, its stat and its entries (name and kind): while a
 *     directory's mtime, ctime and inode are unchanged no entry was added, removed or
 *     renamed in it, and with unchanged rules its shared files are the same;
 *   - each shared file found, with its stat as the scan's stat cache entry;
 *   - the answer: whether the tree matched what is recorded, and the changes if not.
 *
 * `checkStatusCache` (in `statusCacheCheck.ts`) compares it with the disk and returns the paths that may have
 * changed: files whose stat differs or that are gone, and new or replaced entries in a
 * directory whose stat changed. None: the cached answer holds. A few: only they need a scan.
 * A directory or file modified within {@link RACY_WINDOW_MS} of the scan that wrote the cache
 * is stored so that it never matches (ctime -1), as the stat cache does: a change in the
 * same clock tick as the scan would not show in its stat.
 *
 * Layout: a u32 header length, the header (JSON), then nine sections, each on an 8-byte
 * boundary: file paths (`\0`-joined), file stats (float64 x5: size, mtimeMs, ctimeMs, ino,
 * mode), directory paths (the root is `''`), directory stats (float64 x4: mtimeMs, ctimeMs,
 * ino, mode), entries per directory (u32), entry names (`\0`-joined, directory by
 * directory), entry kinds (u8), input paths (absolute) and input stats (float64 x4: size,
 * mtimeMs, ctimeMs, ino; all -1 for a file that was absent). Every count and length is
 * checked; a cache that does not decode is not used, and the next whole-tree status writes
 * it again. It is only ever read by `status`, which records nothing.
 */
import { closeSync, fstatSync, lstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { logger } from '../core/log.js';
import { bytesOf, decodeSectioned, encodeSectioned, float64Section, joinedSection, splitSection } from '../core/sectionedFile.js';
import type { StatusChange } from '../core/pending.js';
import type { DirEntry } from '../core/ports.js';
import type { NestedRepo, ScannedFile } from '../core/Scanner.js';
import type { WalkedDir } from '../store/fs/RecordingFs.js';
import { writeFileReplacing } from '../store/layout.js';

const log = logger('status-cache');

/** Bumped on any change of the layout; another version is not used. */
export const STATUS_CACHE_VERSION = 2;
const MAGIC = 'cshare-status-cache';
const SECTIONS = 9;
/** Numbers kept per file (size, mtimeMs, ctimeMs, ino, mode), directory and input. */
export const FILE_NUMS = 5;
export const DIR_NUMS = 4;
export const INPUT_NUMS = 4;
/** The scanner's default racy window (not imported: this module must not load the scanner). */
const RACY_WINDOW_MS = 3000;
const KINDS: readonly DirEntry['kind'][] = ['file', 'dir', 'symlink', 'other'];
const NO_THROW = { throwIfNoEntry: false } as const;

/** A directory as cached: its entries' names and kind codes (see `KINDS`). */
export interface CachedDir {
  path: string;
  names: readonly string[];
  kinds: ArrayLike<number>;
  /** mtimeMs, ctimeMs, ino, mode, kept with entries listed earlier; else taken when encoding. */
  stat?: ArrayLike<number>;
}

/** What a status found, to be cached. */
export interface StatusCacheContent {
  viewKey: string;
  envKey: string;
  /** Did the tree match what is recorded? */
  clean: boolean;
  changes: StatusChange[];
  /** The repositories inside the tree (`ScanResult.nested`), for `status` to say. */
  nested: NestedRepo[];
  /** The shared files and their stat cache entries ({@link FILE_NUMS} numbers each). */
  files: { paths: readonly string[]; nums: ArrayLike<number> };
  dirs: readonly CachedDir[];
  /** Absolute paths of the files the scan read its rules and config from. */
  inputs: readonly string[];
  /** When the scan started (ms since the epoch): stats this recent are not trusted. */
  scanStartMs: number;
  /** How recent is too recent (default the scanner's, {@link RACY_WINDOW_MS}). */
  racyWindowMs?: number;
}

/** The cache's form of a scan's files. */
export function cachedFilesOf(files: readonly ScannedFile[]): StatusCacheContent['files'] {
  const nums = new Float64Array(files.length * FILE_NUMS);
  for (let i = 0; i < files.length; i++) {
    const s = files[i]!.stat;
    nums.set([s.size, s.mtimeMs, s.ctimeMs, s.ino, s.mode], i * FILE_NUMS);
  }
  return { paths: files.map((f) => f.path), nums };
}

/** The cache's form of the directories a walk listed. */
export function cachedDirsOf(dirs: readonly WalkedDir[]): CachedDir[] {
  return dirs.map((d) => ({ path: d.path, names: d.entries.map((e) => e.name), kinds: d.entries.map((e) => kindCode(e.kind)) }));
}

/** The key of what picks the git config and excludes files, and of the text limit. */
export function envKey(home: string | undefined, env: Record<string, string | undefined>, textLimit: number | undefined): string {
  return JSON.stringify([home ?? null, env.XDG_CONFIG_HOME ?? null, env.GIT_CONFIG_GLOBAL ?? null, env.GIT_CONFIG_SYSTEM ?? null, env.GIT_CONFIG_NOSYSTEM ?? null, textLimit ?? null]);
}

function kindCode(kind: DirEntry['kind']): number {
  return KINDS.indexOf(kind);
}

/** The absolute path of `rel` (`''` is the root). */
export const abs = (root: string, rel: string): string => (rel === '' ? root : `${root}/${rel}`);

/**
 * `lstat` (or `stat`, following links, as the scan reads its inputs), undefined for a path
 * that is not there, also below something that is no directory, or that cannot be looked at.
 */
export function statOf(path: string, follow: boolean): Stats | undefined {
  try {
    return follow ? statSync(path, NO_THROW) : lstatSync(path, NO_THROW);
  } catch (err) {
    log('cannot stat %s: %s', path, (err as Error).message);
    return undefined;
  }
}

/**
 * Encodes a cache, or returns undefined when there is nothing it could vouch for: an input
 * changed while the scan ran (its stat is as recent as the scan).
 */
export function encodeStatusCache(root: string, c: StatusCacheContent): Uint8Array | undefined {
  const racyLimit = c.scanStartMs - (c.racyWindowMs ?? RACY_WINDOW_MS);
  const inputPaths = [...c.inputs];
  const inputNums = new Float64Array(inputPaths.length * INPUT_NUMS).fill(-1);
  for (let i = 0; i < inputPaths.length; i++) {
    const st = statOf(inputPaths[i]!, true);
    if (st === undefined) continue;
    if (st.mtimeMs >= racyLimit || st.ctimeMs >= racyLimit) return undefined;
    inputNums.set([st.size, st.mtimeMs, st.ctimeMs, st.ino], i * INPUT_NUMS);
  }

  const nf = c.files.paths.length;
  if (c.files.nums.length !== nf * FILE_NUMS) throw new Error('status cache: file stats do not match the paths');
  const fileNums = Float64Array.from(c.files.nums);

  // A directory's stat is taken now, after the walk listed it, unless it was kept with its
  // entries: a change since the listing makes it as recent as the scan, and such a directory
  // is stored never to match.
  const dirNums = new Float64Array(c.dirs.length * DIR_NUMS).fill(-1);
  const counts = new Uint32Array(c.dirs.length);
  const names: string[] = [];
  const kinds: number[] = [];
  for (let i = 0; i < c.dirs.length; i++) {
    const d = c.dirs[i]!;
    counts[i] = d.names.length;
    for (let j = 0; j < d.names.length; j++) {
      names.push(d.names[j]!);
      kinds.push(d.kinds[j]!);
    }
    if (d.stat !== undefined) {
      dirNums.set(Array.from(d.stat), i * DIR_NUMS);
      continue;
    }
    const st = statOf(abs(root, d.path), false);
    if (st === undefined || !st.isDirectory()) continue;
    const racy = st.mtimeMs >= racyLimit || st.ctimeMs >= racyLimit;
    dirNums.set([st.mtimeMs, racy ? -1 : st.ctimeMs, st.ino, st.mode], i * DIR_NUMS);
  }

  const sections = [
    joinedSection(c.files.paths),
    bytesOf(fileNums),
    joinedSection(c.dirs.map((d) => d.path)),
    bytesOf(dirNums),
    bytesOf(counts),
    joinedSection(names),
    Uint8Array.from(kinds),
    joinedSection(inputPaths),
    bytesOf(inputNums),
  ];
  return encodeSectioned(
    { magic: MAGIC, version: STATUS_CACHE_VERSION, view: c.viewKey, env: c.envKey, clean: c.clean, changes: c.changes, nested: c.nested, files: nf, dirs: c.dirs.length, names: names.length, inputs: inputPaths.length },
    sections,
  );
}

/** A decoded cache; the file paths and entry names stay bytes until needed. */
export interface DecodedCache {
  bytes: Uint8Array;
  clean: boolean;
  changes: StatusChange[];
  nested: NestedRepo[];
  files: number;
  filePaths: Uint8Array;
  fileNums: Float64Array;
  dirPaths: string[];
  dirNums: Float64Array;
  counts: Uint32Array;
  names: Uint8Array;
  kinds: Uint8Array;
  inputPaths: string[];
  inputNums: Float64Array;
}

/** Decodes the cache in `bytes` (on a buffer of its own, 8-byte aligned), or undefined. */
export function decodeStatusCache(bytes: Uint8Array, viewKey: string, env: string): DecodedCache | undefined {
  const read = decodeSectioned(bytes, SECTIONS);
  if (!read) return undefined;
  const h = read.header;
  if (h.magic !== MAGIC || h.version !== STATUS_CACHE_VERSION || h.view !== viewKey || h.env !== env) return undefined;
  const { files, dirs, names, inputs, clean, changes, nested } = h;
  const counts = [files, dirs, names, inputs];
  if (!counts.every((x) => Number.isSafeInteger(x) && (x as number) >= 0) || typeof clean !== 'boolean' || !Array.isArray(changes) || !Array.isArray(nested)) return undefined;
  const [nf, nd, nn, ni] = counts as number[];
  const s = read.sections;
  const fileNums = float64Section(s[1]!, nf! * FILE_NUMS);
  const dirPaths = splitSection(s[2]!, nd!);
  const dirNums = float64Section(s[3]!, nd! * DIR_NUMS);
  const dirCounts = s[4]!.byteLength === nd! * 4 ? new Uint32Array(s[4]!.buffer, s[4]!.byteOffset, nd!) : undefined;
  const kinds = s[6]!.byteLength === nn! ? s[6]! : undefined;
  const inputPaths = splitSection(s[7]!, ni!);
  const inputNums = float64Section(s[8]!, ni! * INPUT_NUMS);
  if (!fileNums || !dirPaths || !dirNums || !dirCounts || !kinds || !inputPaths || !inputNums) return undefined;
  let total = 0;
  for (const c of dirCounts) total += c;
  if (total !== nn || kinds.some((k) => k >= KINDS.length)) return undefined;
  // The file paths are split later, chunk by chunk; a chunk that holds another count fails then.
  return { bytes, clean, changes: changes as StatusChange[], nested: nested as NestedRepo[], files: nf!, filePaths: s[0]!, fileNums, dirPaths, dirNums, counts: dirCounts, names: s[5]!, kinds, inputPaths, inputNums };
}

/** The cache file's bytes on an 8-byte aligned buffer a worker can share, or undefined if absent. */
export function readStatusCacheBytes(path: string): Uint8Array | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log('cannot open the status cache: %s', (err as Error).message);
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const bytes = new Uint8Array(new SharedArrayBuffer(size));
    for (let off = 0; off < size; ) {
      const n = readSync(fd, bytes, off, size - off, off);
      if (n === 0) return undefined; // cut short while read
      off += n;
    }
    return bytes;
  } catch (err) {
    log('cannot read the status cache: %s', (err as Error).message);
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * The cache brought up to date by a scan of part of the tree (what `covers` says is in it),
 * as `git status` refreshes the stat data in git's index: the files and directories outside
 * the part kept as they were (they were just checked), those inside it as the scan found and
 * listed them, and directories the walk listed on its way to the part as listed now. The
 * answer given (`head`) must be the whole tree's.
 */
export function mergeStatusCache(
  root: string,
  old: DecodedCache,
  scanned: { covers(path: string): boolean; files: readonly ScannedFile[]; listed: readonly WalkedDir[]; inputs: Iterable<string>; oldInputs: readonly string[] },
  head: Omit<StatusCacheContent, 'files' | 'dirs' | 'inputs'>,
): Uint8Array | undefined {
  const oldPaths = splitSection(old.filePaths, old.files);
  const oldNames = splitSection(old.names, old.kinds.length);
  if (oldPaths === undefined || oldNames === undefined) return undefined;
  const paths: string[] = [];
  const nums: number[] = [];
  for (let i = 0; i < oldPaths.length; i++) {
    if (scanned.covers(oldPaths[i]!)) continue;
    paths.push(oldPaths[i]!);
    for (let k = 0; k < FILE_NUMS; k++) nums.push(old.fileNums[i * FILE_NUMS + k]!);
  }
  const fresh = cachedFilesOf(scanned.files);
  paths.push(...fresh.paths);
  for (let k = 0; k < fresh.nums.length; k++) nums.push(fresh.nums[k]!);

  const listed = new Set(scanned.listed.map((d) => d.path));
  const dirs: CachedDir[] = [];
  for (let i = 0, start = 0; i < old.dirPaths.length; i++) {
    const path = old.dirPaths[i]!;
    const count = old.counts[i]!;
    if (!listed.has(path) && !scanned.covers(path)) {
      dirs.push({ path, names: oldNames.slice(start, start + count), kinds: old.kinds.subarray(start, start + count), stat: old.dirNums.subarray(i * DIR_NUMS, (i + 1) * DIR_NUMS) });
    }
    start += count;
  }
  dirs.push(...cachedDirsOf(scanned.listed));
  return encodeStatusCache(root, { ...head, files: { paths, nums }, dirs, inputs: [...new Set([...scanned.oldInputs, ...scanned.inputs])] });
}

/**
 * The repositories inside the whole tree after a scan of part of it (what `covers` says is
 * in it): those outside the part as cached, those the scan met as it found them.
 */
export function mergeNested(cached: readonly NestedRepo[], covers: (path: string) => boolean, scanned: readonly NestedRepo[]): NestedRepo[] {
  const nested = new Map<string, NestedRepo>();
  for (const n of cached) if (!covers(n.path.slice(0, -1))) nested.set(n.path, n);
  for (const n of scanned) nested.set(n.path, n);
  return [...nested.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Writes the cache (see `writeFileReplacing`); failing to only costs the next status its speed. */
export function writeStatusCache(path: string, bytes: Uint8Array): void {
  try {
    writeFileReplacing(path, bytes);
  } catch (err) {
    // A cache: status answered already, the next one scans the whole tree again.
    log('cannot write the status cache: %s', (err as Error).message);
  }
}
