import { randomInt } from 'node:crypto';
import { CshareError } from '../../core/errors.js';
import { unsafeRelPathReason } from '../../core/paths.js';
import { Pacer } from './pace.js';
import { isDeleted, scanUpdate } from './updateScan.js';

/**
 * Checks the relay runs on what peers upload, before anything is stored. The relay never
 * writes files, but every joiner will: a path the relay lets through reaches every disk of
 * the worktree (ARCHITECTURE.md "Safety rules"), so the relay refuses it at the door as well.
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
 *
 * Linear in the characters of all paths (issue 15, item 4: slicing every folder prefix of
 * every path was quadratic in a path's depth, and one 16 MB offer of deep paths froze the
 * relay for 29 s): a folder prefix is looked up by a rolling hash of it, and sliced only to
 * confirm a hit. `pacer` lets other work run between slices of a long set.
 */
export async function checkPathSet(paths: Iterable<string>, pacer = new Pacer()): Promise<void> {
  const seen = new Map<string, string>();
  const byHash = new Map<number, string[]>();
  for (const p of paths) {
    const key = foldPath(p);
    const prev = seen.get(key);
    if (prev !== undefined && prev !== p) {
      throw new CshareError('BAD_PATH', `paths ${JSON.stringify(prev.slice(0, 200))} and ${JSON.stringify(p.slice(0, 200))} differ only in case`, { path: p.slice(0, 200) });
    }
    if (prev === undefined) {
      seen.set(key, p);
      const h = pathHash(key);
      const same = byHash.get(h);
      if (same) same.push(key);
      else byHash.set(h, [key]);
    }
    if (pacer.due()) await pacer.step();
  }
  for (const [key, p] of seen) {
    // The hash of key's prefix, one character at a time: each '/' ends a folder prefix.
    let h = 0;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      if (c === 47 /* / */) {
        const folders = byHash.get(h);
        const parent = folders?.find((f) => f.length === i && key.startsWith(f));
        if (parent !== undefined) {
          throw new CshareError('BAD_PATH', `${JSON.stringify(seen.get(parent)!.slice(0, 200))} is a file and also a folder of ${JSON.stringify(p.slice(0, 200))}`, { path: p.slice(0, 200) });
        }
      }
      h = hashStep(h, c);
    }
    if (pacer.due()) await pacer.step();
  }
}

/*
 * A polynomial hash mod the prime P (below 2^31) with a base B drawn at random per process
 * from [2^20, 2^21): h * B + c stays below 2^52, exact in a double. Two different paths of at
 * most 4096 characters collide with probability at most 4096 / 2^20 whatever a peer chooses
 * (a nonzero polynomial of that degree has at most that many roots), and a collision only
 * costs one comparison. (A hash mod 2^32 would be faster, but strings that collide for every
 * base are known: a peer could make every lookup a long comparison again.)
 */
const P = 2147483629;
const INV_P = 1 / P;
const B = 2 ** 20 + randomInt(2 ** 20);

function hashStep(h: number, c: number): number {
  const x = h * B + c;
  // x / P is below 2^21, so the rounded quotient is off by at most one.
  const r = x - Math.floor(x * INV_P) * P;
  return r < 0 ? r + P : r >= P ? r - P : r;
}

function pathHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = hashStep(h, s.charCodeAt(i));
  return h;
}

/** The key two paths share if a case-insensitive, normalising file system sees one file. */
export function foldPath(path: string): string {
  return path.normalize('NFC').toLowerCase();
}

/**
 * Checks a manifest update: it must be a valid Yjs update within `maxUnits` (scanned, see
 * `updateScan.ts`), and every entry it sets (a plain object with a `path`, see
 * `core/ManifestDoc.ts`) must carry a safe path, with no two live entries of the update
 * colliding. Collisions with entries of earlier updates are the replicas' to resolve
 * (`ManifestDoc.live` picks one winner per path; each replica checks before writing).
 */
export async function checkManifestUpdate(update: Uint8Array, opts: { maxPathLength: number; maxUnits?: number; pacer?: Pacer }): Promise<void> {
  const pacer = opts.pacer ?? new Pacer();
  const { values, deletes } = await scanUpdate(update, { what: 'a manifest update', maxUnits: opts.maxUnits, values: true, pacer });
  const live: string[] = [];
  for (const { client, clock, value } of values) {
    if (typeof value !== 'object' || value === null || !('path' in value)) continue;
    const entry = value as { path: unknown; deleted?: unknown };
    checkPath(entry.path, opts.maxPathLength);
    // A value the same update also deletes (an overwritten entry in a doc without gc) is history.
    if (entry.deleted !== true && !isDeleted(deletes, client, clock)) live.push(entry.path);
  }
  await checkPathSet(live, pacer);
}
