import { join } from 'node:path';
import { BlobPacks } from '../../../src/store/fs/BlobPacks.js';
import { LevelStore } from '../../../src/store/level/LevelStore.js';
import { MemoryStore } from '../../../src/store/memory/MemoryStore.js';
import { MemoryRelayStorage } from '../../../src/sync/relay/MemoryRelayStorage.js';
import type { RelayLimits } from '../../../src/sync/relay/RelayStorage.js';
import { RelayStore } from '../../../src/sync/relay/RelayStore.js';
import { tempDir } from '../../helpers/tmp.js';
import { runRelayStorageContract, type StorageUnderTest } from './storageContract.js';

/** The LevelDB backend in a fresh directory, with its chunks in blob packs or in the store. */
async function level(limits: Partial<RelayLimits> | undefined, packed: boolean): Promise<StorageUnderTest> {
  const dir = tempDir('cshare-relay-storage-');
  const opened: { store: RelayStore; packs?: BlobPacks }[] = [];
  const openStore = async () => {
    const packs = packed ? BlobPacks.open(join(dir, 'packs')) : undefined;
    const store = new RelayStore(await LevelStore.open(join(dir, 'store')), limits, packs);
    opened.push({ store, packs });
    return store;
  };
  const closeAll = async () => {
    for (const { store, packs } of opened.splice(0)) {
      await store.close();
      packs?.close();
    }
  };
  const storage = await openStore();
  return {
    storage,
    reopen: async () => {
      await closeAll();
      return openStore();
    },
    cleanup: closeAll,
  };
}

runRelayStorageContract('LevelDB and blob packs', (limits) => level(limits, true), { persistent: true });
runRelayStorageContract('LevelDB, chunks in the store', (limits) => level(limits, false), { persistent: true });
runRelayStorageContract('RelayStore over the memory KvStore', async (limits) => ({ storage: new RelayStore(new MemoryStore(), limits) }));
runRelayStorageContract('MemoryRelayStorage', async (limits) => ({ storage: new MemoryRelayStorage(limits) }));
