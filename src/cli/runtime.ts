/**
 * Settings of the `cshare` process itself, applied by `bin/cshare` once it knows the command
 * (never by tests, which import modules directly).
 *
 * V8 grows its heap by up to 4x its live size after a collection when allocation is heavy,
 * and gives memory back late: the first share of a 100,000-file tree peaked at 583 MB RSS
 * with ~200 MB of live heap. Growing by at most 50% keeps the heap close to what is live, for
 * the commands that take in a whole tree. Measured at 100,000 files (share --once /
 * join --once, peak RSS and time):
 *
 *   default                       583 MB, 132 s   /  468 MB, 44.8 s
 *   --heap-growing-percent=50     375 MB, 136 s   /  441 MB, 45.8 s
 *   --optimize-for-size           279 MB, 138 s   /  359 MB, 81 s (and in the scale run the
 *                                 join code came after 51 s instead of 28: collections all along)
 *
 * Only for the commands that take in a whole tree (a first scan, a first share): a join,
 * whose content passes through buffers, collected far more often with it (10,000 files: user
 * CPU 3.3-4.0 s -> 5.2-5.4 s, 0.7 s longer) and stays under its target without it (468 MB at
 * 100,000 files); `status` took 8% longer. Set here because `node` takes no flags through a
 * shebang portably and `NODE_OPTIONS` refuses V8 flags; V8 reads this one each time it sizes
 * the heap after a collection.
 */
import { setFlagsFromString } from 'node:v8';

/** Commands that take in a whole tree. */
const TAKE_IN = new Set(['share', 'scan']);

/** Sets V8 up for `command` (the command's name, after the options that go before it). */
export function tuneFor(command: string | undefined): void {
  if (TAKE_IN.has(command ?? '')) setFlagsFromString('--heap-growing-percent=50');
}
