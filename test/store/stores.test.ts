import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { LevelStore } from '../../src/store/level/LevelStore.js';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { runStoreContract } from './storeContract.js';

runStoreContract('MemoryStore', async () => ({ store: new MemoryStore() }));

runStoreContract('LevelStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cshare-level-'));
  return { store: await LevelStore.open(dir), reopen: () => LevelStore.open(dir) };
});

it('LevelStore refuses a second opener with STORE_LOCKED', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cshare-level-'));
  const a = await LevelStore.open(dir);
  await expect(LevelStore.open(dir)).rejects.toMatchObject({ code: 'STORE_LOCKED' });
  await a.close();
});

it('LevelStore writes nothing of a batch with a bad op, says IO, and takes the next batch', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cshare-level-'));
  const store = await LevelStore.open(dir);
  const v = new Uint8Array([1]);
  await store.batch([{ type: 'put', key: 'a', value: v }]);
  // The bad op comes after good ones: none of them may be written.
  const bad = [{ type: 'put', key: 'b', value: v }, { type: 'del', key: 'a' }, { type: 'put', key: null, value: v }] as unknown as Parameters<LevelStore['batch']>[0];
  await expect(store.batch(bad)).rejects.toMatchObject({ code: 'IO' });
  expect(await store.get('b')).toBeUndefined();
  expect([...(await store.get('a'))!]).toEqual([1]);
  await store.batch([{ type: 'put', key: 'c', value: v }, { type: 'del', key: 'a' }]);
  expect((await store.getMany(['a', 'c'])).map((x) => x && [...x])).toEqual([undefined, [1]]);
  await store.close();
});
