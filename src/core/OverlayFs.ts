import type { DirEntry, FileStat, WorktreeFs } from './ports.js';

/**
 * The worktree as a scan should see it when some saves are known only in memory: a save that
 * landed while a remote change was being written was moved out of its path by that write
 * (`WriteSurprise.displaced`), and must be recorded as though it were still there. Reads of
 * those paths return the saved bytes; their stat never matches the stat cache (ctime -1), so
 * the scan reads them; everything else passes through. Only for scanning: it writes nothing.
 */
export class OverlayFs implements WorktreeFs {
  constructor(
    private readonly inner: WorktreeFs,
    private readonly saved: ReadonlyMap<string, Uint8Array>,
  ) {}

  get root(): string {
    return this.inner.root;
  }

  readdir(rel: string): DirEntry[] | undefined {
    const entries = this.inner.readdir(rel);
    const prefix = rel === '' ? '' : `${rel}/`;
    let out = entries;
    for (const path of this.saved.keys()) {
      if (!path.startsWith(prefix) || path.slice(prefix.length).includes('/')) continue;
      const name = path.slice(prefix.length);
      out ??= [];
      if (!out.some((e) => e.name === name)) out = [...out, { name, kind: 'file' }];
    }
    return out;
  }

  lstat(rel: string): FileStat | undefined {
    const bytes = this.saved.get(rel);
    if (bytes === undefined) return this.inner.lstat(rel);
    const real = this.inner.lstat(rel);
    const mode = real?.kind === 'file' ? real.mode : 0o100644;
    return { kind: 'file', size: bytes.byteLength, mode, mtimeMs: Date.now(), ctimeMs: -1, ino: real?.ino ?? 0 };
  }

  readFile(rel: string): Uint8Array | undefined {
    return this.saved.get(rel) ?? this.inner.readFile(rel);
  }

  readlink(rel: string): string | undefined {
    return this.inner.readlink(rel);
  }

  readExternal(absPath: string): Uint8Array | undefined {
    return this.inner.readExternal(absPath);
  }

  writeFile(): void {
    throw new Error('OverlayFs is read-only');
  }

  symlink(): void {
    throw new Error('OverlayFs is read-only');
  }

  remove(): void {
    throw new Error('OverlayFs is read-only');
  }

  chmod(): void {
    throw new Error('OverlayFs is read-only');
  }
}
