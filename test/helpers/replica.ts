import { Replica } from '../../src/core/Replica.js';
import type { KvStore } from '../../src/core/ports.js';
import { NodeFs } from '../../src/store/fs/NodeFs.js';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';

/** A replica over a real directory and a memory store, with a fixed author and no global config. */
export async function openReplica(root: string, kv: KvStore = new MemoryStore(), name = 'tester'): Promise<{ replica: Replica; kv: KvStore }> {
  const home = `${root}/.no-home`;
  const replica = await Replica.open({ fs: new NodeFs(root), kv, env: { USER: name, HOME: home }, home });
  return { replica, kv };
}
