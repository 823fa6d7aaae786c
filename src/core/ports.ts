/**
 * The ports `core` depends on. `core` never touches LevelDB or the file system itself; it is
 * handed implementations of these interfaces (`LevelStore`/`MemoryStore`, `NodeFs`).
 */

/** One write in an atomic batch. */
export type KvBatchOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

/** Range options for {@link KvStore.iterate}; keys compare as UTF-8 strings. */
export interface KvRange {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  reverse?: boolean;
  limit?: number;
}

/**
 * An ordered key-value store with atomic batches. All writes of one recorded change go in
 * one `batch`, so a crash leaves either all of them or none.
 */
export interface KvStore {
  get(key: string): Promise<Uint8Array | undefined>;
  getMany(keys: string[]): Promise<(Uint8Array | undefined)[]>;
  /** Which keys exist, without reading their values (a join checks thousands of blobs). */
  hasMany(keys: string[]): Promise<boolean[]>;
  put(key: string, value: Uint8Array): Promise<void>;
  del(key: string): Promise<void>;
  batch(ops: KvBatchOp[]): Promise<void>;
  /** Entries in key order (or reverse) within the range. */
  iterate(range: KvRange): AsyncIterable<[string, Uint8Array]>;
  /** The keys of {@link iterate}, without reading values. */
  keys(range: KvRange): AsyncIterable<string>;
  /** Approximate bytes used on disk (or in memory for the twin). */
  size(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Where a replica keeps blob bytes beside its {@link KvStore}: appended, never rewritten, so
 * file content does not pass through the store's log and compactions (a 10,000-file join
 * spent ~1.5 s of CPU compacting its blobs). The store keeps a reference to each.
 */
export interface BlobPackStore {
  /** Appends the blobs and makes them durable; resolves with a reference to each, in order. */
  append(blobs: readonly Uint8Array[]): Promise<Uint8Array[]>;
  /** The bytes a reference returned by `append` points at. */
  read(ref: Uint8Array): Promise<Uint8Array>;
  /** Approximate bytes on disk. */
  size(): number;
  close(): void;
}

/** What {@link WorktreeFs.lstat} reports; never follows symlinks. */
export interface FileStat {
  kind: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  mode: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

/** One directory entry. */
export interface DirEntry {
  name: string;
  kind: 'file' | 'dir' | 'symlink' | 'other';
}

/**
 * The running boot of the machine a worktree's disk belongs to. A file written without a
 * flush can only be torn (empty, or cut short, while the store says it is complete) by a
 * crash of the machine, and the machine comes back from one in a new boot.
 */
export interface BootInfo {
  /** Different on every boot (Linux: `/proc/sys/kernel/random/boot_id`). */
  id: string;
  /** When the boot started, in ms since the epoch (a file older than this predates the boot). */
  startedMs: number;
}

/** A parent of a path that is not a real folder (see {@link WorktreeFs.parentProblem}). */
export interface PathObstacle {
  /** The parent, relative to the root. */
  at: string;
  /** What it is, in words. */
  reason: string;
}

/** One file of {@link WorktreeFs.writeFiles}. */
export interface FileWrite {
  rel: string;
  data: Uint8Array;
  mode?: number;
  /**
   * What `rel` must hold when the write replaces it: the git blob id of the content the writer
   * last saw there, or null for nothing (the path was free). A save that lands in between is
   * then never overwritten unseen: what it left is handed back ({@link WriteSurprise}).
   * Undefined: replaced whatever it holds.
   */
  expect?: string | null;
}

/** What {@link WorktreeFs.writeFiles} did with one file. */
export interface WriteSurprise {
  rel: string;
  /** The file held other content: it was replaced, and this is what it held (a save to merge). */
  displaced?: Uint8Array;
  /** The path was taken (a file created meanwhile, or not a regular file): nothing was written. */
  occupied?: true;
  /**
   * The written file's stat, taken once it was in place and checked to be still the file
   * written (same inode, size and mtime). Undefined when it was not (a save landed right after
   * the write): then no stat may vouch for its content, and the next scan reads it.
   */
  stat?: FileStat;
}

/** What became of the file cshare last wrote at a path (`WorktreeFs.lastWrite`). */
export interface LastWrite {
  /**
   * It was read since (an editor reloading it reads it; on Linux `relatime` updates the access
   * time on the first read after a write). Any reader does: a build, `grep`, a poll.
   */
  read: boolean;
  /**
   * The path still holds that very file, unmodified (same inode, same modification time):
   * what is there is cshare's write, not anyone's save.
   */
  inPlace: boolean;
}

/**
 * The worktree on disk, addressed by paths relative to its root with `/` separators.
 * Synchronous on purpose: a scan does tens of thousands of tiny calls, and sync `lstat` is
 * several times faster than the thread-pool round trip of the async one.
 */
export interface WorktreeFs {
  /** Absolute root of the worktree. */
  readonly root: string;
  /** Entries of a directory, or `undefined` if it vanished. Throws `IO` if unreadable. */
  readdir(rel: string): DirEntry[] | undefined;
  /** Stat without following symlinks, or `undefined` if it does not exist. */
  lstat(rel: string): FileStat | undefined;
  /** Contents, or `undefined` if the file vanished. Throws `IO` if unreadable. */
  readFile(rel: string): Uint8Array | undefined;
  /** Target of a symlink, or `undefined` if it vanished. */
  readlink(rel: string): string | undefined;
  /** Writes atomically (temp file + rename), creating parent directories. */
  writeFile(rel: string, data: Uint8Array, mode?: number): void;
  /**
   * Writes many files as {@link writeFile} does, each atomically, but may overlap their
   * flushes to disk (one fsync per file, one after the other, was most of a 10,000-file
   * join). If one fails, none is renamed into place. Optional: without it, `writeFile` runs
   * for each. With `flush: false` the files are not flushed at all (only where {@link boot}
   * tells the boot, so that a write a crash tore can be found; see `core/unflushed.ts`).
   */
  writeFiles?(files: readonly FileWrite[], opts?: { flush?: boolean }): Promise<WriteSurprise[]>;  // one per file, in order
  /**
   * Removes a file only if it still holds `expect` (a git blob id); otherwise leaves it (or puts
   * it back) and returns what it holds: a save that landed meanwhile wins over the removal.
   * Optional: without it, {@link remove} after a read.
   */
  removeIfUnchanged?(rel: string, expect: string): Uint8Array | undefined;
  /**
   * What became of the file this object last wrote at `rel` (see {@link LastWrite}). Undefined
   * when that cannot be told (not written by this process, or no access times here).
   */
  lastWrite?(rel: string): LastWrite | undefined;
  /**
   * Listens for saves that reached a file after a write had moved it aside: a writer that
   * opened it just before (an append, an in-place save) and wrote just after. The write keeps
   * what it moved aside for a moment and hands over what such a writer left there, with the
   * git blob id of what the write replaced (the text the save was made on).
   */
  onLateSave?(listener: (rel: string, bytes: Uint8Array, replaced: string) => void): void;
  /**
   * The machine's running boot, where the file system can tell it; writes are then allowed to
   * go unflushed. Undefined: every write is flushed before the store records it.
   */
  boot?(): BootInfo | undefined;
  /** Flushes files written without a flush; a path that is gone is skipped. */
  flushFiles?(rels: readonly string[]): Promise<void>;
  /** Creates a symlink (replacing what is there). */
  symlink(rel: string, target: string): void;
  /**
   * The first parent of `rel` that is a symlink or not a folder, or undefined: writes,
   * removals and chmods of `rel` are refused then (nothing is ever changed through a link).
   * Optional: a file system without links has nothing to say.
   */
  parentProblem?(rel: string): PathObstacle | undefined;
  /** Why {@link symlink} would refuse `rel` -> `target` (it leads out, or into `.git/`), or undefined. */
  linkProblem?(rel: string, target: string): string | undefined;
  /** Removes a file or symlink; a missing file is not an error. Removes emptied parents. */
  remove(rel: string): void;
  /** Sets the permission bits. */
  chmod(rel: string, mode: number): void;
  /** Reads a file outside the worktree (global git config, excludes file); `undefined` if absent. */
  readExternal(absPath: string): Uint8Array | undefined;
}
