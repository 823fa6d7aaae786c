import { ChangeBatch, type InterruptedWrite } from './ChangeBatch.js';
import { gitBlobId } from './digest.js';
import { CshareError } from './errors.js';
import type { BlobPackStore, KvStore } from './ports.js';
import type { CachedStat } from './scanFiles.js';
import { StoredLog } from './StoredLog.js';
import { FAMILY, KEY, jsonBytes, parseJson, prefixRange, textOf, type StoredPiece } from './storeKeys.js';

// For callers outside `core/` that encode or decode a store value themselves (test harnesses).
export { jsonBytes, parseJson } from './storeKeys.js';

/** This replica's identity. */
export interface ReplicaIdentity {
  replicaId: string;
  clientId: number;
  name: string;
  /** Ids this replica had before it found it was a copy (see `Replica.open`): its changes under them are its own. */
  previous?: string[];
}

/**
 * The one owner of a replica's store: every read and write of `core/` goes through its named
 * methods (and {@link ChangeBatch}'s), none builds a key or talks to the {@link KvStore} itself
 * (the key layout is `storeKeys.ts`; the logs, op entries and stacks are its half in
 * `StoredLog.ts`). Blob bytes go to the packs, if it has them.
 */
export class ReplicaStore extends StoredLog {
  constructor(
    kv: KvStore,
    readonly packs?: BlobPackStore,
  ) {
    super(kv);
  }

  /** Commits a batch: its blobs into the packs first (made durable), then one store batch. */
  async commit(batch: ChangeBatch): Promise<void> {
    await this.stageBlobs(batch);
    await this.kv.batch(batch.ops);
  }

  /**
   * Writes the batch's blobs to the packs and makes them durable, leaving their references
   * among the batch's writes (without packs, the blobs themselves). {@link commit} does it
   * first; a caller with other slow work before its commit (an apply writing files) starts it
   * earlier, so that the flushes overlap. A batch that is then not committed leaves bytes in a
   * pack that nothing refers to.
   */
  async stageBlobs(batch: ChangeBatch): Promise<void> {
    const blobs = [...batch.blobs];
    if (blobs.length === 0) return;
    batch.blobs.clear();
    if (this.packs) {
      // A blob already stored is not appended again (packs only grow).
      const have = await this.kv.hasMany(blobs.map(([d]) => KEY.blobRef(d)));
      const add = blobs.filter((_, i) => !have[i]);
      const refs = await this.packs.append(add.map(([, bytes]) => bytes));
      add.forEach(([d], i) => batch.ops.push({ type: 'put', key: KEY.blobRef(d), value: refs[i]! }));
    } else {
      for (const [d, bytes] of blobs) batch.ops.push({ type: 'put', key: KEY.blob(d), value: bytes });
    }
  }

  private async getJson<T>(key: string): Promise<T | undefined> {
    const v = await this.kv.get(key);
    return v === undefined ? undefined : parseJson<T>(v, key);
  }

  // ---------------------------------------------------------------------------------------------
  // Identity and counters (`meta:`)

  async identity(): Promise<ReplicaIdentity | undefined> {
    return this.getJson<ReplicaIdentity>(KEY.replica);
  }

  /** Writes the identity of a replica that had none. */
  async putIdentity(identity: ReplicaIdentity): Promise<void> {
    await this.kv.put(KEY.replica, jsonBytes(identity));
  }

  /** Where the worktree root was when this store last opened it (its device and inode). */
  async location(): Promise<{ dev: number; ino: number } | undefined> {
    return this.getJson<{ dev: number; ino: number }>(KEY.location);
  }

  async putLocation(location: { dev: number; ino: number }): Promise<void> {
    await this.kv.put(KEY.location, jsonBytes(location));
  }

  /** A copied store's new identity and where it is now, in one write. */
  async moveTo(identity: ReplicaIdentity, location: { dev: number; ino: number }): Promise<void> {
    await this.kv.batch([
      { type: 'put', key: KEY.replica, value: jsonBytes(identity) },
      { type: 'put', key: KEY.location, value: jsonBytes(location) },
    ]);
  }

  /** The seq of the newest op entry (0: none). */
  async lastSeq(): Promise<number> {
    for await (const [key] of this.kv.iterate(prefixRange(FAMILY.op, { reverse: true, limit: 1 }))) return Number(key.slice(FAMILY.op.length));
    return 0;
  }

  /** The last seq handed out, as last made durable (`meta:seq`). */
  async savedSeq(): Promise<number | undefined> {
    return this.getJson<number>(KEY.seq);
  }

  /** Makes `seq` durable as the last seq handed out, by itself (see `ReplicaContext.persistSeq`). */
  async putSeq(seq: number): Promise<void> {
    await this.kv.put(KEY.seq, jsonBytes(seq));
  }

  async savedLamport(): Promise<number | undefined> {
    return this.getJson<number>(KEY.lamport);
  }

  /** The seq after which logged updates are kept through compaction, as last remembered. */
  async keepLogAfter(): Promise<number | undefined> {
    return this.getJson<number>(KEY.keepLogAfter);
  }

  async putKeepLogAfter(seq: number): Promise<void> {
    await this.kv.put(KEY.keepLogAfter, jsonBytes(seq));
  }

  /** A small JSON value kept for a caller (`meta:x:<name>`: sync state and the like). */
  async meta<T>(name: string): Promise<T | undefined> {
    return this.getJson<T>(KEY.meta(name));
  }

  async putMeta(name: string, value: unknown): Promise<void> {
    await this.kv.put(KEY.meta(name), jsonBytes(value));
  }

  /** The note of an apply's disk writes in progress (`applyRecovery.ts`), if one was left. */
  async applying<T>(): Promise<T | undefined> {
    return this.getJson<T>(KEY.applying);
  }

  /** Notes an apply's disk writes, by itself, before they start; the apply's batch drops it. */
  async putApplying(intent: object): Promise<void> {
    await this.kv.put(KEY.applying, jsonBytes(intent));
  }

  /** The notes of files applies wrote unflushed, oldest first, each with its key. */
  async *unflushedNotes(): AsyncIterable<StoredPiece> {
    for await (const [key, value] of this.kv.iterate(prefixRange(FAMILY.unflushed))) yield { key, value };
  }

  /** Deletes keys this store handed out (notes read back and done with), in one write. */
  async dropKeys(keys: readonly string[]): Promise<void> {
    await this.kv.batch(keys.map((key) => ({ type: 'del', key })));
  }

  // ---------------------------------------------------------------------------------------------
  // Per-file and per-path notes

  /** Every text file's recorded text digest (`d:`). */
  async textDigests(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for await (const [key, value] of this.kv.iterate(prefixRange(FAMILY.textDigest))) out.set(key.slice(FAMILY.textDigest.length), textOf(value));
    return out;
  }

  /** Every rule file's text as this machine accepted it (`rb:`), by path. */
  async ruleBaselines(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for await (const [key, value] of this.kv.iterate(prefixRange(FAMILY.ruleBaseline))) out.set(key.slice(FAMILY.ruleBaseline.length), textOf(value));
    return out;
  }

  /** The writes of an interrupted apply edited since (`ri:`), by path; a damaged one is left out. */
  async interruptedWrites(): Promise<Map<string, InterruptedWrite>> {
    const out = new Map<string, InterruptedWrite>();
    for await (const [key, value] of this.kv.iterate(prefixRange(FAMILY.interrupted))) {
      const w = parseInterrupted(value);
      if (w) out.set(key.slice(FAMILY.interrupted.length), w);
    }
    return out;
  }

  /** The notes of text files left open in an editor (`lv:`), by file id: what each accepts on disk. */
  async liveNotes(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for await (const [key, value] of this.kv.iterate(prefixRange(FAMILY.liveNote))) {
      const note = parseJson<{ accepted?: unknown }>(value, key);
      out.set(key.slice(FAMILY.liveNote.length), Array.isArray(note?.accepted) ? note.accepted.filter((d): d is string => typeof d === 'string') : []);
    }
    return out;
  }

  /** A text file's recent on-disk versions as stored (`v:`), unchecked. */
  async versions(fileId: string): Promise<unknown> {
    return this.getJson<unknown>(KEY.versions(fileId));
  }

  /** What this replica merged of a lost create (`mc:`), unchecked. */
  async priorMerge(fileId: string): Promise<{ into?: unknown; text?: unknown } | undefined> {
    return this.getJson<{ into?: unknown; text?: unknown }>(KEY.priorMerge(fileId));
  }

  /** How far this replica's edits of a merged-away file were forwarded (`fw:`). */
  async forwarded(fileId: string): Promise<number | undefined> {
    return this.getJson<number>(KEY.forwarded(fileId));
  }

  /** The files whose forward waits for its target's content (`fwp:`). */
  async forwardsWaiting(): Promise<string[]> {
    const out: string[] = [];
    for await (const key of this.kv.keys(prefixRange(FAMILY.forwardWaiting))) out.push(key.slice(FAMILY.forwardWaiting.length));
    return out;
  }

  /** The highest seq of author `by`'s history entries recorded here (`hs:`). */
  async historySeen(by: string): Promise<number | undefined> {
    return this.getJson<number>(KEY.historySeen(by));
  }

  // ---------------------------------------------------------------------------------------------
  // The stat cache (`s:`)

  async statCache(): Promise<Map<string, CachedStat>> {
    const out = new Map<string, CachedStat>();
    for await (const [path, stat] of this.statEntries()) out.set(path, stat);
    return out;
  }

  /** The stat cache entries of exactly these paths (nothing under them), in one read. */
  async statsAt(paths: readonly string[]): Promise<Map<string, CachedStat>> {
    const out = new Map<string, CachedStat>();
    const values = await this.kv.getMany(paths.map((p) => KEY.stat(p)));
    values.forEach((value, i) => {
      if (value) out.set(paths[i]!, parseJson<CachedStat>(value, KEY.stat(paths[i]!)));
    });
    return out;
  }

  /** The stat cache entries of a scope's paths and of everything under them. */
  async statCacheOf(paths: readonly string[]): Promise<Map<string, CachedStat>> {
    const out = await this.statsAt(paths);
    // '0' sorts right after '/': the range holds the paths under `p/` and nothing else.
    for (const p of paths) {
      for await (const [key, value] of this.kv.iterate(prefixRange(`${KEY.stat(p)}/`))) out.set(key.slice(FAMILY.stat.length), parseJson<CachedStat>(value, key));
    }
    return out;
  }

  /** The stat cache entry by entry, in path order. */
  async *statEntries(): AsyncIterable<[string, CachedStat]> {
    for await (const [key, value] of this.kv.iterate(prefixRange(FAMILY.stat))) yield [key.slice(FAMILY.stat.length), parseJson<CachedStat>(value, key)];
  }

  // ---------------------------------------------------------------------------------------------
  // Blobs (`bp:`, `b:`)

  async blob(digest: string): Promise<Uint8Array | undefined> {
    return (await this.blobs([digest]))[0];
  }

  /**
   * Stored blobs by digest, in order (undefined where not stored). Bytes read from a pack are
   * checked against their digest: packs have no checksums of their own.
   */
  async blobs(digests: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    const out: (Uint8Array | undefined)[] = new Array(digests.length).fill(undefined);
    let rest = digests.map((_, i) => i);
    if (this.packs) {
      const refs = await this.kv.getMany(digests.map((d) => KEY.blobRef(d)));
      for (const i of rest) {
        const ref = refs[i];
        if (!ref) continue;
        const bytes = await this.packs.read(ref);
        if (gitBlobId(bytes) !== digests[i]) throw new CshareError('STORE_CORRUPT', `the stored blob ${digests[i]} is damaged; move .cshare aside to rebuild history`, { digest: digests[i] });
        out[i] = bytes;
      }
      rest = rest.filter((i) => out[i] === undefined);
    }
    if (rest.length > 0) {
      const values = await this.kv.getMany(rest.map((i) => KEY.blob(digests[i]!)));
      rest.forEach((i, n) => (out[i] = values[n]));
    }
    return out;
  }

  /** Which of `digests` are stored, without reading them. */
  async hasBlobs(digests: readonly string[]): Promise<boolean[]> {
    const out = this.packs ? await this.kv.hasMany(digests.map((d) => KEY.blobRef(d))) : digests.map(() => false);
    const rest = digests.flatMap((_, i) => (out[i] ? [] : [i]));
    if (rest.length > 0) {
      const legacy = await this.kv.hasMany(rest.map((i) => KEY.blob(digests[i]!)));
      rest.forEach((i, n) => (out[i] = legacy[n]!));
    }
    return out;
  }

  /** Bytes on disk: the store's and its packs'. */
  async size(): Promise<number> {
    return (await this.kv.size()) + (this.packs?.size() ?? 0);
  }
}

/** A stored interrupted write, or nothing if the entry is damaged (the file is then recorded as new). */
function parseInterrupted(value: Uint8Array): InterruptedWrite | undefined {
  let w: Partial<InterruptedWrite>;
  try {
    w = JSON.parse(textOf(value)) as Partial<InterruptedWrite>;
  } catch {
    return undefined; // damaged: as if nothing was noted
  }
  return typeof w?.fileId === 'string' && typeof w.digest === 'string' ? { fileId: w.fileId, digest: w.digest } : undefined;
}
