import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { gitAuthorName } from './core/gitConfig.js';
import type { ReplicaStatus } from './core/Replica.js';
import { statusFromView } from './core/statusView.js';
import { NodeFs } from './store/fs/NodeFs.js';
import { PACKS_DIR, readStatusView, STORE_DIR, storeDirBytes } from './store/statusViewFile.js';

/**
 * `cshare status` of a worktree no process holds, from its status view: the same answer as
 * `Replica.status`, without opening the store or loading the manifest. Undefined when there
 * is no usable view (then the store is opened, and its close writes one).
 */
export function statusOffline(root: string, env: NodeJS.ProcessEnv = process.env): ReplicaStatus | undefined {
  const storeDir = join(root, STORE_DIR, 'store');
  // A damaged store is reported by opening it, not hidden behind the view.
  if (!storeLooksIntact(storeDir)) return undefined;
  const view = readStatusView(root);
  if (!view) return undefined;
  const fs = new NodeFs(root);
  const home = env.HOME ?? homedir();
  const { files, changed } = statusFromView(view, { fs, home, env });
  return {
    root: fs.root,
    replica: { id: view.replicaId, name: gitAuthorName(fs, env, home) },
    files,
    changed,
    storeBytes: storeDirBytes(storeDir) + storeDirBytes(join(root, STORE_DIR, PACKS_DIR)),
    sharing: 'off',
  };
}

/** Does LevelDB's `CURRENT` name a manifest that exists? (What opening checks first.) */
function storeLooksIntact(storeDir: string): boolean {
  try {
    const m = /^(MANIFEST-\d+)\n$/.exec(readFileSync(join(storeDir, 'CURRENT'), 'utf8'));
    return m !== null && existsSync(join(storeDir, m[1]!));
  } catch {
    return false;
  }
}
