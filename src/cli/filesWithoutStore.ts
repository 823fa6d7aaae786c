import { homedir } from 'node:os';
import { listFiles, type FilesList } from '../core/filesList.js';
import { Replica } from '../core/Replica.js';
import { NodeFs } from '../store/fs/NodeFs.js';
import { MemoryStore } from '../store/memory/MemoryStore.js';

/**
 * `cshare files` in a folder that has no `.cshare/`: what sharing it would share, found by a
 * replica whose store is in memory, so that looking first (as the quick start says) leaves
 * nothing on disk.
 */
export async function listFilesWithoutStore(root: string, opts: { excluded?: boolean; signal?: AbortSignal } = {}): Promise<FilesList> {
  const env = process.env;
  const replica = await Replica.open({ fs: new NodeFs(root), kv: new MemoryStore(), env, home: env.HOME ?? homedir() });
  try {
    return await listFiles(replica, opts);
  } finally {
    replica.close();
  }
}
