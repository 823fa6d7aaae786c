import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as Y from 'yjs';
import { afterEach, describe, expect, it } from 'vitest';
import { gitBlobId } from '../../../src/core/digest.js';
import { BlobPacks } from '../../../src/store/fs/BlobPacks.js';
import { LevelStore } from '../../../src/store/level/LevelStore.js';
import { BLOB_CHUNK_BYTES } from '../../../src/sync/schema.js';
import { tempDir } from '../../helpers/tmp.js';
import { RelayHarness, collect, loggedItems, manifestUpdate, textUpdate } from './harness.js';

const dirs: string[] = [];
const packsOpened: BlobPacks[] = [];
function openPacks(dir: string): BlobPacks {
  const p = BlobPacks.open(dir);
  packsOpened.push(p);
  return p;
}
const harnesses: RelayHarness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) {
    h.close();
    await h.store.close();
  }
  for (const p of packsOpened.splice(0)) p.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe.each([
  ['in the store', false],
  ['in blob packs', true],
])('relay: persistence on LevelDB, blobs %s', (_where, packed) => {
  const packsIn = (dir: string) => (packed ? { packs: openPacks(join(dir, 'packs')) } : {});
  it('keeps registrations, logs, blobs and the seq across a restart', async () => {
    const dir = tempDir('cshare-relay-');
    dirs.push(dir);
    const first = new RelayHarness(await LevelStore.open(join(dir, 'store')), packsIn(dir));
    harnesses.push(first);
    const a = await first.sharer();
    const W = first.worktreeId;
    const m = manifestUpdate({ f1: 'a.txt', f2: 'pic.bin' });
    await a.request('manifest/upload', { worktreeId: W, updates: [m] });
    const u = textUpdate('persisted text');
    await a.request('file/upload', { worktreeId: W, fileId: 'f1', updates: [u] });
    const blob = new Uint8Array(BLOB_CHUNK_BYTES + 77).map((_, i) => i % 251);
    const digest = gitBlobId(blob);
    await a.request('blob/upload', { worktreeId: W, digest, size: blob.length, offset: 0, data: blob.subarray(0, BLOB_CHUNK_BYTES) });
    await a.request('blob/upload', { worktreeId: W, digest, size: blob.length, offset: BLOB_CHUNK_BYTES, data: blob.subarray(BLOB_CHUNK_BYTES) });
    // Every acknowledged upload was one synced batch; closing the store is all a restart does.
    first.close();
    await first.store.close();
    harnesses.length = 0;

    const second = new RelayHarness(await LevelStore.open(join(dir, 'store')), { secrets: first.secrets, ...packsIn(dir) });
    harnesses.push(second);
    const b = await second.joiner('bob', 'ro');
    const items = await collect(loggedItems(b, { worktreeId: W, after: 0 }));
    expect(items).toEqual([
      { type: 'manifest', seq: 1, update: m, by: 'alice' },
      { type: 'file-update', seq: 2, fileId: 'f1', update: u, by: 'alice' },
      { type: 'blob', seq: 3, digest, size: blob.length, by: 'alice' },
      { type: 'head', seq: 3 },
    ]);
    const chunks = await collect(b.requestStream('blob/fetch', { worktreeId: W, digest }));
    expect(Buffer.concat(chunks.map((c) => c.data)).equals(blob)).toBe(true);
    const doc = new Y.Doc();
    for (const i of items) if (i.type === 'file-update') Y.applyUpdate(doc, i.update);
    expect(doc.getText('t').toString()).toBe('persisted text');
    // The sharer resumes with its secret, and seqs go on from where they were.
    const a2 = await second.sharer();
    await expect(a2.request('file/upload', { worktreeId: W, fileId: 'f1', updates: [textUpdate('more', 2)] })).resolves.toEqual({ ok: true, seq: 4 });
    // Where the chunk bytes are: beside the store, or in it.
    const keys: string[] = [];
    for await (const k of second.kv.keys({ gt: `wt/${W}/b`, lt: `wt/${W}/c` })) keys.push(k.split('/')[2]!);
    expect(new Set(keys)).toEqual(new Set(packed ? ['b', 'bq'] : ['b', 'bc']));
  });
});

describe('relay: blob packs on a store written without them', () => {
  it('serves the blobs stored before, and packs the new ones', async () => {
    const dir = tempDir('cshare-relay-');
    dirs.push(dir);
    const first = new RelayHarness(await LevelStore.open(join(dir, 'store')));
    harnesses.push(first);
    const a = await first.sharer();
    const W = first.worktreeId;
    const old = new Uint8Array(3000).map((_, i) => i % 7);
    await a.request('file/upload', { worktreeId: W, fileId: 'f1', blob: old });
    first.close();
    await first.store.close();
    harnesses.length = 0;

    const second = new RelayHarness(await LevelStore.open(join(dir, 'store')), { secrets: first.secrets, packs: openPacks(join(dir, 'packs')) });
    harnesses.push(second);
    const a2 = await second.sharer();
    const fresh = new Uint8Array(5000).map((_, i) => i % 11);
    await a2.request('file/upload', { worktreeId: W, fileId: 'f2', blob: fresh });
    const b = await second.joiner('bob', 'ro');
    const got = await collect(b.requestStream('blobs/fetch', { worktreeId: W, digests: [gitBlobId(old), gitBlobId(fresh)] }));
    expect(got.map((c) => c.digest)).toEqual([gitBlobId(old), gitBlobId(fresh)]);
    expect(Buffer.from(got[0]!.data).equals(Buffer.from(old))).toBe(true);
    expect(Buffer.from(got[1]!.data).equals(Buffer.from(fresh))).toBe(true);
    expect(readdirSync(join(dir, 'packs'))).toEqual(['pack-000001']);
  });

  it('writes nothing to the packs for an upload whose bytes do not match its digest', async () => {
    const dir = tempDir('cshare-relay-');
    dirs.push(dir);
    const packs = openPacks(join(dir, 'packs'));
    const h = new RelayHarness(await LevelStore.open(join(dir, 'store')), { packs });
    harnesses.push(h);
    const a = await h.sharer();
    const data = new Uint8Array(100).fill(7);
    const lie = gitBlobId(new Uint8Array(100).fill(8));
    await expect(a.request('blob/upload', { worktreeId: h.worktreeId, digest: lie, size: 100, offset: 0, data })).rejects.toMatchObject({ code: 'PROTOCOL' });
    expect(packs.size()).toBe(0);
    await a.request('blob/upload', { worktreeId: h.worktreeId, digest: gitBlobId(data), size: 100, offset: 0, data });
    expect(packs.size()).toBe(100);
  });
});
