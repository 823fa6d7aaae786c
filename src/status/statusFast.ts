/**
 * `cshare status` and `cshare status --json` of a worktree no process holds, answered before
 * oclif and the commands load (~100 ms of a status that takes a few hundred on a big tree).
 * `bin/cshare` tries it first; anything else, and anything that goes wrong here, is left to
 * the command itself, which does the same and reports errors in the usual way.
 */
import { statusOffline } from './statusOffline.js';
import { formatStatus, type StatusColors } from '../cli/statusText.js';
import { answerEarly } from './earlyAnswer.js';

const plain: StatusColors = { bold: (x) => x, yellow: (x) => x };

/**
 * Answers `args` if it is a plain status of an offline worktree; false to run the command. A
 * running share or join answers status itself (sharing state, peers): the command asks it.
 */
export function statusFast(args: readonly string[]): Promise<boolean> {
  return answerEarly(args, { command: 'status', answer: (root) => statusOffline(root), format: formatStatus, plain });
}
