import * as Y from 'yjs';
import { CshareError } from '../../core/errors.js';
import type { BlobPackStore, KvBatchOp, KvStore } from '../../core/ports.js';
import { decodeValue, encodeValue, type Value } from '../codec.js';
import { BLOB_CHUNK_BYTES, MAX_ENTRIES_PER_MESSAGE, MAX_PATH_LENGTH, MAX_UPDATES_PER_MESSAGE, type HistoryEntry, type ManifestEntry } from '../schema.js';
import { BlobWriter } from './BlobWriter.js';
import { asBytes, asNumber, checkDigest, checkId, decodeRecord, logPut, pad, seqValue } from './keys.js';
import { UploadTracker } from './compaction.js';
import { AppendGroups } from './groupCommit.js';
import { Pacer } from './pace.js';
import { MAX_UPDATE_UNITS, scanUpdate, type UpdateScan } from './updateScan.js';

export { BlobWriter };

/**
 * The relay's persistent state for every worktree it serves, over one {@link KvStore}
 * (ARCHITECTURE.md "Relay store keys"). Everything a worktree ever uploaded is kept as
 * append-only logs, each entry under a relay seq that is monotonic per worktree, so a client
 * that remembers the last seq it saw asks for "everything after N" and gets exactly what it
 * lacks.
 *
 * Key layout (`<wt>` and `<fileId>` are schema ids, `[A-Za-z0-9_-]`; `<seq>` is 15 decimal
 * digits, zero-padded so key order is seq order; values are codec values unless noted):
 *
 * ```
 * wt/<wt>/reg                      {rw, ro: sha256 of the secrets, created: ms, name, by: peer id}
 * wt/<wt>/head                     the last seq assigned (decimal text)
 * wt/<wt>/usage                    bytes of updates and blobs stored (decimal text; absent: 0)
 * wt/<wt>/rep/<replicaId>          the peer id that first said hello with that replica id
 * by/<peerId>/<wt>                 the worktrees a peer registered (empty values)
 * wt/<wt>/log/<seq>                {k: 'm'} | {k: 'f', fileId} | {k: 'b', digest, size} | {k: 'h'}, with by, t
 * wt/<wt>/m/<seq>                  a manifest Yjs update (raw bytes)
 * wt/<wt>/h/<seq>                  history entries of the uploader's changes (a codec array)
 * wt/<wt>/f/<fileId>/<seq>         a file doc's Yjs update (raw bytes)
 * wt/<wt>/fv/<fileId>              what the file's log covers: a Yjs state vector (raw bytes)
 * wt/<wt>/b/<digest>               a stored blob: {size, upload, seq}, and p: 1 if packed
 * wt/<wt>/bc/<upload>/<offset>     its bytes, in chunks of at most 1 MiB (raw bytes)
 * wt/<wt>/bq/<upload>/<offset>     or, packed, a reference to each chunk in the blob packs
 *                                  (`BlobPacks`, beside the store: chunk bytes stay out of
 *                                  LevelDB's log and compactions)
 * ```
 *
 * Blobs are scoped to their worktree, never shared across worktrees: otherwise anyone could
 * offer a digest, be told it is already stored, and then fetch content they never had.
 * A blob's chunks are written under a fresh upload id and only become reachable when its
 * `b/<digest>` record is written, in the batch of the last chunk, after the git blob id was
 * checked; an interrupted upload leaves unreachable chunks behind (see {@link BlobWriter}).
 *
 * Every upload is one `kv.batch` (data, log entries, head), and callers acknowledge it only
 * after the batch resolved, so a crash loses nothing acknowledged and leaves nothing half
 * written. Writes to one worktree are serialised, which keeps seqs dense and in key order.
 */

/** Bounds the relay enforces on what it stores. */
export interface RelayLimits {
  /** Most Yjs updates in one upload. */
  maxUpdatesPerRequest: number;
  /** Largest blob, in bytes. */
  maxBlobBytes: number;
  /** Longest path in an offer or manifest entry. */
  maxPathLength: number;
  /** Most entries in one manifest offer. */
  maxOfferEntries: number;
  /**
   * Most structs, delete ranges and content values one Yjs update may decode to (its bytes
   * say little about that: 13 MiB of tiny structs decoded to 718 MiB).
   */
  maxUpdateUnits: number;
  /** Most bytes of updates and blobs one worktree may store: its quota. */
  maxWorktreeBytes: number;
  /** Most replica ids one worktree may have (each is bound to the peer that first used it). */
  maxReplicasPerWorktree: number;
}

/** The defaults of {@link RelayLimits}. */
export const DEFAULT_RELAY_LIMITS: Readonly<RelayLimits> = Object.freeze({
  maxUpdatesPerRequest: MAX_UPDATES_PER_MESSAGE,
  maxBlobBytes: 64 * 1024 * 1024,
  maxPathLength: MAX_PATH_LENGTH,
  maxOfferEntries: MAX_ENTRIES_PER_MESSAGE,
  maxUpdateUnits: MAX_UPDATE_UNITS,
  maxWorktreeBytes: 4 * 1024 ** 3,
  maxReplicasPerWorktree: 10_000,
});

/** A registered worktree. */
export interface Registration {
  worktreeId: string;
  /** sha256 of the read-write secret. */
  readWriteHash: Uint8Array;
  /** sha256 of the read-only secret. */
  readOnlyHash: Uint8Array;
  /** Milliseconds since the epoch. */
  created: number;
  name: string;
  /** The peer id that registered it ('' for a registration from before it was recorded). */
  by: string;
}

/** One entry of a worktree's log, as {@link RelayStore.entriesAfter} yields it. */
export type LogEntry =
  | { type: 'manifest'; seq: number; update: Uint8Array; by: string }
  | { type: 'file-update'; seq: number; fileId: string; update: Uint8Array; by: string }
  | { type: 'blob'; seq: number; digest: string; size: number; by: string }
  | { type: 'history'; seq: number; entries: HistoryEntry[]; by: string };

/** A stored blob's record. */
export interface BlobInfo {
  digest: string;
  size: number;
  seq: number;
}

/** What an upload was stored as: the seqs `first..seq` (one per update, one per blob). */
export interface Appended {
  first: number;
  seq: number;
}

/**
 * Told of an append's seqs once durable, in seq order across the worktree's appends (see
 * `AppendGroups`): where the relay broadcasts the events of an upload.
 */
export type Announce = (a: Appended) => void;

const PAGE = 256;

/** Persistent state of every worktree a relay serves. */
export class RelayStore {
  readonly limits: RelayLimits;
  /** Blob uploads in progress and pack writes in flight (for compactions of the packs). */
  readonly uploads = new UploadTracker();
  private readonly heads = new Map<string, number>();
  private readonly usages = new Map<string, number>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly groups = new AppendGroups({
    checkRegistered: async (worktreeId) => {
      if (!(await this.kv.get(`wt/${worktreeId}/reg`))) throw new CshareError('NOT_FOUND', `the relay does not know worktree ${worktreeId}`);
    },
    head: (worktreeId) => this.head(worktreeId),
    usage: (worktreeId) => this.usage(worktreeId),
    checkFits: (worktreeId, used, bytes) => this.checkFits(worktreeId, used, bytes),
    commit: async (worktreeId, batch, head, used) => {
      batch.push({ type: 'put', key: `wt/${worktreeId}/head`, value: seqValue(head) });
      batch.push({ type: 'put', key: `wt/${worktreeId}/usage`, value: seqValue(used) });
      try {
        await this.kv.batch(batch);
      } catch (err) {
        this.heads.delete(worktreeId);
        this.usages.delete(worktreeId);
        throw err;
      }
      this.heads.set(worktreeId, head);
      this.usages.set(worktreeId, used);
    },
    locked: (worktreeId, fn) => this.locked(worktreeId, fn),
  });

  constructor(
    private readonly kv: KvStore,
    limits: Partial<RelayLimits> = {},
    /** Where blob chunks go (see {@link BlobPackStore}); without it, into `kv`. */
    readonly packs?: BlobPackStore,
  ) {
    this.limits = { ...DEFAULT_RELAY_LIMITS, ...limits };
  }

  /** The registration of `worktreeId`, or `undefined` if the relay does not know it. */
  async getWorktree(worktreeId: string): Promise<Registration | undefined> {
    checkId(worktreeId, 'worktree id');
    const raw = await this.kv.get(`wt/${worktreeId}/reg`);
    if (!raw) return undefined;
    const r = decodeRecord(raw);
    return {
      worktreeId,
      readWriteHash: asBytes(r.rw),
      readOnlyHash: asBytes(r.ro),
      created: asNumber(r.created),
      name: typeof r.name === 'string' ? r.name : '',
      by: typeof r.by === 'string' ? r.by : '',
    };
  }

  /**
   * Registers a worktree unless it exists. Returns the registration in force and whether this
   * call created it (so the caller can check the secret against an existing one).
   */
  async register(reg: Omit<Registration, 'created' | 'by'> & { created?: number; by?: string }): Promise<{ registration: Registration; created: boolean }> {
    checkId(reg.worktreeId, 'worktree id');
    return this.locked(reg.worktreeId, async () => {
      const existing = await this.getWorktree(reg.worktreeId);
      if (existing) return { registration: existing, created: false };
      const by = reg.by ?? '';
      const registration: Registration = { ...reg, by, created: reg.created ?? Date.now() };
      const value = encodeValue({ rw: reg.readWriteHash, ro: reg.readOnlyHash, created: registration.created, name: reg.name, by });
      const ops: KvBatchOp[] = [
        { type: 'put', key: `wt/${reg.worktreeId}/reg`, value },
        { type: 'put', key: `wt/${reg.worktreeId}/head`, value: seqValue(0) },
      ];
      if (by) ops.push({ type: 'put', key: `by/${peerKey(by)}/${reg.worktreeId}`, value: new Uint8Array(0) });
      await this.kv.batch(ops);
      this.heads.set(reg.worktreeId, 0);
      return { registration, created: true };
    });
  }

  /** How many worktrees `peerId` registered, counting up to `max` (the answer is at most `max`). */
  async registeredBy(peerId: string, max: number): Promise<number> {
    const prefix = `by/${peerKey(peerId)}/`;
    let n = 0;
    for await (const _ of this.kv.keys({ gt: prefix, lt: `${prefix}~`, limit: max })) n++;
    return n;
  }

  /**
   * Binds `replicaId` to `peerId` in the worktree if no peer holds it yet, and returns the
   * peer that holds it (`peerId` if this call bound it). A worktree has at most
   * {@link RelayLimits.maxReplicasPerWorktree} replica ids (`OVERLOADED` past that).
   */
  async bindReplica(worktreeId: string, replicaId: string, peerId: string): Promise<string> {
    checkId(worktreeId, 'worktree id');
    checkId(replicaId, 'replica id');
    return this.locked(worktreeId, async () => {
      const key = `wt/${worktreeId}/rep/${replicaId}`;
      const held = await this.kv.get(key);
      if (held) return Buffer.from(held).toString('utf8');
      const max = this.limits.maxReplicasPerWorktree;
      let n = 0;
      for await (const _ of this.kv.keys({ gt: `wt/${worktreeId}/rep/`, lt: `wt/${worktreeId}/rep/~`, limit: max })) n++;
      if (n >= max) throw new CshareError('OVERLOADED', `worktree ${worktreeId} has ${max} replicas on this relay, its limit`, { worktreeId, max });
      await this.kv.batch([{ type: 'put', key, value: new Uint8Array(Buffer.from(peerId, 'utf8')) }]);
      return peerId;
    });
  }

  /** Bytes of updates and blobs the worktree stores (what its quota counts). */
  async usage(worktreeId: string): Promise<number> {
    checkId(worktreeId, 'worktree id');
    const cached = this.usages.get(worktreeId);
    if (cached !== undefined) return cached;
    const raw = await this.kv.get(`wt/${worktreeId}/usage`);
    const bytes = raw ? Number(Buffer.from(raw).toString('utf8')) : 0;
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new CshareError('STORE_CORRUPT', `the relay store has a bad usage for worktree ${worktreeId}`);
    this.usages.set(worktreeId, bytes);
    return bytes;
  }

  /** Throws `OVERLOADED` unless `bytes` more fit the worktree's quota. */
  async checkQuota(worktreeId: string, bytes: number): Promise<void> {
    this.checkFits(worktreeId, await this.usage(worktreeId), bytes);
  }

  /** Throws `OVERLOADED` unless `bytes` more fit the quota with `used` stored. */
  private checkFits(worktreeId: string, used: number, bytes: number): void {
    const max = this.limits.maxWorktreeBytes;
    if (used + bytes > max) {
      throw new CshareError('OVERLOADED', `worktree ${worktreeId} would store more than its quota of ${max} bytes on this relay (${used} stored)`, { worktreeId, used, max, quota: true });
    }
  }

  /** The last seq assigned in the worktree (0 if nothing was uploaded yet). */
  async head(worktreeId: string): Promise<number> {
    checkId(worktreeId, 'worktree id');
    const cached = this.heads.get(worktreeId);
    if (cached !== undefined) return cached;
    const raw = await this.kv.get(`wt/${worktreeId}/head`);
    const head = raw ? Number(Buffer.from(raw).toString('utf8')) : 0;
    if (!Number.isSafeInteger(head) || head < 0) throw new CshareError('STORE_CORRUPT', `the relay store has a bad head for worktree ${worktreeId}`);
    this.heads.set(worktreeId, head);
    return head;
  }

  /** Appends manifest updates (each must decode as a Yjs update); resolves once stored. */
  async appendManifest(worktreeId: string, updates: Uint8Array[], by: string, pacer = new Pacer(), announce?: Announce): Promise<Appended> {
    checkId(worktreeId, 'worktree id');
    checkId(by, 'replica id');
    await this.checkUpdates(updates, 'a manifest update', pacer);
    return this.append(worktreeId, updates.length, (seq, i) => [
      { type: 'put', key: `wt/${worktreeId}/m/${pad(seq)}`, value: updates[i]! },
      logPut(worktreeId, seq, { k: 'm', by, t: Date.now() }),
    ], undefined, byteSum(updates), undefined, announce);
  }

  /**
   * Appends the history entries of one upload under one seq (checked by the caller: see
   * `RelayService`); resolves once stored.
   */
  async appendHistory(worktreeId: string, entries: HistoryEntry[], by: string, announce?: Announce): Promise<Appended> {
    checkId(worktreeId, 'worktree id');
    checkId(by, 'replica id');
    if (entries.length === 0) throw new CshareError('PROTOCOL', 'a history upload must carry at least one entry');
    return this.append(worktreeId, 1, (seq) => [
      { type: 'put', key: `wt/${worktreeId}/h/${pad(seq)}`, value: encodeValue(entries as unknown as Value) },
      logPut(worktreeId, seq, { k: 'h', by, t: Date.now() }),
    ], undefined, 0, undefined, announce);
  }

  /** Appends updates of one file's doc and advances the file's state vector; resolves once stored. */
  async appendFile(worktreeId: string, fileId: string, updates: Uint8Array[], by: string, pacer = new Pacer(), announce?: Announce): Promise<Appended> {
    checkId(worktreeId, 'worktree id');
    checkId(fileId, 'file id');
    checkId(by, 'replica id');
    const scans = await this.checkUpdates(updates, 'a file update', pacer);
    return this.append(worktreeId, updates.length, async (seq, i) => [
      { type: 'put', key: `wt/${worktreeId}/f/${fileId}/${pad(seq)}`, value: updates[i]! },
      logPut(worktreeId, seq, { k: 'f', fileId, by, t: Date.now() }),
    ], async () => {
      // Under the worktree lock, so this read-modify-write of the vector cannot race.
      const vector = (await this.fileVector(worktreeId, fileId)) ?? new Map<number, number>();
      for (const { from, to } of scans) {
        // A conservative vector: a client's range advances it only if it starts at or before
        // what is covered already, so after a gap the relay may ask for an update twice but
        // never claims one it lacks.
        for (const [client, end] of to) {
          const have = vector.get(client) ?? 0;
          if ((from.get(client) ?? 0) <= have && end > have) vector.set(client, end);
        }
      }
      return [{ type: 'put', key: `wt/${worktreeId}/fv/${fileId}`, value: Y.encodeStateVector(vector) }];
    }, byteSum(updates), `f/${fileId}`, announce);
  }

  /** What the stored updates of a file cover, or `undefined` if none were stored. */
  async fileVector(worktreeId: string, fileId: string): Promise<Map<number, number> | undefined> {
    checkId(worktreeId, 'worktree id');
    checkId(fileId, 'file id');
    const raw = await this.kv.get(`wt/${worktreeId}/fv/${fileId}`);
    return raw ? Y.decodeStateVector(raw) : undefined;
  }

  /** The stored updates of one file after relay seq `after`, in seq order. */
  async *fileUpdates(worktreeId: string, fileId: string, after = 0): AsyncIterable<{ seq: number; update: Uint8Array }> {
    checkId(worktreeId, 'worktree id');
    checkId(fileId, 'file id');
    const prefix = `wt/${worktreeId}/f/${fileId}/`;
    for await (const [key, update] of this.kv.iterate({ gt: prefix + pad(after), lt: prefix + '~' })) {
      yield { seq: Number(key.slice(prefix.length)), update };
    }
  }

  /** The record of a stored blob, or `undefined`. */
  async getBlob(worktreeId: string, digest: string): Promise<BlobInfo | undefined> {
    checkId(worktreeId, 'worktree id');
    checkDigest(digest);
    const raw = await this.kv.get(`wt/${worktreeId}/b/${digest}`);
    if (!raw) return undefined;
    const r = decodeRecord(raw);
    return { digest, size: asNumber(r.size), seq: asNumber(r.seq) };
  }

  /**
   * Stored blobs' sizes and uploads, in the order of `digests` (undefined where not stored),
   * with the bytes of each blob of at most `maxBytes` (at most {@link BLOB_CHUNK_BYTES}: one
   * chunk) read too; bigger ones are left to {@link blobChunks} to stream. Two store reads for
   * the lot, where one blob at a time cost two reads and an iterator each.
   */
  async readBlobs(
    worktreeId: string,
    digests: readonly string[],
    maxBytes: number,
  ): Promise<((StoredBlob & { data?: Uint8Array }) | undefined)[]> {
    checkId(worktreeId, 'worktree id');
    for (const d of digests) checkDigest(d);
    const limit = Math.min(maxBytes, BLOB_CHUNK_BYTES);
    const raws = await this.kv.getMany(digests.map((d) => `wt/${worktreeId}/b/${d}`));
    const out = raws.map((raw) => {
      if (!raw) return undefined;
      const r = decodeRecord(raw);
      return { size: asNumber(r.size), upload: String(r.upload), packed: r.p === 1 } as StoredBlob & { data?: Uint8Array };
    });
    const small = out.flatMap((b, i) => (b !== undefined && b.size <= limit ? [i] : []));
    const values = await this.kv.getMany(small.map((i) => chunkKey(worktreeId, out[i]!, 0)));
    for (const [n, i] of small.entries()) {
      const b = out[i]!;
      const value = values[n];
      const data = value && b.packed ? await this.unpack(value) : (value ?? (b.size === 0 ? new Uint8Array() : undefined));
      if (data === undefined || data.byteLength !== b.size) {
        throw new CshareError('STORE_CORRUPT', `blob ${digests[i]} is ${data?.byteLength ?? 0} bytes, not ${b.size}`, { digest: digests[i] });
      }
      b.data = data;
    }
    return out;
  }

  /** The bytes of a stored blob, chunk by chunk (at most 1 MiB each), or `NOT_FOUND`. */
  async *readBlob(worktreeId: string, digest: string): AsyncIterable<{ offset: number; size: number; data: Uint8Array }> {
    checkId(worktreeId, 'worktree id');
    checkDigest(digest);
    const raw = await this.kv.get(`wt/${worktreeId}/b/${digest}`);
    if (!raw) throw new CshareError('NOT_FOUND', `the relay has no blob ${digest} in this worktree`, { digest });
    const r = decodeRecord(raw);
    const size = asNumber(r.size);
    for await (const chunk of this.blobChunks(worktreeId, digest, { size, upload: String(r.upload), packed: r.p === 1 })) yield { ...chunk, size };
  }

  /** The chunks of one upload of a blob, checked to be contiguous and of the recorded size. */
  async *blobChunks(worktreeId: string, digest: string, blob: StoredBlob): AsyncIterable<{ offset: number; data: Uint8Array }> {
    const { size } = blob;
    const prefix = chunkKey(worktreeId, blob, undefined);
    let expected = 0;
    for await (const [key, value] of this.kv.iterate({ gte: prefix, lt: prefix + '~' })) {
      const data = blob.packed ? await this.unpack(value) : value;
      const offset = Number(key.slice(prefix.length));
      if (offset !== expected) throw new CshareError('STORE_CORRUPT', `blob ${digest} has a gap at byte ${expected}`, { digest });
      yield { offset, data };
      expected += data.length;
    }
    if (expected !== size) throw new CshareError('STORE_CORRUPT', `blob ${digest} is ${expected} bytes, not ${size}`, { digest });
  }

  /**
   * Stores a whole blob in one batch after checking that `bytes` hash to `digest` (a peer
   * cannot poison a digest). Returns the existing record if the blob is already stored.
   */
  async putBlob(worktreeId: string, digest: string, bytes: Uint8Array, by: string, announce?: Announce): Promise<BlobInfo & { created: boolean }> {
    const writer = await this.blobWriter(worktreeId, digest, bytes.length, by, announce);
    if (writer.stored) return { ...writer.stored, created: false };
    // One batch for the whole blob: chunks are staged in memory by the writer until the last one.
    let info: BlobInfo | undefined;
    for (let offset = 0; offset < bytes.length || offset === 0; offset += BLOB_CHUNK_BYTES) {
      info = await writer.write(offset, bytes.subarray(offset, offset + BLOB_CHUNK_BYTES), { stage: true });
      if (bytes.length === 0) break;
    }
    if (!info) throw new CshareError('INTERNAL', 'blob upload did not complete');
    return { ...info, created: writer.committed };
  }

  /**
   * Starts a chunked blob upload of `size` bytes that must hash to `digest`. If the blob is
   * already stored, the writer's `stored` says so and nothing needs uploading. `announce` is
   * told of the blob's seq if this upload stores it.
   */
  async blobWriter(worktreeId: string, digest: string, size: number, by: string, announce?: Announce): Promise<BlobWriter> {
    checkId(worktreeId, 'worktree id');
    checkId(by, 'replica id');
    checkDigest(digest);
    if (!Number.isSafeInteger(size) || size < 0) throw new CshareError('PROTOCOL', `bad blob size ${size}`);
    if (size > this.limits.maxBlobBytes) {
      throw new CshareError('TOO_LARGE', `blob ${digest} is ${size} bytes, over this relay's limit of ${this.limits.maxBlobBytes}`, { digest, size, max: this.limits.maxBlobBytes });
    }
    const stored = await this.getBlob(worktreeId, digest);
    // Checked again when it is stored, with what was stored meanwhile.
    if (!stored) await this.checkQuota(worktreeId, size);
    return new BlobWriter(this, worktreeId, digest, size, by, stored, announce);
  }

  /**
   * Everything logged after seq `after` up to `upTo` (default: the head when called), in seq
   * order, read a page at a time. `signal` stops it between pages.
   */
  async *entriesAfter(worktreeId: string, after: number, opts: { upTo?: number; signal?: AbortSignal } = {}): AsyncIterable<LogEntry> {
    checkId(worktreeId, 'worktree id');
    const upTo = opts.upTo ?? (await this.head(worktreeId));
    const prefix = `wt/${worktreeId}/log/`;
    let from = prefix + pad(after);
    const last = prefix + pad(upTo);
    for (;;) {
      opts.signal?.throwIfAborted();
      const page: [string, Record<string, Value>][] = [];
      for await (const [key, value] of this.kv.iterate({ gt: from, lte: last, limit: PAGE })) page.push([key, decodeRecord(value)]);
      if (page.length === 0) return;
      const dataKeys = page.map(([key, r]) => {
        const seq = key.slice(prefix.length);
        return r.k === 'm' ? `wt/${worktreeId}/m/${seq}` : r.k === 'f' ? `wt/${worktreeId}/f/${String(r.fileId)}/${seq}` : r.k === 'h' ? `wt/${worktreeId}/h/${seq}` : undefined;
      });
      const wanted = dataKeys.filter((k): k is string => k !== undefined);
      const values = await this.kv.getMany(wanted);
      const data = new Map(wanted.map((k, i) => [k, values[i]]));
      for (let i = 0; i < page.length; i++) {
        const [key, r] = page[i]!;
        const seq = Number(key.slice(prefix.length));
        const by = String(r.by);
        if (r.k === 'b') {
          yield { type: 'blob', seq, digest: String(r.digest), size: asNumber(r.size), by };
          continue;
        }
        const update = data.get(dataKeys[i]!);
        if (!update) throw new CshareError('STORE_CORRUPT', `the relay store lost the data of seq ${seq} in worktree ${worktreeId}`);
        if (r.k === 'h') {
          const entries = decodeValue(update);
          if (!Array.isArray(entries)) throw new CshareError('STORE_CORRUPT', `the relay store has malformed history at seq ${seq} in worktree ${worktreeId}`);
          yield { type: 'history', seq, entries: entries as unknown as HistoryEntry[], by };
        } else if (r.k === 'm') yield { type: 'manifest', seq, update, by };
        else yield { type: 'file-update', seq, fileId: String(r.fileId), update, by };
      }
      from = page[page.length - 1]![0];
    }
  }

  /**
   * Which offered entries the relay wants uploaded: entries with a doc `vector` that the
   * file's stored updates do not cover, and entries without one whose blob it lacks.
   */
  async needs(worktreeId: string, entries: ManifestEntry[]): Promise<string[]> {
    checkId(worktreeId, 'worktree id');
    const need: string[] = [];
    for (let i = 0; i < entries.length; i += PAGE) {
      const page = entries.slice(i, i + PAGE);
      const keys = page.map((e) => (e.vector ? `wt/${worktreeId}/fv/${e.fileId}` : `wt/${worktreeId}/b/${e.digest}`));
      const values = await this.kv.getMany(keys);
      page.forEach((e, j) => {
        const have = values[j];
        if (!e.vector) {
          if (!have) need.push(e.fileId);
          return;
        }
        let offered: Map<number, number>;
        try {
          offered = Y.decodeStateVector(e.vector);
        } catch (err) {
          throw new CshareError('PROTOCOL', `the state vector offered for ${e.fileId} does not decode`, { fileId: e.fileId }, { cause: err });
        }
        const stored = have ? Y.decodeStateVector(have) : new Map<number, number>();
        for (const [client, clock] of offered) {
          if (clock > (stored.get(client) ?? 0)) {
            need.push(e.fileId);
            return;
          }
        }
      });
    }
    return need;
  }

  /** Closes the underlying store. */
  async close(): Promise<void> {
    await this.kv.close();
  }

  // -------------------------------------------------------------------------------------------
  // Internals (BlobWriter uses these too)

  /**
   * Assigns `count` seqs and writes `ops(seq, i)` for each plus `extra()` and the new head,
   * under the worktree's lock, in the batch of the appends that came meanwhile (see
   * `AppendGroups`). The head advances only once the batch resolved. `key` names what `ops`
   * or `extra` read and rewrite (no two appends with one key share a batch).
   */
  async append(
    worktreeId: string,
    count: number,
    ops: (seq: number, i: number) => KvBatchOp[] | Promise<KvBatchOp[]>,
    extra?: () => KvBatchOp[] | Promise<KvBatchOp[]>,
    /** Bytes the entries add to the worktree's usage (checked against its quota). */
    bytes = 0,
    key?: string,
    announce?: Announce,
  ): Promise<Appended> {
    return new Promise((resolve, reject) => this.groups.add(worktreeId, { count, ops, extra, bytes, key, announce, resolve, reject }));
  }

  /** Writes a staging chunk of an unfinished blob upload (unreachable until committed). */
  async putChunk(key: string, data: Uint8Array): Promise<void> {
    await this.kv.batch([{ type: 'put', key, value: data }]);
  }

  /** A packed chunk's bytes (a reference without packs to read it from is damage). */
  private async unpack(ref: Uint8Array): Promise<Uint8Array> {
    if (!this.packs) throw new CshareError('STORE_CORRUPT', 'the relay store refers to blob packs it was opened without');
    return this.packs.read(ref);
  }

  /** Deletes every key under `prefix` (an aborted upload's chunks). */
  async deletePrefix(prefix: string): Promise<void> {
    const ops: KvBatchOp[] = [];
    for await (const [key] of this.kv.iterate({ gte: prefix, lt: prefix + '~' })) ops.push({ type: 'del', key });
    await this.kv.batch(ops);
  }

  /**
   * Checks an upload's updates: at least one, at most {@link RelayLimits.maxUpdatesPerRequest},
   * each a valid Yjs update within {@link RelayLimits.maxUpdateUnits} (scanned, not decoded:
   * see `updateScan.ts`). Returns each one's scan.
   */
  private async checkUpdates(updates: Uint8Array[], what: string, pacer: Pacer): Promise<UpdateScan[]> {
    if (updates.length === 0) throw new CshareError('PROTOCOL', 'an upload must carry at least one update');
    if (updates.length > this.limits.maxUpdatesPerRequest) {
      throw new CshareError('TOO_LARGE', `an upload carries at most ${this.limits.maxUpdatesPerRequest} updates, not ${updates.length}`, {
        max: this.limits.maxUpdatesPerRequest,
      });
    }
    const scans: UpdateScan[] = [];
    for (const u of updates) scans.push(await scanUpdate(u, { what, maxUnits: this.limits.maxUpdateUnits, pacer }));
    return scans;
  }

  private async locked<T>(worktreeId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(worktreeId) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(worktreeId, tail);
    void tail.then(() => {
      if (this.locks.get(worktreeId) === tail) this.locks.delete(worktreeId);
    });
    return run;
  }
}

/** Where a stored blob's bytes are: its size, the upload holding its chunks, and whether packed. */
export interface StoredBlob {
  size: number;
  upload: string;
  packed: boolean;
}

/** The key of a blob's chunk at `offset`, or (without one) the prefix of all its chunks. */
export function chunkKey(worktreeId: string, blob: Pick<StoredBlob, 'upload' | 'packed'>, offset: number | undefined): string {
  return `wt/${worktreeId}/${blob.packed ? 'bq' : 'bc'}/${blob.upload}/${offset === undefined ? '' : pad(offset)}`;
}

function byteSum(updates: readonly Uint8Array[]): number {
  let n = 0;
  for (const u of updates) n += u.byteLength;
  return n;
}

/** A peer id as a key segment (peer ids are base58 or, in tests, any schema id: no `/`). */
function peerKey(peerId: string): string {
  return encodeURIComponent(peerId);
}
