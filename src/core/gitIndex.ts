/**
 * A reader for git's index file (`.git/index`), versions 2, 3 and 4. cshare reads it for two
 * things: which paths are tracked (`git ls-files --cached` lists them even when ignored) and
 * their cached blob ids, which let a cold scan skip hashing files git has already hashed.
 *
 * Layout (all integers big-endian):
 *
 *   header    "DIRC" | version u32 | entry count u32
 *   entry     ctime sec u32 | ctime nsec u32 | mtime sec u32 | mtime nsec u32 | dev u32 |
 *             ino u32 | mode u32 | uid u32 | gid u32 | size u32 | oid (20 bytes) |
 *             flags u16 (assume-valid 0x8000, extended 0x4000, stage 0x3000, name length 0x0fff) |
 *             [v3+, if extended: flags2 u16 (skip-worktree 0x4000, intent-to-add 0x2000)] |
 *             v2/v3: path, NUL, padded with NULs to a multiple of 8 bytes from the entry start
 *             v4:    varint (bytes to drop from the end of the previous path), suffix, NUL
 *   extensions  signature (4 bytes) | size u32 | data   (skipped)
 *   trailer   checksum (20 bytes)
 *
 * Every length is checked against the buffer before it is used; a malformed file throws `IO`
 * and the scanner carries on without the index.
 *
 * A scan reads the index every time but, when its stat cache is warm, needs only the set of
 * tracked paths. So {@link GitIndex.parse} validates the whole file and decodes the paths,
 * but keeps each entry as its offset in the buffer; the stat fields, flags and hex oid are
 * decoded only when {@link GitIndex.get} asks for that entry.
 */
import { Buffer } from 'node:buffer';
import { CshareError } from './errors.js';

/** One entry of the git index. Sizes, inodes and times are git's truncated 32-bit values. */
export interface GitIndexEntry {
  path: string;
  /** Git mode: 0o100644, 0o100755, 0o120000 (symlink), 0o160000 (submodule). */
  mode: number;
  size: number;
  ino: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
  /** Blob id in hex. */
  oid: string;
  /** 0 for a normal entry, 1–3 for the sides of an unresolved merge. */
  stage: number;
  /** `git update-index --assume-unchanged`: git does not stat it, so its oid may be stale. */
  assumeValid: boolean;
  /** Sparse checkout: the file is not expected on disk. */
  skipWorktree: boolean;
  /** `git add -N`: tracked, but the oid is the empty blob rather than the content. */
  intentToAdd: boolean;
}

/** Fixed part of an entry: ten u32 stat fields, the oid and the u16 flags. */
const ENTRY_FIXED = 40 + 20 + 2;
const HASH_LEN = 20;

const utf8 = new TextDecoder('utf-8');

function corrupt(message: string): CshareError {
  return new CshareError('IO', `Cannot read the git index: ${message}.`);
}

/**
 * Decodes `buf[start, end)` as UTF-8 (invalid sequences become U+FFFD). Paths are nearly
 * always ASCII, where the latin1 slice gives the same string without the decoder's overhead.
 */
function decodePath(buf: Buffer, start: number, end: number): string {
  for (let i = start; i < end; i++) {
    if (buf[i]! >= 0x80) return utf8.decode(buf.subarray(start, end));
  }
  return buf.toString('latin1', start, end);
}

/** Where parsing is in the file; `end` is where entries and extensions stop. */
interface Cursor {
  readonly bytes: Buffer;
  readonly view: DataView;
  readonly version: number;
  readonly end: number;
  pos: number;
}

/** Checks the signature, version and entry count. */
function readHeader(bytes: Buffer, view: DataView, end: number): { version: number; count: number } {
  if (bytes.byteLength < 12 + HASH_LEN) throw corrupt('file too short');
  if (bytes[0] !== 0x44 || bytes[1] !== 0x49 || bytes[2] !== 0x52 || bytes[3] !== 0x43) throw corrupt('bad signature (not "DIRC")');
  const version = view.getUint32(4);
  if (version < 2 || version > 4) throw corrupt(`unsupported version ${version}`);
  const count = view.getUint32(8);
  // A v4 entry is at least ENTRY_FIXED + 2 bytes (varint, NUL); refuse counts the file cannot hold.
  if (count > (end - 12) / (ENTRY_FIXED + 2)) throw corrupt(`entry count ${count} does not fit in ${bytes.byteLength} bytes`);
  return { version, count };
}

/** Reads `count` entries from the cursor: path -> offset of the entry that path keeps. */
function readEntries(cur: Cursor, count: number): Map<string, number> {
  const { view, version } = cur;
  const offsets = new Map<string, number>();
  const prefix = version === 4 ? new PrefixPath() : undefined;
  for (let n = 0; n < count; n++) {
    const start = cur.pos;
    const flags = readFixed(cur, n);
    const path = prefix ? prefix.read(cur, n) : readPaddedPath(cur, start, flags, n);
    // Order is not checked: nothing here depends on it, and git sorts by bytes, not UTF-16.

    if ((view.getUint32(start + 24) & 0o170000) === 0o040000) continue; // sparse-index directory entry
    const existing = offsets.get(path);
    if (existing !== undefined && ((view.getUint16(existing + 60) >> 12) & 3) <= ((flags >> 12) & 3)) continue;
    offsets.set(path, start);
  }
  return offsets;
}

/** Steps over entry `n`'s fixed part and its extended flags, if any; returns its flags. */
function readFixed(cur: Cursor, n: number): number {
  if (cur.pos + ENTRY_FIXED > cur.end) throw corrupt(`entry ${n} runs past the end`);
  const flags = cur.view.getUint16(cur.pos + 60);
  cur.pos += ENTRY_FIXED;
  if (flags & 0x4000) {
    if (cur.version < 3) throw corrupt(`entry ${n} has extended flags in a version ${cur.version} index`);
    if (cur.pos + 2 > cur.end) throw corrupt(`entry ${n} runs past the end`);
    cur.pos += 2;
  }
  return flags;
}

/** Reads a v2/v3 path: its length in the flags, a NUL, then padding to 8 bytes from `start`. */
function readPaddedPath(cur: Cursor, start: number, flags: number, n: number): string {
  const { bytes, end } = cur;
  const pos = cur.pos;
  const nameLen = flags & 0x0fff;
  // A name of 0xfff bytes or more stores 0xfff; the NUL ends it either way.
  const nul = nameLen < 0x0fff ? pos + nameLen : bytes.indexOf(0, pos + 0x0fff);
  if (nul < 0 || nul >= end || bytes[nul] !== 0) throw corrupt(`entry ${n} has a bad path length`);
  const pathStart = pos;
  // 1 to 8 NULs pad the entry to a multiple of 8 bytes.
  cur.pos = start + ((nul - start + 8) & ~7);
  if (cur.pos > end) throw corrupt(`entry ${n} padding runs past the end`);
  if (nul === pathStart) throw corrupt(`entry ${n} has an empty path`);
  return decodePath(bytes, pathStart, nul);
}

/** v4 path compression: each path is the previous one, minus some bytes, plus a suffix. */
class PrefixPath {
  /** The previous path's bytes, which the next path shares a prefix with. */
  private prev = Buffer.allocUnsafe(256);
  private prevLen = 0;

  /** Reads entry `n`'s path at the cursor. */
  read(cur: Cursor, n: number): string {
    const { bytes, end } = cur;
    let pos = cur.pos;
    // Git's offset varint: 7 bits a byte, high bit = more, each continuation adds one.
    let c = bytes[pos++];
    if (c === undefined || pos > end) throw corrupt(`entry ${n} runs past the end`);
    let drop = c & 0x7f;
    while (c & 0x80) {
      if (pos >= end || drop > 0xffffff) throw corrupt(`entry ${n} has a bad path prefix length`);
      c = bytes[pos++]!;
      drop = ((drop + 1) << 7) + (c & 0x7f);
    }
    if (drop > this.prevLen) throw corrupt(`entry ${n} drops ${drop} bytes from a ${this.prevLen}-byte path`);
    const nul = bytes.indexOf(0, pos);
    if (nul < 0 || nul >= end) throw corrupt(`entry ${n} has an unterminated path`);
    const keep = this.prevLen - drop;
    const len = keep + (nul - pos);
    if (len > this.prev.byteLength) {
      const grown = Buffer.allocUnsafe(Math.max(len, this.prev.byteLength * 2));
      this.prev.copy(grown, 0, 0, keep);
      this.prev = grown;
    }
    bytes.copy(this.prev, keep, pos, nul);
    this.prevLen = len;
    cur.pos = nul + 1;
    if (len === 0) throw corrupt(`entry ${n} has an empty path`);
    return decodePath(this.prev, 0, len);
  }
}

/**
 * Walks the extensions after the entries. Only "link" (split index) matters, because then
 * the entries are a partial list and tracked paths would be missed.
 */
function checkExtensions(cur: Cursor): void {
  const { bytes, view, end } = cur;
  let pos = cur.pos;
  while (pos + 8 <= end) {
    const sig = String.fromCharCode(bytes[pos]!, bytes[pos + 1]!, bytes[pos + 2]!, bytes[pos + 3]!);
    const size = view.getUint32(pos + 4);
    if (pos + 8 + size > end) throw corrupt(`extension ${JSON.stringify(sig)} runs past the end`);
    if (sig === 'link') throw corrupt('split index ("link" extension) is not supported');
    pos += 8 + size;
  }
  cur.pos = pos;
}

/**
 * A parsed git index: one entry per path, the stage-0 entry when there is one, else the
 * lowest stage of an unresolved merge (the path is still tracked: `ls-files --cached` lists
 * it), so callers must check `stage === 0` before trusting the oid. Sparse-directory entries
 * (mode 040000) are left out: they are not files.
 */
export class GitIndex {
  private readonly bytes: Buffer;
  private readonly view: DataView;
  /** Path -> byte offset of its entry. */
  private readonly offsets: Map<string, number>;
  private newest: number | undefined;

  private constructor(bytes: Buffer, view: DataView, offsets: Map<string, number>) {
    this.bytes = bytes;
    this.view = view;
    this.offsets = offsets;
  }

  /** Parses and checks a whole index file; throws `IO` if it is malformed or unsupported. */
  static parse(input: Uint8Array): GitIndex {
    const bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const end = bytes.byteLength - HASH_LEN; // entries and extensions stop before the checksum
    const { version, count } = readHeader(bytes, view, end);
    const cursor: Cursor = { bytes, view, version, end, pos: 12 };
    const offsets = readEntries(cursor, count);
    checkExtensions(cursor);
    return new GitIndex(bytes, view, offsets);
  }

  /** Number of entries (paths). */
  get size(): number {
    return this.offsets.size;
  }

  /** Is `path` tracked (has an entry at any stage)? */
  has(path: string): boolean {
    return this.offsets.has(path);
  }

  /** Tracked paths, in index order (git's byte order, for an index git wrote). */
  paths(): IterableIterator<string> {
    return this.offsets.keys();
  }

  /** The entry of `path`, decoded now, or `undefined` if it is not tracked. */
  get(path: string): GitIndexEntry | undefined {
    const at = this.offsets.get(path);
    if (at === undefined) return undefined;
    const view = this.view;
    const flags = view.getUint16(at + 60);
    const flags2 = flags & 0x4000 ? view.getUint16(at + ENTRY_FIXED) : 0;
    return {
      path,
      mode: view.getUint32(at + 24),
      size: view.getUint32(at + 36),
      ino: view.getUint32(at + 20),
      mtimeSec: view.getUint32(at + 8),
      mtimeNsec: view.getUint32(at + 12),
      ctimeSec: view.getUint32(at + 0),
      ctimeNsec: view.getUint32(at + 4),
      oid: this.bytes.toString('hex', at + 40, at + 40 + HASH_LEN),
      stage: (flags >> 12) & 3,
      assumeValid: (flags & 0x8000) !== 0,
      skipWorktree: (flags2 & 0x4000) !== 0,
      intentToAdd: (flags2 & 0x2000) !== 0,
    };
  }

  /**
   * Paths whose entry is a gitlink (mode 160000): submodules, checked out or not. Found on
   * demand, one mode read per entry, since most scans only ask once.
   */
  gitlinks(): string[] {
    const out: string[] = [];
    for (const [path, at] of this.offsets) if ((this.view.getUint32(at + 24) & 0o170000) === 0o160000) out.push(path);
    return out;
  }

  /** The newest entry mtime in ms (`-Infinity` for an empty index). */
  newestMtimeMs(): number {
    if (this.newest === undefined) {
      let newest = -Infinity;
      for (const at of this.offsets.values()) newest = Math.max(newest, this.view.getUint32(at + 8) * 1000 + this.view.getUint32(at + 12) / 1e6);
      this.newest = newest;
    }
    return this.newest;
  }
}

/**
 * Parses a git index into a map of fully decoded entries (see {@link GitIndex} for which
 * entry a path gets). The scanner uses {@link GitIndex} itself, which decodes lazily.
 */
export function parseGitIndex(bytes: Uint8Array): Map<string, GitIndexEntry> {
  const index = GitIndex.parse(bytes);
  const out = new Map<string, GitIndexEntry>();
  for (const path of index.paths()) out.set(path, index.get(path)!);
  return out;
}
