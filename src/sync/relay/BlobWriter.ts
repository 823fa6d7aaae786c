import { randomBytes } from 'node:crypto';
import type { BlobPackStore, KvBatchOp } from '../../core/ports.js';
import { encodeValue } from '../rpc/codec.js';
import type { UploadTracker } from './compaction.js';
import { chunkKey, logPut } from './keys.js';
import type { Announce, Appended, BlobInfo, BlobUpload } from './RelayStorage.js';
import { ChunkCheck } from './storageRules.js';

/** What a {@link BlobWriter} needs of the LevelDB store (`RelayStore`). */
export interface BlobWriterStore {
  /** Where chunks go; without packs, into the store. */
  readonly packs?: BlobPackStore;
  readonly uploads: UploadTracker;
  getBlob(worktreeId: string, digest: string): Promise<BlobInfo | undefined>;
  /** Writes a staging chunk of an unfinished upload (unreachable until committed). */
  putChunk(key: string, data: Uint8Array): Promise<void>;
  /** Deletes every key under `prefix`. */
  deletePrefix(prefix: string): Promise<void>;
  /** See `RelayStore.append`. */
  append(worktreeId: string, count: number, ops: (seq: number) => Promise<KvBatchOp[]>, extra: undefined, bytes: number, key: string, announce?: Announce): Promise<Appended>;
}

/** Thrown inside the lock to stop an append whose blob is already stored. */
const ALREADY_STORED = new Error('already stored');

/**
 * One chunked blob upload into the LevelDB store: chunks are checked and hashed as they come
 * (`ChunkCheck`) and written under a fresh upload id; the last chunk is written in one batch
 * with the blob's record and log entry, only if the hash matched. On a mismatch or
 * {@link abort} the staged chunks are deleted. If the relay dies mid-upload, they stay
 * unreachable (never read, since no record points at them) until a compaction of the packs
 * deletes them and reclaims their bytes (`compaction.ts`); so do the pack bytes of an upload
 * that was aborted.
 */
export class BlobWriter implements BlobUpload {
  /** Set once the blob is stored (or if it already was). */
  stored: BlobInfo | undefined;
  /** True if this writer stored the blob (false if it already was stored). */
  committed = false;
  private readonly upload = randomBytes(12).toString('hex');
  private readonly packed: boolean;
  private readonly check: ChunkCheck;
  /** Chunks held in memory until the blob is verified (`stage`), with their keys. */
  private readonly staged: { key: string; data: Uint8Array }[] = [];
  private wroteChunks = false;
  /** Bytes this upload appended to the packs before its last chunk. */
  private packedBytes = 0;

  constructor(
    private readonly store: BlobWriterStore,
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
    this.check = new ChunkCheck(digest, size);
    if (!stored && this.packed) store.uploads.started(this.upload);
  }

  /** Bytes accepted so far. */
  get received(): number {
    return this.check.received;
  }

  /**
   * Accepts the chunk at `offset` (which must be {@link received}). Resolves with the blob's
   * record once the last chunk is stored, else `undefined`. With `stage`, chunks are kept in
   * memory and all written in the final batch (for small whole blobs).
   */
  async write(offset: number, data: Uint8Array, opts: { stage?: boolean } = {}): Promise<BlobInfo | undefined> {
    if (this.stored) return this.stored;
    return this.check.next(offset, data, async (last) => {
      const key = chunkKey(this.worktreeId, { upload: this.upload, packed: this.packed }, offset);
      if (!last) {
        await this.stageChunk(key, data, opts.stage === true);
        return undefined;
      }
      await this.check.verify(() => this.abort());
      return this.commit([...this.staged, { key, data }]);
    });
  }

  /** A chunk before the last: held in memory (`stage`), or written now. */
  private async stageChunk(key: string, data: Uint8Array, stage: boolean): Promise<void> {
    if (stage) {
      this.staged.push({ key, data: data.slice() });
      return;
    }
    this.wroteChunks = true;
    // Counted as a pack write until its reference is in the store (see `compaction.ts`).
    await this.store.uploads.packWrite(async () => this.store.putChunk(key, await this.chunkValue(data)));
    this.packedBytes += this.packed ? data.length : 0;
  }

  /**
   * Writes the verified blob: the chunks held (staged ones reach the disk only now, so a bad
   * small upload never does), its record and its log entry, in one append.
   */
  private async commit(held: { key: string; data: Uint8Array }[]): Promise<BlobInfo> {
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
