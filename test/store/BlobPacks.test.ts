import { appendFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitBlobId } from '../../src/core/digest.js';
import { ChangeBatch } from '../../src/core/ChangeBatch.js';
import { ReplicaStore } from '../../src/core/ReplicaStore.js';
import { BlobPacks, decodePackRef, encodePackRef } from '../../src/store/fs/BlobPacks.js';
import { LevelStore } from '../../src/store/level/LevelStore.js';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { tempDir } from '../helpers/tmp.js';

const enc = new TextEncoder();

function blob(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) % 251);
}

describe('BlobPacks', () => {
  it('reads back what it appended, across a reopen, and appends after what is there', async () => {
    const dir = tempDir();
    const first = BlobPacks.open(dir);
    const blobs = [blob(10, 1), new Uint8Array(), blob(5000, 2), enc.encode('hello')];
    const refs = await first.append(blobs);
    for (const [i, ref] of refs.entries()) expect(Buffer.from(await first.read(ref)).equals(Buffer.from(blobs[i]!))).toBe(true);
    first.close();

    const second = BlobPacks.open(dir);
    for (const [i, ref] of refs.entries()) expect(Buffer.from(await second.read(ref)).equals(Buffer.from(blobs[i]!))).toBe(true);
    const [more] = await second.append([blob(100, 3)]);
    expect(decodePackRef(more!).offset).toBe(5015);
    expect(Buffer.from(await second.read(refs[2]!)).equals(Buffer.from(blobs[2]!))).toBe(true);
    expect(second.size()).toBe(5115);
    second.close();
  });

  it('starts a new pack once one is full, and reads from every pack', async () => {
    const dir = tempDir();
    const packs = BlobPacks.open(dir, 1000);
    const blobs = Array.from({ length: 7 }, (_, i) => blob(400, i));
    const refs = [...(await packs.append(blobs.slice(0, 3))), ...(await packs.append(blobs.slice(3)))];
    expect(readdirSync(dir).sort()).toEqual(['pack-000001', 'pack-000002', 'pack-000003', 'pack-000004']);
    expect(statSync(join(dir, 'pack-000001')).size).toBe(800);
    for (const [i, ref] of refs.entries()) expect(Buffer.from(await packs.read(ref)).equals(Buffer.from(blobs[i]!))).toBe(true);
    packs.close();
    // Reopened: appends go to the newest pack, not the first.
    const again = BlobPacks.open(dir, 1000);
    expect(decodePackRef((await again.append([blob(10, 9)]))[0]!).pack).toBe(4);
    again.close();
  });

  it('ignores bytes a killed append left after the last reference', async () => {
    const dir = tempDir();
    const packs = BlobPacks.open(dir);
    const [ref] = await packs.append([blob(50, 1)]);
    packs.close();
    appendFileSync(join(dir, 'pack-000001'), blob(30, 7));
    const reopened = BlobPacks.open(dir);
    const [next] = await reopened.append([blob(20, 2)]);
    expect(decodePackRef(next!).offset).toBe(80);
    expect(Buffer.from(await reopened.read(ref!)).equals(Buffer.from(blob(50, 1)))).toBe(true);
    expect(Buffer.from(await reopened.read(next!)).equals(Buffer.from(blob(20, 2)))).toBe(true);
    reopened.close();
  });

  it('reports a missing or truncated pack and a damaged reference as STORE_CORRUPT', async () => {
    const dir = tempDir();
    const packs = BlobPacks.open(dir);
    const [ref] = await packs.append([blob(50, 1)]);
    packs.close();
    truncateSync(join(dir, 'pack-000001'), 20);
    const reopened = BlobPacks.open(dir);
    await expect(reopened.read(ref!)).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
    await expect(reopened.read(encodePackRef(7, 0, 10))).rejects.toMatchObject({ code: 'STORE_CORRUPT', message: /pack-000007 is missing/ });
    await expect(reopened.read(new Uint8Array(5))).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
    reopened.close();
  });
});

describe('ReplicaStore with blob packs', () => {
  async function open() {
    const dir = tempDir();
    const kv = await LevelStore.open(join(dir, 'store'));
    const packs = BlobPacks.open(join(dir, 'packs'));
    return { dir, kv, packs, store: new ReplicaStore(kv, packs), close: async () => (packs.close(), await kv.close()) };
  }

  it('keeps blob bytes in the packs and a reference in the store, each blob once', async () => {
    const { dir, kv, store, close } = await open();
    const a = enc.encode('alpha\n');
    const b = blob(3000, 4);
    const batch = new ChangeBatch();
    batch.putBlob(gitBlobId(a), a);
    batch.putBlob(gitBlobId(b), b);
    batch.putBlob(gitBlobId(a), a);
    await store.commit(batch);
    expect(await kv.get(`b:${gitBlobId(a)}`)).toBeUndefined();
    expect(await kv.get(`bp:${gitBlobId(a)}`)).toHaveLength(16);
    const again = new ChangeBatch();
    again.putBlob(gitBlobId(b), b);
    await store.commit(again);
    expect(statSync(join(dir, 'packs', 'pack-000001')).size).toBe(a.length + b.length);
    const got = await store.blobs([gitBlobId(b), 'f'.repeat(40), gitBlobId(a)]);
    expect(got.map((x) => x && Buffer.from(x).toString('hex'))).toEqual([Buffer.from(b).toString('hex'), undefined, Buffer.from(a).toString('hex')]);
    expect(await store.hasBlobs([gitBlobId(a), 'f'.repeat(40)])).toEqual([true, false]);
    await close();
  });

  it('still reads blobs a store kept in itself before packs', async () => {
    const { kv, store, close } = await open();
    const old = enc.encode('from before packs\n');
    await kv.put(`b:${gitBlobId(old)}`, old);
    expect(await store.hasBlobs([gitBlobId(old)])).toEqual([true]);
    expect(new TextDecoder().decode((await store.blob(gitBlobId(old)))!)).toBe('from before packs\n');
    await close();
  });

  it('refuses bytes that no longer match their digest (packs have no checksums of their own)', async () => {
    const { dir, store, close } = await open();
    const a = enc.encode('precious\n');
    const batch = new ChangeBatch();
    batch.putBlob(gitBlobId(a), a);
    await store.commit(batch);
    writeFileSync(join(dir, 'packs', 'pack-000001'), enc.encode('Precious\n'));
    await expect(store.blob(gitBlobId(a))).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
    rmSync(join(dir, 'packs', 'pack-000001'));
    await close();
  });

  it('without packs keeps blobs in the store itself', async () => {
    const kv = new MemoryStore();
    const store = new ReplicaStore(kv);
    const a = enc.encode('in memory\n');
    const batch = new ChangeBatch();
    batch.putBlob(gitBlobId(a), a);
    await store.commit(batch);
    expect(await kv.get(`b:${gitBlobId(a)}`)).toEqual(a);
    expect(await store.hasBlobs([gitBlobId(a)])).toEqual([true]);
  });
});
