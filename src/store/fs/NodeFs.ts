/**
 * The real file system behind the `WorktreeFs` port, with node's synchronous calls (a scan
 * makes tens of thousands of tiny calls; see `ports.ts`).
 *
 * Safety (paths arrive from peers; see `fsSafety.ts`): every relative path goes through
 * `assertSafeRelPath` (no absolute paths, `..`, NUL, backslashes, `.git` or `.cshare` or an
 * alias of one); every method that changes the disk first checks, immediately before it acts,
 * that no parent of the path is a symlink or a file ({@link NodeFs.assertNoSymlinkParents}: git's
 * rule, so nothing is ever written through a link, wherever it points); symlinks are created
 * only with targets that stay inside and out of `.git/` and `.cshare/`; and nothing that is not
 * a regular file is ever opened. Reads do not walk the parents (the scanner walks with `lstat`
 * and never follows links; the apply checks a peer's path with {@link NodeFs.parentProblem}
 * before it reads it).
 */
import { execFile } from 'node:child_process';
import * as nfs from 'node:fs';
import { isAbsolute, join, posix } from 'node:path';
import { CshareError } from '../../core/errors.js';
import { logger } from '../../core/log.js';
import { assertSafeRelPath, unsafeLinkTargetReason } from '../../core/paths.js';
import { gitBlobId } from '../../core/digest.js';
import type { BootInfo, DirEntry, FileStat, FileWrite, LastWrite, WorktreeFs, WriteSurprise } from '../../core/ports.js';
import { moveAside, placeGuarded, readIfRegular } from './guardedPlace.js';
import { linkTargetProblem, openRegular, parentError, readRegular, walkParents, type ParentProblem } from './fsSafety.js';
import { errCode, ioError } from './ioError.js';
import { WRITTEN_HELD, WrittenFiles } from './WrittenFiles.js';
import { AsideFiles } from './AsideFiles.js';
import { createTemps, createTempSync, discard, flush, tempSuffix, type TempFile, type TempSpec, type WriteTemp } from './tempFiles.js';

const log = logger('fs');

/** "Does not exist" for our purposes: missing, or a parent that is no longer a directory. */
function isMissing(err: unknown): boolean {
  const code = errCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Files `writeFiles` writes (and holds open) before waiting for their flushes. */
const FSYNC_SLICE = 256;

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

  /** A regular file's bytes; a symlink, FIFO, socket or device is refused with `IO`, never opened. */
  readFile(rel: string): Uint8Array | undefined {
    return readRegular(this.abs(rel));
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
      this.assertNoSymlinkParents(rel, { what: 'write' });
      nfs.renameSync(tmp.path, tmp.abs);
    } catch (err) {
      discard(tmp);
      throw err instanceof CshareError ? err : ioError('write', tmp.abs, err);
    }
    this.written.note(rel, tmp.abs);
  }

  async writeFiles(files: readonly FileWrite[], opts: { flush?: boolean } = {}): Promise<WriteSurprise[]> {
    let temps: WriteTemp[] = [];
    // Each directory is checked once per batch: nothing here creates symlinks meanwhile.
    const checkedDirs = new Map<string, string>();
    const specs = files.map((f) => this.tempSpec(f.rel, f.data, f.mode, checkedDirs));
    let flushes: Promise<void>[] = [];
    try {
      // The temp files are created on the thread pool, several at once (see `tempFiles.ts`).
      if (opts.flush === false) temps = await createTemps(specs, false);
      // A slice at a time, so the open descriptors stay few. Each file's fsync starts as soon
      // as the slice is written: the file system commits them together.
      for (let i = 0; opts.flush !== false && i < specs.length; i += FSYNC_SLICE) {
        const slice = await createTemps(specs.slice(i, i + FSYNC_SLICE), true);
        temps.push(...slice);
        flushes = slice.map((t) => flush(t));
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
    // The flushes took time, so each folder is checked again right before its renames (once:
    // this loop does not yield, and nothing in it creates links).
    const renameDirs = new Set<string>();
    const results: WriteSurprise[] = [];
    for (let i = 0; i < temps.length; i++) {
      const t = temps[i]!;
      const f = files[i]!;
      try {
        const relDir = posix.dirname(t.rel);
        if (!renameDirs.has(relDir)) {
          this.assertNoSymlinkParents(t.rel, { what: 'write' });
          renameDirs.add(relDir);
        }
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
          // Only the last ones are held open anyway (a join writes thousands).
          if (temps.length - i <= WRITTEN_HELD) this.written.note(f.rel, t.abs);
        }
        results.push(result);
      } catch (err) {
        for (const rest of temps.slice(i)) discard(rest);
        throw err instanceof CshareError ? err : ioError('write', t.abs, err);
      }
    }
    return results;
  }

  removeIfUnchanged(rel: string, expect: string): Uint8Array | undefined {
    const abs = this.abs(rel);
    // A missing parent: nothing to remove.
    if (this.assertNoSymlinkParents(rel, { what: 'remove' }) === undefined) return undefined;
    const st = nfs.lstatSync(abs, NO_THROW);
    if (st === undefined) return undefined;
    if (!st.isFile()) throw new CshareError('IO', `Cannot remove ${abs}: it is not a regular file.`, { path: rel });
    // Moved aside in one step, then looked at: a save that lands after the move creates a new
    // file, which is the user's and stays; one that landed before it is in what was moved, and
    // one of a writer that had it open is seen a moment later (`AsideFiles`).
    // Into the store's folder, or, without one (a scratch worktree), to a name beside it that
    // scans skip, removed at once (nobody edits a scratch worktree).
    const dir = this.asideDir();
    let aside: string;
    try {
      const beside = `${abs.slice(0, abs.length - posix.basename(rel).length)}.${posix.basename(rel)}.cshare-aside-${tempSuffix(true)}`;
      aside = (dir !== undefined && moveAside(abs, dir)) || (nfs.renameSync(abs, beside), beside);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw ioError('remove', abs, err);
    }
    const before = nfs.lstatSync(aside, { bigint: true, throwIfNoEntry: false });
    const held = readIfRegular(aside);
    if (held !== undefined && gitBlobId(held) !== expect) {
      try {
        nfs.linkSync(aside, abs); // put it back, unless a new file took the path meanwhile
      } catch (err) {
        if (errCode(err) !== 'EEXIST') log('could not put back %s: %s', rel, (err as Error).message);
      }
      nfs.rmSync(aside, { force: true });
      return held;
    }
    if (before && dir !== undefined && aside.startsWith(dir)) this.asides.keep(rel, { path: aside, size: before.size, mtimeNs: before.mtimeNs, ctimeNs: before.ctimeNs }, expect);
    else nfs.rmSync(aside, { force: true });
    this.pruneParents(rel);
    return undefined;
  }

  /** Where writes move what they displaced (see `AsideFiles`): the store's folder, if the worktree has one. */
  private asideDir(): string | undefined {
    this.asides.cleanLeftovers(`${this.root}/.cshare/aside`);
    return nfs.existsSync(`${this.root}/.cshare`) ? `${this.root}/.cshare/aside` : undefined;
  }

  onLateSave(listener: (rel: string, bytes: Uint8Array, replaced: string) => void): void {
    this.asides.onLateSave(listener);
  }

  lastWrite(rel: string): LastWrite | undefined {
    return this.written.lastWrite(rel);
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
          // A file replaced since it was written (by a link, or a FIFO, which openRegular
          // opens without blocking and refuses) is not ours to flush.
          let fd: number | undefined;
          try {
            fd = openRegular(abs);
          } catch (err) {
            if (err instanceof CshareError && err.data.errno !== undefined && ['ELOOP', 'EINVAL'].includes(String(err.data.errno))) continue;
            throw err;
          }
          if (fd !== undefined) open.push({ abs, path: abs, fd });
        }
        const failed = (await Promise.allSettled(open.map((t) => flush(t, 'flush')))).find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
      } finally {
        for (const t of open) nfs.closeSync(t.fd!);
      }
    }
  }

  /** Writes `data` to a new temp file beside `rel` with the mode `rel` must get; not flushed. */
  private writeTemp(rel: string, data: Uint8Array, mode: number | undefined): WriteTemp {
    return createTempSync(this.tempSpec(rel, data, mode));
  }

  /**
   * Where the temp file of a write of `rel` goes (its folder created and checked, once per
   * folder with `checkedDirs`) and the permissions it gets: `mode`'s, or, without one, those
   * of the file it replaces.
   */
  private tempSpec(rel: string, data: Uint8Array, mode: number | undefined, checkedDirs?: Map<string, string>): TempSpec {
    const abs = this.abs(rel);
    const relDir = posix.dirname(rel);
    let dir = checkedDirs?.get(relDir);
    if (dir === undefined) {
      dir = this.assertNoSymlinkParents(rel, { create: true, what: 'write' })!;
      checkedDirs?.set(relDir, dir);
    }
    let perms = mode === undefined ? undefined : mode & 0o7777;
    if (perms === undefined) {
      // No mode asked for: an existing file keeps its permissions.
      const old = nfs.lstatSync(abs, { throwIfNoEntry: false });
      if (old?.isFile()) perms = old.mode & 0o7777;
    }
    return { rel, abs, prefix: join(dir, `.${posix.basename(rel)}.cshare-tmp-`), perms, data };
  }

  /**
   * Creates the symlink `rel` -> `target` (replacing what is there), unless the target leaves
   * the worktree or leads into `.git/` or `.cshare/` (`BAD_PATH`): as text (see
   * `unsafeLinkTargetReason`) and as the kernel resolves what exists of it now.
   */
  symlink(rel: string, target: string): void {
    const abs = this.abs(rel);
    const textual = unsafeLinkTargetReason(rel, target);
    if (textual !== undefined) throw badLink(rel, target, textual);
    const dir = this.assertNoSymlinkParents(rel, { create: true, what: 'create symlink' })!;
    const resolved = linkTargetProblem(this.resolvedRoot(), rel, target);
    if (resolved !== undefined) throw badLink(rel, target, resolved);
    const tmp = join(dir, `.${posix.basename(rel)}.cshare-tmp-${tempSuffix(true)}`);
    try {
      nfs.symlinkSync(target, tmp);
      this.assertNoSymlinkParents(rel, { what: 'create symlink' });
      nfs.renameSync(tmp, abs);
    } catch (err) {
      nfs.rmSync(tmp, { force: true });
      throw err instanceof CshareError ? err : ioError('create symlink', abs, err);
    }
  }

  /**
   * Why the link `rel` -> `target` would be refused by {@link symlink}, or undefined: for a
   * caller that would rather leave the path alone than fail (see `core/applyPlan.ts`).
   */
  linkProblem(rel: string, target: string): string | undefined {
    assertSafeRelPath(rel);
    return linkTargetProblem(this.resolvedRoot(), rel, target);
  }

  remove(rel: string): void {
    const abs = this.abs(rel);
    // A missing parent: nothing to remove.
    if (this.assertNoSymlinkParents(rel, { what: 'remove' }) === undefined) return;
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
    const parents = this.assertNoSymlinkParents(rel, { what: 'chmod' });
    const st = parents === undefined ? undefined : nfs.lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined) throw new CshareError('NOT_FOUND', `Cannot chmod ${abs}: it does not exist.`, { path: rel });
    // chmod follows symlinks and Linux has no lchmod; a link's own mode means nothing, so
    // leaving it alone is the correct result, not a skipped error. Nor is anything but a
    // regular file ours to change.
    if (!st.isFile()) return;
    // Through a descriptor of the file itself (O_NOFOLLOW): a link swapped in since the lstat
    // is not followed to change a file elsewhere. A file without read permission cannot be
    // opened; its mode is set by path (the lstat above just saw a regular file there).
    let fd: number | undefined;
    try {
      fd = openRegular(abs);
    } catch (err) {
      if (!(err instanceof CshareError && err.data.errno === 'EACCES')) throw err;
    }
    try {
      if (fd !== undefined) nfs.fchmodSync(fd, mode & 0o7777);
      else nfs.chmodSync(abs, mode & 0o7777);
    } catch (err) {
      throw ioError('chmod', abs, err);
    } finally {
      if (fd !== undefined) nfs.closeSync(fd);
    }
  }

  readExternal(absPath: string): Uint8Array | undefined {
    if (!isAbsolute(absPath)) throw new CshareError('BAD_PATH', `readExternal needs an absolute path, got ${absPath}.`, { path: absPath });
    return readRegular(absPath, true);
  }

  /** The real path of the root, resolved once by the kernel (the root itself may be reached through a link). */
  private resolvedRoot(): string {
    this.realRoot ??= nfs.realpathSync.native(this.root);
    return this.realRoot;
  }

  /**
   * Checks, with `lstat` from the root down, that every parent of `rel` is a real directory:
   * throws `BAD_PATH` if one is a symlink (git's rule: nothing is written, created, renamed,
   * chmod'ed or deleted through a link, wherever it points) and `IO` (`ENOTDIR`) if one is a
   * file. With `create`, missing parents are created; without, returns undefined at the first
   * missing one (nothing there to change). Returns the parent's absolute path. Every method
   * that changes the disk calls this immediately before it acts.
   */
  assertNoSymlinkParents(rel: string, opts: { create?: boolean; what?: string } = {}): string | undefined {
    assertSafeRelPath(rel);
    const { problem, missing, dir } = walkParents(this.root, rel, opts.create === true);
    if (problem) throw parentError(rel, opts.what ?? 'change', problem);
    return missing ? undefined : dir;
  }

  /**
   * The first parent of `rel` that is a symlink or not a folder, or undefined: what
   * {@link assertNoSymlinkParents} would refuse, for a caller that leaves such a path alone.
   */
  parentProblem(rel: string): ParentProblem | undefined {
    assertSafeRelPath(rel);
    return walkParents(this.root, rel, false).problem;
  }
}

/** The `BAD_PATH` of a refused link. */
function badLink(rel: string, target: string, reason: string): CshareError {
  return new CshareError('BAD_PATH', `Refusing symlink ${rel} -> ${JSON.stringify(target.slice(0, 200))}: ${reason}.`, { path: rel, target: target.slice(0, 200) });
}
