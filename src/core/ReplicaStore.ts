import { gitBlobId } from './digest.js';
import { CshareError } from './errors.js';
import type { BlobPackStore, KvBatchOp, KvStore } from './ports.js';
import type { OpEntry } from './history.js';
import type { CachedStat } from './Scanner.js';

/**
 * Key layout of a replica's store (`.cshare/store`), all in one ordered key space: the table
 * in ARCHITECTURE.md "Replica store keys", checked against every key this code builds by
 * `test/docs/architecture.test.ts` (a new key family goes in that table).
 *
 * `<seq>` is zero-padded to 12 digits so key order is numeric order. Every write of one
 * change goes in one batch (see {@link ChangeBatch}).
 */
export const SEQ_WIDTH = 12;

/** Pads a sequence number for use in a key. */
export function seqKey(seq: number): string {
  return String(seq).padStart(SEQ_WIDTH, '0');
}

/**
 * The suffix that tells apart the `n`th of several remote updates logged under one change:
 * zero-padded, so that key order is the order they were applied in.
 */
export function remoteSub(n: number): string {
  return `r${String(n).padStart(6, '0')}`;
}

/**
 * Orders logged update keys (`...:u:<seq>.<sub>`) as they were applied. Stores written before
 * {@link remoteSub} padded its number have `r10` before `r2` in key order: applied in that
 * order, a Yjs update waits for the ones it depends on, and a 100,000-file manifest logged so
 * took 4 s instead of under 1 to load.
 */
export function byLogOrder(a: string, b: string): number {
  const ra = REMOTE_SUB.exec(a);
  const rb = REMOTE_SUB.exec(b);
  if (ra && rb && a.slice(0, ra.index) === b.slice(0, rb.index)) return Number(ra[1]) - Number(rb[1]);
  return a < b ? -1 : a > b ? 1 : 0;
}
const REMOTE_SUB = /\.r(\d+)$/;

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Encodes a JSON value for the store. */
export function jsonBytes(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}

/** Decodes a JSON value from the store; a damaged value is `STORE_CORRUPT`, never a crash. */
export function parseJson<T>(bytes: Uint8Array, key: string): T {
  try {
    return JSON.parse(dec.decode(bytes)) as T;
  } catch (err) {
    throw new CshareError('STORE_CORRUPT', `the store entry ${key} is damaged; move .cshare aside to rebuild history`, { key }, { cause: err });
  }
}

/** This replica's identity. */
export interface ReplicaIdentity {
  replicaId: string;
  clientId: number;
  name: string;
  /** Ids this replica had before it found it was a copy (see `Replica.open`): its changes under them are its own. */
  previous?: string[];
}

/** The typed reads and writes over a {@link KvStore} (and its blob packs, if it has them). */
export class ReplicaStore {
  constructor(
    readonly kv: KvStore,
    readonly packs?: BlobPackStore,
  ) {}

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
      const have = await this.kv.hasMany(blobs.map(([d]) => `bp:${d}`));
      const add = blobs.filter((_, i) => !have[i]);
      const refs = await this.packs.append(add.map(([, bytes]) => bytes));
      add.forEach(([d], i) => batch.ops.push({ type: 'put', key: `bp:${d}`, value: refs[i]! }));
    } else {
      for (const [d, bytes] of blobs) batch.ops.push({ type: 'put', key: `b:${d}`, value: bytes });
    }
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const v = await this.kv.get(key);
    return v === undefined ? undefined : parseJson<T>(v, key);
  }

  async identity(): Promise<ReplicaIdentity | undefined> {
    return this.getJson<ReplicaIdentity>('meta:replica');
  }

  async lastSeq(): Promise<number> {
    for await (const [key] of this.kv.iterate({ gt: 'o:', lt: 'o;', reverse: true, limit: 1 })) return Number(key.slice(2));
    return 0;
  }

  async statCache(): Promise<Map<string, CachedStat>> {
    const out = new Map<string, CachedStat>();
    for await (const [path, stat] of this.statEntries()) out.set(path, stat);
    return out;
  }

  /** The stat cache entries of exactly these paths (nothing under them), in one read. */
  async statsAt(paths: readonly string[]): Promise<Map<string, CachedStat>> {
    const out = new Map<string, CachedStat>();
    const values = await this.kv.getMany(paths.map((p) => `s:${p}`));
    values.forEach((value, i) => {
      if (value) out.set(paths[i]!, parseJson<CachedStat>(value, `s:${paths[i]}`));
    });
    return out;
  }

  /** The stat cache entries of a scope's paths and of everything under them. */
  async statCacheOf(paths: readonly string[]): Promise<Map<string, CachedStat>> {
    const out = new Map<string, CachedStat>();
    const exact = await this.kv.getMany(paths.map((p) => `s:${p}`));
    exact.forEach((value, i) => {
      if (value) out.set(paths[i]!, parseJson<CachedStat>(value, `s:${paths[i]}`));
    });
    // '0' sorts right after '/': the range holds the paths under `p/` and nothing else.
    for (const p of paths) {
      for await (const [key, value] of this.kv.iterate({ gt: `s:${p}/`, lt: `s:${p}0` })) out.set(key.slice(2), parseJson<CachedStat>(value, key));
    }
    return out;
  }

  /** The stat cache entry by entry, in path order. */
  async *statEntries(): AsyncIterable<[string, CachedStat]> {
    for await (const [key, value] of this.kv.iterate({ gt: 's:', lt: 's;' })) yield [key.slice(2), parseJson<CachedStat>(value, key)];
  }

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
      const refs = await this.kv.getMany(digests.map((d) => `bp:${d}`));
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
      const values = await this.kv.getMany(rest.map((i) => `b:${digests[i]}`));
      rest.forEach((i, n) => (out[i] = values[n]));
    }
    return out;
  }

  /** Which of `digests` are stored, without reading them. */
  async hasBlobs(digests: readonly string[]): Promise<boolean[]> {
    const out = this.packs ? await this.kv.hasMany(digests.map((d) => `bp:${d}`)) : digests.map(() => false);
    const rest = digests.flatMap((_, i) => (out[i] ? [] : [i]));
    if (rest.length > 0) {
      const legacy = await this.kv.hasMany(rest.map((i) => `b:${digests[i]}`));
      rest.forEach((i, n) => (out[i] = legacy[n]!));
    }
    return out;
  }

  /** Bytes on disk: the store's and its packs'. */
  async size(): Promise<number> {
    return (await this.kv.size()) + (this.packs?.size() ?? 0);
  }

  /**
   * The manifest as stored: its snapshot parts (with their keys) and the updates logged after
   * them. Every piece is a valid Yjs update on its own, and none is much over 4 MB.
   */
  async manifestState(): Promise<{ parts: { key: string; value: Uint8Array }[]; updates: { key: string; value: Uint8Array }[]; count: number }> {
    const parts: { key: string; value: Uint8Array }[] = [];
    const legacy = await this.kv.get('m:snap');
    if (legacy) parts.push({ key: 'm:snap', value: legacy });
    for await (const [key, value] of this.kv.iterate({ gt: 'm:sp:', lt: 'm:sp;' })) parts.push({ key, value });
    const updates: { key: string; value: Uint8Array }[] = [];
    for await (const [key, value] of this.kv.iterate({ gt: 'm:u:', lt: 'm:u;' })) updates.push({ key, value });
    updates.sort((a, b) => byLogOrder(a.key, b.key));
    return { parts, updates, count: updates.length };
  }

  /** A file doc's snapshot and the updates logged after it. */
  async fileState(fileId: string): Promise<{ snapshot?: Uint8Array; updates: Uint8Array[]; keys: string[] }> {
    const snapshot = await this.kv.get(`f:${fileId}:snap`);
    const updates: Uint8Array[] = [];
    const keys: string[] = [];
    const logged: { key: string; value: Uint8Array }[] = [];
    for await (const [key, value] of this.kv.iterate({ gt: `f:${fileId}:u:`, lt: `f:${fileId}:u;` })) logged.push({ key, value });
    logged.sort((a, b) => byLogOrder(a.key, b.key));
    for (const { key, value } of logged) {
      keys.push(key);
      updates.push(value);
    }
    return { snapshot, updates, keys };
  }

  async op(seq: number): Promise<OpEntry | undefined> {
    return this.getJson<OpEntry>(`o:${seqKey(seq)}`);
  }

  /** Op entries, newest first. */
  async *opsNewestFirst(): AsyncIterable<OpEntry> {
    for await (const [key, value] of this.kv.iterate({ gt: 'o:', lt: 'o;', reverse: true })) yield parseJson<OpEntry>(value, key);
  }

  /** Seqs on the undo (`un`) or redo (`re`) stack, most recent first. */
  async *stack(which: 'un' | 're'): AsyncIterable<number> {
    for await (const [key] of this.kv.iterate({ gt: `${which}:`, lt: `${which};`, reverse: true })) yield Number(key.slice(which.length + 1));
  }
}

/**
 * The writes of one or more changes, committed as one LevelDB batch. Nothing is reported as
 * recorded until {@link ChangeBatch.commit} has resolved.
 */
export class ChangeBatch {
  readonly ops: KvBatchOp[] = [];
  /** Blobs to store, by digest (see {@link ReplicaStore.commit}). */
  readonly blobs = new Map<string, Uint8Array>();
  bytes = 0;

  put(key: string, value: Uint8Array): void {
    this.ops.push({ type: 'put', key, value });
    this.bytes += key.length + value.byteLength;
  }

  /** Stores a blob: file content under its git blob id. */
  putBlob(digest: string, bytes: Uint8Array): void {
    if (this.blobs.has(digest)) return;
    this.blobs.set(digest, bytes);
    this.bytes += digest.length + bytes.byteLength;
  }

  putJson(key: string, value: unknown): void {
    this.put(key, jsonBytes(value));
  }

  del(key: string): void {
    this.ops.push({ type: 'del', key });
  }

  get empty(): boolean {
    return this.ops.length === 0 && this.blobs.size === 0;
  }
}
