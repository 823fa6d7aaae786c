import * as Y from 'yjs';
import { afterEach, describe, expect, it } from 'vitest';
import { gitBlobId } from '../../../src/core/digest.js';
import type { Appended, RelayLimits, RelayStorage } from '../../../src/sync/relay/RelayStorage.js';
import { BLOB_CHUNK_BYTES, type HistoryEntry } from '../../../src/sync/schema.js';
import { collect, rejection, textUpdate } from './harness.js';

/**
 * The contract every `RelayStorage` backend passes (as automerge-repo's
 * `runStorageAdapterTests`): `runRelayStorageContract(name, make)` in a test file, with `make`
 * opening a fresh, empty storage. A backend that persists says so and gives `reopen`, and is
 * held to keeping everything, and its heads, across it; one in memory has no such test.
 */

/** A storage under test, fresh and empty. */
export interface StorageUnderTest {
  storage: RelayStorage;
  /** Closes the storage and opens it again on the same data (for a persistent backend). */
  reopen?: () => Promise<RelayStorage>;
  /** Releases what `make` opened (after the test). */
  cleanup?: () => Promise<void>;
}

const W = 'wt1';
const HASH_RW = new Uint8Array(32).fill(1);
const HASH_RO = new Uint8Array(32).fill(2);

function history(n: number): HistoryEntry[] {
  return [{ seq: n, kind: 'edit', time: 1_700_000_000_000 + n, author: 'alice', fileId: 'f1', path: 'a.txt', inserted: n, deleted: 0 }];
}

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) out[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
}

/** `v` with every byte array a plain `Uint8Array` (a backend may hand out Buffers: same bytes). */
function plain<T>(v: T): T {
  if (v instanceof Uint8Array) return new Uint8Array(v) as T;
  if (Array.isArray(v)) return v.map(plain) as T;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])) as T;
  return v;
}

/** Uploads `data` in chunks through a `blobWriter`, as `blob/upload` does. */
async function uploadChunked(storage: RelayStorage, worktreeId: string, data: Uint8Array) {
  const upload = await storage.blobWriter(worktreeId, gitBlobId(data), data.length, 'alice');
  let info;
  for (let offset = 0; offset < data.length; offset += BLOB_CHUNK_BYTES) info = await upload.write(offset, data.subarray(offset, offset + BLOB_CHUNK_BYTES));
  return info;
}

/** Runs the contract against the storages `make` opens (with `limits` over the defaults). */
export function runRelayStorageContract(name: string, make: (limits?: Partial<RelayLimits>) => Promise<StorageUnderTest>, opts: { persistent: boolean } = { persistent: false }): void {
  const opened: StorageUnderTest[] = [];
  const open = async (limits?: Partial<RelayLimits>) => {
    const s = await make(limits);
    opened.push(s);
    await s.storage.register({ worktreeId: W, readWriteHash: HASH_RW, readOnlyHash: HASH_RO, name: 'app', by: 'peer-a' });
    return s;
  };
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.cleanup?.();
  });

  describe(`RelayStorage contract: ${name}`, () => {
    it('registers a worktree once, reads its auth record back, and counts what a peer registered', async () => {
      const { storage } = await open();
      const reg = plain(await storage.getWorktree(W));
      expect(reg).toMatchObject({ worktreeId: W, name: 'app', by: 'peer-a', readWriteHash: HASH_RW, readOnlyHash: HASH_RO });
      expect(reg!.created).toBeGreaterThan(0);
      const again = await storage.register({ worktreeId: W, readWriteHash: HASH_RO, readOnlyHash: HASH_RO, name: 'other', by: 'peer-b' });
      expect(again.created).toBe(false);
      expect(plain(again.registration)).toMatchObject({ name: 'app', by: 'peer-a', readWriteHash: HASH_RW });
      await storage.register({ worktreeId: 'wt2', readWriteHash: HASH_RW, readOnlyHash: HASH_RO, name: 'two', by: 'peer-a' });
      expect(await storage.registeredBy('peer-a', 10)).toBe(2);
      expect(await storage.registeredBy('peer-a', 1)).toBe(1);
      expect(await storage.registeredBy('peer-b', 10)).toBe(0);
      expect(await storage.head('wt2')).toBe(0);
    });

    it('answers undefined (a head of 0) for what it does not have, and NOT_FOUND to a read of a missing blob or an append to an unknown worktree', async () => {
      const { storage } = await open();
      const digest = gitBlobId(bytes(3));
      expect(await storage.getWorktree('nope')).toBeUndefined();
      expect(await storage.getBlob(W, digest)).toBeUndefined();
      expect(await storage.readBlobs(W, [digest], 1024)).toEqual([undefined]);
      expect(await storage.fileVector(W, 'f1')).toBeUndefined();
      expect(await storage.head('nope')).toBe(0);
      expect(await storage.usage(W)).toBe(0);
      expect(plain(await collect(storage.entriesAfter(W, 0)))).toEqual([]);
      expect(await storage.needs(W, [{ path: 'a', fileId: 'f1', digest }])).toEqual(['f1']);
      expect((await rejection(collect(storage.readBlob(W, digest)))).code).toBe('NOT_FOUND');
      expect((await rejection(storage.appendFile('nope', 'f1', [textUpdate('x')], 'alice'))).code).toBe('NOT_FOUND');
      expect((await rejection(storage.getBlob('a/b', digest))).code).toBe('PROTOCOL');
    });

    it('appends to the log under dense seqs and reads it back by range', async () => {
      const { storage } = await open();
      const m1 = textUpdate('manifest 1', 5);
      const m2 = textUpdate('manifest 2', 6);
      const f = textUpdate('file', 7);
      const blob = bytes(10);
      expect(await storage.appendManifest(W, [m1, m2], 'alice')).toEqual({ first: 1, seq: 2 });
      expect(await storage.appendFile(W, 'f1', [f], 'bob')).toEqual({ first: 3, seq: 3 });
      expect(await storage.appendHistory(W, history(1), 'bob')).toEqual({ first: 4, seq: 4 });
      expect(await storage.putBlob(W, gitBlobId(blob), blob, 'alice')).toEqual({ digest: gitBlobId(blob), size: 10, seq: 5, created: true });
      expect(await storage.head(W)).toBe(5);
      expect(await storage.usage(W)).toBe(m1.length + m2.length + f.length + 10);
      expect(plain(await collect(storage.entriesAfter(W, 0)))).toEqual([
        { type: 'manifest', seq: 1, update: m1, by: 'alice' },
        { type: 'manifest', seq: 2, update: m2, by: 'alice' },
        { type: 'file-update', seq: 3, fileId: 'f1', update: f, by: 'bob' },
        { type: 'history', seq: 4, entries: history(1), by: 'bob' },
        { type: 'blob', seq: 5, digest: gitBlobId(blob), size: 10, by: 'alice' },
      ]);
      expect((await collect(storage.entriesAfter(W, 2, { upTo: 4 }))).map((e) => e.seq)).toEqual([3, 4]);
      expect(await collect(storage.entriesAfter(W, 5))).toEqual([]);
      const stop = new AbortController();
      stop.abort(new Error('stopped'));
      expect((await rejection(collect(storage.entriesAfter(W, 0, { signal: stop.signal })))).message).toBe('stopped');
    });

    it('refuses what a peer may not store: no update, a malformed one, a bad id, and stores nothing', async () => {
      const { storage } = await open();
      expect((await rejection(storage.appendFile(W, 'f1', [], 'alice'))).code).toBe('PROTOCOL');
      expect((await rejection(storage.appendFile(W, 'f1', [Uint8Array.of(9, 9, 9)], 'alice'))).code).toBe('PROTOCOL');
      expect((await rejection(storage.appendManifest(W, [textUpdate('x')], 'a/b'))).code).toBe('PROTOCOL');
      expect((await rejection(storage.appendHistory(W, [], 'alice'))).code).toBe('PROTOCOL');
      expect(await storage.head(W)).toBe(0);
    });

    it('announces each append once durable, in seq order, before it resolves, also when many run at once', async () => {
      const { storage } = await open();
      const announced: Appended[] = [];
      const resolvedBeforeAnnounce: number[] = [];
      const announce = (a: Appended) => announced.push(a);
      const jobs = Array.from({ length: 30 }, (_, i) => {
        const p =
          i % 3 === 0
            ? storage.appendFile(W, `f${i % 4}`, [textUpdate(`t${i}`, 100 + i)], 'alice', undefined, announce)
            : i % 3 === 1
              ? storage.appendManifest(W, [textUpdate(`m${i}`, 200 + i), textUpdate(`n${i}`, 300 + i)], 'alice', undefined, announce)
              : storage.putBlob(W, gitBlobId(bytes(20, i)), bytes(20, i), 'alice', announce);
        return p.then((a) => {
          if (!announced.some((x) => x.seq === a.seq)) resolvedBeforeAnnounce.push(a.seq);
          return a;
        });
      });
      await Promise.all(jobs);
      expect(resolvedBeforeAnnounce).toEqual([]);
      expect(announced.map((a) => a.first)).toEqual([...announced.map((a) => a.first)].sort((a, b) => a - b));
      expect(announced.flatMap((a) => Array.from({ length: a.seq - a.first + 1 }, (_, i) => a.first + i))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    });

    it('serialises the writers of one worktree: a file vector covers both of two concurrent uploads, a replica id is bound once', async () => {
      const { storage } = await open();
      const [a, b] = await Promise.all([storage.appendFile(W, 'same', [textUpdate('a', 11)], 'r1'), storage.appendFile(W, 'same', [textUpdate('b', 13)], 'r2')]);
      expect([a.seq, b.seq].sort()).toEqual([1, 2]);
      expect([...((await storage.fileVector(W, 'same')) ?? new Map()).keys()].sort()).toEqual([11, 13]);
      const owners = await Promise.all(['peer-x', 'peer-y', 'peer-z'].map((p) => storage.bindReplica(W, 'rep1', p)));
      expect(new Set(owners).size).toBe(1);
      expect(['peer-x', 'peer-y', 'peer-z']).toContain(owners[0]);
      expect(await storage.bindReplica(W, 'rep1', 'peer-w')).toBe(owners[0]);
      const regs = await Promise.all([1, 2, 3].map((n) => storage.register({ worktreeId: 'wt3', readWriteHash: HASH_RW, readOnlyHash: HASH_RO, name: `n${n}` })));
      expect(regs.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(regs.map((r) => r.registration.name)).size).toBe(1);
    });

    it('stores blobs by digest, verified, once per worktree, and reads them whole or in chunks', async () => {
      const { storage } = await open();
      await storage.register({ worktreeId: 'wt2', readWriteHash: HASH_RW, readOnlyHash: HASH_RO, name: 'two' });
      const small = bytes(100, 3);
      const big = bytes(2 * BLOB_CHUNK_BYTES + 5, 4);
      const empty = new Uint8Array();
      expect(await storage.putBlob(W, gitBlobId(small), small, 'alice')).toMatchObject({ seq: 1, created: true });
      expect(await storage.putBlob(W, gitBlobId(small), small, 'bob')).toMatchObject({ seq: 1, created: false });
      expect(await uploadChunked(storage, W, big)).toEqual({ digest: gitBlobId(big), size: big.length, seq: 2 });
      expect(await storage.putBlob(W, gitBlobId(empty), empty, 'alice')).toMatchObject({ size: 0, seq: 3, created: true });
      const stored = await storage.blobWriter(W, gitBlobId(big), big.length, 'bob');
      expect(stored.stored).toEqual({ digest: gitBlobId(big), size: big.length, seq: 2 });
      // Whole, or chunk by chunk.
      const chunks = await collect(storage.readBlob(W, gitBlobId(big)));
      expect(chunks.map((c) => [c.offset, c.size])).toEqual([0, BLOB_CHUNK_BYTES, 2 * BLOB_CHUNK_BYTES].map((o) => [o, big.length]));
      expect(Buffer.concat(chunks.map((c) => c.data)).equals(big)).toBe(true);
      const [s, e, b, missing] = await storage.readBlobs(W, [gitBlobId(small), gitBlobId(empty), gitBlobId(big), gitBlobId(bytes(1))], 64 * 1024);
      expect(Buffer.from(s!.data!).equals(small)).toBe(true);
      expect(plain(e)).toEqual({ ...e, data: empty });
      expect(e!.size).toBe(0);
      expect(b).toMatchObject({ size: big.length });
      expect(b!.data).toBeUndefined();
      expect(missing).toBeUndefined();
      expect(Buffer.concat((await collect(storage.blobChunks(W, gitBlobId(big), b!))).map((c) => c.data)).equals(big)).toBe(true);
      // Another worktree does not have them.
      expect(await storage.getBlob('wt2', gitBlobId(small))).toBeUndefined();
      expect(await storage.needs('wt2', [{ path: 'x', fileId: 'fx', digest: gitBlobId(small) }])).toEqual(['fx']);
      expect(await storage.needs(W, [{ path: 'x', fileId: 'fx', digest: gitBlobId(small) }])).toEqual([]);
    });

    it('refuses a blob whose bytes do not match its digest, chunks out of order, and one over the size limit', async () => {
      const { storage } = await open({ maxBlobBytes: 3 * BLOB_CHUNK_BYTES });
      const data = bytes(BLOB_CHUNK_BYTES + 10, 5);
      const lie = gitBlobId(bytes(BLOB_CHUNK_BYTES + 10, 6));
      const upload = await storage.blobWriter(W, lie, data.length, 'alice');
      expect((await rejection(upload.write(BLOB_CHUNK_BYTES, data.subarray(BLOB_CHUNK_BYTES)))).code).toBe('PROTOCOL');
      expect(await upload.write(0, data.subarray(0, BLOB_CHUNK_BYTES))).toBeUndefined();
      expect(upload.received).toBe(BLOB_CHUNK_BYTES);
      const err = await rejection(upload.write(BLOB_CHUNK_BYTES, data.subarray(BLOB_CHUNK_BYTES)));
      expect(err.code).toBe('PROTOCOL');
      expect(err.message).toMatch(/does not match its digest/);
      expect((await rejection(storage.putBlob(W, lie, data, 'alice'))).code).toBe('PROTOCOL');
      expect(await storage.getBlob(W, lie)).toBeUndefined();
      expect((await rejection(storage.blobWriter(W, gitBlobId(bytes(1)), 3 * BLOB_CHUNK_BYTES + 1, 'alice'))).code).toBe('TOO_LARGE');
      expect(await storage.head(W)).toBe(0);
      expect(await storage.usage(W)).toBe(0);
    });

    it("keeps a worktree's quota and its number of replica ids", async () => {
      const { storage } = await open({ maxWorktreeBytes: 300, maxReplicasPerWorktree: 2 });
      const results = await Promise.allSettled([
        storage.appendFile(W, 'a', [textUpdate('x'.repeat(20))], 'r1'),
        storage.appendFile(W, 'b', [textUpdate('y'.repeat(400))], 'r1'),
        storage.appendFile(W, 'c', [textUpdate('z'.repeat(20))], 'r1'),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(((results[1] as PromiseRejectedResult).reason as { code: string; data: { quota: boolean } }).data.quota).toBe(true);
      expect(await storage.head(W)).toBe(2);
      expect((await rejection(storage.blobWriter(W, gitBlobId(bytes(290)), 290, 'r1'))).code).toBe('OVERLOADED');
      await storage.bindReplica(W, 'r1', 'p1');
      await storage.bindReplica(W, 'r2', 'p2');
      expect((await rejection(storage.bindReplica(W, 'r3', 'p3'))).code).toBe('OVERLOADED');
      expect(await storage.bindReplica(W, 'r1', 'p3')).toBe('p1');
    });

    it("wants a file's updates only when the offered state vector is ahead of the stored one", async () => {
      const { storage } = await open();
      const doc = new Y.Doc();
      doc.clientID = 21;
      doc.getText('t').insert(0, 'one');
      await storage.appendFile(W, 'f1', [Y.encodeStateAsUpdate(doc)], 'alice');
      const entry = (vector: Uint8Array) => ({ path: 'a.txt', fileId: 'f1', digest: gitBlobId(bytes(1)), vector });
      expect(await storage.needs(W, [entry(Y.encodeStateVector(doc))])).toEqual([]);
      doc.getText('t').insert(0, 'two');
      expect(await storage.needs(W, [entry(Y.encodeStateVector(doc))])).toEqual(['f1']);
      expect((await rejection(storage.needs(W, [entry(Uint8Array.of(0xff, 0xff))]))).code).toBe('PROTOCOL');
    });

    if (!opts.persistent) return;
    it('keeps everything across a reopen, and its head goes on from where it was', async () => {
      const s = await open();
      if (!s.reopen) throw new Error(`${name} is persistent but gave no reopen`);
      await s.storage.appendFile(W, 'f1', [textUpdate('before', 31)], 'alice');
      await s.storage.putBlob(W, gitBlobId(bytes(50)), bytes(50), 'alice');
      await s.storage.bindReplica(W, 'alice', 'peer-a');
      const before = await collect(s.storage.entriesAfter(W, 0));
      const storage = await s.reopen();
      expect(await storage.head(W)).toBe(2);
      expect(await collect(storage.entriesAfter(W, 0))).toEqual(before);
      expect(plain(await storage.getWorktree(W))).toMatchObject({ name: 'app', readWriteHash: HASH_RW });
      expect(await storage.bindReplica(W, 'alice', 'peer-z')).toBe('peer-a');
      expect(await storage.usage(W)).toBeGreaterThan(50);
      expect(await storage.appendFile(W, 'f1', [textUpdate('after', 32)], 'alice')).toEqual({ first: 3, seq: 3 });
      expect(Buffer.from((await storage.readBlobs(W, [gitBlobId(bytes(50))], 1024))[0]!.data!).equals(bytes(50))).toBe(true);
    });
  });
}
