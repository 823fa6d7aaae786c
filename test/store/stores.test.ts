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
