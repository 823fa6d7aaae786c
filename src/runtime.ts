/**
 * Settings of the `cshare` process itself, loaded by `bin/cshare` right after the polyfills
 * (never by tests, which import modules directly).
 *
 * V8's default heap policy grows the heap generously during bursts of allocation and gives
 * the memory back late: sharing a 100,000-file tree for the first time peaked at 583 MB RSS
 * with ~200 MB of live heap. `--optimize-for-size` makes it grow in small steps and collect
 * sooner: the same share peaked at 279 MB, taking 138 s instead of 132 s; a 10,000-file join
 * took the same time either way. Only for the commands that hold a whole tree for long:
 * `status` at 100,000 files took 1.49 s with it instead of 1.16 s (more collections during its
 * one synchronous walk) and peaks at ~250 MB without it. Set here because `node` takes no
 * flags through a shebang portably and `NODE_OPTIONS` refuses this one; V8 reads it as it
 * decides how to grow the heap.
 */
import { setFlagsFromString } from 'node:v8';

/** Commands that scan, upload, download or serve whole trees. */
const LONG_RUNNING = new Set(['share', 'join', 'relay', 'scan']);

if (LONG_RUNNING.has(process.argv[2] ?? '')) setFlagsFromString('--optimize-for-size');

export {};
