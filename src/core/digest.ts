import { createHash } from 'node:crypto';

/**
 * The git blob id of `bytes`: SHA-1 of `"blob <len>\0"` followed by the bytes, in hex. It is
 * what `git hash-object --no-filters` prints, so a manifest digest can be compared with the
 * ids in a git index or tree without converting anything.
 */
export function gitBlobId(bytes: Uint8Array): string {
  return createHash('sha1').update(`blob ${bytes.byteLength}\0`).update(bytes).digest('hex');
}
