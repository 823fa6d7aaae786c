import { createHash } from 'node:crypto';

/**
 * A git index file (version 2) that tracks `paths`, for tests that need a repository's tracked
 * set without running git (the in-memory worktree reads it through `readExternal`). Every stat
 * field is 0, so no scan ever takes an entry's blob id for the file's content (the entries'
 * mtime is never before the index's newest); the blob ids are those of empty files. Paths are
 * sorted by their bytes, as git writes them, and the file ends with its SHA-1, as git's does.
 */
export function gitIndexBytes(paths: Iterable<string>): Uint8Array {
  const sorted = [...new Set(paths)].map((p) => Buffer.from(p, 'utf8')).sort(Buffer.compare);
  const EMPTY_BLOB = Buffer.from('e69de29bb2d1d6434b8b29ae775ad8c2e48c5391', 'hex');
  const parts: Buffer[] = [];
  const header = Buffer.alloc(12);
  header.write('DIRC', 0, 'latin1');
  header.writeUInt32BE(2, 4);
  header.writeUInt32BE(sorted.length, 8);
  parts.push(header);
  for (const name of sorted) {
    // 40 bytes of stat fields, the blob id, the flags (name length), the name, then 1-8 NULs
    // to a multiple of 8 bytes from the entry's start.
    const fixed = Buffer.alloc(62);
    fixed.writeUInt32BE(0o100644, 24);
    EMPTY_BLOB.copy(fixed, 40);
    fixed.writeUInt16BE(Math.min(name.byteLength, 0xfff), 60);
    const size = (62 + name.byteLength + 8) & ~7;
    parts.push(fixed, name, Buffer.alloc(size - 62 - name.byteLength));
  }
  const body = Buffer.concat(parts);
  return new Uint8Array(Buffer.concat([body, createHash('sha1').update(body).digest()]));
}
