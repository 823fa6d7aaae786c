import * as Y from 'yjs';
import { CshareError } from '../../core/errors.js';
import type { BlobPackStore, KvBatchOp, KvStore } from '../../core/ports.js';
import { encodeValue, type Value } from '../rpc/codec.js';
import { type HistoryEntry, type ManifestEntry } from '../schema.js';
import { BlobWriter, type BlobWriterStore } from './BlobWriter.js';
import { UploadTracker } from './compaction.js';
import { AppendGroups } from './groupCommit.js';
import { asBytes, asNumber, checkDigest, checkId, decodeRecord, logPut, pad, peerKey, seqValue } from './keys.js';
import { PAGE, chunksOf, logEntries, readBlobRecords, storedBlob, type KvReadTarget, type StoredBlob } from './kvReads.js';
import type { Pacer } from './pace.js';
import {
  DEFAULT_RELAY_LIMITS,
  type Announce,
  type Appended,
  type BlobInfo,
  type LogEntry,
  type NewRegistration,
  type RelayLimits,
  type RelayStorage,
  type Registration,
} from './RelayStorage.js';
import { WorktreeLocks, advanceVector, byteSum, checkAppendIds, checkBlobStart, checkFits, checkHistory, checkUpdates, registerOnce, vectorAhead, writeWhole } from './storageRules.js';

export type { StoredBlob };

/**
 * The LevelDB backend of {@link RelayStorage} (its rules are there): the relay's persistent
 * state for every worktree it serves, over one {@link KvStore} and, beside it, the blob packs
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
 * written. Writes to one worktree are serialised, which keeps seqs dense and in key order;
 * the uploads that arrive while a worktree's batch is written share the next one
 * (`AppendGroups`). The heads and usages are cached, and forgotten when a batch fails.
 */

/** Persistent state of every worktree a relay serves, in LevelDB and blob packs. */
export class RelayStore implements RelayStorage, BlobWriterStore {
  readonly limits: RelayLimits;
  /** Blob uploads in progress and pack writes in flight (for compactions of the packs). */
  readonly uploads = new UploadTracker();
  private readonly heads = new Map<string, number>();
  private readonly usages = new Map<string, number>();
  private readonly locks = new WorktreeLocks();
  /** What the range reads of `kvReads.ts` read from. */
  private readonly reads: KvReadTarget;
  private readonly groups = new AppendGroups({
    checkRegistered: async (worktreeId) => {
      if (!(await this.kv.get(`wt/${worktreeId}/reg`))) throw new CshareError('NOT_FOUND', `the relay does not know worktree ${worktreeId}`);
    },
    head: (worktreeId) => this.head(worktreeId),
    usage: (worktreeId) => this.usage(worktreeId),
    checkFits: (worktreeId, used, bytes) => checkFits(worktreeId, used, bytes, this.limits),
    commit: (worktreeId, batch, head, used) => this.commit(worktreeId, batch, head, used),
    locked: (worktreeId, fn) => this.locks.locked(worktreeId, fn),
  });

  constructor(
    private readonly kv: KvStore,
    limits: Partial<RelayLimits> = {},
    /** Where blob chunks go (see {@link BlobPackStore}); without it, into `kv`. */
    readonly packs?: BlobPackStore,
  ) {
    this.limits = { ...DEFAULT_RELAY_LIMITS, ...limits };
    this.reads = { kv, packs };
  }

  // -------------------------------------------------------------------------------------------
  // Auth records

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

  async register(reg: NewRegistration): Promise<{ registration: Registration; created: boolean }> {
    return registerOnce(this.locks, reg, () => this.getWorktree(reg.worktreeId), async ({ by, created }) => {
      const value = encodeValue({ rw: reg.readWriteHash, ro: reg.readOnlyHash, created, name: reg.name, by });
      const ops: KvBatchOp[] = [
        { type: 'put', key: `wt/${reg.worktreeId}/reg`, value },
        { type: 'put', key: `wt/${reg.worktreeId}/head`, value: seqValue(0) },
      ];
      if (by) ops.push({ type: 'put', key: `by/${peerKey(by)}/${reg.worktreeId}`, value: new Uint8Array(0) });
      await this.kv.batch(ops);
      this.heads.set(reg.worktreeId, 0);
    });
  }

  async registeredBy(peerId: string, max: number): Promise<number> {
    const prefix = `by/${peerKey(peerId)}/`;
    let n = 0;
    for await (const _ of this.kv.keys({ gt: prefix, lt: `${prefix}~`, limit: max })) n++;
    return n;
  }

  async bindReplica(worktreeId: string, replicaId: string, peerId: string): Promise<string> {
    checkId(worktreeId, 'worktree id');
    checkId(replicaId, 'replica id');
    return this.locks.locked(worktreeId, async () => {
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

  // -------------------------------------------------------------------------------------------
  // Counters (cached; written with every append's batch)

  async usage(worktreeId: string): Promise<number> {
    checkId(worktreeId, 'worktree id');
    const cached = this.usages.get(worktreeId);
    if (cached !== undefined) return cached;
    const bytes = await this.counter(worktreeId, 'usage');
    this.usages.set(worktreeId, bytes);
    return bytes;
  }

  async head(worktreeId: string): Promise<number> {
    checkId(worktreeId, 'worktree id');
    const cached = this.heads.get(worktreeId);
    if (cached !== undefined) return cached;
    const head = await this.counter(worktreeId, 'head');
    this.heads.set(worktreeId, head);
    return head;
  }

  /** A stored counter (decimal text; absent: 0), or `STORE_CORRUPT`. */
  private async counter(worktreeId: string, which: 'head' | 'usage'): Promise<number> {
    const raw = await this.kv.get(`wt/${worktreeId}/${which}`);
    const n = raw ? Number(Buffer.from(raw).toString('utf8')) : 0;
    if (!Number.isSafeInteger(n) || n < 0) throw new CshareError('STORE_CORRUPT', `the relay store has a bad ${which} for worktree ${worktreeId}`);
    return n;
  }

  /** Writes a group's batch with the new head and usage, and caches them (forgets them on failure). */
  private async commit(worktreeId: string, batch: KvBatchOp[], head: number, used: number): Promise<void> {
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
  }

  // -------------------------------------------------------------------------------------------
  // Logs

  async appendManifest(worktreeId: string, updates: Uint8Array[], by: string, pacer?: Pacer, announce?: Announce): Promise<Appended> {
    checkAppendIds(worktreeId, by);
    await checkUpdates(updates, { what: 'a manifest update', limits: this.limits, pacer });
    return this.append(worktreeId, updates.length, (seq, i) => [
      { type: 'put', key: `wt/${worktreeId}/m/${pad(seq)}`, value: updates[i]! },
      logPut(worktreeId, seq, { k: 'm', by, t: Date.now() }),
    ], undefined, byteSum(updates), undefined, announce);
  }

  async appendHistory(worktreeId: string, entries: HistoryEntry[], by: string, announce?: Announce): Promise<Appended> {
    checkAppendIds(worktreeId, by);
    checkHistory(entries);
    return this.append(worktreeId, 1, (seq) => [
      { type: 'put', key: `wt/${worktreeId}/h/${pad(seq)}`, value: encodeValue(entries as unknown as Value) },
      logPut(worktreeId, seq, { k: 'h', by, t: Date.now() }),
    ], undefined, 0, undefined, announce);
  }

  async appendFile(worktreeId: string, fileId: string, updates: Uint8Array[], by: string, pacer?: Pacer, announce?: Announce): Promise<Appended> {
    checkAppendIds(worktreeId, by, fileId);
    const scans = await checkUpdates(updates, { what: 'a file update', limits: this.limits, pacer });
    return this.append(worktreeId, updates.length, async (seq, i) => [
      { type: 'put', key: `wt/${worktreeId}/f/${fileId}/${pad(seq)}`, value: updates[i]! },
      logPut(worktreeId, seq, { k: 'f', fileId, by, t: Date.now() }),
    ], async () => {
      // Under the worktree lock, so this read-modify-write of the vector cannot race.
      const vector = advanceVector((await this.fileVector(worktreeId, fileId)) ?? new Map<number, number>(), scans);
      return [{ type: 'put', key: `wt/${worktreeId}/fv/${fileId}`, value: Y.encodeStateVector(vector) }];
    }, byteSum(updates), `f/${fileId}`, announce);
  }

  async fileVector(worktreeId: string, fileId: string): Promise<Map<number, number> | undefined> {
    checkId(worktreeId, 'worktree id');
    checkId(fileId, 'file id');
    const raw = await this.kv.get(`wt/${worktreeId}/fv/${fileId}`);
    return raw ? Y.decodeStateVector(raw) : undefined;
  }

  async *entriesAfter(worktreeId: string, after: number, opts: { upTo?: number; signal?: AbortSignal } = {}): AsyncIterable<LogEntry> {
    checkId(worktreeId, 'worktree id');
    const upTo = opts.upTo ?? (await this.head(worktreeId));
    yield* logEntries(this.reads, worktreeId, after, upTo, opts.signal);
  }

  async needs(worktreeId: string, entries: ManifestEntry[]): Promise<string[]> {
    checkId(worktreeId, 'worktree id');
    const need: string[] = [];
    for (let i = 0; i < entries.length; i += PAGE) {
      const page = entries.slice(i, i + PAGE);
      const keys = page.map((e) => (e.vector ? `wt/${worktreeId}/fv/${e.fileId}` : `wt/${worktreeId}/b/${e.digest}`));
      const values = await this.kv.getMany(keys);
      page.forEach((e, j) => {
        const have = values[j];
        if (e.vector ? vectorAhead(e.fileId, e.vector, have ? Y.decodeStateVector(have) : undefined) : !have) need.push(e.fileId);
      });
    }
    return need;
  }

  // -------------------------------------------------------------------------------------------
  // Blobs

  async getBlob(worktreeId: string, digest: string): Promise<BlobInfo | undefined> {
    checkId(worktreeId, 'worktree id');
    checkDigest(digest);
    const raw = await this.kv.get(`wt/${worktreeId}/b/${digest}`);
    if (!raw) return undefined;
    const r = decodeRecord(raw);
    return { digest, size: asNumber(r.size), seq: asNumber(r.seq) };
  }

  /** See {@link RelayStorage.readBlobs}; each record also says where its chunks are. */
  async readBlobs(worktreeId: string, digests: readonly string[], maxBytes: number): Promise<(StoredBlob | undefined)[]> {
    checkId(worktreeId, 'worktree id');
    for (const d of digests) checkDigest(d);
    return readBlobRecords(this.reads, worktreeId, digests, maxBytes);
  }

  async *readBlob(worktreeId: string, digest: string): AsyncIterable<{ offset: number; size: number; data: Uint8Array }> {
    checkId(worktreeId, 'worktree id');
    checkDigest(digest);
    const raw = await this.kv.get(`wt/${worktreeId}/b/${digest}`);
    if (!raw) throw new CshareError('NOT_FOUND', `the relay has no blob ${digest} in this worktree`, { digest });
    const blob = storedBlob(raw);
    for await (const chunk of chunksOf(this.reads, worktreeId, digest, blob)) yield { ...chunk, size: blob.size };
  }

  /** See {@link RelayStorage.blobChunks}: `blob` is a record {@link readBlobs} returned. */
  blobChunks(worktreeId: string, digest: string, blob: StoredBlob): AsyncIterable<{ offset: number; data: Uint8Array }> {
    return chunksOf(this.reads, worktreeId, digest, blob);
  }

  async putBlob(worktreeId: string, digest: string, bytes: Uint8Array, by: string, announce?: Announce): Promise<BlobInfo & { created: boolean }> {
    const writer = await this.blobWriter(worktreeId, digest, bytes.length, by, announce);
    if (writer.stored) return { ...writer.stored, created: false };
    // One batch for the whole blob: chunks are staged in memory by the writer until the last one.
    const info = await writeWhole(bytes, (offset, data) => writer.write(offset, data, { stage: true }));
    return { ...info, created: writer.committed };
  }

  async blobWriter(worktreeId: string, digest: string, size: number, by: string, announce?: Announce): Promise<BlobWriter> {
    checkBlobStart(worktreeId, digest, size, by, this.limits);
    const stored = await this.getBlob(worktreeId, digest);
    // Checked again when it is stored, with what was stored meanwhile.
    if (!stored) checkFits(worktreeId, await this.usage(worktreeId), size, this.limits);
    return new BlobWriter(this, worktreeId, digest, size, by, stored, announce);
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

  /** Deletes every key under `prefix` (an aborted upload's chunks). */
  async deletePrefix(prefix: string): Promise<void> {
    const ops: KvBatchOp[] = [];
    for await (const [key] of this.kv.iterate({ gte: prefix, lt: prefix + '~' })) ops.push({ type: 'del', key });
    await this.kv.batch(ops);
  }
}
