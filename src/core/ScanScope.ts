/**
 * Part of a worktree: some paths (files or directories, relative, `''` for the root) and
 * everything under them. A watcher's burst names the paths that changed; scanning only those
 * keeps a save in a tree of 100,000 files from costing a walk and an `lstat` of each.
 */
export class ScanScope {
  private readonly paths: Set<string>;
  private readonly ancestors = new Set<string>();

  constructor(paths: Iterable<string>) {
    this.paths = new Set(paths);
    for (const p of this.paths) {
      for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) {
        const dir = p.slice(0, i);
        if (this.ancestors.has(dir)) break;
        this.ancestors.add(dir);
      }
    }
  }

  /** Is `path` itself one of the scope's paths? */
  has(path: string): boolean {
    return this.paths.has(path);
  }

  /** Is `path` one of the scope's paths or under one? */
  covers(path: string): boolean {
    if (this.paths.has('')) return true;
    for (let p = path; ; ) {
      if (this.paths.has(p)) return true;
      const i = p.lastIndexOf('/');
      if (i < 0) return false;
      p = p.slice(0, i);
    }
  }

  /** Is the directory `dir` above one of the scope's paths (so a walk must go through it)? */
  leadsTo(dir: string): boolean {
    return this.ancestors.has(dir);
  }

  /** The scope's paths. */
  list(): string[] {
    return [...this.paths];
  }

  /**
   * The scope for a burst of changed paths, or undefined when the whole worktree must be
   * scanned: a burst of more than {@link SCOPE_MAX_PATHS} (a checkout; the kernel may also
   * have dropped events of a burst that big), or one that touches a file whose rules decide
   * about other paths (`.gitignore`, `.cshareignore`, `.cshareinclude`, `.gitattributes`).
   */
  static ofChanges(paths: readonly string[]): ScanScope | undefined {
    if (paths.length === 0 || paths.length > SCOPE_MAX_PATHS) return undefined;
    for (const p of paths) {
      const name = p.slice(p.lastIndexOf('/') + 1);
      if (p === '' || RULE_FILES.has(name)) return undefined;
    }
    return new ScanScope(paths);
  }
}

/** See {@link ScanScope.ofChanges}. */
export const SCOPE_MAX_PATHS = 1000;
const RULE_FILES = new Set(['.gitignore', '.cshareignore', '.cshareinclude', '.gitattributes']);

/** Is `path` a per-directory ignore file (`.gitignore`, `.cshareignore`)? */
export function isIgnoreFile(path: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return name === '.gitignore' || name === '.cshareignore';
}
