import { CshareError } from '../../core/errors.js';
import type { BlobPackStore, KvStore } from '../../core/ports.js';
import { decodeValue, type Value } from '../rpc/codec.js';
import { BLOB_CHUNK_BYTES, type HistoryEntry } from '../schema.js';
import { asNumber, chunkKey, decodeRecord, pad } from './keys.js';
import type { BlobRead, LogEntry } from './RelayStorage.js';

/**
 * The reads of the LevelDB relay store (`RelayStore`) that go over ranges of keys: a
 * worktree's log a page at a time, and blobs' records and chunks (in the store or, packed, in
 * the blob packs beside it). Key layout: ARCHITECTURE.md "Relay store keys".
 */

/** Log entries read per store iteration. */
export const PAGE = 256;

/** Where a stored blob's bytes are: its size, the upload holding its chunks, and whether packed. */
export interface StoredBlob extends BlobRead {
  upload: string;
  packed: boolean;
}

/** Where the reads go: the store, and the packs if chunks may be packed. */
export interface KvReadTarget {
  kv: KvStore;
  packs?: BlobPackStore;
}

/** The log of `worktreeId` after `after` up to `upTo`, in seq order, a page at a time. */
export async function* logEntries(t: KvReadTarget, worktreeId: string, after: number, upTo: number, signal?: AbortSignal): AsyncIterable<LogEntry> {
  const prefix = `wt/${worktreeId}/log/`;
  let from = prefix + pad(after);
  const last = prefix + pad(upTo);
  for (;;) {
    signal?.throwIfAborted();
    const page: [string, Record<string, Value>][] = [];
    for await (const [key, value] of t.kv.iterate({ gt: from, lte: last, limit: PAGE })) page.push([key, decodeRecord(value)]);
    if (page.length === 0) return;
    yield* pageEntries(t.kv, worktreeId, prefix, page);
    from = page[page.length - 1]![0];
  }
}

/** The entries of one page of log records, their data read in one `getMany`. */
async function* pageEntries(kv: KvStore, worktreeId: string, prefix: string, page: [string, Record<string, Value>][]): AsyncIterable<LogEntry> {
  const dataKeys = page.map(([key, r]) => {
    const seq = key.slice(prefix.length);
    return r.k === 'm' ? `wt/${worktreeId}/m/${seq}` : r.k === 'f' ? `wt/${worktreeId}/f/${String(r.fileId)}/${seq}` : r.k === 'h' ? `wt/${worktreeId}/h/${seq}` : undefined;
  });
  const wanted = dataKeys.filter((k): k is string => k !== undefined);
  const values = await kv.getMany(wanted);
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
}

/** A blob record's fields (`b/<digest>`). */
export function storedBlob(raw: Uint8Array): StoredBlob {
  const r = decodeRecord(raw);
  return { size: asNumber(r.size), upload: String(r.upload), packed: r.p === 1 };
}

/**
 * Stored blobs' sizes and uploads, in the order of `digests` (undefined where not stored),
 * with the bytes of each blob of at most `maxBytes` (at most {@link BLOB_CHUNK_BYTES}: one
 * chunk) read too. Two store reads for the lot, where one blob at a time cost two reads and
 * an iterator each.
 */
export async function readBlobRecords(t: KvReadTarget, worktreeId: string, digests: readonly string[], maxBytes: number): Promise<(StoredBlob | undefined)[]> {
  const limit = Math.min(maxBytes, BLOB_CHUNK_BYTES);
  const raws = await t.kv.getMany(digests.map((d) => `wt/${worktreeId}/b/${d}`));
  const out = raws.map((raw) => (raw ? storedBlob(raw) : undefined));
  const small = out.flatMap((b, i) => (b !== undefined && b.size <= limit ? [i] : []));
  const values = await t.kv.getMany(small.map((i) => chunkKey(worktreeId, out[i]!, 0)));
  for (const [n, i] of small.entries()) {
    const b = out[i]!;
    const value = values[n];
    const data = value && b.packed ? await unpack(t, value) : (value ?? (b.size === 0 ? new Uint8Array() : undefined));
    if (data === undefined || data.byteLength !== b.size) {
      throw new CshareError('STORE_CORRUPT', `blob ${digests[i]} is ${data?.byteLength ?? 0} bytes, not ${b.size}`, { digest: digests[i] });
    }
    b.data = data;
  }
  return out;
}

/** The chunks of one upload of a blob, checked to be contiguous and of the recorded size. */
export async function* chunksOf(t: KvReadTarget, worktreeId: string, digest: string, blob: StoredBlob): AsyncIterable<{ offset: number; data: Uint8Array }> {
  const { size } = blob;
  const prefix = chunkKey(worktreeId, blob, undefined);
  let expected = 0;
  for await (const [key, value] of t.kv.iterate({ gte: prefix, lt: prefix + '~' })) {
    const data = blob.packed ? await unpack(t, value) : value;
    const offset = Number(key.slice(prefix.length));
    if (offset !== expected) throw new CshareError('STORE_CORRUPT', `blob ${digest} has a gap at byte ${expected}`, { digest });
    yield { offset, data };
    expected += data.length;
  }
  if (expected !== size) throw new CshareError('STORE_CORRUPT', `blob ${digest} is ${expected} bytes, not ${size}`, { digest });
}

/** A packed chunk's bytes (a reference without packs to read it from is damage). */
async function unpack(t: KvReadTarget, ref: Uint8Array): Promise<Uint8Array> {
  if (!t.packs) throw new CshareError('STORE_CORRUPT', 'the relay store refers to blob packs it was opened without');
  return t.packs.read(ref);
}
