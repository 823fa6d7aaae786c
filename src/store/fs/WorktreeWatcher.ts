import watcher from '@parcel/watcher';
import { dirname, join, sep } from 'node:path';
import { CshareError } from '../../core/errors.js';
import { logger } from '../../core/log.js';
import { HotDirs } from './HotDirs.js';

const log = logger('watch');

/** Options for {@link watchWorktree}. */
export interface WatchOptions {
  root: string;
  /**
   * Quiet time before a burst of events is reported (a `git checkout` is one burst). Short by
   * default: @parcel/watcher already holds events back 50 ms once they come faster than every
   * 500 ms, and both delays add up in the save-to-peer latency. The first event of a burst
   * waits only 3 ms; the next ones stretch it to this.
   */
  debounceMs?: number;
  /** Called once per burst; bursts never overlap (the next waits for this one). */
  onChange: (paths: string[]) => Promise<void>;
  onError: (err: Error) => void;
  signal?: AbortSignal;
  /**
   * Collect events but report nothing until `release()` is called (a sharer watches before
   * its first scan, so that nothing saved during a long upload goes unseen, and looks at the
   * events once the upload has begun).
   */
  held?: boolean;
}

/** A running watch from {@link watchWorktree}. */
export interface WorktreeWatch {
  /** Starts reporting (see {@link WatchOptions.held}); true when events came meanwhile. */
  release(): boolean;
  /**
   * Says that these files (relative, `/`-separated) are likely to change soon (`SyncLoop`
   * names the files a peer just changed): their folders get the fast path, so that the next
   * save there is reported within milliseconds instead of after parcel's ~50 ms.
   */
  hot(paths: readonly string[]): void;
  close(): Promise<void>;
}

/**
 * A parcel burst of at most this many paths gives its folders the fast path (a save, an
 * editor's write-and-rename); a bigger one (a checkout) does not, it would only churn them.
 */
const HOT_BURST_MAX = 16;

/** The quiet time after the first event of a burst (see `noted` in {@link watchWorktree}). */
const FIRST_QUIET_MS = 3;

/**
 * Watches a worktree with `@parcel/watcher` (one inotify watch per directory, not per file)
 * and reports bursts of changes, debounced. `.git/` and `.cshare/` are not watched. Events
 * that arrive while a burst is being handled are collected for the next one, so a slow scan
 * never runs twice at once and no event is lost.
 *
 * Beside parcel, the folders of recently changed files are watched with `fs.watch` too
 * ({@link HotDirs}): parcel holds its events back ~50 ms once they come often, which was
 * most of a save's way to a peer; `fs.watch` reports within ~1 ms. Both feed the same
 * debounced burst, so a checkout is still one burst (every event restarts the quiet time),
 * and a change both report is looked at twice, which records it once.
 */
export async function watchWorktree(opts: WatchOptions): Promise<WorktreeWatch> {
  const debounceMs = opts.debounceMs ?? 15;
  let pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | null = null;
  let closed = false;
  let held = opts.held ?? false;
  const skip = [join(opts.root, '.git'), join(opts.root, '.cshare')];
  const ours = (p: string) => !skip.some((s) => p === s || p.startsWith(s + sep));

  const firstMs = Math.min(FIRST_QUIET_MS, debounceMs);
  const noted = (path: string) => {
    pending.add(path);
    // The first event waits only `firstMs`: a save's events come within microseconds of each
    // other, and it goes at once. Any event after it waits the full quiet time again, so a
    // checkout (events without pause) stays one burst.
    const first = timer === undefined;
    if (timer) clearTimeout(timer);
    timer = setTimeout(fire, first ? firstMs : debounceMs);
  };
  const hotDirs = new HotDirs({ onPath: (p) => ours(p) && noted(p) });
  hotDirs.touch(opts.root);

  const fire = () => {
    timer = undefined;
    if (held || running || closed || pending.size === 0) return;
    const paths = [...pending];
    pending = new Set();
    running = opts
      .onChange(paths)
      .catch((err: unknown) => opts.onError(err instanceof Error ? err : new Error(String(err))))
      .finally(() => {
        running = null;
        if (pending.size > 0 && !closed) timer = setTimeout(fire, debounceMs);
      });
  };

  let sub: watcher.AsyncSubscription;
  try {
    sub = await watcher.subscribe(
      opts.root,
      (err, events) => {
        if (err) {
          opts.onError(err);
          return;
        }
        for (const e of events) noted(e.path);
        if (events.length <= HOT_BURST_MAX) for (const e of events) hotDirs.touch(dirname(e.path));
      },
      { ignore: ['.git', '.cshare'] },
    );
  } catch (err) {
    hotDirs.close();
    throw new CshareError('IO', `cannot watch ${opts.root}: ${(err as Error).message}`, { root: opts.root }, { cause: err });
  }
  log('watching %s', opts.root);

  const close = async () => {
    if (closed) return;
    closed = true;
    if (timer) clearTimeout(timer);
    hotDirs.close();
    await sub.unsubscribe();
    await running;
  };
  const release = () => {
    if (!held) return false;
    held = false;
    if (pending.size === 0 || closed) return false;
    if (timer) clearTimeout(timer);
    timer = setTimeout(fire, debounceMs);
    return true;
  };
  const hot = (paths: readonly string[]) => {
    for (const p of paths) hotDirs.touch(dirname(join(opts.root, p)));
  };
  opts.signal?.addEventListener('abort', () => void close(), { once: true });
  return { release, close, hot };
}
