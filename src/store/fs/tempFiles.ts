/**
 * The temp files a write goes through: written beside their target, then put in place by a
 * rename, a link or an exchange (`guardedPlace.ts`), so a reader never sees half a file.
 *
 * Creating a file is the one slow step of a write on some file systems: on this project's
 * ext4 machines (no journal) an `open(O_CREAT)` took 0.5–0.8 ms under load, in the kernel
 * (`find_inode_bit` walks past every inode freed in the last seconds, minutes while their
 * inode table block is dirty: `recently_deleted`), against ~10 µs to write a few hundred
 * bytes. A batch ({@link createTemps}) therefore creates its files on libuv's thread pool,
 * several at once, and the main thread reads the relay's frames meanwhile.
 */
import { randomBytes } from 'node:crypto';
import * as nfs from 'node:fs';
import { errCode, ioError } from './ioError.js';
import { CshareError } from '../../core/errors.js';

/** A temp file being written; `fd` is open until it is flushed (or closed at once). */
export interface TempFile {
  abs: string;
  path: string;
  fd: number | undefined;
}

/** A temp file of a write, renamed to the worktree path `rel` once written. */
export interface WriteTemp extends TempFile {
  rel: string;
}

/** Where a temp file goes and what it gets, decided before it is created. */
export interface TempSpec {
  rel: string;
  /** The target. */
  abs: string;
  /** The temp file's name without its suffix (in the target's folder). */
  prefix: string;
  /** The permissions it must get (undefined: the default of a new file). */
  perms: number | undefined;
  data: Uint8Array;
}

/**
 * Temp files created at once by {@link createTemps}: enough to keep both cores of a small
 * machine in the kernel's create while this thread goes on; the pool has 16 threads
 * (`cli/polyfills.ts`), shared with LevelDB and the rest of the process's file I/O.
 */
const CREATE_PARALLEL = 8;

/**
 * The hex suffix of the next temp file name: counts up from a random 48-bit start, drawn
 * again after a collision (a fresh random suffix per file cost the join ~15 µs a file).
 */
let tempSeq = randomBytes(6).readUIntBE(0, 6);
export function tempSuffix(redraw = false): string {
  tempSeq = redraw ? randomBytes(6).readUIntBE(0, 6) : (tempSeq + 1) % 2 ** 48;
  return tempSeq.toString(16).padStart(12, '0');
}

/**
 * This process's umask, from `/proc` where there is one (`process.umask()` without an argument
 * is deprecated): a file created with a mode the umask leaves alone needs no `fchmod`.
 */
const UMASK: number | undefined = (() => {
  try {
    const m = /^Umask:\s*([0-7]+)$/m.exec(nfs.readFileSync('/proc/self/status', 'utf8'));
    return m ? parseInt(m[1]!, 8) : undefined;
  } catch {
    return undefined;
  }
})();

/** Whether a file created with `perms` must be `fchmod`ed after (the umask took bits off). */
function needsChmod(perms: number | undefined): perms is number {
  return perms !== undefined && !(UMASK !== undefined && perms <= 0o777 && (perms & UMASK) === 0);
}

/** fsyncs an open file on the thread pool; a failure is an `IO` error naming the file. */
export function flush(t: TempFile, what = 'write'): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    nfs.fsync(t.fd!, (err) => (err ? reject(ioError(what, t.abs, err)) : resolve()));
  });
}

/** Closes and deletes a temp file that will not be renamed into place. */
export function discard(t: TempFile): void {
  if (t.fd !== undefined) {
    try {
      nfs.closeSync(t.fd);
    } catch {
      // Already failing; the temp file is removed below either way.
    }
    t.fd = undefined;
  }
  nfs.rmSync(t.path, { force: true });
}

/** Writes `spec`'s temp file, synchronously; left open (not flushed). */
export function createTempSync(spec: TempSpec): WriteTemp {
  const t: WriteTemp = { abs: spec.abs, path: spec.prefix + tempSuffix(), fd: undefined, rel: spec.rel };
  try {
    try {
      t.fd = nfs.openSync(t.path, 'wx', spec.perms ?? 0o666);
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw err;
      t.path = spec.prefix + tempSuffix(true);
      t.fd = nfs.openSync(t.path, 'wx', spec.perms ?? 0o666);
    }
    const { data } = spec;
    let off = 0;
    while (off < data.byteLength) off += nfs.writeSync(t.fd, data, off, data.byteLength - off);
    // open's mode is filtered by the umask; the requested mode is what must land.
    if (needsChmod(spec.perms)) nfs.fchmodSync(t.fd, spec.perms);
    return t;
  } catch (err) {
    // A name that was taken (EEXIST) is someone else's file: only ours is removed.
    if (t.fd !== undefined) discard(t);
    throw err instanceof CshareError ? err : ioError('write', spec.abs, err);
  }
}

/**
 * Writes the temp files of `specs` on the thread pool, {@link CREATE_PARALLEL} at a time, in
 * the order given; each is left open when `keepOpen` (to be flushed), else closed. If one
 * fails, the others finish and every one created is removed before the first error is thrown.
 */
export async function createTemps(specs: readonly TempSpec[], keepOpen: boolean): Promise<WriteTemp[]> {
  const temps = new Array<WriteTemp | undefined>(specs.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < specs.length) {
      const i = next++;
      try {
        temps[i] = await createTemp(specs[i]!, keepOpen);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CREATE_PARALLEL, specs.length) }, worker));
  if (failure !== undefined) {
    for (const t of temps) if (t) discard(t);
    throw failure.error;
  }
  return temps as WriteTemp[];
}

/**
 * {@link createTempSync} with its create on the thread pool: the write, `fchmod` and close
 * of a small file take microseconds and stay here (a hop to the pool and back costs more).
 */
async function createTemp(spec: TempSpec, keepOpen: boolean): Promise<WriteTemp> {
  const t: WriteTemp = { abs: spec.abs, path: spec.prefix + tempSuffix(), fd: undefined, rel: spec.rel };
  try {
    try {
      t.fd = await call<number>((cb) => nfs.open(t.path, 'wx', spec.perms ?? 0o666, cb));
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw err;
      t.path = spec.prefix + tempSuffix(true);
      t.fd = await call<number>((cb) => nfs.open(t.path, 'wx', spec.perms ?? 0o666, cb));
    }
    const { data } = spec;
    let off = 0;
    while (off < data.byteLength) off += nfs.writeSync(t.fd, data, off, data.byteLength - off);
    // open's mode is filtered by the umask; the requested mode is what must land.
    if (needsChmod(spec.perms)) nfs.fchmodSync(t.fd, spec.perms);
    if (!keepOpen) {
      const fd = t.fd;
      t.fd = undefined;
      try {
        nfs.closeSync(fd);
      } catch (err) {
        nfs.rmSync(t.path, { force: true });
        throw err;
      }
    }
    return t;
  } catch (err) {
    // A name that was taken (EEXIST) is someone else's file: only ours (opened) is removed.
    if (t.fd !== undefined) discard(t);
    throw err instanceof CshareError ? err : ioError('write', spec.abs, err);
  }
}

/** A node callback call as a promise. */
function call<T>(fn: (cb: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}
