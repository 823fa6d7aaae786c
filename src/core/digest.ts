import { createHash } from 'node:crypto';

/**
 * The git blob id of `bytes`: SHA-1 of `"blob <len>\0"` followed by the bytes, in hex. It is
 * what `git hash-object --no-filters` prints, so a manifest digest can be compared with the
 * ids in a git index or tree without converting anything.
 */
export function gitBlobId(bytes: Uint8Array): string {
  return createHash('sha1').update(`blob ${bytes.byteLength}\0`).update(bytes).digest('hex');
}

/**
 * The git mode of a regular file with permission bits `perm` (an `lstat` mode): `100755`
 * only when the owner may execute it. Git looks at the owner's execute bit alone
 * (`ce_mode_from_stat` masks with `S_IXUSR`), so a 0655 or 0754 file is `100644` there, and
 * must be here too: a mode git would not record is a change nobody made.
 */
export function gitFileMode(perm: number): 0o100644 | 0o100755 {
  return perm & 0o100 ? 0o100755 : 0o100644;
}
