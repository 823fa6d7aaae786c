import { CshareError } from '../../core/errors.js';
import { decodeValue, encodeValue, type Value } from '../rpc/codec.js';
import { BLOB_CHUNK_BYTES, type HistoryEntry, type ManifestEntry } from '../schema.js';
import { checkDigest, checkId } from './keys.js';
import type { Pacer } from './pace.js';
import {
  DEFAULT_RELAY_LIMITS,
  type Announce,
  type Appended,
  type BlobInfo,
  type BlobRead,
  type BlobUpload,
  type LogEntry,
  type NewRegistration,
  type RelayLimits,
  type RelayStorage,
  type Registration,
} from './RelayStorage.js';
import { ChunkCheck, WorktreeLocks, advanceVector, byteSum, checkAppendIds, checkBlobStart, checkFits, checkHistory, checkUpdates, registerOnce, vectorAhead, writeWhole } from './storageRules.js';

/** One logged entry as kept: history as its codec bytes, so reads decode as the store's do. */
type Kept = Exclude<LogEntry, { type: 'history' }> | { type: 'history'; seq: number; entries: Uint8Array; by: string };

/** A stored blob: its record and its bytes, in chunks of at most {@link BLOB_CHUNK_BYTES}. */
interface MemoryBlob extends BlobInfo {
  chunks: Uint8Array[];
}

/** Everything of one worktree. */
interface MemoryWorktree {
  registration: Registration;
  head: number;
  usage: number;
  /** Entry of seq `n` at index `n - 1`. */
  log: Kept[];
  vectors: Map<string, Map<number, number>>;
  blobs: Map<string, MemoryBlob>;
}

/**
 * The in-memory twin of `RelayStore`: every rule of {@link RelayStorage} (the checks are the
 * ones of `storageRules.ts`), nothing kept across a restart. For tests of the relay's service
 * without LevelDB, and the reference the storage contract (`test/sync/relay/storageContract.ts`)
 * holds every backend to. Bytes are copied in, so a caller reusing its buffers changes nothing.
 */
export class MemoryRelayStorage implements RelayStorage {
  readonly limits: RelayLimits;
  private readonly worktrees = new Map<string, MemoryWorktree>();
  /** Peer id -> the worktrees it registered. */
  private readonly registered = new Map<string, Set<string>>();
  /** Worktree id -> replica id -> the peer that holds it (kept apart from the worktrees, as the store keeps its keys). */
  private readonly replicas = new Map<string, Map<string, string>>();
  private readonly locks = new WorktreeLocks();

  constructor(limits: Partial<RelayLimits> = {}) {
    this.limits = { ...DEFAULT_RELAY_LIMITS, ...limits };
  }

  async getWorktree(worktreeId: string): Promise<Registration | undefined> {
    checkId(worktreeId, 'worktree id');
    const r = this.worktrees.get(worktreeId)?.registration;
    return r && { ...r, readWriteHash: r.readWriteHash.slice(), readOnlyHash: r.readOnlyHash.slice() };
  }

  async register(reg: NewRegistration): Promise<{ registration: Registration; created: boolean }> {
    return registerOnce(this.locks, reg, () => this.getWorktree(reg.worktreeId), (registration) => {
      const kept = { ...registration, readWriteHash: reg.readWriteHash.slice(), readOnlyHash: reg.readOnlyHash.slice() };
      this.worktrees.set(reg.worktreeId, { registration: kept, head: 0, usage: 0, log: [], vectors: new Map(), blobs: new Map() });
      if (registration.by) {
        const mine = this.registered.get(registration.by) ?? new Set<string>();
        this.registered.set(registration.by, mine.add(reg.worktreeId));
      }
    });
  }

  async registeredBy(peerId: string, max: number): Promise<number> {
    return Math.min(this.registered.get(peerId)?.size ?? 0, max);
  }

  async bindReplica(worktreeId: string, replicaId: string, peerId: string): Promise<string> {
    checkId(worktreeId, 'worktree id');
    checkId(replicaId, 'replica id');
    return this.locks.locked(worktreeId, async () => {
      let replicas = this.replicas.get(worktreeId);
      if (!replicas) this.replicas.set(worktreeId, (replicas = new Map()));
      const held = replicas.get(replicaId);
      if (held !== undefined) return held;
      const max = this.limits.maxReplicasPerWorktree;
      if (replicas.size >= max) throw new CshareError('OVERLOADED', `worktree ${worktreeId} has ${max} replicas on this relay, its limit`, { worktreeId, max });
      replicas.set(replicaId, peerId);
      return peerId;
    });
  }

  async head(worktreeId: string): Promise<number> {
    checkId(worktreeId, 'worktree id');
    return this.worktrees.get(worktreeId)?.head ?? 0;
  }

  async usage(worktreeId: string): Promise<number> {
    checkId(worktreeId, 'worktree id');
    return this.worktrees.get(worktreeId)?.usage ?? 0;
  }

  async appendManifest(worktreeId: string, updates: Uint8Array[], by: string, pacer?: Pacer, announce?: Announce): Promise<Appended> {
    checkAppendIds(worktreeId, by);
    await checkUpdates(updates, { what: 'a manifest update', limits: this.limits, pacer });
    return this.append(worktreeId, byteSum(updates), announce, () => updates.map((u) => ({ type: 'manifest', seq: 0, update: u.slice(), by })));
  }

  async appendHistory(worktreeId: string, entries: HistoryEntry[], by: string, announce?: Announce): Promise<Appended> {
    checkAppendIds(worktreeId, by);
    checkHistory(entries);
    return this.append(worktreeId, 0, announce, () => [{ type: 'history', seq: 0, entries: encodeValue(entries as unknown as Value), by }]);
  }

  async appendFile(worktreeId: string, fileId: string, updates: Uint8Array[], by: string, pacer?: Pacer, announce?: Announce): Promise<Appended> {
    checkAppendIds(worktreeId, by, fileId);
    const scans = await checkUpdates(updates, { what: 'a file update', limits: this.limits, pacer });
    return this.append(worktreeId, byteSum(updates), announce, (wt) => {
      wt.vectors.set(fileId, advanceVector(new Map(wt.vectors.get(fileId)), scans));
      return updates.map((u) => ({ type: 'file-update', seq: 0, fileId, update: u.slice(), by }));
    });
  }

  async fileVector(worktreeId: string, fileId: string): Promise<Map<number, number> | undefined> {
    checkId(worktreeId, 'worktree id');
    checkId(fileId, 'file id');
    const vector = this.worktrees.get(worktreeId)?.vectors.get(fileId);
    return vector && new Map(vector);
  }

  async *entriesAfter(worktreeId: string, after: number, opts: { upTo?: number; signal?: AbortSignal } = {}): AsyncIterable<LogEntry> {
    checkId(worktreeId, 'worktree id');
    const upTo = opts.upTo ?? (await this.head(worktreeId));
    const log = this.worktrees.get(worktreeId)?.log ?? [];
    for (let seq = Math.max(after, 0) + 1, n = 0; ; seq++, n++) {
      // Stopped between "pages", as the store's reads are.
      if (n % 256 === 0) opts.signal?.throwIfAborted();
      if (seq > Math.min(upTo, log.length)) return;
      const e = log[seq - 1]!;
      yield e.type === 'history' ? { ...e, entries: decodeValue(e.entries) as unknown as HistoryEntry[] } : e;
    }
  }

  async needs(worktreeId: string, entries: ManifestEntry[]): Promise<string[]> {
    checkId(worktreeId, 'worktree id');
    const wt = this.worktrees.get(worktreeId);
    return entries.filter((e) => (e.vector ? vectorAhead(e.fileId, e.vector, wt?.vectors.get(e.fileId)) : !wt?.blobs.has(e.digest))).map((e) => e.fileId);
  }

  async getBlob(worktreeId: string, digest: string): Promise<BlobInfo | undefined> {
    checkId(worktreeId, 'worktree id');
    checkDigest(digest);
    const blob = this.worktrees.get(worktreeId)?.blobs.get(digest);
    return blob && { digest, size: blob.size, seq: blob.seq };
  }

  async readBlobs(worktreeId: string, digests: readonly string[], maxBytes: number): Promise<(BlobRead | undefined)[]> {
    checkId(worktreeId, 'worktree id');
    for (const d of digests) checkDigest(d);
    const limit = Math.min(maxBytes, BLOB_CHUNK_BYTES);
    const wt = this.worktrees.get(worktreeId);
    return digests.map((d) => {
      const blob = wt?.blobs.get(d);
      if (!blob) return undefined;
      return blob.size <= limit ? { size: blob.size, data: blob.chunks[0] ?? new Uint8Array() } : { size: blob.size };
    });
  }

  async *blobChunks(worktreeId: string, digest: string, blob: BlobRead): AsyncIterable<{ offset: number; data: Uint8Array }> {
    const stored = this.worktrees.get(worktreeId)?.blobs.get(digest);
    if (!stored || stored.size !== blob.size) throw new CshareError('STORE_CORRUPT', `blob ${digest} is not the one read`, { digest });
    let offset = 0;
    for (const data of stored.chunks) {
      yield { offset, data };
      offset += data.byteLength;
    }
  }

  async *readBlob(worktreeId: string, digest: string): AsyncIterable<{ offset: number; size: number; data: Uint8Array }> {
    const blob = await this.getBlob(worktreeId, digest);
    if (!blob) throw new CshareError('NOT_FOUND', `the relay has no blob ${digest} in this worktree`, { digest });
    for await (const chunk of this.blobChunks(worktreeId, digest, blob)) yield { ...chunk, size: blob.size };
  }

  async putBlob(worktreeId: string, digest: string, bytes: Uint8Array, by: string, announce?: Announce): Promise<BlobInfo & { created: boolean }> {
    const upload = await this.blobWriter(worktreeId, digest, bytes.length, by, announce);
    if (upload.stored) return { ...upload.stored, created: false };
    const info = await writeWhole(bytes, (offset, data) => upload.write(offset, data));
    return { ...info, created: upload.committed };
  }

  async blobWriter(worktreeId: string, digest: string, size: number, by: string, announce?: Announce): Promise<MemoryBlobUpload> {
    checkBlobStart(worktreeId, digest, size, by, this.limits);
    const stored = await this.getBlob(worktreeId, digest);
    if (!stored) checkFits(worktreeId, await this.usage(worktreeId), size, this.limits);
    return new MemoryBlobUpload(digest, size, stored, (chunks) => this.storeBlob(worktreeId, digest, size, by, chunks, announce));
  }

  async close(): Promise<void> {
    this.worktrees.clear();
    this.replicas.clear();
    this.registered.clear();
  }

  /**
   * Stores a verified blob under the worktree's lock, unless someone stored it meanwhile:
   * then its record, and `created: false`.
   */
  private storeBlob(worktreeId: string, digest: string, size: number, by: string, chunks: Uint8Array[], announce?: Announce): Promise<BlobInfo & { created: boolean }> {
    let existing: BlobInfo | undefined;
    return this.append(worktreeId, size, announce, (wt) => {
      const had = wt.blobs.get(digest);
      if (had) {
        existing = { digest, size: had.size, seq: had.seq };
        return [];
      }
      wt.blobs.set(digest, { digest, size, seq: wt.head + 1, chunks });
      return [{ type: 'blob', seq: 0, digest, size, by }];
    }).then((a) => (existing ? { ...existing, created: false } : { digest, size, seq: a.seq, created: true }));
  }

  /**
   * Appends what `entries` makes of the worktree (under its lock, seqs from the head on),
   * adding `bytes` to its usage within its quota; `announce` is told before it resolves.
   * An append of no entries changes nothing and announces nothing.
   */
  private append(worktreeId: string, bytes: number, announce: Announce | undefined, entries: (wt: MemoryWorktree) => Kept[]): Promise<Appended> {
    return this.locks.locked(worktreeId, async () => {
      const wt = this.worktrees.get(worktreeId);
      if (!wt) throw new CshareError('NOT_FOUND', `the relay does not know worktree ${worktreeId}`);
      checkFits(worktreeId, wt.usage, bytes, this.limits);
      const kept = entries(wt);
      if (kept.length === 0) return { first: wt.head + 1, seq: wt.head };
      const first = wt.head + 1;
      for (const e of kept) wt.log.push({ ...e, seq: ++wt.head });
      wt.usage += bytes;
      const appended = { first, seq: wt.head };
      announce?.(appended);
      return appended;
    });
  }
}

/** A chunked upload into {@link MemoryRelayStorage}: chunks held until the hash is checked. */
class MemoryBlobUpload implements BlobUpload {
  stored: BlobInfo | undefined;
  /** True if this upload stored the blob (false if it already was stored). */
  committed = false;
  private readonly check: ChunkCheck;
  private chunks: Uint8Array[] = [];

  constructor(
    readonly digest: string,
    readonly size: number,
    stored: BlobInfo | undefined,
    private readonly store: (chunks: Uint8Array[]) => Promise<BlobInfo & { created: boolean }>,
  ) {
    this.stored = stored;
    this.check = new ChunkCheck(digest, size);
  }

  get received(): number {
    return this.check.received;
  }

  async write(offset: number, data: Uint8Array): Promise<BlobInfo | undefined> {
    if (this.stored) return this.stored;
    return this.check.next(offset, data, async (last) => {
      this.chunks.push(data.slice());
      if (!last) return undefined;
      await this.check.verify(() => this.abort());
      const { created, ...info } = await this.store(this.chunks);
      this.chunks = [];
      this.committed = created;
      this.stored = info;
      return info;
    });
  }

  async abort(): Promise<void> {
    this.chunks = [];
  }
}
