/**
 * Whether a file cshare wrote has been read since: the signal that tells an editor's unchanged
 * stale buffer from a reloaded one (see `core/saveBase.ts`).
 *
 * Editors save by writing a new file and renaming it over the old one, so by the time a save
 * is seen the file cshare wrote may be gone. Each written file is therefore held open (read
 * only, never read through: opening does not touch the access time): `fstat` on the
 * descriptor still answers after the name points elsewhere. A file cshare writes is new, its
 * access time no later than its modification time; with Linux's default `relatime`, the first
 * read after the write moves the access time past it. So an access time still no later than
 * the modification time means nobody read the file, and no editor can have loaded it. (The
 * modification time is the mark, not the access time when the file was opened to be held: a
 * reader quick enough to read it between its rename into place and that open moved the access
 * time first, the mark took that, and no later read moved it again: a reload went unseen, and
 * the user's deletion of a collaborator's line was taken for a stale save and undone.) File systems that keep no access times (`noatime`) are found by a probe and
 * answer "cannot tell".
 */
import * as nfs from 'node:fs';
import { dirname, join } from 'node:path';
import { logger } from '../../core/log.js';
import type { LastWrite } from '../../core/ports.js';

const log = logger('fs');

/** Files held open at most: the most recently written ones. */
export const WRITTEN_HELD = 128;

interface Held {
  fd: number;
  /** Modification time of the file written: an access time past it is a read since. */
  mtimeNs: bigint;
}

export class WrittenFiles {
  private readonly held = new Map<string, Held>();
  private atimes: boolean | undefined;

  /** `root`: the worktree, whose `.cshare/` holds the probe where there is one. */
  constructor(private readonly root: string) {}

  /** Notes that `rel` was just written at `abs`. */
  note(rel: string, abs: string): void {
    if (!this.keepsAccessTimes(abs)) return;
    this.drop(rel);
    let fd: number | undefined;
    try {
      fd = nfs.openSync(abs, nfs.constants.O_RDONLY | nfs.constants.O_NOFOLLOW | nfs.constants.O_NONBLOCK);
      const st = nfs.fstatSync(fd, { bigint: true });
      if (!st.isFile()) {
        nfs.closeSync(fd);
        return;
      }
      this.held.set(rel, { fd, mtimeNs: st.mtimeNs });
    } catch (err) {
      if (fd !== undefined) nfs.closeSync(fd);
      log('cannot hold %s to watch its access time: %s', rel, (err as Error).message);
      return;
    }
    if (this.held.size > WRITTEN_HELD) this.drop(this.held.keys().next().value!);
  }

  /**
   * What became of the file last written at `rel`: read since, and whether the path still holds
   * it unmodified. Undefined: cannot tell.
   */
  lastWrite(rel: string): LastWrite | undefined {
    const h = this.held.get(rel);
    if (h === undefined) return undefined;
    let st: nfs.BigIntStats;
    try {
      st = nfs.fstatSync(h.fd, { bigint: true });
    } catch (err) {
      log('cannot stat the file written at %s: %s', rel, (err as Error).message);
      return undefined;
    }
    // The path's file: the one written if it is the same inode, not written to since (an
    // in-place save, an append or a truncate moves the modification time).
    const now = nfs.lstatSync(join(this.root, rel), { bigint: true, throwIfNoEntry: false });
    const inPlace = now !== undefined && now.ino === st.ino && now.dev === st.dev && now.mtimeNs === h.mtimeNs && now.size === st.size;
    return { read: st.atimeNs > h.mtimeNs, inPlace };
  }

  private drop(rel: string): void {
    const h = this.held.get(rel);
    if (h === undefined) return;
    this.held.delete(rel);
    try {
      nfs.closeSync(h.fd);
    } catch (err) {
      log('close failed: %s', (err as Error).message);
    }
  }

  /**
   * Does the file system of `abs` update access times on read? Probed once: a file whose times
   * are set in the past is read, and its access time must move.
   */
  private keepsAccessTimes(abs: string): boolean {
    if (this.atimes !== undefined) return this.atimes;
    // In `.cshare/` (not watched, never scanned), else beside the file under a temp file's name.
    const store = join(this.root, '.cshare');
    const probe = nfs.existsSync(store) ? join(store, `atime-probe-${process.pid}`) : join(dirname(abs), `.atime-probe.cshare-tmp-${process.pid.toString(16).padStart(12, '0')}`);
    try {
      nfs.writeFileSync(probe, 'probe');
      const past = new Date(Date.now() - 60_000);
      nfs.utimesSync(probe, past, past);
      nfs.readFileSync(probe);
      this.atimes = nfs.statSync(probe).atimeMs > past.getTime() + 1000;
    } catch (err) {
      log('access time probe failed: %s', (err as Error).message);
      this.atimes = false;
    } finally {
      nfs.rmSync(probe, { force: true });
    }
    log('access times on read: %s', this.atimes ? 'kept' : 'not kept (noatime)');
    return this.atimes;
  }
}
