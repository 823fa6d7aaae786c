import * as Y from 'yjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { gitBlobId } from '../../../src/core/digest.js';
import { BLOB_CHUNK_BYTES, type WorktreeEvent } from '../../../src/sync/schema.js';
import { waitFor } from '../helpers.js';
import type { KvStore } from '../../../src/core/ports.js';
import { RelayHarness, STORAGES, collect, loggedItems, entry, manifestUpdate, recorder, rejection, textUpdate, type HarnessStorage } from './harness.js';
import { ManifestDoc } from '../../../src/core/ManifestDoc.js';

const harnesses: RelayHarness[] = [];
/** A relay on the storage of the `describe.each` running (see `STORAGES`). */
let storage: HarnessStorage = 'store';
function relay(kv?: KvStore, opts: ConstructorParameters<typeof RelayHarness>[1] = {}): RelayHarness {
  const h = new RelayHarness(kv, { storage, ...opts });
  harnesses.push(h);
  return h;
}
afterEach(() => {
  for (const h of harnesses.splice(0)) h.close();
});

const DIGEST = entry('a').digest;
const BAD_PATHS = ['../x', '/etc/passwd', '.git/config', 'a/../../b', 'a\0b', '.cshare/x', 'src/.GIT/hooks/pre-commit', 'a//b', 'a\\..\\b', 'x/'.repeat(2100) + 'y'];

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) out[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
}

describe.each(STORAGES)('relay service on %s', (_name, kind) => {
  beforeAll(() => {
    storage = kind;
  });

  describe('relay: path safety', () => {
    it('rejects unsafe paths in offers and in manifest updates, and stores nothing', async () => {
      const h = relay();
      const a = await h.sharer();
      const W = h.worktreeId;
      for (const path of BAD_PATHS) {
        const offer = await rejection(a.request('manifest/offer', { worktreeId: W, entries: [{ path, fileId: 'f1', digest: DIGEST }] }));
        expect(['PROTOCOL', 'BAD_PATH'], `${JSON.stringify(path.slice(0, 20))}: ${offer.message}`).toContain(offer.code);
        const upload = await rejection(a.request('manifest/upload', { worktreeId: W, updates: [manifestUpdate({ f0: 'ok.txt' }), manifestUpdate({ f1: path })] }));
        expect(upload.code, `${JSON.stringify(path.slice(0, 20))}: ${upload.message}`).toBe('BAD_PATH');
      }
      expect(await h.store.head(W)).toBe(0);
    });

    it('rejects paths that collide on case-insensitive disks, and a file that is also a folder', async () => {
      const h = relay();
      const a = await h.sharer();
      const W = h.worktreeId;
      const offer = (...paths: string[]) => a.request('manifest/offer', { worktreeId: W, entries: paths.map((path, i) => ({ path, fileId: `f${i}`, digest: DIGEST })) });
      expect((await rejection(offer('README.md', 'readme.md'))).code).toBe('BAD_PATH');
      expect((await rejection(offer('src/A.ts', 'SRC/a.ts'))).code).toBe('BAD_PATH');
      expect((await rejection(offer('caf\u00e9', 'cafe\u0301'))).code).toBe('BAD_PATH');
      expect((await rejection(offer('lib', 'lib/x.js'))).code).toBe('BAD_PATH');
      expect((await rejection(a.request('manifest/upload', { worktreeId: W, updates: [manifestUpdate({ f1: 'A.txt', f2: 'a.txt' })] }))).code).toBe('BAD_PATH');
      await expect(offer('a.txt', 'b/a.txt', 'B.txt')).resolves.toEqual({ need: ['f0', 'f1', 'f2'] });
      // A rename that only changes case, in a doc without gc, keeps the old value in its history.
      const m = ManifestDoc.create(3);
      m.doc.gc = false;
      m.change((set) => set('f1', entry('readme.md')));
      m.change((set) => set('f1', entry('README.md')));
      await expect(a.request('manifest/upload', { worktreeId: W, updates: [m.snapshot()] })).resolves.toMatchObject({ ok: true });
    });

    it('bounds offers and uploads', async () => {
      const h = relay(undefined, { limits: { maxOfferEntries: 3, maxUpdatesPerRequest: 2, maxPathLength: 20, maxBlobBytes: 10 } });
      const a = await h.sharer();
      const W = h.worktreeId;
      const entries = ['a', 'b', 'c', 'd'].map((path) => ({ path, fileId: path, digest: DIGEST }));
      expect((await rejection(a.request('manifest/offer', { worktreeId: W, entries }))).code).toBe('TOO_LARGE');
      expect((await rejection(a.request('manifest/offer', { worktreeId: W, entries: [{ path: 'x'.repeat(21), fileId: 'f', digest: DIGEST }] }))).code).toBe('BAD_PATH');
      expect((await rejection(a.request('file/upload', { worktreeId: W, fileId: 'f', updates: [textUpdate('1'), textUpdate('2'), textUpdate('3')] }))).code).toBe('TOO_LARGE');
      expect((await rejection(a.request('file/upload', { worktreeId: W, fileId: 'f', updates: [Uint8Array.of(9, 9, 9)] }))).code).toBe('PROTOCOL');
      const big = bytes(11);
      expect((await rejection(a.request('file/upload', { worktreeId: W, fileId: 'f', blob: big }))).code).toBe('TOO_LARGE');
      expect((await rejection(a.request('blob/upload', { worktreeId: W, digest: gitBlobId(big), size: 11, offset: 0, data: big }))).code).toBe('TOO_LARGE');
      expect(await h.store.head(W)).toBe(0);
    });
  });

  describe('relay: blobs', () => {
    it('rejects a blob whose bytes do not match its digest, whole or chunked', async () => {
      const h = relay();
      const a = await h.sharer();
      const W = h.worktreeId;
      const data = bytes(100);
      const lie = gitBlobId(bytes(100, 2));
      const err = await rejection(a.request('blob/upload', { worktreeId: W, digest: lie, size: 100, offset: 0, data }));
      expect(err.code).toBe('PROTOCOL');
      expect(err.message).toMatch(/does not match its digest/);
      const big = bytes(BLOB_CHUNK_BYTES + 10);
      const bigLie = gitBlobId(bytes(BLOB_CHUNK_BYTES + 10, 3));
      await expect(a.request('blob/upload', { worktreeId: W, digest: bigLie, size: big.length, offset: 0, data: big.subarray(0, BLOB_CHUNK_BYTES) })).resolves.toEqual({
        ok: true,
        received: BLOB_CHUNK_BYTES,
      });
      const err2 = await rejection(a.request('blob/upload', { worktreeId: W, digest: bigLie, size: big.length, offset: BLOB_CHUNK_BYTES, data: big.subarray(BLOB_CHUNK_BYTES) }));
      expect(err2.code).toBe('PROTOCOL');
      expect(await h.store.getBlob(W, lie)).toBeUndefined();
      expect(await h.store.getBlob(W, bigLie)).toBeUndefined();
      expect((await rejection(collect(a.requestStream('blob/fetch', { worktreeId: W, digest: lie })))).code).toBe('NOT_FOUND');
      expect(await h.store.head(W)).toBe(0);
    });

    it('stores a chunked blob once verified and serves it in chunks; a known blob needs no upload', async () => {
      const h = relay();
      const a = await h.sharer();
      const b = await h.joiner('bob', 'ro');
      const W = h.worktreeId;
      const data = bytes(2 * BLOB_CHUNK_BYTES + 123);
      const digest = gitBlobId(data);
      const up = (offset: number, end: number) => a.request('blob/upload', { worktreeId: W, digest, size: data.length, offset, data: data.subarray(offset, end) });
      expect((await rejection(up(BLOB_CHUNK_BYTES, 2 * BLOB_CHUNK_BYTES))).code).toBe('PROTOCOL');
      await expect(up(0, BLOB_CHUNK_BYTES)).resolves.toEqual({ ok: true, received: BLOB_CHUNK_BYTES });
      expect((await rejection(up(0, BLOB_CHUNK_BYTES))).code).toBe('PROTOCOL');
      // The same upload starts over after that refusal.
      await up(0, BLOB_CHUNK_BYTES);
      await up(BLOB_CHUNK_BYTES, 2 * BLOB_CHUNK_BYTES);
      await expect(up(2 * BLOB_CHUNK_BYTES, data.length)).resolves.toEqual({ ok: true, received: data.length, seq: 1 });
      const chunks = await collect(b.requestStream('blob/fetch', { worktreeId: W, digest }));
      expect(chunks.map((c) => c.offset)).toEqual([0, BLOB_CHUNK_BYTES, 2 * BLOB_CHUNK_BYTES]);
      expect(Buffer.concat(chunks.map((c) => c.data)).equals(data)).toBe(true);
      // Many at once: one too big to read ahead whole is streamed in place; one not stored is skipped.
      const many = await collect(b.requestStream('blobs/fetch', { worktreeId: W, digests: [gitBlobId(bytes(7)), digest] }));
      expect(many.map((c) => [c.digest, c.offset, c.size])).toEqual([0, BLOB_CHUNK_BYTES, 2 * BLOB_CHUNK_BYTES].map((o) => [digest, o, data.length]));
      expect(Buffer.concat(many.map((c) => c.data)).equals(data)).toBe(true);
      // Already stored: acknowledged at once, no new seq.
      await expect(up(0, BLOB_CHUNK_BYTES)).resolves.toEqual({ ok: true, received: data.length, seq: 1 });
      const small = new TextEncoder().encode('\0binary\0');
      await expect(a.request('file/upload', { worktreeId: W, fileId: 'img', blob: small })).resolves.toEqual({ ok: true, seq: 2 });
      const got = await collect(b.requestStream('blob/fetch', { worktreeId: W, digest: gitBlobId(small) }));
      expect(got).toEqual([{ digest: gitBlobId(small), offset: 0, size: small.length, data: small }]);
      const empty = new Uint8Array();
      await expect(a.request('blob/upload', { worktreeId: W, digest: gitBlobId(empty), size: 0, offset: 0, data: empty })).resolves.toEqual({ ok: true, received: 0, seq: 3 });
      // An empty blob is one empty chunk, so the fetcher still learns its size.
      expect(await collect(b.requestStream('blob/fetch', { worktreeId: W, digest: gitBlobId(empty) }))).toEqual([{ digest: gitBlobId(empty), offset: 0, size: 0, data: empty }]);
      const offer = await a.request('manifest/offer', {
        worktreeId: W,
        entries: [
          { path: 'big.bin', fileId: 'f1', digest },
          { path: 'new.bin', fileId: 'f2', digest: gitBlobId(bytes(5)) },
        ],
      });
      expect(offer).toEqual({ need: ['f2'] });
    });

    it('serves blobs/fetch in the order asked across read groups, each blob once', async () => {
      const h = relay();
      const a = await h.sharer();
      const b = await h.joiner('bob', 'ro');
      const W = h.worktreeId;
      // More than one read group (64), sizes on both sides of the read-whole limit (64 KiB).
      const blobs = Array.from({ length: 150 }, (_, i) => bytes(i % 50 === 7 ? 100_000 + i : i * 13, i + 2));
      for (const [i, data] of blobs.entries()) await a.request('file/upload', { worktreeId: W, fileId: `f${i}`, blob: data });
      const digests = blobs.map((d) => gitBlobId(d)).reverse();
      const asked = [...digests.slice(0, 70), gitBlobId(bytes(3, 999)), digests[0]!, ...digests.slice(70)];
      const chunks = await collect(b.requestStream('blobs/fetch', { worktreeId: W, digests: asked }));
      expect(chunks.map((c) => c.digest)).toEqual(digests);
      const byDigest = new Map(blobs.map((d) => [gitBlobId(d), d]));
      for (const c of chunks) {
        expect(c.offset).toBe(0);
        expect(Buffer.from(c.data).equals(Buffer.from(byDigest.get(c.digest)!))).toBe(true);
      }
    });
  });

  describe('relay: uploads, fan-out and catch-up', () => {
    it('fans each change out to every other subscriber, with its seq and origin, never back to the origin', async () => {
      const h = relay();
      const a = await h.sharer('alice');
      const b = await h.joiner('bob');
      const c = await h.joiner('carol', 'ro');
      const W = h.worktreeId;
      const ra = recorder(a, `/worktrees/${W}`);
      const rb = recorder(b, `/worktrees/${W}`);
      const rc = recorder(c, `/worktrees/${W}`);
      await Promise.all([ra.ready, rb.ready, rc.ready]);
      // One subscription per worktree: no per-file one (protocol 3).
      expect(await rejection(recorder(c, `/worktrees/${W}/files/f1`).ready)).toMatchObject({ code: 'NOT_FOUND' });
      const m = manifestUpdate({ f1: 'a.txt' });
      await expect(a.request('manifest/upload', { worktreeId: W, updates: [m] })).resolves.toEqual({ ok: true, seq: 1 });
      const u1 = textUpdate('hello');
      await expect(a.request('file/upload', { worktreeId: W, fileId: 'f1', updates: [u1] })).resolves.toEqual({ ok: true, seq: 2 });
      const u2 = textUpdate('other', 2);
      await expect(b.request('file/upload', { worktreeId: W, fileId: 'f2', updates: [u2] })).resolves.toEqual({ ok: true, seq: 3 });
      const expected: WorktreeEvent[] = [
        { type: 'manifest', update: m, seq: 1, by: 'alice' },
        { type: 'file-update', fileId: 'f1', update: u1, seq: 2, by: 'alice' },
      ];
      await waitFor(() => rc.events.filter((e) => e.type === 'file-update').length === 2, 5000, 'carol to see both file updates');
      await waitFor(() => ra.events.some((e) => e.type === 'file-update'), 5000, "alice to see bob's update");
      const changes = (events: WorktreeEvent[]) => events.filter((e) => e.type === 'manifest' || e.type === 'file-update');
      expect(changes(rb.events)).toEqual(expected);
      expect(changes(rc.events)).toEqual([...expected, { type: 'file-update', fileId: 'f2', update: u2, seq: 3, by: 'bob' }]);
      expect(changes(ra.events)).toEqual([{ type: 'file-update', fileId: 'f2', update: u2, seq: 3, by: 'bob' }]);
      // Peers: a subscriber learns who is here, then who comes and goes.
      expect(rc.events.filter((e) => e.type === 'peer-joined').map((e) => (e as { replicaId: string }).replicaId).sort()).toEqual(['alice', 'bob']);
      const d = await h.joiner('dave', 'ro');
      await waitFor(() => ra.events.some((e) => e.type === 'peer-joined' && e.replicaId === 'dave'), 5000, 'dave joined');
      d.close();
      await waitFor(() => ra.events.some((e) => e.type === 'peer-left' && e.replicaId === 'dave'), 5000, 'dave left');
      for (const r of [ra, rb, rc]) r.stop();
    });

    it('catches up by seq: only the entries after the one asked for, then the head', async () => {
      const h = relay();
      const a = await h.sharer();
      const W = h.worktreeId;
      const m = manifestUpdate({ f1: 'a.txt', f2: 'b.txt' });
      await a.request('manifest/upload', { worktreeId: W, updates: [m] });
      const doc = new Y.Doc();
      doc.clientID = 5;
      const updates: Uint8Array[] = [];
      doc.on('update', (u: Uint8Array) => updates.push(u));
      for (let i = 0; i < 5; i++) doc.getText('t').insert(0, `edit ${i} `);
      await a.request('file/upload', { worktreeId: W, fileId: 'f1', updates: updates.slice(0, 3) });
      const blob = bytes(10);
      await a.request('file/upload', { worktreeId: W, fileId: 'f2', blob });
      await a.request('file/upload', { worktreeId: W, fileId: 'f1', updates: updates.slice(3) });
      const b = await h.joiner('bob', 'ro');
      const all = await collect(loggedItems(b, { worktreeId: W, after: 0 }));
      expect(all.map((i) => [i.type, i.seq])).toEqual([
        ['manifest', 1],
        ['file-update', 2],
        ['file-update', 3],
        ['file-update', 4],
        ['blob', 5],
        ['file-update', 6],
        ['file-update', 7],
        ['head', 7],
      ]);
      expect(all[4]).toEqual({ type: 'blob', seq: 5, digest: gitBlobId(blob), size: 10, by: 'alice' });
      const later = await collect(loggedItems(b, { worktreeId: W, after: 4 }));
      expect(later.map((i) => i.seq)).toEqual([5, 6, 7, 7]);
      expect(await collect(loggedItems(b, { worktreeId: W, after: 7 }))).toEqual([{ type: 'head', seq: 7 }]);
      // Replaying the logged updates rebuilds the text.
      const replica = new Y.Doc();
      for (const i of all) if (i.type === 'file-update' && i.fileId === 'f1') Y.applyUpdate(replica, i.update);
      expect(replica.getText('t').toString()).toBe(doc.getText('t').toString());
    });

    it('asks for doc updates only when the offered vector is ahead of what the relay stored', async () => {
      const h = relay();
      const a = await h.sharer();
      const W = h.worktreeId;
      const doc = new Y.Doc();
      doc.clientID = 9;
      doc.getText('t').insert(0, 'one');
      const offer = () => a.request('manifest/offer', { worktreeId: W, entries: [{ path: 'a.txt', fileId: 'f1', digest: DIGEST, vector: Y.encodeStateVector(doc) }] });
      expect(await offer()).toEqual({ need: ['f1'] });
      await a.request('file/upload', { worktreeId: W, fileId: 'f1', updates: [Y.encodeStateAsUpdate(doc)] });
      expect(await offer()).toEqual({ need: [] });
      // Live edits are incremental updates: each one advances what the relay has.
      const live: Uint8Array[] = [];
      doc.on('update', (u: Uint8Array) => live.push(u));
      doc.getText('t').insert(3, ' two');
      doc.getText('t').insert(7, ' three');
      expect(await offer()).toEqual({ need: ['f1'] });
      // A gap (the second edit without the first) does not count as having either.
      await a.request('file/upload', { worktreeId: W, fileId: 'f1', updates: [live[1]!] });
      expect(await offer()).toEqual({ need: ['f1'] });
      await a.request('file/upload', { worktreeId: W, fileId: 'f1', updates: [live[0]!] });
      expect(await offer()).toEqual({ need: ['f1'] });
      await a.request('file/upload', { worktreeId: W, fileId: 'f1', updates: live });
      expect(await offer()).toEqual({ need: [] });
    });
  });

  describe('relay: upload priority', () => {
    it('asks the sharer to upload what a joiner fetches next, and the fetch waits for it', async () => {
      const h = relay();
      const a = await h.sharer();
      const W = h.worktreeId;
      const data = bytes(3000, 9);
      const digest = gitBlobId(data);
      const doc = new Y.Doc();
      doc.getText('t').insert(0, 'lazy text');
      const sv = Y.encodeStateVector(doc);
      const sub = a.subscribe(`/worktrees/${W}`);
      await sub.ready;
      const needs: string[] = [];
      // The sharer plays its part: on `need`, upload that thing next.
      const serving = (async () => {
        for await (const e of sub) {
          if (e.type !== 'need') continue;
          if (e.digest === digest) await a.request('blob/upload', { worktreeId: W, digest, size: data.length, offset: 0, data });
          // A text file's updates come with the log, so nobody is asked for them.
          if (e.fileId !== undefined) needs.push(e.fileId);
        }
      })();
      const offer = await a.request('manifest/offer', {
        worktreeId: W,
        entries: [
          { path: 'pic.png', fileId: 'f1', digest },
          { path: 'notes.md', fileId: 'f2', digest: DIGEST, vector: sv },
        ],
      });
      expect(offer.need).toEqual(['f1', 'f2']);
      const b = await h.joiner('bob', 'ro');
      const chunks = await collect(b.requestStream('blob/fetch', { worktreeId: W, digest }));
      expect(Buffer.concat(chunks.map((c) => c.data)).equals(data)).toBe(true);
      // Nothing is pending any more: the same fetches are served straight from the store.
      await expect(collect(b.requestStream('blob/fetch', { worktreeId: W, digest }))).resolves.toHaveLength(1);
      sub.unsubscribe();
      await serving;
      expect(needs).toEqual([]);
    });

    it('fails fast when nobody offered it, on timeout, and when the sharer leaves', async () => {
      const h = relay(undefined, { service: { needTimeoutMs: 100 } });
      const a = await h.sharer();
      const W = h.worktreeId;
      const b = await h.joiner('bob', 'ro');
      const digest = gitBlobId(bytes(10, 4));
      expect((await rejection(collect(b.requestStream('blob/fetch', { worktreeId: W, digest })))).code).toBe('NOT_FOUND');
      const sub = recorder(a, `/worktrees/${W}`);
      await sub.ready;
      await a.request('manifest/offer', { worktreeId: W, entries: [{ path: 'x.bin', fileId: 'f1', digest }] });
      const timeout = await rejection(collect(b.requestStream('blob/fetch', { worktreeId: W, digest })));
      expect(timeout.code).toBe('TIMEOUT');
      expect(sub.events).toContainEqual({ type: 'need', digest });
      const slow = relay(undefined, { service: { needTimeoutMs: 10_000 } });
      const s = await slow.sharer();
      const sSub = recorder(s, `/worktrees/${slow.worktreeId}`);
      await sSub.ready;
      await s.request('manifest/offer', { worktreeId: slow.worktreeId, entries: [{ path: 'x.bin', fileId: 'f1', digest }] });
      const j = await slow.joiner('bob', 'ro');
      const pending = rejection(collect(j.requestStream('blob/fetch', { worktreeId: slow.worktreeId, digest })));
      await waitFor(() => sSub.events.some((e) => e.type === 'need'), 5000, 'the need event');
      s.close();
      const left = await pending;
      expect(left.code).toBe('NOT_FOUND');
      expect(left.message).toMatch(/disconnected/);
    });
  });
});

// The LevelDB backend's own layout: what a failed upload leaves, and a damaged store.
describe('relay: blobs in the RelayStore layout', () => {
  beforeAll(() => {
    storage = 'store';
  });

  it('deletes the staged chunk of an upload whose bytes do not match its digest', async () => {
    const h = relay();
    const a = await h.sharer();
    const W = h.worktreeId;
    const big = bytes(BLOB_CHUNK_BYTES + 10);
    const bigLie = gitBlobId(bytes(BLOB_CHUNK_BYTES + 10, 3));
    await expect(a.request('blob/upload', { worktreeId: W, digest: bigLie, size: big.length, offset: 0, data: big.subarray(0, BLOB_CHUNK_BYTES) })).resolves.toEqual({
      ok: true,
      received: BLOB_CHUNK_BYTES,
    });
    expect((await rejection(a.request('blob/upload', { worktreeId: W, digest: bigLie, size: big.length, offset: BLOB_CHUNK_BYTES, data: big.subarray(BLOB_CHUNK_BYTES) }))).code).toBe('PROTOCOL');
    // The staged chunk of the failed upload was deleted.
    const left: string[] = [];
    for await (const [key] of h.kv.iterate({ gte: `wt/${W}/bc/`, lt: `wt/${W}/bc~` })) left.push(key);
    expect(left).toEqual([]);
    expect(await h.store.head(W)).toBe(0);
  });

  it('a small blob missing its bytes is STORE_CORRUPT', async () => {
    const h = relay();
    const a = await h.sharer();
    const b = await h.joiner('bob', 'ro');
    const W = h.worktreeId;
    const blobs = [bytes(13, 2), bytes(26, 3)];
    for (const [i, data] of blobs.entries()) await a.request('file/upload', { worktreeId: W, fileId: `f${i}`, blob: data });
    // A record whose only chunk is gone: the store is damaged, and the fetch says so.
    const victim = gitBlobId(blobs[1]!);
    const [record] = await h.relayStore.readBlobs(W, [victim], 0);
    const keys: string[] = [];
    for await (const [key] of h.kv.iterate({ gte: `wt/${W}/bc/${record!.upload}/`, lt: `wt/${W}/bc/${record!.upload}/~` })) keys.push(key);
    expect(keys).toHaveLength(1);
    await h.kv.del(keys[0]!);
    const err = await rejection(collect(b.requestStream('blobs/fetch', { worktreeId: W, digests: [victim] })));
    expect(err.code).toBe('STORE_CORRUPT');
  });
});
