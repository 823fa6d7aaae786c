/**
 * What writes moved aside, kept a moment before it is removed: a writer that opened the old
 * file just before it was replaced (an append opens, then writes; an in-place save truncates,
 * then writes) may still write into it. Seen changed when looked at again, what it holds is a
 * save that reached no path: it is handed to the listener (the replica records and merges it).
 */
import * as nfs from 'node:fs';
import { gitBlobId } from '../../core/digest.js';
import { logger } from '../../core/log.js';
import type { AsideFile } from './guardedPlace.js';
import { readIfRegular } from './guardedPlace.js';

const log = logger('fs');

/**
 * How long a moved-aside file is kept: a writer between its open and its write is descheduled
 * for microseconds, or milliseconds on a loaded machine.
 */
export const ASIDE_GRACE_MS = 300;

/** Unlinks of moved-aside files under way at once (see {@link AsideFiles.remove}). */
const UNLINK_PARALLEL = 4;

/**
 * How long writes must pause before the files looked at are removed. Removed in the middle
 * of a burst of writes (a checkout's applies), they slowed its next creates: ext4 without a
 * journal does not reuse an inode freed in the last seconds (minutes, while its inode table
 * block is not written back) and walks past each such inode on every create, in the kernel
 * (`recently_deleted`); 3000 frees made each of the next 3000 creates ~0.5 ms slower.
 */
const REMOVE_IDLE_MS = 1500;

/** Longest wait for writes to pause: peers' saves that never pause still get theirs removed. */
const REMOVE_WAIT_MAX_MS = 10_000;

interface Held extends AsideFile {
  rel: string;
  expect: string;
  due: number;
}

export class AsideFiles {
  private readonly held: Held[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Looked at, to be removed once writes pause ({@link REMOVE_IDLE_MS}). */
  private looked: string[] = [];
  private removeTimer: NodeJS.Timeout | undefined;
  private removeSince = 0;
  private listener: ((rel: string, bytes: Uint8Array, replaced: string) => void) | undefined;
  private cleaned = false;

  /**
   * Removes, once per process, what a process that ended within its grace period left in
   * `dir` (none of it is this process's yet).
   */
  cleanLeftovers(dir: string): void {
    if (this.cleaned) return;
    this.cleaned = true;
    let names: string[];
    try {
      names = nfs.readdirSync(dir);
    } catch {
      return; // no such folder: nothing left over
    }
    for (const name of names) nfs.rmSync(`${dir}/${name}`, { force: true });
  }

  onLateSave(listener: (rel: string, bytes: Uint8Array, replaced: string) => void): void {
    this.listener = listener;
  }

  /** Keeps `aside` (what `rel` held, with git blob id `expect`) for {@link ASIDE_GRACE_MS}. */
  keep(rel: string, aside: AsideFile, expect: string): void {
    this.held.push({ ...aside, rel, expect, due: Date.now() + ASIDE_GRACE_MS });
    this.schedule();
    // Writes go on: what was looked at waits for them to pause (for a while).
    if (Date.now() - this.removeSince < REMOVE_WAIT_MAX_MS) this.removeTimer?.refresh();
  }

  private schedule(): void {
    if (this.timer || this.held.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.check();
    }, Math.max(0, this.held[0]!.due - Date.now()));
  }

  private check(): void {
    const now = Date.now();
    while (this.held.length > 0 && this.held[0]!.due <= now) {
      const h = this.held.shift()!;
      try {
        const st = nfs.lstatSync(h.path, { bigint: true, throwIfNoEntry: false });
        if (st && (st.size !== h.size || st.mtimeNs !== h.mtimeNs || st.ctimeNs !== h.ctimeNs)) {
          const bytes = readIfRegular(h.path);
          if (bytes !== undefined && gitBlobId(bytes) !== h.expect) {
            log('a save reached %s after it was replaced; handing it over', h.rel);
            this.listener?.(h.rel, bytes, h.expect);
          }
        }
      } catch (err) {
        log('could not look at what a write moved aside (%s): %s', h.path, (err as Error).message);
      } finally {
        this.looked.push(h.path);
      }
    }
    this.removeLater();
    this.schedule();
  }

  /** Removes what was looked at once writes pause for {@link REMOVE_IDLE_MS}. */
  private removeLater(): void {
    if (this.removeTimer || this.looked.length === 0) return;
    this.removeSince = Date.now();
    this.removeTimer = setTimeout(() => {
      this.removeTimer = undefined;
      const paths = this.looked;
      this.looked = [];
      this.remove(paths);
    }, REMOVE_IDLE_MS);
  }

  /**
   * Removes what was looked at, on the thread pool, several at once: a checkout's apply
   * moves 3000 files aside, and their unlinks one by one took ~0.1–0.5 ms each of the main
   * thread on a loaded machine (the next apply waited for them). A file that cannot be
   * removed now is left to {@link cleanLeftovers} of the next process.
   */
  private remove(paths: readonly string[]): void {
    let next = 0;
    const worker = (): void => {
      const path = paths[next++];
      if (path === undefined) return;
      nfs.unlink(path, (err) => {
        if (err && err.code !== 'ENOENT') log('could not remove %s (left for the next start): %s', path, err.message);
        worker();
      });
    };
    for (let i = 0; i < Math.min(UNLINK_PARALLEL, paths.length); i++) worker();
  }
}
