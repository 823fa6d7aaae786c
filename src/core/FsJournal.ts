import { logger } from './log.js';
import { gitBlobId } from './digest.js';
import type { BootInfo, DirEntry, FileStat, FileWrite, LastWrite, PathObstacle, WorktreeFs, WriteSurprise } from './ports.js';

const log = logger('journal');

/** What a path held before the first write of a journaled operation touched it. */
type Prior = { kind: 'absent' } | { kind: 'file'; bytes: Uint8Array; mode: number } | { kind: 'symlink'; target: string };

/**
 * A {@link WorktreeFs} that can undo its writes: between {@link begin} and {@link end} it
 * remembers what every path held before its first write, and {@link rollback} puts those
 * contents back. Outside a journaled operation it only passes calls through.
 *
 * Applying remote changes writes files before it commits the store (the stat cache records
 * what was written). If the apply fails half way (disk full, an unwritable file, a path
 * refused), the files already written would look like local edits to the next scan and be
 * recorded as this replica's own, duplicating the remote text once the change is applied
 * again. Rolling them back keeps the disk as the store describes it.
 */
export class FsJournal implements WorktreeFs {
  private priors: Map<string, Prior> | null = null;
  private signal: AbortSignal | undefined;

  constructor(private readonly inner: WorktreeFs) {}

  get root(): string {
    return this.inner.root;
  }

  /**
   * Starts remembering what writes replace. Once `signal` is aborted, every write of the
   * operation throws its reason before it touches the disk: the caller rolls back, and a
   * stopped apply leaves the disk as it found it.
   */
  begin(opts: { signal?: AbortSignal } = {}): void {
    this.priors = new Map();
    this.signal = opts.signal;
  }

  /** The operation succeeded: forget what was remembered. */
  end(): void {
    this.priors = null;
    this.signal = undefined;
  }

  /**
   * Restores every path written since {@link begin}, newest first, and ends the operation.
   * Returns the paths that could not be restored (each failure is logged).
   */
  rollback(): string[] {
    const priors = this.priors;
    this.priors = null;
    this.signal = undefined;
    if (!priors) return [];
    const failed: string[] = [];
    for (const [rel, prior] of [...priors].reverse()) {
      try {
        if (prior.kind === 'absent') this.inner.remove(rel);
        else if (prior.kind === 'file') this.inner.writeFile(rel, prior.bytes, prior.mode & 0o7777);
        else this.inner.symlink(rel, prior.target);
      } catch (err) {
        log('could not restore %s: %s', rel, err instanceof Error ? err.message : String(err));
        failed.push(rel);
      }
    }
    return failed;
  }

  readdir(rel: string): DirEntry[] | undefined {
    return this.inner.readdir(rel);
  }

  lstat(rel: string): FileStat | undefined {
    return this.inner.lstat(rel);
  }

  readFile(rel: string): Uint8Array | undefined {
    return this.inner.readFile(rel);
  }

  readlink(rel: string): string | undefined {
    return this.inner.readlink(rel);
  }

  writeFile(rel: string, data: Uint8Array, mode?: number): void {
    this.stopIfAborted();
    this.remember(rel);
    this.inner.writeFile(rel, data, mode);
  }

  /** The port's optional batched write, where the wrapped file system has one. */
  async writeFiles(files: readonly FileWrite[], opts?: { flush?: boolean }): Promise<WriteSurprise[]> {
    this.stopIfAborted();
    for (const f of files) this.remember(f.rel);
    const surprises = await writeGuarded(this.inner, files, opts);
    // A save that landed after it was remembered is what a rollback must put back.
    for (const s of surprises) {
      const prior = this.priors?.get(s.rel);
      if (s.displaced && prior) this.priors!.set(s.rel, { kind: 'file', bytes: s.displaced, mode: prior.kind === 'file' ? prior.mode : 0o644 });
      if (s.occupied) this.priors?.delete(s.rel);
    }
    return surprises;
  }

  removeIfUnchanged(rel: string, expect: string): Uint8Array | undefined {
    this.stopIfAborted();
    this.remember(rel);
    const kept = this.inner.removeIfUnchanged ? this.inner.removeIfUnchanged(rel, expect) : removeChecked(this.inner, rel, expect);
    if (kept !== undefined) this.priors?.delete(rel);
    return kept;
  }

  lastWrite(rel: string): LastWrite | undefined {
    return this.inner.lastWrite?.(rel);
  }

  boot(): BootInfo | undefined {
    return this.inner.boot?.();
  }

  async flushFiles(rels: readonly string[]): Promise<void> {
    await this.inner.flushFiles?.(rels);
  }

  symlink(rel: string, target: string): void {
    this.stopIfAborted();
    this.remember(rel);
    this.inner.symlink(rel, target);
  }

  parentProblem(rel: string): PathObstacle | undefined {
    return this.inner.parentProblem?.(rel);
  }

  linkProblem(rel: string, target: string): string | undefined {
    return this.inner.linkProblem?.(rel, target);
  }

  remove(rel: string): void {
    this.stopIfAborted();
    this.remember(rel);
    this.inner.remove(rel);
  }

  chmod(rel: string, mode: number): void {
    this.stopIfAborted();
    this.remember(rel);
    this.inner.chmod(rel, mode);
  }

  readExternal(absPath: string): Uint8Array | undefined {
    return this.inner.readExternal(absPath);
  }

  /** Within a journaled operation whose signal was aborted: throws its reason. */
  private stopIfAborted(): void {
    if (this.priors) this.signal?.throwIfAborted();
  }

  private remember(rel: string): void {
    if (!this.priors || this.priors.has(rel)) return;
    const st = this.inner.lstat(rel);
    let prior: Prior = { kind: 'absent' };
    if (st?.kind === 'symlink') {
      const target = this.inner.readlink(rel);
      if (target !== undefined) prior = { kind: 'symlink', target };
    } else if (st?.kind === 'file') {
      const bytes = this.inner.readFile(rel);
      if (bytes !== undefined) prior = { kind: 'file', bytes, mode: st.mode };
    }
    // A directory or other kind is left alone by every write (they refuse it), so there is
    // nothing to restore; 'absent' would remove it, so it is not remembered at all.
    if (st && st.kind !== 'file' && st.kind !== 'symlink') return;
    this.priors.set(rel, prior);
  }
}

/**
 * Writes files as {@link WorktreeFs.writeFiles} does, with its guard ({@link FileWrite.expect}),
 * on a file system that may lack the batched call (the in-memory twin, whose single thread
 * makes the check and the write one step).
 */
export async function writeGuarded(fs: WorktreeFs, files: readonly FileWrite[], opts?: { flush?: boolean }): Promise<WriteSurprise[]> {
  if (fs.writeFiles) return fs.writeFiles(files, opts);
  const results: WriteSurprise[] = [];
  for (const f of files) {
    const result: WriteSurprise = { rel: f.rel };
    results.push(result);
    if (f.expect !== undefined) {
      const st = fs.lstat(f.rel);
      if (st && (f.expect === null || st.kind !== 'file')) {
        result.occupied = true;
        continue;
      }
      const held = st ? fs.readFile(f.rel) : undefined;
      if (held !== undefined && gitBlobId(held) !== f.expect) result.displaced = held;
    }
    fs.writeFile(f.rel, f.data, f.mode);
    result.stat = fs.lstat(f.rel);
  }
  return results;
}

/** {@link WorktreeFs.removeIfUnchanged} on a file system without it: a read, then the removal. */
export function removeChecked(fs: WorktreeFs, rel: string, expect: string): Uint8Array | undefined {
  const st = fs.lstat(rel);
  if (st?.kind === 'file') {
    const held = fs.readFile(rel);
    if (held !== undefined && gitBlobId(held) !== expect) return held;
  }
  fs.remove(rel);
  return undefined;
}
