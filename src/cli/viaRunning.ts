import { existsSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { CshareError } from '../core/errors.js';
import type { Replica } from '../core/Replica.js';
import { callControl, type ControlCommand } from '../sync/control.js';
import { findWorktreeRoot, STORE_DIR } from '../store/layout.js';

/** Options of {@link viaRunning}. */
export interface ViaRunningOptions<T> {
  /** Where the command was started (`-C`, else the current folder). */
  cwd: string;
  /** The command, as the running process's control socket knows it. */
  cmd: ControlCommand;
  /** Its arguments, for the running process (as JSON). */
  args: Record<string, unknown>;
  /** Runs it on the store itself, when no process holds it (the store is loaded only then). */
  local: (replica: Replica) => Promise<T>;
  /** Answers without the store when it can (a status from the status view); undefined: open it. */
  offline?: (root: string) => T | undefined | Promise<T | undefined>;
  /**
   * Creates `.cshare/` where there is none (`scan` only). Otherwise a folder without one is
   * `NOT_A_WORKTREE`, or answered by `withoutStore` (`files` lists what would be shared): a
   * command that only reads, run in the wrong folder, must not leave a store behind there.
   */
  create?: boolean;
  withoutStore?: (root: string) => Promise<T>;
}

/**
 * Runs a command against the worktree at `cwd`: through the running `share`/`join` process
 * when there is one (LevelDB allows one process per store), else by `offline` when it can
 * answer without the store, else on the store directly.
 */
export async function viaRunning<T>(opts: ViaRunningOptions<T>): Promise<T> {
  const root = findWorktreeRoot(opts.cwd);
  const reply = await callControl(root, opts.cmd, opts.args);
  if (reply) return reply.result as T;
  if (!opts.create && !existsSync(join(root, STORE_DIR))) {
    if (opts.withoutStore) return opts.withoutStore(root);
    throw notAWorktree(root);
  }
  const answer = await opts.offline?.(root);
  if (answer !== undefined) return answer;
  const { openWorktree } = await import('../store/openWorktree.js');
  const wt = await openWorktree({ cwd: opts.cwd });
  try {
    return await opts.local(wt.replica);
  } finally {
    await wt.close();
  }
}

/** The error of a reading command in a folder that has no `.cshare/` (nor any above it). */
export function notAWorktree(root: string): CshareError {
  return new CshareError('NOT_A_WORKTREE', `not a cshare worktree: ${root} has no ${STORE_DIR}/ (nor any folder above it); run \`cshare scan\` or \`cshare share\` here`, { root });
}

/**
 * A path argument as the worktree names it: taken from the folder the command runs in, as git
 * takes it (`cshare log app.ts` in `src/` is `src/app.ts`), with `/` separators. A path that
 * leads out of the worktree is `BAD_PATH`; the worktree itself is undefined (all of it).
 */
export function worktreePath(cwd: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  const root = findWorktreeRoot(cwd);
  const abs = resolve(cwd, path);
  const rel = relative(root, abs);
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new CshareError('BAD_PATH', `${path} is outside the worktree ${root}; name a file inside it`, { path, root });
  }
  return rel === '' ? undefined : rel.split(sep).join('/');
}
