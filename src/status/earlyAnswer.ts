/**
 * What `statusFast.ts` and `filesFast.ts` share: a plain `<command>` or `<command> --json` of
 * a worktree no process holds, answered before oclif and the commands load. Anything else (other
 * flags, a running share or join, which answers itself through the command, no answer, an error)
 * is left to the command, which does the same and reports errors in the usual way.
 */
import { logger } from '../core/log.js';
import { findWorktreeRoot } from '../store/layout.js';
import { controlEndpoint } from '../sync/control.js';

/** Options of {@link answerEarly}. */
export interface EarlyAnswer<T extends object, C> {
  command: string;
  /** The answer for the worktree at `root`, or undefined to leave it to the command. */
  answer: (root: string) => Promise<T | undefined>;
  /** The text for people, in `color` (chalk on a terminal, else `plain`). */
  format: (value: T, color: C) => string;
  /** Colours that add nothing, for output that is not a terminal. */
  plain: C;
}

/** Answers `args` if it is a plain `opts.command` (or with `--json`) of an offline worktree; false to run the command. */
export async function answerEarly<T extends object, C>(args: readonly string[], opts: EarlyAnswer<T, C>): Promise<boolean> {
  if (args[0] !== opts.command || args.length > 2 || (args.length === 2 && args[1] !== '--json')) return false;
  const log = logger(opts.command);
  const json = args.length === 2;
  try {
    const root = findWorktreeRoot(process.cwd());
    if (controlEndpoint(root) !== undefined) return false;
    const value = await opts.answer(root);
    if (value === undefined) return false;
    if (json) process.stdout.write(`${JSON.stringify({ ok: true, ...value })}\n`);
    else {
      // chalk has every colour a format takes (StatusColors, FilesColors are named from it).
      const color = process.stdout.isTTY && !process.env.NO_COLOR ? ((await import('chalk')).default as unknown as C) : opts.plain;
      process.stdout.write(opts.format(value, color));
    }
    log('answered before loading the commands');
    return true;
  } catch (err) {
    log('%s left to the command: %s', opts.command, (err as Error).message);
    return false;
  }
}
