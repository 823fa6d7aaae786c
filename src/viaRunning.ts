import type { Replica } from './core/Replica.js';
import { callControl, type ControlCommand } from './sync/control.js';
import { findWorktreeRoot } from './store/layout.js';

/**
 * Runs a command against the worktree at `cwd`: through the running `share`/`join` process
 * when there is one (LevelDB allows one process per store), else by `offline` when it can
 * answer without the store, else on the store directly (loaded only then: it is what costs).
 */
export async function viaRunning<T>(
  cwd: string,
  cmd: ControlCommand,
  args: Record<string, unknown>,
  local: (replica: Replica) => Promise<T>,
  offline?: (root: string) => T | undefined | Promise<T | undefined>,
): Promise<T> {
  const root = findWorktreeRoot(cwd);
  const reply = await callControl(root, cmd, args);
  if (reply) return reply.result as T;
  const answer = await offline?.(root);
  if (answer !== undefined) return answer;
  const { openWorktree } = await import('./store/openWorktree.js');
  const wt = await openWorktree({ cwd });
  try {
    return await local(wt.replica);
  } finally {
    await wt.close();
  }
}
