import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { logger } from '../../core/log.js';

const log = logger('watch');

/** Options for {@link HotDirs}. */
export interface HotDirsOptions {
  /** Called with the absolute path an event names (a file, or a folder for an unnamed event). */
  onPath: (path: string) => void;
  /** At most this many folders are watched at once; the least recently used goes first. */
  max?: number;
  /** Names never reported (the store's and git's folders, when the root is watched). */
  ignoreNames?: ReadonlySet<string>;
}

/**
 * The fast path of the worktree watcher: `fs.watch` (plain inotify, reported within ~1 ms)
 * on the few folders where files were changed lately, beside @parcel/watcher, which holds
 * its events back ~50 ms once they come more often than every 500 ms. A save in one of
 * these folders (the file being edited, the file a peer just changed) is seen at once; any
 * other change still arrives through parcel. The two report the same changes twice: that
 * is harmless, a burst is a list of paths to look at, and a path looked at again with
 * nothing new records nothing (its stat cache entry matches).
 *
 * Nothing here is needed for correctness, so a folder that cannot be watched (gone, no
 * permission, out of inotify watches) is only logged and left to parcel.
 */
export class HotDirs {
  /** The watched folders, least recently used first (a Map keeps insertion order). */
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly max: number;
  private closed = false;

  constructor(private readonly opts: HotDirsOptions) {
    this.max = opts.max ?? 64;
  }

  /** Watches `dir` (absolute), or marks it used if it is watched already. */
  touch(dir: string): void {
    if (this.closed) return;
    const w = this.watchers.get(dir);
    if (w) {
      this.watchers.delete(dir);
      this.watchers.set(dir, w);
      return;
    }
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false }, (_type, name) => {
        const file = name === null ? undefined : String(name);
        if (file !== undefined && this.opts.ignoreNames?.has(file)) return;
        this.opts.onPath(file === undefined ? dir : join(dir, file));
      });
    } catch (err) {
      // Gone already, not a folder, or no watches left: parcel still reports it.
      log('fast path: cannot watch %s: %s', dir, (err as Error).message);
      return;
    }
    watcher.on('error', (err) => {
      // A folder deleted or moved away under the watch: parcel reports what happened there.
      log('fast path: %s: %s', dir, err.message);
      this.drop(dir);
    });
    this.watchers.set(dir, watcher);
    while (this.watchers.size > this.max) {
      const oldest = this.watchers.keys().next().value as string;
      this.drop(oldest);
    }
  }

  /** The folders watched now, least recently used first (for tests and logs). */
  list(): string[] {
    return [...this.watchers.keys()];
  }

  private drop(dir: string): void {
    const w = this.watchers.get(dir);
    if (!w) return;
    this.watchers.delete(dir);
    w.close();
  }

  /** Stops every watch; later {@link touch}es do nothing. */
  close(): void {
    this.closed = true;
    for (const dir of [...this.watchers.keys()]) this.drop(dir);
  }
}
