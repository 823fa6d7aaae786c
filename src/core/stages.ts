import { logger } from './log.js';

/**
 * Timestamps of the live edit path's stages (a keystroke from one editor's daemon through the
 * relay to another editor), for `npm run bench -- editor`, which turns them into per-stage
 * latencies. Off unless `DEBUG=cshare:stage`; then each stage is one debug line
 * `<name> <ms>`, on the machine's monotonic clock (CLOCK_MONOTONIC, as Neovim's `uv.hrtime`):
 * the processes compare their times, and each one's wall clock estimate is off by a little.
 */
const log = logger('stage');

/** Marks that the live path reached stage `name` now (see the file comment). */
export function stage(name: string): void {
  if (log.enabled) log('%s %s', name, (Number(process.hrtime.bigint()) / 1e6).toFixed(3));
}
