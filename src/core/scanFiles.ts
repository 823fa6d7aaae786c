/**
 * The second phase of a scan (`scanWorktree`): each file the walk listed is `lstat`ed and
 * its digest and kind taken from the cheapest source that is still correct (the stat cache,
 * the git index, else a read; see the header of `Scanner.ts`), and what a scan knows of a
 * file ({@link ScannedFile}, {@link CachedStat}).
 */
import { Buffer } from 'node:buffer';
import { isText } from './classify.js';
import { gitBlobId, gitFileMode } from './digest.js';
import type { GitIndex, GitIndexEntry } from './gitIndex.js';
import type { RefusedCode } from './refused.js';
import type { FileStat, WorktreeFs } from './ports.js';
import { message } from './scanRepo.js';

const utf8Encoder = new TextEncoder();

/** How cshare treats a file's content: merged as text, or synced as a whole blob. */
export type FileKind = 'text' | 'binary' | 'symlink';

/**
 * What the stat cache remembers about a file, so an unchanged file is not read again. A
 * `ctimeMs` of -1 marks an entry taken while the file was too fresh to trust (racy).
 */
export interface CachedStat {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  mode: number;
  kind: FileKind;
  digest: string;
  /**
   * The shared file (manifest fileId) whose content this is on this disk, where known: which
   * file a save at this path was made on, when another file took the path since (one created
   * at once elsewhere won it). Absent in entries a scan took of files it has not recorded.
   */
  fileId?: string;
}

/** One shared file found by a scan. */
export interface ScannedFile {
  /** Relative to the root, `/`-separated. */
  path: string;
  kind: FileKind;
  /** Git mode: 0o100644, 0o100755 or 0o120000. */
  mode: number;
  /** Bytes of content (of the link target, for a symlink). */
  size: number;
  /** Git blob id of the content (of the link target, for a symlink). */
  digest: string;
  /** The entry to store in the stat cache for this file. */
  stat: CachedStat;
}

/** How many files a scan took from each source. */
export interface ScanCounts {
  hashed: number;
  fromCache: number;
  fromGitIndex: number;
}

/** What {@link scanFiles} needs. */
export interface ScanFilesInput {
  fs: WorktreeFs;
  statCache: Pick<ReadonlyMap<string, CachedStat>, 'get'>;
  textLimit: number;
  /** A file whose mtime or ctime is at or after this is racy (see `Scanner.ts`). */
  racyLimitMs: number;
  /**
   * As `racyLimitMs`, for a time with a fraction of a second (see {@link isRacy}); default
   * `racyLimitMs`.
   */
  fineRacyLimitMs?: number;
  /** The git index, only where its blob ids are of the bytes on disk. */
  index: GitIndex | undefined;
  signal?: AbortSignal;
  onError: (path: string, msg: string, code?: RefusedCode) => void;
}

/** The digest and kind of each of `paths` (in the order given), skipping those gone or unreadable. */
export function scanFiles(input: ScanFilesInput, paths: readonly string[]): { files: ScannedFile[]; counts: ScanCounts } {
  const { fs, statCache, signal, onError } = input;
  const files: ScannedFile[] = [];
  const counts: ScanCounts = { hashed: 0, fromCache: 0, fromGitIndex: 0 };
  for (let n = 0; n < paths.length; n++) {
    if ((n & 255) === 0) signal?.throwIfAborted();
    const path = paths[n]!;
    let st: FileStat | undefined;
    try {
      st = fs.lstat(path);
    } catch (err) {
      onError(path, message(err));
      continue;
    }
    if (st === undefined || (st.kind !== 'file' && st.kind !== 'symlink')) continue; // vanished or replaced
    const cached = statCache.get(path);
    if (cached !== undefined && cached.size === st.size && cached.mtimeMs === st.mtimeMs && cached.ctimeMs === st.ctimeMs && cached.ino === st.ino && cached.mode === st.mode) {
      counts.fromCache++;
      files.push(fromCache(input, path, st, cached));
      continue;
    }
    const racy = isRacy(st.mtimeMs, input) || isRacy(st.ctimeMs, input);
    const file = st.kind === 'symlink' ? linkFile(input, path, st, racy, counts) : regularFile(input, path, st, racy, cached, counts);
    if (file) files.push(file);
  }
  return { files, counts };
}

/**
 * Is a file time too recent to vouch for the content read now? A time in whole seconds may
 * come from a file system that keeps only seconds (or FAT's two): the wide window. A time
 * with a fraction of a second comes from one that keeps far finer times (ext4, xfs, btrfs,
 * APFS: nanoseconds, set from the kernel's clock tick of a few ms), where a write after the
 * scan started cannot carry a time much before that start: the narrow one. Without it, every
 * file of a tree copied or checked out in the 3 s before a first scan was read again by the
 * next scan (38,500 files of a fresh copy of tldr: a rescan of 10 edits read them all).
 */
function isRacy(timeMs: number, { racyLimitMs, fineRacyLimitMs = racyLimitMs }: ScanFilesInput): boolean {
  return timeMs >= (timeMs % 1000 === 0 ? racyLimitMs : fineRacyLimitMs);
}

/** A file the stat cache vouches for: not read. */
function fromCache({ textLimit }: ScanFilesInput, path: string, st: FileStat, cached: CachedStat): ScannedFile {
  // A lowered text limit turns a cached text file binary without reading it.
  const kind = cached.kind === 'text' && cached.size > textLimit ? 'binary' : cached.kind;
  const stat = kind === cached.kind ? cached : { ...cached, kind };
  const mode = kind === 'symlink' ? 0o120000 : gitFileMode(st.mode);
  return { path, kind, mode, size: cached.size, digest: cached.digest, stat };
}

/** A symlink: its target's digest (never what it points at). */
function linkFile({ fs, onError }: ScanFilesInput, path: string, st: FileStat, racy: boolean, counts: ScanCounts): ScannedFile | undefined {
  let target: string | undefined;
  try {
    target = fs.readlink(path);
  } catch (err) {
    onError(path, message(err));
    return undefined;
  }
  if (target === undefined) return undefined;
  if (target.includes('\uFFFD')) {
    onError(path, 'symlink target is not valid UTF-8; skipped');
    return undefined;
  }
  const bytes = utf8Encoder.encode(target);
  const digest = gitBlobId(bytes);
  counts.hashed++;
  return makeFile(path, 'symlink', 0o120000, bytes.byteLength, digest, st, racy || bytes.byteLength !== st.size);
}

/** A regular file the stat cache cannot vouch for: its digest from the git index, else read. */
function regularFile(input: ScanFilesInput, path: string, st: FileStat, racy: boolean, cached: CachedStat | undefined, counts: ScanCounts): ScannedFile | undefined {
  const { fs, textLimit, index, onError } = input;
  const mode = gitFileMode(st.mode);
  const tracked = index?.get(path);
  // Over the text limit a file would not be read to classify it, so nothing would check the
  // index's oid against its bytes (a large file is what an LFS-like filter stores as a
  // pointer): it is hashed.
  if (tracked !== undefined && st.size <= textLimit && indexVouches(index!, tracked, st)) {
    return fromIndex(input, { path, st, mode, racy, cached, tracked }, counts);
  }
  let bytes: Uint8Array | undefined;
  try {
    bytes = fs.readFile(path);
  } catch (err) {
    onError(path, message(err));
    return undefined;
  }
  if (bytes === undefined) return undefined;
  counts.hashed++;
  const kind = isText(bytes, textLimit) ? 'text' : 'binary';
  return makeFile(path, kind, mode, bytes.byteLength, gitBlobId(bytes), st, racy || bytes.byteLength !== st.size);
}

/**
 * Can git's index entry stand for the file? Decoded only here, for a file the stat cache
 * could not vouch for. Git smudges racy entries when it writes the index, but an entry
 * written in the same tick as the index itself can still be stale, and git detects that by
 * comparing with the index file's mtime. `WorktreeFs` cannot stat inside `.git/`, and the
 * index is written after every entry it records was stat'ed, so the newest entry mtime is a
 * lower bound of the index mtime: entries that recent are not trusted (usually one file).
 */
function indexVouches(index: GitIndex, tracked: GitIndexEntry, st: FileStat): boolean {
  return (
    tracked.stage === 0 &&
    !tracked.assumeValid &&
    !tracked.skipWorktree &&
    !tracked.intentToAdd &&
    (tracked.mode === 0o100644 || tracked.mode === 0o100755) &&
    tracked.mtimeSec * 1000 + tracked.mtimeNsec / 1e6 < index.newestMtimeMs() &&
    statMatchesIndex(tracked, st)
  );
}

/**
 * A file the index vouches for: its oid as digest. It is still read to classify it as text or
 * binary, unless the cache already knows the kind of that oid; and read bytes git could have
 * converted (see {@link gitMayConvert}) are hashed rather than trusted.
 */
function fromIndex(
  { fs, textLimit, onError }: ScanFilesInput,
  f: { path: string; st: FileStat; mode: number; racy: boolean; cached: CachedStat | undefined; tracked: GitIndexEntry },
  counts: ScanCounts,
): ScannedFile | undefined {
  const { path, st, mode, cached, tracked } = f;
  let kind: FileKind | undefined;
  if (st.size > textLimit) kind = 'binary';
  else if (cached !== undefined && cached.digest === tracked.oid && cached.kind !== 'symlink') kind = cached.kind;
  else {
    let bytes: Uint8Array | undefined;
    try {
      bytes = fs.readFile(path);
    } catch (err) {
      onError(path, message(err));
      return undefined;
    }
    if (bytes === undefined) return undefined;
    // A file that changed size since the lstat is not what git hashed: hash it here.
    if (bytes.byteLength !== st.size) {
      counts.hashed++;
      return makeFile(path, isText(bytes, textLimit) ? 'text' : 'binary', mode, bytes.byteLength, gitBlobId(bytes), st, true);
    }
    kind = isText(bytes, textLimit) ? 'text' : 'binary';
    if (kind === 'binary' || gitMayConvert(bytes)) {
      counts.hashed++;
      return makeFile(path, kind, mode, bytes.byteLength, gitBlobId(bytes), st, f.racy);
    }
  }
  counts.fromGitIndex++;
  return makeFile(path, kind, mode, st.size, tracked.oid, st, f.racy);
}

const CR = 13;
const IDENT = Buffer.from('$Id');

/**
 * Could git's blob of these bytes differ from them? The index's oid is of what git stored:
 * the *cleaned* content, which differs from the bytes on disk where line endings were
 * converted (`text`/`eol`/`crlf` attributes, `core.autocrlf`) or `ident` collapsed a
 * `$Id: …$`, and those settings may have been in force when git wrote the entry though they
 * are not now (a `.gitattributes` deleted since, `core.autocrlf` unset since: git then still
 * calls the file clean). Cleaning only removes CRs and expands nothing but `$Id…$`, so
 * bytes with neither are their own blob. Binary files are hashed by the caller (a
 * `working-tree-encoding` or filter turns bytes into something else entirely).
 */
function gitMayConvert(bytes: Uint8Array): boolean {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buf.indexOf(CR) >= 0 || buf.indexOf(IDENT) >= 0;
}

/** Does the file's stat match git's recorded stat data (times to the microsecond)? */
function statMatchesIndex(e: GitIndexEntry, st: FileStat): boolean {
  return (
    e.size === st.size % 0x100000000 &&
    e.ino === st.ino % 0x100000000 &&
    Math.abs(st.mtimeMs - (e.mtimeSec * 1000 + e.mtimeNsec / 1e6)) < 0.001 &&
    Math.abs(st.ctimeMs - (e.ctimeSec * 1000 + e.ctimeNsec / 1e6)) < 0.001
  );
}

/** Builds a result entry; `smudge` marks its cache entry as never matching (see `Scanner.ts`). */
function makeFile(path: string, kind: FileKind, mode: number, size: number, digest: string, st: FileStat, smudge: boolean): ScannedFile {
  const stat: CachedStat = { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: smudge ? -1 : st.ctimeMs, ino: st.ino, mode: st.mode, kind, digest };
  return { path, kind, mode, size, digest, stat };
}
