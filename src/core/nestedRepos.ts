/**
 * Git repositories inside the shared tree, and what sharing means for them (ARCHITECTURE.md
 * "Nested repositories and submodules"; for users, README.md at `cshare files`).
 *
 * The question is what a collaborator who joins needs to build the project:
 *
 *   - A submodule (a gitlink, mode 160000, in the index of the repository around it) is part
 *     of the project: `git clone --recursive` brings its files. A checked-out submodule's
 *     files are shared, by the submodule's own rules (its `.gitignore` files, its
 *     `info/exclude`, its index for tracked-but-ignored files, and the global excludes; not
 *     the outer repository's rules, which git does not apply in it either). One that is not
 *     checked out has nothing on disk to share, and is said so.
 *   - An untracked repository inside a repository (a clone in `vendor-clone/`) is not part
 *     of the project: git lists it as one entry and a clone of the project does not have
 *     it. It is not shared, and said so; naming it in `.cshareinclude` (`vendor-clone/`)
 *     shares its files as a submodule's. Its files shared before (or tracked) stay shared.
 *   - Outside any repository (sharing a folder of clones), every repository is shared, each
 *     by its own rules.
 *
 * Never shared in any case: a nested repository's `.git` (the walk skips `.git` at every
 * depth), so a joiner gets the files, not another repository's history or hooks.
 */
import { posix } from 'node:path';
import { GitIndex } from './gitIndex.js';
import type { LayerStack } from './ignore/IgnoreRules.js';
import { logger } from './log.js';
import type { DirEntry } from './ports.js';
import { locateGitDirs, message, type ScanRepo } from './scanRepo.js';
import type { WorktreeFs } from './ports.js';

const log = logger('scan');

/** A repository inside the shared tree, as `cshare files` reports it. */
export interface NestedRepo {
  /** Its folder, ending in `/` (as git lists an untracked one). */
  path: string;
  /** `submodule`: a gitlink in the repository around it; `repository`: any other nested one. */
  kind: 'submodule' | 'repository';
  /**
   * `shared`: its files are shared (not its `.git`); `not-shared`: an untracked repository
   * inside a repository, left out; `not-checked-out`: a submodule with no `.git` here.
   */
  state: 'shared' | 'not-shared' | 'not-checked-out';
}

/** What the walk does with a folder that holds a `.git`. */
export type NestedDecision = { share: true; stack: LayerStack } | { share: false };

/** The nested repositories one scan meets, and the tracked paths of those it shares. */
export class NestedRepos {
  readonly found: NestedRepo[] = [];
  /** Checked-out submodules and shared repositories: `dir/` -> their index. */
  private readonly indexes: { prefix: string; index: GitIndex }[] = [];
  private gitlinks: Set<string> | undefined;
  /** Gitlinks met on disk with a `.git` (the rest are reported as not checked out). */
  private readonly seen = new Set<string>();

  constructor(
    private readonly fs: WorktreeFs,
    private readonly repo: ScanRepo,
  ) {}

  /** Is `dir` a submodule of the repository around it (the root's or a shared nested one's)? */
  isGitlink(dir: string): boolean {
    if (this.gitlinks === undefined) {
      this.gitlinks = new Set(this.repo.index?.gitlinks() ?? []);
      for (const { prefix, index } of this.indexes) for (const g of index.gitlinks()) this.gitlinks.add(prefix + g);
    }
    return this.gitlinks.has(dir);
  }

  /**
   * Decides for folder `dir`, whose entries hold a `.git` (of `dotGitKind`). Shared ones get
   * the ignore layers they start from, and their index is loaded for {@link isTracked}.
   */
  decide(dir: string, dotGitKind: DirEntry['kind']): NestedDecision {
    const submodule = this.isGitlink(dir);
    const insideRepo = this.repo.isRepo || this.indexes.some((n) => dir.startsWith(n.prefix));
    if (!submodule && insideRepo && !this.repo.secrets.includes(`${dir}/`)) {
      this.found.push({ path: `${dir}/`, kind: 'repository', state: 'not-shared' });
      return { share: false };
    }
    if (submodule) this.seen.add(dir);
    this.found.push({ path: `${dir}/`, kind: submodule ? 'submodule' : 'repository', state: 'shared' });
    let commonDir: string | undefined;
    try {
      const dirs = locateGitDirs(this.fs, dotGitKind, dir);
      commonDir = dirs?.commonDir;
      const bytes = dirs === undefined ? undefined : this.fs.readExternal(posix.join(dirs.gitDir, 'index'));
      if (bytes !== undefined) this.addIndex(`${dir}/`, GitIndex.parse(bytes));
    } catch (err) {
      // Without its index, its tracked-but-ignored files are missed; the rest is shared.
      log('nested repository %s: %s', dir, message(err));
    }
    return { share: true, stack: this.repo.rules.nestedGlobals(dir, commonDir) };
  }

  private addIndex(prefix: string, index: GitIndex): void {
    this.indexes.push({ prefix, index });
    if (this.gitlinks !== undefined) for (const g of index.gitlinks()) this.gitlinks.add(prefix + g);
  }

  /** Is `path` tracked by a shared nested repository's index? */
  isTracked(path: string): boolean {
    for (let i = 0; i < this.indexes.length; i++) {
      const { prefix, index } = this.indexes[i]!;
      if (path.startsWith(prefix) && index.has(path.slice(prefix.length))) return true;
    }
    return false;
  }

  /** The tracked paths of the shared nested repositories, from the worktree root. */
  *trackedPaths(): Iterable<string> {
    for (const { prefix, index } of this.indexes) for (const p of index.paths()) yield prefix + p;
  }

  /** Whether any nested repository is shared (so {@link isTracked} can answer yes). */
  get any(): boolean {
    return this.indexes.length > 0;
  }

  /** How many shared nested repositories' indexes are loaded. */
  get count(): number {
    return this.indexes.length;
  }

  /**
   * Every repository met, plus the submodules not checked out (`inScope` filters them, for a
   * scoped scan), sorted by path.
   */
  report(inScope: (dir: string) => boolean): NestedRepo[] {
    const out = [...this.found];
    for (const g of this.repo.index?.gitlinks() ?? []) {
      if (!this.seen.has(g) && inScope(g)) out.push({ path: `${g}/`, kind: 'submodule', state: 'not-checked-out' });
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
}
