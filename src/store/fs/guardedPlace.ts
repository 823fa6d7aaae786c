/**
 * Putting a written temp file in place without losing a save that lands at the same moment.
 *
 * A plain `rename(temp, path)` replaces whatever is at the path when the kernel runs it: a save
 * that landed after the writer last looked is gone without a trace. Instead:
 *
 * - where the path must be free, `link(temp, path)` fails with `EEXIST` if anything took it
 *   (the link is the whole check and the whole write, in one system call);
 * - where it must hold known content, `renameat2(RENAME_EXCHANGE)` swaps the temp file and the
 *   path in one step (`fs-native-extensions`' `swap`), and what comes back under the temp name
 *   is exactly what the path held at that instant: compared with what was expected, a save
 *   that landed is found and handed back to be merged, never overwritten unseen.
 *
 * Where the file system cannot exchange or link (no `renameat2`, FAT), the check is a read
 * right before a rename: a window of microseconds instead of none.
 */
import { createRequire } from 'node:module';
import * as nfs from 'node:fs';
import { gitBlobId } from '../../core/digest.js';
import { logger } from '../../core/log.js';
import type { WriteSurprise } from '../../core/ports.js';
import { errCode } from './ioError.js';

const log = logger('fs');

/** `renameat2(RENAME_EXCHANGE)` of two paths, where the platform has it. */
type Swap = (a: string, b: string) => void;

let swapFn: Swap | null | undefined;
function nativeSwap(): Swap | null {
  if (swapFn !== undefined) return swapFn;
  try {
    const fsx = createRequire(import.meta.url)('fs-native-extensions') as { swapSync: Swap };
    swapFn = typeof fsx.swapSync === 'function' ? fsx.swapSync : null;
  } catch (err) {
    log('no atomic exchange here (%s): a check right before each rename instead', (err as Error).message);
    swapFn = null;
  }
  return swapFn;
}

/** Errors of a file system that cannot do the operation at all (not of this path). */
const UNSUPPORTED = new Set(['ENOSYS', 'EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EPERM', 'EXDEV']);

/** What a path held before a write replaced it, under its aside name, and its stat then. */
export interface AsideFile {
  path: string;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** A temp file fully written beside its target. */
export interface PlacedTemp {
  /** The temp file. */
  path: string;
  /** Where it goes. */
  abs: string;
}

/**
 * The content of a regular file, or undefined if `abs` is missing or not a regular file. Opened
 * without following a link and without blocking, so a FIFO put there never hangs the process.
 */
export function readIfRegular(abs: string): Uint8Array | undefined {
  let fd: number;
  try {
    fd = nfs.openSync(abs, nfs.constants.O_RDONLY | nfs.constants.O_NOFOLLOW | nfs.constants.O_NONBLOCK);
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENXIO') return undefined;
    throw err;
  }
  try {
    if (!nfs.fstatSync(fd).isFile()) return undefined;
    return nfs.readFileSync(fd);
  } finally {
    nfs.closeSync(fd);
  }
}

/**
 * Moves the temp file to its target if the target holds what is expected: `expect` is a git
 * blob id, or null when the target must not exist. Returns what was found instead, if anything:
 * `displaced` (the target held other content: replaced, and this is what it held) or
 * `occupied` (the target was taken: the temp file is removed and nothing is written).
 */
export function placeGuarded(t: PlacedTemp, expect: string | null, asideDir?: string): (Omit<WriteSurprise, 'rel'> & { aside?: AsideFile }) | undefined {
  for (let attempt = 0; ; attempt++) {
    const st = nfs.lstatSync(t.abs, { throwIfNoEntry: false });
    if (st === undefined) {
      // Free (expected, or the file was deleted since: the write brings it back).
      if (linkInPlace(t)) return undefined;
      if (attempt < 3) continue; // taken meanwhile: look again
      nfs.rmSync(t.path, { force: true });
      return { occupied: true };
    }
    if (expect === null || !st.isFile()) {
      nfs.rmSync(t.path, { force: true });
      return { occupied: true };
    }
    const swap = nativeSwap();
    if (swap) {
      try {
        swap(t.path, t.abs);
      } catch (err) {
        const code = errCode(err);
        if (code === 'ENOENT' && attempt < 3) continue; // removed meanwhile
        if (code === undefined || !UNSUPPORTED.has(code)) throw err;
        log('exchange unsupported here (%s); checking before renaming', code);
        swapFn = null;
        return checkThenRename(t, expect);
      }
      // The temp name now holds what the target held at the instant of the exchange.
      const was = nfs.lstatSync(t.path, { throwIfNoEntry: false });
      if (was !== undefined && !was.isFile()) {
        // A directory or link took the path just before the exchange: give it back.
        swap(t.path, t.abs);
        nfs.rmSync(t.path, { force: true });
        return { occupied: true };
      }
      // Out of the worktree's sight for a moment (`asideDir`, in `.cshare/`), where it can be.
      const asidePath = (asideDir !== undefined && moveAside(t.path, asideDir)) || t.path;
      const before = nfs.lstatSync(asidePath, { bigint: true, throwIfNoEntry: false });
      const held = readIfRegular(asidePath);
      if (held !== undefined && gitBlobId(held) !== expect) {
        nfs.rmSync(asidePath, { force: true });
        return { displaced: held };
      }
      // As expected; but a writer that opened the file just before the exchange may still
      // write into it: it is kept aside a moment and looked at again (`AsideFiles`). Without a
      // store folder (a scratch worktree) it goes at once.
      if (before === undefined || asidePath === t.path) {
        nfs.rmSync(asidePath, { force: true });
        return undefined;
      }
      return { aside: { path: asidePath, size: before.size, mtimeNs: before.mtimeNs, ctimeNs: before.ctimeNs } };
    }
    return checkThenRename(t, expect);
  }
}

let asideSeq = 0;

/**
 * Moves a file that a write displaced into `dir` (in `.cshare/`: not the user's to see, not
 * watched). Returns where it is now, or undefined if it cannot go there (another file system):
 * then it stays where it is.
 */
export function moveAside(path: string, dir: string): string | undefined {
  const target = `${dir}/${process.pid.toString(16)}-${(asideSeq++).toString(16)}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      nfs.renameSync(path, target);
      return target;
    } catch (err) {
      const code = errCode(err);
      if (code === 'ENOENT' && attempt === 0 && nfs.existsSync(path)) {
        nfs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        continue;
      }
      if (code === 'EXDEV' || code === 'ENOENT') {
        log('cannot move aside into %s (%s)', dir, code);
        return undefined;
      }
      throw err;
    }
  }
  return undefined;
}

/** `link(temp, target)` then unlink the temp name: false if the target exists. */
function linkInPlace(t: PlacedTemp): boolean {
  try {
    nfs.linkSync(t.path, t.abs);
  } catch (err) {
    const code = errCode(err);
    if (code === 'EEXIST') return false;
    if (code === undefined || !UNSUPPORTED.has(code)) throw err;
    // No hard links here: check, then rename (a window of microseconds).
    if (nfs.lstatSync(t.abs, { throwIfNoEntry: false }) !== undefined) return false;
    nfs.renameSync(t.path, t.abs);
    return true;
  }
  nfs.rmSync(t.path, { force: true });
  return true;
}

/** The fallback without an exchange: read what is there, then rename over it if expected. */
function checkThenRename(t: PlacedTemp, expect: string): Omit<WriteSurprise, 'rel'> | undefined {
  const held = readIfRegular(t.abs);
  nfs.renameSync(t.path, t.abs);
  return held !== undefined && gitBlobId(held) !== expect ? { displaced: held } : undefined;
}
