/** A read-only `WorktreeFs` that notes what a scan lists and reads (for the status cache). */
import type { DirEntry, FileStat, WorktreeFs } from '../../core/ports.js';

/** One directory the walk listed. */
export interface WalkedDir {
  path: string;
  entries: DirEntry[];
}

/**
 * A read-only view of a worktree that notes what a scan lists and reads: each directory's
 * entries, and the files outside the tree and the rule files it reads.
 */
export class RecordingFs implements WorktreeFs {
  readonly dirs: WalkedDir[] = [];
  readonly inputs = new Set<string>();

  constructor(private readonly inner: WorktreeFs) {}

  get root(): string {
    return this.inner.root;
  }

  readdir(rel: string): DirEntry[] | undefined {
    const entries = this.inner.readdir(rel);
    if (entries !== undefined) this.dirs.push({ path: rel, entries });
    return entries;
  }

  lstat(rel: string): FileStat | undefined {
    return this.inner.lstat(rel);
  }

  readFile(rel: string): Uint8Array | undefined {
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    if (RULE_FILE_NAMES.has(name)) this.inputs.add(`${this.inner.root}/${rel}`);
    return this.inner.readFile(rel);
  }

  readlink(rel: string): string | undefined {
    return this.inner.readlink(rel);
  }

  readExternal(absPath: string): Uint8Array | undefined {
    this.inputs.add(absPath);
    return this.inner.readExternal(absPath);
  }

  writeFile(): void {
    throw new Error('RecordingFs is read-only');
  }

  symlink(): void {
    throw new Error('RecordingFs is read-only');
  }

  remove(): void {
    throw new Error('RecordingFs is read-only');
  }

  chmod(): void {
    throw new Error('RecordingFs is read-only');
  }
}

/** Files read for the rules of the paths around them (what `ScanScope` also treats as such). */
const RULE_FILE_NAMES = new Set(['.gitignore', '.cshareignore', '.cshareinclude']);
