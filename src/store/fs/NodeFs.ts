/**
 * The real file system behind the `WorktreeFs` port, with node's synchronous calls (a scan
 * makes tens of thousands of tiny calls; see `ports.ts`).
 *
 * Safety: every relative path goes through `assertSafeRelPath` (no absolute paths, `..`,
 * NUL, backslashes, `.git` or `.cshare` segments), and writes refuse to go through a
 * symlinked directory that leads out of the root, because paths arrive from peers. Reads do
 * not pay for that check: the scanner walks with `lstat` and never follows links.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as nfs from 'node:fs';
import { dirname, isAbsolute, join, posix, sep } from 'node:path';
import { CshareError } from '../../core/errors.js';
import { logger } from '../../core/log.js';
import { assertSafeRelPath } from '../../core/paths.js';
import { gitBlobId } from '../../core/digest.js';
import type { BootInfo, DirEntry, FileStat, FileWrite, WorktreeFs, WriteSurprise } from '../../core/ports.js';
import { moveAside, placeGuarded, readRegular } from './guardedPlace.js';
import { errCode, ioError } from './ioError.js';
import { WrittenFiles } from './WrittenFiles.js';
import { AsideFiles } from './AsideFiles.js';

const log = logger('fs');

/** "Does not exist" for our purposes: missing, or a parent that is no longer a directory. */
function isMissing(err: unknown): boolean {
  const code = errCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Files `writeFiles` writes (and holds open) before waiting for their flushes. */
const FSYNC_SLICE = 256;

/** A temp file being written; `fd` is open until it is flushed. */
interface TempFile {
  abs: string;
  path: string;
  fd: number | undefined;
}

/** fsyncs an open file on the thread pool; a failure is an `IO` error naming the file. */
function flush(t: TempFile, what = 'write'): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    nfs.fsync(t.fd!, (err) => (err ? reject(ioError(what, t.abs, err)) : resolve()));
  });
}

/**
 * The hex suffix of the next temp file name: counts up from a random 48-bit start, drawn
 * again after a collision (a fresh random suffix per file cost the join ~15 µs a file).
 */
let tempSeq = randomBytes(6).readUIntBE(0, 6);
function tempSuffix(redraw = false): string {
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

/**
 * This machine's boot: its id from `/proc/sys/kernel/random/boot_id` and its start from
 * `btime` in `/proc/stat` (whole seconds, rounded down, so every file written during the boot
 * is at or after it). Undefined where either is missing (not Linux): then writes are flushed.
 */
let machineBoot: BootInfo | undefined | null = null;
function readMachineBoot(): BootInfo | undefined {
  if (machineBoot !== null) return machineBoot;
  try {
    const id = nfs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const btime = /^btime (\d+)$/m.exec(nfs.readFileSync('/proc/stat', 'utf8'));
    machineBoot = id !== '' && btime ? { id, startedMs: Number(btime[1]) * 1000 } : undefined;
  } catch {
    machineBoot = undefined;
  }
  return machineBoot;
}

/** Flushes the whole file system holding `dir` with `sync -f` (syncfs); false if that failed. */
function syncFileSystem(dir: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('sync', ['-f', dir], { timeout: 600_000 }, (err) => {
      if (err) log('sync -f %s failed (%s); flushing file by file', dir, err.message);
      resolve(!err);
    });
  });
}

/** Closes and deletes a temp file that will not be renamed into place. */
function discard(t: TempFile): void {
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

/** Shared options object, so the hot `lstat` allocates nothing for them. */
const NO_THROW = { throwIfNoEntry: false } as const;

function kindOf(d: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): FileStat['kind'] {
  return d.isFile() ? 'file' : d.isDirectory() ? 'dir' : d.isSymbolicLink() ? 'symlink' : 'other';
}

function toFileStat(st: nfs.Stats): FileStat {
  return { kind: kindOf(st), size: st.size, mode: st.mode, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino };
}

/** A worktree on the local disk, rooted at an absolute directory. */
export class NodeFs implements WorktreeFs {
  readonly root: string;
  private realRoot: string | undefined;

  private readonly bootInfo: BootInfo | undefined | null;
  /** The files this object wrote last, held open to tell whether they were read since. */
  private readonly written: WrittenFiles;
  /** What writes moved aside, looked at again a moment later. */
  private readonly asides = new AsideFiles();

  /**
   * `root` is resolved to an absolute path; it need not exist until first used. `boot` is
   * the machine's (read from `/proc`) unless given: tests pass another to act out a reboot,
   * and `undefined` to have every write flushed.
   */
  constructor(root: string, opts: { boot?: BootInfo | undefined } = {}) {
    this.root = posix.resolve(root);
    this.bootInfo = 'boot' in opts ? opts.boot : null;
    this.written = new WrittenFiles(this.root);
  }

  boot(): BootInfo | undefined {
    return this.bootInfo === null ? readMachineBoot() : this.bootInfo;
  }

  /** Absolute path of `rel`; `''` is the root itself (only where a directory makes sense). */
  private abs(rel: string, allowRoot = false): string {
    if (rel === '' && allowRoot) return this.root;
    assertSafeRelPath(rel);
    return `${this.root}/${rel}`;
  }

  readdir(rel: string): DirEntry[] | undefined {
    const abs = this.abs(rel, true);
    try {
      const dirents = nfs.readdirSync(abs, { withFileTypes: true });
      const out = new Array<DirEntry>(dirents.length);
      for (let i = 0; i < dirents.length; i++) {
        const d = dirents[i]!;
        out[i] = { name: d.name, kind: kindOf(d) };
      }
      return out;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw ioError('list directory', abs, err);
    }
  }

  lstat(rel: string): FileStat | undefined {
    const abs = this.abs(rel, true);
    let st: nfs.Stats | undefined;
    try {
      st = nfs.lstatSync(abs, NO_THROW);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw ioError('stat', abs, err);
    }
    if (st === undefined) return undefined;
    return toFileStat(st);
  }

  readFile(rel: string): Uint8Array | undefined {
    const abs = this.abs(rel);
    try {
      return nfs.readFileSync(abs);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw ioError('read', abs, err);
    }
  }

  readlink(rel: string): string | undefined {
    const abs = this.abs(rel);
    try {
      return nfs.readlinkSync(abs);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw ioError('read link', abs, err);
    }
  }

  writeFile(rel: string, data: Uint8Array, mode?: number): void {
    const tmp = this.writeTemp(rel, data, mode);
    try {
      nfs.fsyncSync(tmp.fd!);
      nfs.closeSync(tmp.fd!);
      tmp.fd = undefined;
      nfs.renameSync(tmp.path, tmp.abs);
    } catch (err) {
      discard(tmp);
      throw ioError('write', tmp.abs, err);
    }
    this.written.note(rel, tmp.abs);
  }

  async writeFiles(files: readonly FileWrite[], opts: { flush?: boolean } = {}): Promise<WriteSurprise[]> {
    const temps: TempFile[] = [];
    // Each directory is checked once per batch: nothing here creates symlinks meanwhile.
    const checkedDirs = new Map<string, string>();
    let flushes: Promise<void>[] = [];
    try {
      if (opts.flush === false) {
        for (const f of files) {
          const t = this.writeTemp(f.rel, f.data, f.mode, checkedDirs);
          temps.push(t);
          nfs.closeSync(t.fd!);
          t.fd = undefined;
        }
      }
      // A slice at a time, so the open descriptors stay few. Each file's fsync starts on the
      // thread pool as soon as it is written, while the next ones are written: the file system
      // commits them together, and the disk's latency overlaps the writing.
      for (let i = 0; opts.flush !== false && i < files.length; i += FSYNC_SLICE) {
        const slice: TempFile[] = [];
        flushes = [];
        for (const f of files.slice(i, i + FSYNC_SLICE)) {
          const t = this.writeTemp(f.rel, f.data, f.mode, checkedDirs);
          slice.push(t);
          temps.push(t);
          flushes.push(flush(t));
        }
        // Every flush is settled before any descriptor is closed.
        const failed = (await Promise.allSettled(flushes)).find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
        for (const t of slice) {
          nfs.closeSync(t.fd!);
          t.fd = undefined;
        }
      }
    } catch (err) {
      // fsyncs under way finish before their descriptors are closed.
      await Promise.allSettled(flushes);
      for (const t of temps) discard(t);
      throw err;
    }
    // Every file is written (and flushed, unless told not to); the renames put them in place.
    const results: WriteSurprise[] = [];
    for (let i = 0; i < temps.length; i++) {
      const t = temps[i]!;
      const f = files[i]!;
      try {
        const mine = nfs.lstatSync(t.path);
        const surprise = f.expect === undefined ? (nfs.renameSync(t.path, t.abs), undefined) : placeGuarded(t, f.expect, this.asideDir());
        const { aside, ...found } = surprise ?? {};
        if (aside && typeof f.expect === 'string') this.asides.keep(f.rel, aside, f.expect);
        const result: WriteSurprise = { rel: f.rel, ...found };
        if (!surprise?.occupied) {
          // The stat the stat cache gets must be of what was written: a save that lands between
          // the rename and a later lstat would otherwise be taken for this content.
          const now = nfs.lstatSync(t.abs, NO_THROW);
          if (now && now.ino === mine.ino && now.size === mine.size && now.mtimeMs === mine.mtimeMs) result.stat = toFileStat(now);
          this.written.note(f.rel, t.abs);
        }
        results.push(result);
      } catch (err) {
        for (const rest of temps.slice(i)) discard(rest);
        throw ioError('write', t.abs, err);
      }
    }
    return results;
  }

  removeIfUnchanged(rel: string, expect: string): Uint8Array | undefined {
    const abs = this.abs(rel);
    this.checkParentInside(rel);
    const st = nfs.lstatSync(abs, NO_THROW);
    if (st === undefined) return undefined;
    if (!st.isFile()) throw new CshareError('IO', `Cannot remove ${abs}: it is not a regular file.`, { path: rel });
    // Moved aside in one step, then looked at: a save that lands after the move creates a new
    // file, which is the user's and stays; one that landed before it is in what was moved, and
    // one of a writer that had it open is seen a moment later (`AsideFiles`).
    let aside: string;
    try {
      aside = moveAside(abs, this.asideDir(), join(dirname(abs), `.${posix.basename(rel)}.cshare-aside-${tempSuffix(true)}`));
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw ioError('remove', abs, err);
    }
    const before = nfs.lstatSync(aside, { bigint: true, throwIfNoEntry: false });
    const held = readRegular(aside);
    if (held !== undefined && gitBlobId(held) !== expect) {
      try {
        nfs.linkSync(aside, abs); // put it back, unless a new file took the path meanwhile
      } catch (err) {
        if (errCode(err) !== 'EEXIST') log('could not put back %s: %s', rel, (err as Error).message);
      }
      nfs.rmSync(aside, { force: true });
      return held;
    }
    if (before) this.asides.keep(rel, { path: aside, size: before.size, mtimeNs: before.mtimeNs, ctimeNs: before.ctimeNs }, expect);
    else nfs.rmSync(aside, { force: true });
    this.pruneParents(rel);
    return undefined;
  }

  /** Where writes move what they displaced, in the store's folder, if the worktree has one. */
  private asideDir(): string | undefined {
    this.asides.cleanLeftovers(`${this.root}/.cshare/aside`);
    return nfs.existsSync(`${this.root}/.cshare`) ? `${this.root}/.cshare/aside` : undefined;
  }

  onLateSave(listener: (rel: string, bytes: Uint8Array) => void): void {
    this.asides.onLateSave(listener);
  }

  readSinceWritten(rel: string): boolean | undefined {
    return this.written.readSince(rel);
  }

  async flushFiles(rels: readonly string[]): Promise<void> {
    // Many files: one `syncfs` of the file system (coreutils' `sync -f`) instead of an fsync
    // each (100,000 took ~10 s of fsyncs after a join); file by file where that fails.
    for (const rel of rels) assertSafeRelPath(rel);
    if (rels.length > FSYNC_SLICE && (await syncFileSystem(this.root))) return;
    for (let i = 0; i < rels.length; i += FSYNC_SLICE) {
      const open: TempFile[] = [];
      try {
        for (const rel of rels.slice(i, i + FSYNC_SLICE)) {
          const abs = this.abs(rel);
          try {
            // O_NOFOLLOW: a file replaced by a link since it was written is not ours to flush.
            open.push({ abs, path: abs, fd: nfs.openSync(abs, nfs.constants.O_RDONLY | nfs.constants.O_NOFOLLOW) });
          } catch (err) {
            if (isMissing(err) || errCode(err) === 'ELOOP') continue;
            throw ioError('open', abs, err);
          }
        }
        const failed = (await Promise.allSettled(open.map((t) => flush(t, 'flush')))).find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
      } finally {
        for (const t of open) nfs.closeSync(t.fd!);
      }
    }
  }

  /** Writes `data` to a new temp file beside `rel` with the mode `rel` must get; not flushed. */
  private writeTemp(rel: string, data: Uint8Array, mode: number | undefined, checkedDirs?: Map<string, string>): TempFile {
    const abs = this.abs(rel);
    const relDir = posix.dirname(rel);
    let dir = checkedDirs?.get(relDir);
    if (dir === undefined) {
      dir = this.ensureParent(rel);
      checkedDirs?.set(relDir, dir);
    }
    let perms = mode === undefined ? undefined : mode & 0o7777;
    if (perms === undefined) {
      // No mode asked for: an existing file keeps its permissions.
      const old = nfs.lstatSync(abs, { throwIfNoEntry: false });
      if (old?.isFile()) perms = old.mode & 0o7777;
    }
    const prefix = join(dir, `.${posix.basename(rel)}.cshare-tmp-`);
    const t: TempFile = { abs, path: prefix + tempSuffix(), fd: undefined };
    try {
      try {
        t.fd = nfs.openSync(t.path, 'wx', perms ?? 0o666);
      } catch (err) {
        if (errCode(err) !== 'EEXIST') throw err;
        t.path = prefix + tempSuffix(true);
        t.fd = nfs.openSync(t.path, 'wx', perms ?? 0o666);
      }
      let off = 0;
      while (off < data.byteLength) off += nfs.writeSync(t.fd, data, off, data.byteLength - off);
      // open's mode is filtered by the umask; the requested mode is what must land.
      if (perms !== undefined && !(UMASK !== undefined && perms <= 0o777 && (perms & UMASK) === 0)) nfs.fchmodSync(t.fd, perms);
      return t;
    } catch (err) {
      // A name that was taken (EEXIST) is someone else's file: only ours is removed.
      if (t.fd !== undefined) discard(t);
      throw ioError('write', abs, err);
    }
  }

  symlink(rel: string, target: string): void {
    const abs = this.abs(rel);
    if (target === '' || target.includes('\0')) throw new CshareError('BAD_PATH', `Refusing symlink ${rel} with an empty or NUL target.`, { path: rel, target });
    // A link that resolves outside the worktree could later carry writes out of it.
    const resolved = posix.resolve(posix.dirname(abs), target);
    if (posix.isAbsolute(target) || !(resolved === this.root || resolved.startsWith(`${this.root}/`))) {
      throw new CshareError('BAD_PATH', `Refusing symlink ${rel} -> ${target}: the target leaves the worktree.`, { path: rel, target });
    }
    const dir = this.ensureParent(rel);
    const tmp = join(dir, `.${posix.basename(rel)}.cshare-tmp-${tempSuffix(true)}`);
    try {
      nfs.symlinkSync(target, tmp);
      nfs.renameSync(tmp, abs);
    } catch (err) {
      nfs.rmSync(tmp, { force: true });
      throw ioError('create symlink', abs, err);
    }
  }

  remove(rel: string): void {
    const abs = this.abs(rel);
    this.checkParentInside(rel);
    const st = nfs.lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined) return;
    if (st.isDirectory()) throw new CshareError('IO', `Cannot remove ${abs}: it is a directory.`, { path: rel });
    try {
      nfs.unlinkSync(abs);
    } catch (err) {
      if (isMissing(err)) return;
      throw ioError('remove', abs, err);
    }
    this.pruneParents(rel);
  }

  /** Prunes emptied parents, as git does when a checkout deletes the last file of a folder. */
  private pruneParents(rel: string): void {
    for (let d = posix.dirname(rel); d !== '.'; d = posix.dirname(d)) {
      try {
        nfs.rmdirSync(`${this.root}/${d}`);
      } catch (err) {
        const code = errCode(err);
        // Not empty (the usual case) or already gone: stop. Anything else leaves an empty
        // folder behind, which is harmless; the file itself is removed, so it is only logged.
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOENT') log('could not prune %s: %s', d, err instanceof Error ? err.message : String(err));
        break;
      }
    }
  }

  chmod(rel: string, mode: number): void {
    const abs = this.abs(rel);
    this.checkParentInside(rel);
    const st = nfs.lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined) throw new CshareError('NOT_FOUND', `Cannot chmod ${abs}: it does not exist.`, { path: rel });
    // chmod follows symlinks and Linux has no lchmod; a link's own mode means nothing, so
    // leaving it alone is the correct result, not a skipped error.
    if (st.isSymbolicLink()) return;
    try {
      nfs.chmodSync(abs, mode & 0o7777);
    } catch (err) {
      throw ioError('chmod', abs, err);
    }
  }

  readExternal(absPath: string): Uint8Array | undefined {
    if (!isAbsolute(absPath)) throw new CshareError('BAD_PATH', `readExternal needs an absolute path, got ${absPath}.`, { path: absPath });
    try {
      return nfs.readFileSync(absPath);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw ioError('read', absPath, err);
    }
  }

  /** The real path of the root, resolved once (the root itself may be reached through a link). */
  private resolvedRoot(): string {
    this.realRoot ??= nfs.realpathSync(this.root);
    return this.realRoot;
  }

  private isInside(real: string): boolean {
    const root = this.resolvedRoot();
    return real === root || real.startsWith(root.endsWith(sep) ? root : root + sep);
  }

  /**
   * Creates the parent directories of `rel` one level at a time, checking that each existing
   * one, once symlinks are resolved, is still inside the root. Returns the parent's path.
   */
  private ensureParent(rel: string): string {
    const parts = rel.split('/');
    let cur = this.root;
    for (let i = 0; i < parts.length - 1; i++) {
      cur = `${cur}/${parts[i]}`;
      const st = nfs.lstatSync(cur, { throwIfNoEntry: false });
      if (st === undefined) {
        try {
          nfs.mkdirSync(cur);
        } catch (err) {
          if (errCode(err) !== 'EEXIST') throw ioError('create directory', cur, err);
        }
        continue;
      }
      if (st.isSymbolicLink()) {
        let real: string;
        try {
          real = nfs.realpathSync(cur);
        } catch (err) {
          throw ioError('resolve', cur, err);
        }
        if (!this.isInside(real)) {
          throw new CshareError('BAD_PATH', `Refusing to write ${rel}: ${parts.slice(0, i + 1).join('/')} is a symlink that leaves the worktree.`, { path: rel });
        }
        continue;
      }
      if (!st.isDirectory()) throw new CshareError('IO', `Cannot write ${rel}: ${parts.slice(0, i + 1).join('/')} is not a directory.`, { path: rel });
    }
    const parent = dirname(`${this.root}/${rel}`);
    // Last line of defence against a race that swapped a directory for a link.
    let real: string;
    try {
      real = nfs.realpathSync(parent);
    } catch (err) {
      throw ioError('resolve', parent, err);
    }
    if (!this.isInside(real)) throw new CshareError('BAD_PATH', `Refusing to write ${rel}: its directory resolves outside the worktree.`, { path: rel });
    return parent;
  }

  /** Refuses `rel` if its existing parent directory resolves outside the root. */
  private checkParentInside(rel: string): void {
    const parent = dirname(`${this.root}/${rel}`);
    let real: string;
    try {
      real = nfs.realpathSync(parent);
    } catch (err) {
      if (isMissing(err)) return;
      throw ioError('resolve', parent, err);
    }
    if (!this.isInside(real)) throw new CshareError('BAD_PATH', `Refusing to touch ${rel}: its directory resolves outside the worktree.`, { path: rel });
  }
}
