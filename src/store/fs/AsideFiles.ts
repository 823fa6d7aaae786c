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

interface Held extends AsideFile {
  rel: string;
  expect: string;
  due: number;
}

export class AsideFiles {
  private readonly held: Held[] = [];
  private timer: NodeJS.Timeout | undefined;
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
        nfs.rmSync(h.path, { force: true });
      }
    }
    this.schedule();
  }
}
