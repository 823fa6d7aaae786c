import type { Replica } from './core/Replica.js';
import { findWorktreeRoot, openWorktree } from './store/openWorktree.js';
import { callControl, type ControlCommand } from './sync/control.js';

/**
 * Runs a command against the worktree at `cwd`: through the running `share`/`join` process
 * when there is one (LevelDB allows one process per store), else on the store directly.
 */
export async function viaRunning<T>(cwd: string, cmd: ControlCommand, args: Record<string, unknown>, local: (replica: Replica) => Promise<T>): Promise<T> {
  const root = findWorktreeRoot(cwd);
  const reply = await callControl(root, cmd, args);
  if (reply) return reply.result as T;
  const wt = await openWorktree({ cwd });
  try {
    return await local(wt.replica);
  } finally {
    await wt.close();
  }
}
