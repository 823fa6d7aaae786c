/**
 * The convergence fuzzer's disks. {@link FuzzFs} is a replica's worktree (it survives the
 * process); {@link ProcFs} is one process's handle on it, fenced when the process crashes.
 *
 * Users' saves may land at any moment of a write of cshare's, as on a real disk. `FuzzFs`
 * writes as `NodeFs` does where it matters for that (`guardedPlace.ts`, `AsideFiles.ts`): a
 * guarded write swaps its file in atomically and hands back what it displaced, a writer that
 * had the replaced file open may still write into it (a late save, handed to the listener a
 * moment later), and the stat taken after a write vouches for it only if nothing replaced it
 * since. At each of those points, and before every call a process makes, the fuzzer may make
 * a user's save (`SaveHook`): in place, by rename, or into the replaced file. The in-memory
 * twin's single thread makes every step between those points atomic, so only the windows a
 * real disk has are opened, and all of them are.
 */
import { gitBlobId } from '../../src/core/digest.js';
import { CshareError } from '../../src/core/errors.js';
import type { DirEntry, FileStat, FileWrite, WorktreeFs, WriteSurprise } from '../../src/core/ports.js';
import { MemFs, type MemClock } from '../helpers/MemFs.js';

/** Where a user's save may land during a write of cshare's (see {@link SaveHook}). */
export type SavePoint =
  /** Before a call of the process on the file system (see {@link ProcFs}). */
  | 'call'
  /** Right before a guarded write swaps its file in, or a guarded removal moves the file away. */
  | 'exchange'
  /** Into the file a guarded write or removal just replaced, by a writer that had it open. */
  | 'oldInode'
  /** Right after a guarded write put its file in place, before it looks at it again. */
  | 'placed';

/**
 * A user's save at `point` for `rel`. It changes the disk itself, except at `'oldInode'`,
 * where it returns what the writer left in the replaced file (`old` is what that file held),
 * or undefined if it wrote nothing there.
 */
export type SaveHook = (point: SavePoint, rel: string, old?: Uint8Array) => Uint8Array | undefined;

/** A replica's worktree in the fuzzer (see the header). */
export class FuzzFs extends MemFs {
  /** Consulted at each point where a user's save may land. */
  hook: SaveHook | undefined;
  /** Late saves not yet handed over (taken by the {@link ProcFs} whose write made them). */
  readonly lateSaves: { rel: string; bytes: Uint8Array; replaced: string }[] = [];

  constructor(root: string, clock: MemClock) {
    super(root, clock);
  }

  /** As `NodeFs.writeFiles`: every parent checked before any file is placed; each file placed with its guard. */
  async writeFiles(files: readonly FileWrite[]): Promise<WriteSurprise[]> {
    for (const f of files) this.checkWritable(f.rel);
    const results: WriteSurprise[] = [];
    for (const f of files) {
      const result: WriteSurprise = { rel: f.rel };
      results.push(result);
      if (f.expect !== undefined) {
        this.hook?.('exchange', f.rel);
        const st = this.lstat(f.rel);
        if (st && (f.expect === null || st.kind !== 'file')) {
          result.occupied = true;
          continue;
        }
        // A free path (expected, or the file was deleted since): the write brings it back.
        const held = st ? this.readFile(f.rel) : undefined;
        this.writeFile(f.rel, f.data, f.mode);
        if (held !== undefined && gitBlobId(held) !== f.expect) result.displaced = held;
        else if (held !== undefined && f.expect !== null) this.lateSave(f.rel, held, f.expect);
      } else this.writeFile(f.rel, f.data, f.mode);
      const placed = this.lstat(f.rel)!;
      this.hook?.('placed', f.rel);
      const now = this.lstat(f.rel);
      if (now && now.ino === placed.ino && now.size === placed.size && now.mtimeMs === placed.mtimeMs) result.stat = now;
    }
    return results;
  }

  /** As `NodeFs.removeIfUnchanged`: a save that landed first keeps the file; one into the removed file is a late save. */
  removeIfUnchanged(rel: string, expect: string): Uint8Array | undefined {
    this.hook?.('exchange', rel);
    const st = this.lstat(rel);
    if (st === undefined) return undefined;
    if (st.kind !== 'file') throw new CshareError('IO', `Cannot remove ${rel}: it is not a regular file.`, { path: rel });
    const held = this.readFile(rel)!;
    if (gitBlobId(held) !== expect) return held;
    this.remove(rel);
    this.lateSave(rel, held, expect);
    return undefined;
  }

  /** A writer that had the replaced file open writes into it now (if the hook says so). */
  private lateSave(rel: string, old: Uint8Array, expect: string): void {
    const late = this.hook?.('oldInode', rel, old);
    if (late !== undefined && gitBlobId(late) !== expect) this.lateSaves.push({ rel, bytes: late, replaced: expect });
  }

  /** Throws as `writeFile` would for a parent that is a symlink or a file, before anything is written. */
  private checkWritable(rel: string): void {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const kind = this.lstat(dir)?.kind;
      if (kind === 'symlink') throw new CshareError('BAD_PATH', `Refusing to write ${rel}: ${dir} is a symlink.`, { path: rel });
      if (kind !== undefined && kind !== 'dir') throw new CshareError('IO', `Cannot write ${rel}: ${dir} is not a directory.`, { path: rel });
    }
  }
}

/** Options of a {@link ProcFs}. */
export interface ProcFsOptions {
  /**
   * Offer the guarded writes and late saves of {@link FuzzFs} (as `NodeFs` does). Without them
   * the replica falls back to a check and a write (`writeGuarded`), as the fuzzer ran before.
   */
  guarded: boolean;
  /** Before each call of the process: a user's save may land (`'call'`). */
  before?: (rel: string) => void;
  /** Runs `fn` a moment later (a late save is handed over after a grace period). */
  later: (fn: () => void) => void;
  /** A late save reached a process that had crashed meanwhile: it is gone, as in `NodeFs`. */
  onLost: (rel: string, bytes: Uint8Array) => void;
}

/** A process's handle on its worktree: once the process crashed, it can no longer touch the disk. */
export class ProcFs implements WorktreeFs {
  fenced = false;
  writeFiles?: WorktreeFs['writeFiles'];
  removeIfUnchanged?: WorktreeFs['removeIfUnchanged'];
  onLateSave?: WorktreeFs['onLateSave'];
  private listener: ((rel: string, bytes: Uint8Array, replaced: string) => void) | undefined;

  constructor(
    private readonly fs: FuzzFs,
    private readonly opts: ProcFsOptions,
  ) {
    if (opts.guarded) {
      this.writeFiles = async (files) => {
        this.call(files[0]?.rel ?? '');
        try {
          return await this.fs.writeFiles(files);
        } finally {
          this.handOverLateSaves();
        }
      };
      this.removeIfUnchanged = (rel, expect) => {
        try {
          return this.call(rel).removeIfUnchanged(rel, expect);
        } finally {
          this.handOverLateSaves();
        }
      };
      this.onLateSave = (listener) => {
        this.listener = listener;
      };
    }
  }

  get root(): string {
    return this.fs.root;
  }

  private call(rel: string): FuzzFs {
    if (this.fenced) throw new CshareError('IO', 'the process crashed (simulated)');
    this.opts.before?.(rel);
    // The save may have been the last straw: nothing is fenced by it, but check again anyway.
    if (this.fenced) throw new CshareError('IO', 'the process crashed (simulated)');
    return this.fs;
  }

  private handOverLateSaves(): void {
    for (const { rel, bytes, replaced } of this.fs.lateSaves.splice(0)) {
      this.opts.later(() => {
        if (this.fenced || !this.listener) this.opts.onLost(rel, bytes);
        else this.listener(rel, bytes, replaced);
      });
    }
  }

  readdir(rel: string): DirEntry[] | undefined {
    return this.call(rel).readdir(rel);
  }
  lstat(rel: string): FileStat | undefined {
    return this.call(rel).lstat(rel);
  }
  readFile(rel: string): Uint8Array | undefined {
    return this.call(rel).readFile(rel);
  }
  readlink(rel: string): string | undefined {
    return this.call(rel).readlink(rel);
  }
  writeFile(rel: string, data: Uint8Array, mode?: number): void {
    this.call(rel).writeFile(rel, data, mode);
  }
  symlink(rel: string, target: string): void {
    this.call(rel).symlink(rel, target);
  }
  remove(rel: string): void {
    this.call(rel).remove(rel);
  }
  chmod(rel: string, mode: number): void {
    this.call(rel).chmod(rel, mode);
  }
  readExternal(absPath: string): Uint8Array | undefined {
    if (this.fenced) throw new CshareError('IO', 'the process crashed (simulated)');
    return this.fs.readExternal(absPath);
  }
}
