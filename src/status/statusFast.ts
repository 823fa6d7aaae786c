/**
 * `cshare status` and `cshare status --json` of a worktree no process holds, answered before
 * oclif and the commands load (~100 ms of a status that takes a few hundred on a big tree).
 * `bin/cshare` tries it first; anything else, and anything that goes wrong here, is left to
 * the command itself, which does the same and reports errors in the usual way.
 */
import { logger } from '../core/log.js';
import { statusOffline } from './statusOffline.js';
import { findWorktreeRoot } from '../store/layout.js';
import { formatStatus, type StatusColors } from '../cli/statusText.js';
import { controlEndpoint } from '../sync/control.js';

const log = logger('status');

/** Answers `args` if it is a plain status of an offline worktree; false to run the command. */
export async function statusFast(args: readonly string[]): Promise<boolean> {
  if (args[0] !== 'status' || args.length > 2 || (args.length === 2 && args[1] !== '--json')) return false;
  const json = args.length === 2;
  try {
    const root = findWorktreeRoot(process.cwd());
    // A running share or join answers status itself (sharing state, peers): the command asks it.
    if (controlEndpoint(root) !== undefined) return false;
    const s = await statusOffline(root);
    if (s === undefined) return false;
    if (json) process.stdout.write(`${JSON.stringify({ ok: true, ...s })}\n`);
    else {
      const plain: StatusColors = { bold: (x) => x, yellow: (x) => x };
      const color = process.stdout.isTTY && !process.env.NO_COLOR ? (await import('chalk')).default : plain;
      process.stdout.write(formatStatus(s, color));
    }
    log('answered before loading the commands');
    return true;
  } catch (err) {
    log('status left to the command: %s', (err as Error).message);
    return false;
  }
}
