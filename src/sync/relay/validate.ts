import * as Y from 'yjs';
import { CshareError } from '../../core/errors.js';
import { unsafeRelPathReason } from '../../core/paths.js';

/**
 * Checks the relay runs on what peers upload, before anything is stored. The relay never
 * writes files, but every joiner will: a path the relay lets through reaches every disk of
 * the worktree (DESIGN.md "Safety rules"), so the relay refuses it at the door as well.
 */

/** Throws `BAD_PATH` unless `path` is a safe worktree-relative path of at most `maxLength` characters. */
export function checkPath(path: unknown, maxLength: number): asserts path is string {
  if (typeof path !== 'string') throw new CshareError('BAD_PATH', 'a path must be a string');
  const reason = path.length > maxLength ? `path is longer than ${maxLength} characters` : unsafeRelPathReason(path);
  if (reason !== undefined) {
    throw new CshareError('BAD_PATH', `refusing unsafe path ${JSON.stringify(path.slice(0, 200))}: ${reason}`, { path: path.slice(0, 200) });
  }
}

/**
 * Throws `BAD_PATH` if two paths would be the same file on a case-insensitive (or
 * Unicode-normalising) file system, or if one path is a file and also a folder of another
 * (`a` and `a/b`): a joiner on macOS or Windows could not write both.
 */
export function checkPathSet(paths: Iterable<string>): void {
  const seen = new Map<string, string>();
  for (const p of paths) {
    const key = foldPath(p);
    const prev = seen.get(key);
    if (prev !== undefined && prev !== p) {
      throw new CshareError('BAD_PATH', `paths ${JSON.stringify(prev.slice(0, 200))} and ${JSON.stringify(p.slice(0, 200))} differ only in case`, { path: p.slice(0, 200) });
    }
    seen.set(key, p);
  }
  for (const [key, p] of seen) {
    for (let i = key.indexOf('/'); i !== -1; i = key.indexOf('/', i + 1)) {
      const parent = seen.get(key.slice(0, i));
      if (parent !== undefined) {
        throw new CshareError('BAD_PATH', `${JSON.stringify(parent.slice(0, 200))} is a file and also a folder of ${JSON.stringify(p.slice(0, 200))}`, { path: p.slice(0, 200) });
      }
    }
  }
}

/** The key two paths share if a case-insensitive, normalising file system sees one file. */
export function foldPath(path: string): string {
  return path.normalize('NFC').toLowerCase();
}

/** Decodes a Yjs (v1) update, or throws `PROTOCOL`. */
export function decodeYjsUpdate(update: Uint8Array, what: string): ReturnType<typeof Y.decodeUpdate> {
  try {
    return Y.decodeUpdate(update);
  } catch (err) {
    throw new CshareError('PROTOCOL', `${what} is not a valid Yjs update: ${(err as Error).message}`, {}, { cause: err });
  }
}

/**
 * Checks a manifest update: it must decode, and every entry it sets (a plain object with a
 * `path`, see `core/ManifestDoc.ts`) must carry a safe path, with no two live entries of the
 * update colliding. Collisions with entries of earlier updates are the replicas' to resolve
 * (`ManifestDoc.live` picks one winner per path; each replica checks before writing).
 */
export function checkManifestUpdate(update: Uint8Array, maxPathLength: number): void {
  const { structs, ds } = decodeYjsUpdate(update, 'a manifest update');
  const live: string[] = [];
  for (const s of structs) {
    if (!(s instanceof Y.Item)) continue;
    // A value the same update also deletes (an overwritten entry in a doc without gc) is history.
    const deleted = Y.isDeleted(ds, s.id);
    const content = s.content;
    const values: unknown[] = content instanceof Y.ContentAny ? content.arr : content instanceof Y.ContentJSON ? content.arr : [];
    for (const v of values) {
      if (typeof v !== 'object' || v === null || !('path' in v)) continue;
      const entry = v as { path: unknown; deleted?: unknown };
      checkPath(entry.path, maxPathLength);
      if (entry.deleted !== true && !deleted) live.push(entry.path);
    }
  }
  checkPathSet(live);
}
