/**
 * Notices that a running process's store went away under it. `.cshare/` lives in the
 * worktree, where tools that know nothing of it act on whole trees: `git stash --all` moves it
 * into a stash, `git clean -x` deletes it, `rm -rf`, a restore from a backup or `git stash pop`
 * puts another copy in its place. LevelDB keeps writing to the files it has open, which are
 * then no longer the store at that path: every change recorded from then on is lost to the
 * next process, while it may already have been uploaded, and the replica comes back with a
 * history shorter than what its peers hold (the two sides then stay different for good).
 * A running share or join must stop instead, and say so.
 *
 * The guard holds open the directories `.cshare/` and `.cshare/store/` as they were when the
 * store was opened, and checks that their paths still name those very directories: while a
 * directory is held open its inode cannot be reused, so a new directory at the same path
 * (a stash popped, a copy) always differs. Where a directory cannot be held open (Windows),
 * the device and inode seen at the start are compared instead.
 */
import { closeSync, fstatSync, lstatSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { CshareError } from '../core/errors.js';
import { logger } from '../core/log.js';
import { STORE_DIR } from './layout.js';

const log = logger('store');

/** How a store went away. */
export type StoreLoss = 'vanished' | 'replaced';

interface Held {
  path: string;
  dev: number;
  ino: number;
  fd: number | undefined;
}

/** See the module comment. */
export class StoreGuard {
  private lost: CshareError | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly root: string,
    private readonly command: string,
    private readonly held: Held[],
    private readonly onLost: (err: CshareError) => void,
  ) {}

  /**
   * Starts guarding the store of the worktree at `root` (which must exist). `onLost` is
   * called once, from whichever check first finds the store gone; `command` names the
   * running command in the message. With `everyMs`, it also checks on its own that often (a
   * share with nothing to do still notices), until closed.
   */
  static take(opts: { root: string; command: string; onLost: (err: CshareError) => void; everyMs?: number }): StoreGuard {
    const dirs = [join(opts.root, STORE_DIR), join(opts.root, STORE_DIR, 'store')];
    const held = dirs.map((path): Held => {
      let fd: number | undefined;
      try {
        fd = openSync(path, 'r');
      } catch (err) {
        log('cannot hold %s open (%s): comparing its inode instead', path, (err as Error).message);
      }
      const st = fd !== undefined ? fstatSync(fd) : lstatSync(path);
      return { path, dev: st.dev, ino: st.ino, fd };
    });
    const guard = new StoreGuard(opts.root, opts.command, held, opts.onLost);
    if (opts.everyMs !== undefined) {
      guard.timer = setInterval(() => guard.check(), opts.everyMs);
      // The check never keeps the process alive on its own.
      guard.timer.unref();
    }
    return guard;
  }

  /**
   * Checks the store now: undefined while it is the one opened, else the error (also handed
   * to `onLost`, the first time).
   */
  check(): CshareError | undefined {
    if (this.lost || this.closed) return this.lost;
    for (const h of this.held) {
      let st;
      try {
        st = lstatSync(h.path, { throwIfNoEntry: false });
      } catch (err) {
        // ENOTDIR (the root replaced by a file), EACCES: it is not the store we hold.
        log('cannot stat %s: %s', h.path, (err as Error).message);
        st = undefined;
      }
      const loss: StoreLoss | undefined = st === undefined ? 'vanished' : st.dev !== h.dev || st.ino !== h.ino ? 'replaced' : undefined;
      if (loss) {
        clearInterval(this.timer);
        this.lost = lostError({ root: this.root, command: this.command, loss, path: h.path });
        log('%s', this.lost.message);
        this.onLost(this.lost);
        return this.lost;
      }
    }
    return undefined;
  }

  /** Throws the loss, if the store is gone: called before every write to it. */
  assertIntact(): void {
    const err = this.check();
    if (err) throw err;
  }

  /** Stops guarding (the store is being closed). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const h of this.held) {
      if (h.fd === undefined) continue;
      try {
        closeSync(h.fd);
      } catch (err) {
        log('cannot close %s: %s', h.path, (err as Error).message);
      }
    }
  }
}

/** The error a running command stops with when its store went away. */
function lostError(opts: { root: string; command: string; loss: StoreLoss; path: string }): CshareError {
  const { root, command, loss } = opts;
  const what =
    loss === 'vanished'
      ? `the store ${join(root, STORE_DIR)} was moved away or deleted while cshare ${command} was running (git stash --all, git clean -x or rm do that)`
      : `the store ${join(root, STORE_DIR)} was replaced by another copy while cshare ${command} was running (a git stash pop, a restore or a copy put in its place)`;
  const todo =
    loss === 'vanished'
      ? `Put it back (git stash pop, or move it back), then start cshare ${command} again`
      : `Start cshare ${command} again: it resumes from the store now in place`;
  return new CshareError('STORE_CORRUPT', `${what}. cshare ${command} stopped so that no change is recorded into a store that is no longer there. ${todo}.`, { root, loss, path: opts.path });
}
