import { posix } from 'node:path';
import { CshareError } from '../../src/core/errors.js';
import { assertSafeRelPath, unsafeLinkTargetReason } from '../../src/core/paths.js';
import type { DirEntry, FileStat, WorktreeFs } from '../../src/core/ports.js';

type Node =
  | { kind: 'file'; data: Uint8Array; mode: number; mtimeMs: number; ino: number }
  | { kind: 'symlink'; target: string; mtimeMs: number; ino: number }
  | { kind: 'dir'; mtimeMs: number; ino: number };

/** A clock shared by file systems that must stay comparable (every change ticks it). */
export interface MemClock {
  now: number;
}

/**
 * An in-memory {@link WorktreeFs} for fast randomized tests, with the same path safety as
 * `NodeFs` (`test/store/fs/worktreeFsContract.ts` runs both through one suite): every relative
 * path goes through `assertSafeRelPath`, symlinks whose target leaves the root or leads into
 * `.git/` or `.cshare/` are refused, and nothing is written or removed through a symlinked
 * directory.
 *
 * Every change gets a new mtime, ctime and inode from a fake clock, so the scanner's stat
 * cache sees each write as a real file system would, and nothing depends on the wall clock.
 * The clock starts far in the past so no file is ever in the scanner's "racy" window.
 */
export class MemFs implements WorktreeFs {
  readonly root: string;
  private readonly nodes = new Map<string, Node>();
  private nextIno = 1;

  constructor(
    root = '/mem/worktree',
    readonly clock: MemClock = { now: 1_000_000_000_000 },
  ) {
    this.root = root;
    this.nodes.set('', { kind: 'dir', mtimeMs: this.tick(), ino: this.nextIno++ });
  }

  readdir(rel: string): DirEntry[] | undefined {
    const node = this.get(rel, true);
    if (!node || node.kind !== 'dir') return undefined;
    const prefix = rel === '' ? '' : `${rel}/`;
    const out: DirEntry[] = [];
    for (const [path, n] of this.nodes) {
      if (path === '' || !path.startsWith(prefix)) continue;
      const name = path.slice(prefix.length);
      if (!name.includes('/')) out.push({ name, kind: n.kind });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  lstat(rel: string): FileStat | undefined {
    const n = this.get(rel, true);
    if (!n) return undefined;
    const size = n.kind === 'file' ? n.data.byteLength : n.kind === 'symlink' ? Buffer.byteLength(n.target) : 0;
    const mode = n.kind === 'file' ? 0o100000 | n.mode : n.kind === 'symlink' ? 0o120777 : 0o040755;
    return { kind: n.kind, size, mode, mtimeMs: n.mtimeMs, ctimeMs: n.mtimeMs, ino: n.ino };
  }

  readFile(rel: string): Uint8Array | undefined {
    const n = this.get(rel);
    if (!n) return undefined;
    if (n.kind !== 'file') throw new CshareError('IO', `Cannot read ${rel}: not a file`, { path: rel });
    return n.data.slice();
  }

  readlink(rel: string): string | undefined {
    const n = this.get(rel);
    if (!n) return undefined;
    if (n.kind !== 'symlink') throw new CshareError('IO', `Cannot read link ${rel}: not a symlink`, { path: rel });
    return n.target;
  }

  writeFile(rel: string, data: Uint8Array, mode?: number): void {
    assertSafeRelPath(rel);
    this.ensureParent(rel);
    const old = this.nodes.get(rel);
    if (old?.kind === 'dir') throw new CshareError('IO', `Cannot write ${rel}: it is a directory`, { path: rel });
    const perms = mode !== undefined ? mode & 0o7777 : old?.kind === 'file' ? old.mode : 0o644;
    // Temp file + rename: a new inode, like NodeFs.
    this.nodes.set(rel, { kind: 'file', data: data.slice(), mode: perms, mtimeMs: this.tick(), ino: this.nextIno++ });
  }

  symlink(rel: string, target: string): void {
    assertSafeRelPath(rel);
    // NodeFs's textual rule (it also asks the kernel, which a tree without links to follow
    // cannot answer otherwise): out of the worktree, into `.git/` or `.cshare/`, empty or NUL.
    const reason = unsafeLinkTargetReason(rel, target);
    if (reason !== undefined) throw new CshareError('BAD_PATH', `Refusing symlink ${rel} -> ${JSON.stringify(target.slice(0, 200))}: ${reason}.`, { path: rel, target: target.slice(0, 200) });
    this.ensureParent(rel);
    if (this.nodes.get(rel)?.kind === 'dir') throw new CshareError('IO', `Cannot create symlink ${rel}: it is a directory`, { path: rel });
    this.nodes.set(rel, { kind: 'symlink', target, mtimeMs: this.tick(), ino: this.nextIno++ });
  }

  remove(rel: string): void {
    assertSafeRelPath(rel);
    this.checkParents(rel);
    const n = this.nodes.get(rel);
    if (!n) return;
    if (n.kind === 'dir') throw new CshareError('IO', `Cannot remove ${rel}: it is a directory.`, { path: rel });
    this.nodes.delete(rel);
    this.tick();
    for (let d = posix.dirname(rel); d !== '.'; d = posix.dirname(d)) {
      if ((this.readdir(d) ?? []).length > 0) break;
      this.nodes.delete(d);
    }
  }

  chmod(rel: string, mode: number): void {
    assertSafeRelPath(rel);
    this.checkParents(rel);
    const n = this.nodes.get(rel);
    if (!n) throw new CshareError('NOT_FOUND', `Cannot chmod ${rel}: it does not exist.`, { path: rel });
    if (n.kind !== 'file') return;
    n.mode = mode & 0o7777;
    n.mtimeMs = this.tick();
  }

  readExternal(absPath: string): Uint8Array | undefined {
    if (!posix.isAbsolute(absPath)) throw new CshareError('BAD_PATH', `readExternal needs an absolute path, got ${absPath}.`, { path: absPath });
    return this.external.get(absPath)?.slice();
  }

  /**
   * Files outside the worktree by absolute path (a global excludes file, `.git/index`): what
   * {@link readExternal} reads. Empty unless a test puts some there.
   */
  readonly external = new Map<string, Uint8Array>();

  // -------------------------------------------------------------------------------------------
  // For tests: what a user (or an editor) does, and what is there.

  /** Moves a file or symlink (the user's `mv`), creating parents. */
  rename(from: string, to: string): void {
    assertSafeRelPath(from);
    assertSafeRelPath(to);
    const n = this.nodes.get(from);
    if (!n || n.kind === 'dir') throw new CshareError('IO', `Cannot rename ${from}`, { path: from });
    if (this.nodes.get(to)?.kind === 'dir') throw new CshareError('IO', `Cannot rename onto directory ${to}`, { path: to });
    this.remove(from);
    // After the remove, which may have pruned the parent it shared with `to`.
    this.ensureParent(to);
    // rename(2) keeps the inode; the ctime changes.
    this.nodes.set(to, { ...n, mtimeMs: n.mtimeMs });
    this.tick();
  }

  /** Creates a directory and its parents (`.git` for a repository whose files are {@link external}). */
  mkdir(rel: string): void {
    // Not checked as a path cshare may write: `.git` is what it is for.
    this.ensureParent(`${rel}/x`);
  }

  /**
   * Writes into the existing file at `rel` (an append, or an editor saving in place): its inode
   * stays, its size, mtime and ctime change. Creates the file where there is none.
   */
  writeInPlace(rel: string, data: Uint8Array): void {
    const n = this.nodes.get(rel);
    if (n?.kind !== 'file') return this.writeFile(rel, data);
    n.data = data.slice();
    n.mtimeMs = this.tick();
  }

  /** Every file and symlink as path -> "mode:content" (like `treeOf`), sorted by path. */
  snapshot(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const path of [...this.nodes.keys()].sort()) {
      const n = this.nodes.get(path)!;
      if (n.kind === 'file') out[path] = `${n.mode & 0o111 ? 'x' : '-'}:${Buffer.from(n.data).toString('base64')}`;
      else if (n.kind === 'symlink') out[path] = `link:${n.target}`;
    }
    return out;
  }

  /** Paths of files and symlinks. */
  files(): string[] {
    return [...this.nodes].filter(([, n]) => n.kind !== 'dir').map(([p]) => p).sort();
  }

  private tick(): number {
    return ++this.clock.now;
  }

  private get(rel: string, allowRoot = false): Node | undefined {
    if (!(rel === '' && allowRoot)) assertSafeRelPath(rel);
    // A path below a file or symlink does not exist (ENOTDIR), as on disk.
    return this.nodes.get(rel);
  }

  /** Refuses a path whose parent is a symlink: the link could lead out of the root. */
  private checkParents(rel: string): void {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (this.nodes.get(dir)?.kind === 'symlink') {
        throw new CshareError('BAD_PATH', `Refusing to touch ${rel}: ${dir} is a symlink.`, { path: rel });
      }
    }
  }

  private ensureParent(rel: string): void {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const n = this.nodes.get(dir);
      if (!n) this.nodes.set(dir, { kind: 'dir', mtimeMs: this.tick(), ino: this.nextIno++ });
      else if (n.kind === 'symlink') throw new CshareError('BAD_PATH', `Refusing to write ${rel}: ${dir} is a symlink.`, { path: rel });
      else if (n.kind !== 'dir') throw new CshareError('IO', `Cannot write ${rel}: ${dir} is not a directory.`, { path: rel });
    }
  }
}
