import watcher from '@parcel/watcher';
import { CshareError } from '../../core/errors.js';
import { logger } from '../../core/log.js';

const log = logger('watch');

/** Options for {@link watchWorktree}. */
export interface WatchOptions {
  root: string;
  /**
   * Quiet time before a burst of events is reported (a `git checkout` is one burst). Short by
   * default: @parcel/watcher already holds events back 50 ms once they come faster than every
   * 500 ms, and both delays add up in the save-to-peer latency.
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
  close(): Promise<void>;
}

/**
 * Watches a worktree with `@parcel/watcher` (one inotify watch per directory, not per file)
 * and reports bursts of changes, debounced. `.git/` and `.cshare/` are not watched. Events
 * that arrive while a burst is being handled are collected for the next one, so a slow scan
 * never runs twice at once and no event is lost.
 */
export async function watchWorktree(opts: WatchOptions): Promise<WorktreeWatch> {
  const debounceMs = opts.debounceMs ?? 15;
  let pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | null = null;
  let closed = false;
  let held = opts.held ?? false;

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
        for (const e of events) pending.add(e.path);
        if (timer) clearTimeout(timer);
        timer = setTimeout(fire, debounceMs);
      },
      { ignore: ['.git', '.cshare'] },
    );
  } catch (err) {
    throw new CshareError('IO', `cannot watch ${opts.root}: ${(err as Error).message}`, { root: opts.root }, { cause: err });
  }
  log('watching %s', opts.root);

  const close = async () => {
    if (closed) return;
    closed = true;
    if (timer) clearTimeout(timer);
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
  opts.signal?.addEventListener('abort', () => void close(), { once: true });
  return { release, close };
}
