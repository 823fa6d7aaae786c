import { Buffer, isUtf8 } from 'node:buffer';

/**
 * Files larger than this are binary whatever their content (8 MiB, see ARCHITECTURE.md "Text
 * or binary").
 */
export const DEFAULT_TEXT_LIMIT = 8 * 1024 * 1024;

/**
 * Is `bytes` a text file for cshare: at most `limit` bytes, no NUL byte, valid UTF-8?
 *
 * Uses `buffer.isUtf8` (simdutf) and `Buffer#indexOf` (memchr) rather than a fatal
 * `TextDecoder`: both run at memory speed and allocate nothing, and a cold scan calls this
 * on every file.
 */
export function isText(bytes: Uint8Array, limit: number = DEFAULT_TEXT_LIMIT): boolean {
  if (bytes.byteLength > limit) return false;
  if (bytes.byteLength === 0) return true;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buf.indexOf(0) === -1 && isUtf8(buf);
}
