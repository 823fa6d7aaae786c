import { CshareError } from './errors.js';
import type { KvBatchOp, KvStore } from './ports.js';
import type { OpEntry } from './history.js';
import type { CachedStat } from './Scanner.js';

/**
 * Key layout of a replica's store (`.cshare/store`), all in one ordered key space:
 *
 *   meta:replica          JSON {replicaId, clientId, name}
 *   meta:lamport          JSON number
 *   m:snap                manifest snapshot (Yjs update) of stores written before snapshot parts
 *   m:sp:<n>              manifest snapshot part <n> (merged Yjs updates, each at most about
 *                         4 MB, so each goes up in one message; see ReplicaContext.compact)
 *   m:u:<seq>             manifest update logged by change <seq>
 *   f:<fileId>:snap       file doc snapshot; f:<fileId>:snapseq its last seq
 *   f:<fileId>:u:<seq>    file doc update logged by change <seq>
 *   b:<digest>            blob: file content by git blob id (text bases, binaries, symlinks)
 *   s:<path>              stat cache entry (JSON {@link CachedStat})
 *   o:<seq>               op entry (JSON {@link OpEntry}) for log/undo
 *   un:<seq> / re:<seq>   this replica's undo and redo stacks (seqs of own changes)
 *
 * `<seq>` is zero-padded to 12 digits so key order is numeric order. Every write of one
 * change goes in one batch (see {@link ChangeBatch}).
 */
export const SEQ_WIDTH = 12;

/** Pads a sequence number for use in a key. */
export function seqKey(seq: number): string {
  return String(seq).padStart(SEQ_WIDTH, '0');
}

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
}

/** The typed reads and writes over a {@link KvStore}. */
export class ReplicaStore {
  constructor(readonly kv: KvStore) {}

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

  /** The stat cache entry by entry, in path order. */
  async *statEntries(): AsyncIterable<[string, CachedStat]> {
    for await (const [key, value] of this.kv.iterate({ gt: 's:', lt: 's;' })) yield [key.slice(2), parseJson<CachedStat>(value, key)];
  }

  async blob(digest: string): Promise<Uint8Array | undefined> {
    return this.kv.get(`b:${digest}`);
  }

  /** The manifest snapshot and the updates logged after it. */
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
    return { parts, updates, count: updates.length };
  }

  /** A file doc's snapshot and the updates logged after it. */
  async fileState(fileId: string): Promise<{ snapshot?: Uint8Array; updates: Uint8Array[]; keys: string[] }> {
    const snapshot = await this.kv.get(`f:${fileId}:snap`);
    const updates: Uint8Array[] = [];
    const keys: string[] = [];
    for await (const [key, value] of this.kv.iterate({ gt: `f:${fileId}:u:`, lt: `f:${fileId}:u;` })) {
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
  bytes = 0;

  put(key: string, value: Uint8Array): void {
    this.ops.push({ type: 'put', key, value });
    this.bytes += key.length + value.byteLength;
  }

  putJson(key: string, value: unknown): void {
    this.put(key, jsonBytes(value));
  }

  del(key: string): void {
    this.ops.push({ type: 'del', key });
  }

  get empty(): boolean {
    return this.ops.length === 0;
  }

  async commit(kv: KvStore): Promise<void> {
    await kv.batch(this.ops);
  }
}
