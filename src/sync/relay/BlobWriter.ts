import { createHash, randomBytes } from 'node:crypto';
import { CshareError } from '../../core/errors.js';
import type { KvBatchOp } from '../../core/ports.js';
import { encodeValue } from '../codec.js';
import { BLOB_CHUNK_BYTES } from '../schema.js';
import { chunkKey, type Announce, type BlobInfo, type RelayStore } from './RelayStore.js';
import { logPut } from './keys.js';

/** Thrown inside the lock to stop an append whose blob is already stored. */
const ALREADY_STORED = new Error('already stored');

/**
 * One chunked blob upload: chunks arrive in order from offset 0, are hashed as they come
 * (the git blob id: sha1, or sha256 for a 64-digit digest, of `"blob <size>\0"` + bytes) and
 * written under a fresh upload id; the last chunk is written in one batch with the blob's
 * record and log entry, only if the hash matched. On a mismatch or {@link abort} the staged
 * chunks are deleted. If the relay dies mid-upload, they stay unreachable (never read, since
 * no record points at them) until a compaction of the packs deletes them and reclaims their
 * bytes (`compaction.ts`); so do the pack bytes of an upload that was aborted.
 */
export class BlobWriter {
  /** Bytes accepted so far. */
  received = 0;
  /** Set once the blob is stored (or if it already was). */
  stored: BlobInfo | undefined;
  /** True if this writer stored the blob (false if it already was stored). */
  committed = false;
  private readonly upload = randomBytes(12).toString('hex');
  private readonly packed: boolean;
  private readonly hash;
  /** Chunks held in memory until the blob is verified (`stage`), with their keys. */
  private readonly staged: { key: string; data: Uint8Array }[] = [];
  private wroteChunks = false;
  /** Bytes this upload appended to the packs before its last chunk. */
  private packedBytes = 0;
  private busy = false;

  constructor(
    private readonly store: RelayStore,
    readonly worktreeId: string,
    readonly digest: string,
    readonly size: number,
    private readonly by: string,
    stored: BlobInfo | undefined,
    /** Told of the blob's seq if this upload stores it (see `AppendGroups`). */
    private readonly announce?: Announce,
  ) {
    this.stored = stored;
    this.packed = store.packs !== undefined;
    this.hash = createHash(digest.length === 64 ? 'sha256' : 'sha1').update(`blob ${size}\0`);
    if (!stored && this.packed) store.uploads.started(this.upload);
  }

  /**
   * Accepts the chunk at `offset` (which must be {@link received}). Resolves with the blob's
   * record once the last chunk is stored, else `undefined`. With `stage`, chunks are kept in
   * memory and all written in the final batch (for small whole blobs).
   */
  async write(offset: number, data: Uint8Array, opts: { stage?: boolean } = {}): Promise<BlobInfo | undefined> {
    if (this.stored) return this.stored;
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
      const key = chunkKey(this.worktreeId, { upload: this.upload, packed: this.packed }, offset);
      this.received += data.length;
      if (this.received < this.size) {
        if (opts.stage) this.staged.push({ key, data: data.slice() });
        else {
          this.wroteChunks = true;
          // Counted as a pack write until its reference is in the store (see `compaction.ts`).
          await this.store.uploads.packWrite(async () => this.store.putChunk(key, await this.chunkValue(data)));
          this.packedBytes += this.packed ? data.length : 0;
        }
        return undefined;
      }
      const actual = this.hash.digest('hex');
      if (actual !== this.digest) {
        await this.abort();
        throw new CshareError('PROTOCOL', `blob content does not match its digest: announced ${this.digest}, content hashes to ${actual}`, {
          digest: this.digest,
          actual,
        });
      }
      // Staged chunks reach the disk only now, verified (a bad small upload never does).
      const held = [...this.staged, { key, data }];
      const { worktreeId, digest, size, by, upload } = this;
      let existing: BlobInfo | undefined;
      const { seq } = await this.store.uploads.packWrite(async () => {
        const values = this.packed ? await this.store.packs!.append(held.map((c) => c.data)) : held.map((c) => c.data.slice());
        const chunks: KvBatchOp[] = held.map((c, i) => ({ type: 'put', key: c.key, value: values[i]! }));
        return this.store.append(worktreeId, 1, async (s) => {
        // Checked under the worktree lock: someone may have finished the same blob meanwhile.
        existing = await this.store.getBlob(worktreeId, digest);
        if (existing) throw ALREADY_STORED;
          return [
            ...chunks,
            { type: 'put', key: `wt/${worktreeId}/b/${digest}`, value: encodeValue({ size, upload, seq: s, ...(this.packed ? { p: 1 } : {}) }) },
            logPut(worktreeId, s, { k: 'b', digest, size, by, t: Date.now() }),
          ];
        }, undefined, size, `b/${digest}`, this.announce);
      }).catch(async (err: unknown) => {
        if (err !== ALREADY_STORED || !existing) throw err;
        await this.abort();
        return { seq: existing.seq };
      });
      this.store.uploads.ended(this.upload, 0);
      this.staged.length = 0;
      this.committed = existing === undefined;
      this.stored = existing ?? { digest, size, seq };
      return this.stored;
    } finally {
      this.busy = false;
    }
  }

  /**
   * What a chunk written before the blob is complete is stored as: its bytes, or packed, a
   * reference to them in the blob packs (appended now; the space of an upload that never
   * completes is not reclaimed).
   */
  private async chunkValue(data: Uint8Array): Promise<Uint8Array> {
    return this.packed ? (await this.store.packs!.append([data]))[0]! : data;
  }

  /**
   * Drops the upload and deletes the chunks it wrote (their bytes in the packs are left to
   * the next compaction, which is told how many there are).
   */
  async abort(): Promise<void> {
    this.staged.length = 0;
    if (this.wroteChunks) await this.store.deletePrefix(chunkKey(this.worktreeId, { upload: this.upload, packed: this.packed }, undefined));
    this.wroteChunks = false;
    this.store.uploads.ended(this.upload, this.packedBytes);
    this.packedBytes = 0;
  }
}
