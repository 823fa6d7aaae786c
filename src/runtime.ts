/**
 * Settings of the `cshare` process itself, loaded by `bin/cshare` right after the polyfills
 * (never by tests, which import modules directly).
 *
 * V8 grows its heap by up to 4x its live size after a collection when allocation is heavy,
 * and gives memory back late: the first share of a 100,000-file tree peaked at 583 MB RSS
 * with ~200 MB of live heap. Growing by at most 50% keeps the heap close to what is live, for
 * the commands that hold a whole tree for long. Measured at 100,000 files (share --once /
 * join --once, peak RSS and time):
 *
 *   default                       583 MB, 132 s   /  468 MB, 44.8 s
 *   --heap-growing-percent=50     375 MB, 136 s   /  441 MB, 45.8 s
 *   --optimize-for-size           279 MB, 138 s   /  359 MB, 81 s (and in the scale run the
 *                                 join code came after 51 s instead of 28: collections all along)
 *
 * Not for `status`, which is measured against `git status` and took 8% longer with it. Set
 * here because `node` takes no flags through a shebang portably and `NODE_OPTIONS` refuses
 * V8 flags; V8 reads this one each time it sizes the heap after a collection.
 */
import { setFlagsFromString } from 'node:v8';

/** Commands that scan, upload, download or serve whole trees. */
const LONG_RUNNING = new Set(['share', 'join', 'relay', 'scan']);

if (LONG_RUNNING.has(process.argv[2] ?? '')) setFlagsFromString('--heap-growing-percent=50');

export {};
