import { statfs } from 'node:fs';
import { CshareError } from '../../core/errors.js';
import type { RelayLog } from './RelayLog.js';

/**
 * Keeps the relay from filling its disk (issue 15, item 8): uploads and registrations are
 * refused with `OVERLOADED` while the file system of the data directory has less than
 * `minFreeBytes` free, and the operator is told (`disk-full`, at most once per 10 s). The
 * free space is read every {@link REFRESH_MS} in the background, so the check costs nothing.
 */

const REFRESH_MS = 2000;

export class DiskGuard {
  /** Free bytes at the last reading (Infinity until the first). */
  free = Infinity;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly opts: { dir: string; minFreeBytes: number; log?: RelayLog },
  ) {}

  /** Reads the free space now, then every couple of seconds until {@link stop}. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Throws `OVERLOADED` while the disk is too full to store more. */
  check(): void {
    if (this.free >= this.opts.minFreeBytes) return;
    this.opts.log?.log({ event: 'disk-full', free: this.free, min: this.opts.minFreeBytes });
    throw new CshareError('OVERLOADED', "the relay's disk is full: it stores nothing new until its operator makes room; try again later", { free: this.free });
  }

  private refresh(): Promise<void> {
    return new Promise((resolve) => {
      statfs(this.opts.dir, (err, st) => {
        if (err) this.opts.log?.log({ event: 'error', what: `reading the free space of ${this.opts.dir}`, message: err.message });
        else this.free = Number(st.bavail) * Number(st.bsize);
        resolve();
      });
    });
  }
}
