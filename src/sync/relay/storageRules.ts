import { createHash, type Hash } from 'node:crypto';
import * as Y from 'yjs';
import { CshareError } from '../../core/errors.js';
import { BLOB_CHUNK_BYTES } from '../schema.js';
import { checkDigest, checkId } from './keys.js';
import { Pacer } from './pace.js';
import type { BlobInfo, NewRegistration, Registration, RelayLimits } from './RelayStorage.js';
import { scanUpdate, type UpdateScan } from './updateScan.js';

/**
 * What every `RelayStorage` backend checks and computes the same way, whatever it stores in:
 * the checks of what a peer uploads (ids, Yjs updates, blob sizes and hashes, the quota), a
 * file's state vector, and the per-worktree lock. One copy, so that two backends cannot
 * disagree on what a hostile peer may store.
 */

/** Checks the ids of an append (`PROTOCOL` for one that is not a schema id). */
export function checkAppendIds(worktreeId: string, by: string, fileId?: string): void {
  checkId(worktreeId, 'worktree id');
  if (fileId !== undefined) checkId(fileId, 'file id');
  checkId(by, 'replica id');
}

/**
 * Checks an upload's updates: at least one, at most {@link RelayLimits.maxUpdatesPerRequest},
 * each a valid Yjs update within {@link RelayLimits.maxUpdateUnits} (scanned, not decoded:
 * see `updateScan.ts`). Returns each one's scan.
 */
export async function checkUpdates(updates: Uint8Array[], opts: { what: string; limits: RelayLimits; pacer?: Pacer }): Promise<UpdateScan[]> {
  const { maxUpdatesPerRequest, maxUpdateUnits } = opts.limits;
  if (updates.length === 0) throw new CshareError('PROTOCOL', 'an upload must carry at least one update');
  if (updates.length > maxUpdatesPerRequest) {
    throw new CshareError('TOO_LARGE', `an upload carries at most ${maxUpdatesPerRequest} updates, not ${updates.length}`, { max: maxUpdatesPerRequest });
  }
  const pacer = opts.pacer ?? new Pacer();
  const scans: UpdateScan[] = [];
  for (const u of updates) scans.push(await scanUpdate(u, { what: opts.what, maxUnits: maxUpdateUnits, pacer }));
  return scans;
}

/** Checks a history upload: at least one entry. */
export function checkHistory(entries: readonly unknown[]): void {
  if (entries.length === 0) throw new CshareError('PROTOCOL', 'a history upload must carry at least one entry');
}

/**
 * Advances `vector` (a file's, read under the worktree's lock) over the updates `scans`
 * describe. A conservative vector: a client's range advances it only if it starts at or
 * before what is covered already, so after a gap the relay may ask for an update twice but
 * never claims one it lacks.
 */
export function advanceVector(vector: Map<number, number>, scans: readonly UpdateScan[]): Map<number, number> {
  for (const { from, to } of scans) {
    for (const [client, end] of to) {
      const have = vector.get(client) ?? 0;
      if ((from.get(client) ?? 0) <= have && end > have) vector.set(client, end);
    }
  }
  return vector;
}

/**
 * True if the offered state vector (of the file `fileId`) is ahead of what is stored
 * (`stored`, undefined if nothing is); `PROTOCOL` if the offered one does not decode.
 */
export function vectorAhead(fileId: string, offeredVector: Uint8Array, stored: Map<number, number> | undefined): boolean {
  let offered: Map<number, number>;
  try {
    offered = Y.decodeStateVector(offeredVector);
  } catch (err) {
    throw new CshareError('PROTOCOL', `the state vector offered for ${fileId} does not decode`, { fileId }, { cause: err });
  }
  for (const [client, clock] of offered) if (clock > (stored?.get(client) ?? 0)) return true;
  return false;
}

/** Checks the start of a blob upload: ids, digest and size (`TOO_LARGE` over the limit). */
export function checkBlobStart(worktreeId: string, digest: string, size: number, by: string, limits: RelayLimits): void {
  checkAppendIds(worktreeId, by);
  checkDigest(digest);
  if (!Number.isSafeInteger(size) || size < 0) throw new CshareError('PROTOCOL', `bad blob size ${size}`);
  if (size > limits.maxBlobBytes) {
    throw new CshareError('TOO_LARGE', `blob ${digest} is ${size} bytes, over this relay's limit of ${limits.maxBlobBytes}`, { digest, size, max: limits.maxBlobBytes });
  }
}

/** Throws `OVERLOADED` unless `bytes` more fit the worktree's quota with `used` stored. */
export function checkFits(worktreeId: string, used: number, bytes: number, limits: RelayLimits): void {
  const max = limits.maxWorktreeBytes;
  if (used + bytes > max) {
    throw new CshareError('OVERLOADED', `worktree ${worktreeId} would store more than its quota of ${max} bytes on this relay (${used} stored)`, { worktreeId, used, max, quota: true });
  }
}

/** Bytes of `updates`, what an append adds to its worktree's usage. */
export function byteSum(updates: readonly Uint8Array[]): number {
  let n = 0;
  for (const u of updates) n += u.byteLength;
  return n;
}

/**
 * The checks of a chunked blob upload, whatever stores its chunks: chunks one at a time, in
 * order from offset 0, of at most one chunk's bytes and adding up to the size, hashed as they
 * come (the git blob id: sha1, or sha256 for a 64-digit digest, of `"blob <size>\0"` + bytes).
 */
export class ChunkCheck {
  /** Bytes accepted so far. */
  received = 0;
  private busy = false;
  private readonly hash: Hash;

  constructor(
    readonly digest: string,
    readonly size: number,
  ) {
    this.hash = createHash(digest.length === 64 ? 'sha256' : 'sha1').update(`blob ${size}\0`);
  }

  /**
   * Runs `accept` for the chunk at `offset` if it is the one expected, else `PROTOCOL`; a
   * second chunk while one is being written is refused too.
   */
  async next<T>(offset: number, data: Uint8Array, accept: (last: boolean) => Promise<T>): Promise<T> {
    if (this.busy) throw new CshareError('PROTOCOL', `blob ${this.digest}: chunks must be sent one at a time`);
    if (offset !== this.received) {
      throw new CshareError('PROTOCOL', `blob ${this.digest}: expected the chunk at byte ${this.received}, got one at ${offset}`, { offset, expected: this.received });
    }
    if (data.length > BLOB_CHUNK_BYTES || offset + data.length > this.size || (data.length === 0 && this.size !== 0)) {
      throw new CshareError('PROTOCOL', `blob ${this.digest}: bad chunk of ${data.length} bytes at ${offset} of ${this.size}`);
    }
    this.busy = true;
    try {
      this.hash.update(data);
      this.received += data.length;
      return await accept(this.received >= this.size);
    } finally {
      this.busy = false;
    }
  }

  /** After the last chunk: `PROTOCOL` unless the bytes hash to the digest (`dropped` runs first). */
  async verify(dropped: () => Promise<void>): Promise<void> {
    const actual = this.hash.digest('hex');
    if (actual === this.digest) return;
    await dropped();
    throw new CshareError('PROTOCOL', `blob content does not match its digest: announced ${this.digest}, content hashes to ${actual}`, { digest: this.digest, actual });
  }
}

/** One lock per worktree: `locked` runs its functions one at a time, in call order. */
export class WorktreeLocks {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Runs `fn` once every function locked before on `worktreeId` settled. */
  locked<T>(worktreeId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(worktreeId) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(worktreeId, tail);
    void tail.then(() => {
      if (this.tails.get(worktreeId) === tail) this.tails.delete(worktreeId);
    });
    return run;
  }
}

/**
 * Writes a whole blob through an upload of it, a chunk of at most `BLOB_CHUNK_BYTES` at a time
 * (an empty blob is one empty chunk); resolves with its record. `write` is the upload's, with
 * whatever options the backend passes (LevelDB stages every chunk for one batch).
 */
export async function writeWhole(bytes: Uint8Array, write: (offset: number, data: Uint8Array) => Promise<BlobInfo | undefined>): Promise<BlobInfo> {
  let info: BlobInfo | undefined;
  for (let offset = 0; offset < bytes.length || offset === 0; offset += BLOB_CHUNK_BYTES) {
    info = await write(offset, bytes.subarray(offset, offset + BLOB_CHUNK_BYTES));
    if (bytes.length === 0) break;
  }
  if (!info) throw new CshareError('INTERNAL', 'blob upload did not complete');
  return info;
}

/**
 * Registers `reg` once, as every backend must: under the worktree's lock, a registration that
 * exists (`existing`) is the answer; else the new one (`by` '' and `created` now unless given)
 * is kept by `store`.
 */
export async function registerOnce(
  locks: WorktreeLocks,
  reg: NewRegistration,
  existing: () => Promise<Registration | undefined>,
  store: (registration: Registration) => Promise<void> | void,
): Promise<{ registration: Registration; created: boolean }> {
  checkId(reg.worktreeId, 'worktree id');
  return locks.locked(reg.worktreeId, async () => {
    const found = await existing();
    if (found) return { registration: found, created: false };
    const registration: Registration = { ...reg, by: reg.by ?? '', created: reg.created ?? Date.now() };
    await store(registration);
    return { registration, created: true };
  });
}
