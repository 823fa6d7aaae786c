/**
 * Scans a worktree: which files are shared (git's `ls-files --cached --others
 * --exclude-standard`, plus `.cshareignore`, minus secrets), and the git blob id and kind of
 * each.
 *
 * Two phases. The walk lists candidates, testing each untracked path against the ignore
 * layers that apply in its directory and never descending into an ignored directory except
 * along paths the git index tracks. Then each candidate is `lstat`ed and its digest taken,
 * from the cheapest source that is still correct:
 *
 *   1. the stat cache, when size, mtime, ctime, inode and mode are all unchanged (no read);
 *   2. the git index oid, when git's own stat data matches and git cannot have been fooled
 *      (`indexVouches` in `scanFiles.ts`, and no eol conversion or attributes: `scanRepo.ts`);
 *      the file is still read to classify it as text or binary, unless it is over the text
 *      limit or the cache already knows the kind of that oid, because the kind is a function
 *      of the bytes and is not in the index;
 *   3. otherwise read and hash.
 *
 * Racy entries: a file written in the same clock tick as the scan could change again
 * without its stat changing. Like git, which smudges such index entries, the scan returns
 * their `stat` with `ctimeMs = -1` so that a cache built from it never matches, and the next
 * scan reads them again.
 */
import { DEFAULT_TEXT_LIMIT } from './classify.js';
import type { LayerStack } from './ignore/IgnoreRules.js';
import { isScratchName } from './ignore/scratch.js';
import { logger } from './log.js';
import { isCshareTempName, LOCAL_POLICY_FILE, MAX_REL_PATH, unsafeRelPathReason } from './paths.js';
import type { RefusedCode, ScanError } from './refused.js';
import type { DirEntry, WorktreeFs } from './ports.js';
import { NestedRepos, type NestedRepo } from './nestedRepos.js';
import { message, openRepo, type ScanRepo } from './scanRepo.js';
import { scanFiles, type CachedStat, type ScanCounts, type ScannedFile } from './scanFiles.js';
import type { ScanScope } from './ScanScope.js';

// What a scan yields, and the scope it covers, are named from here too.
export type { CachedStat, FileKind, ScanCounts, ScannedFile } from './scanFiles.js';
export type { NestedRepo } from './nestedRepos.js';
export { isIgnoreFile, ScanScope, SCOPE_MAX_PATHS } from './ScanScope.js';

const log = logger('scan');

/**
 * A path that is not shared, and why: an ignore rule, the secret deny-list, an editor or OS
 * scratch file (`scratch.ts`), a file that only ever applies here (`.cshareinclude`), or an
 * untracked git repository inside the repository (`nestedRepos.ts`). An ignored directory or
 * a nested repository is listed once, as `dir/`.
 */
export interface ExcludedFile {
  path: string;
  reason: 'ignored' | 'secret' | 'scratch' | 'local' | 'nested';
}

/** Options for {@link scanWorktree}. */
export interface ScanOptions {
  fs: WorktreeFs;
  /** The previous scan's stat entries by path; an empty map scans cold. */
  statCache: Pick<ReadonlyMap<string, CachedStat>, 'get'>;
  /** Files larger than this are binary (default {@link DEFAULT_TEXT_LIMIT}). */
  textLimit?: number;
  /** Home directory, for `~/.gitconfig` and the global excludes file (default `env.HOME`). */
  home?: string;
  /** Environment: `HOME`, `XDG_CONFIG_HOME`, `GIT_CONFIG_GLOBAL`. Never read from `process`. */
  env?: Record<string, string | undefined>;
  /** Also list ignored paths in `excluded` (secrets are always listed). */
  includeExcluded?: boolean;
  signal?: AbortSignal;
  /**
   * A file whose mtime or ctime is this close to the scan start is racy. Default: 3000 ms for
   * a time in whole seconds (enough for the 2 s timestamps of FAT), {@link FINE_RACY_WINDOW_MS}
   * for a time with a fraction of a second (see `isRacy` in `scanFiles.ts`); given, it is
   * used for both.
   */
  racyWindowMs?: number;
  /** The scan start time in ms since the epoch (default `Date.now()`); for tests. */
  now?: number;
  /** Scan only these paths and what is under them (default: the whole worktree). */
  scope?: ScanScope;
  /**
   * Paths shared through cshare and on disk here (a live manifest entry this replica wrote or
   * recorded): like the files git tracks, ignore rules do not apply to them. Otherwise a file
   * one side shares (`git add -f` of an ignored file, or one shared before a rule was added)
   * is ignored on the other, which then records its deletion for everyone.
   */
  shared?: ReadonlySet<string>;
  /** Rule files a peer changed, with the text accepted here (see `LoadIgnoreOptions.baselines`). */
  ruleBaselines?: ReadonlyMap<string, string>;
}

/** What {@link scanWorktree} found. */
export interface ScanResult {
  /** Shared files, sorted by path in byte order, like git. */
  files: ScannedFile[];
  /** Secrets always; ignored paths only with `includeExcluded`. Sorted by path. */
  excluded: ExcludedFile[];
  counts: ScanCounts;
  /**
   * Paths that are not shared although nothing excludes them: names cshare cannot use
   * (`BAD_PATH`: a backslash, a `.git` segment in other case, not UTF-8, too long) and files
   * or folders that could not be read (`IO`). They are neither listed nor thrown.
   */
  errors: ScanError[];
  /**
   * Git repositories inside the tree (submodules, checked out or not, and other nested
   * repositories) and whether their files are shared (`nestedRepos.ts`). Sorted by path.
   */
  nested: NestedRepo[];
  /**
   * cshare's own temp files (`.<name>.cshare-tmp-<hex>`) seen: never listed. With the store
   * held and nothing being written, they are what a killed process left behind.
   */
  leftovers: string[];
}

/** Default for {@link ScanOptions.racyWindowMs}. */
export const RACY_WINDOW_MS = 3000;
/**
 * Default racy window for file times finer than a second: many times the kernel's clock tick
 * (1-10 ms), by which a file time may trail `Date.now()`.
 */
export const FINE_RACY_WINDOW_MS = 250;

/**
 * Compares paths by their UTF-8 bytes, as git sorts them. UTF-16 order differs only where a
 * surrogate pair meets a character in U+E000–U+FFFF, so only those code units are remapped.
 */
export function compareGitPaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 || y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x >= 0xd800 ? x + 0x2000 : x;
      y = y >= 0xe000 ? y - 0x800 : y >= 0xd800 ? y + 0x2000 : y;
    }
    return x - y;
  }
  return a.length - b.length;
}

/**
 * Scans the worktree behind `opts.fs`. Synchronous: it is all small sync fs calls (see
 * `WorktreeFs`). Unreadable files and undecodable names land in `errors`; files that vanish
 * during the scan are skipped; only an aborted `signal` throws.
 *
 * Steps: read the repository and the rules (`openRepo`, `scanRepo.ts`), walk ({@link TreeWalk}),
 * then digests in path order (`scanFiles`, `scanFiles.ts`).
 */
export function scanWorktree(opts: ScanOptions): ScanResult {
  const { fs, signal, scope } = opts;
  const now = opts.now ?? Date.now();
  const racyLimitMs = now - (opts.racyWindowMs ?? RACY_WINDOW_MS);
  const fineRacyLimitMs = now - (opts.racyWindowMs ?? FINE_RACY_WINDOW_MS);
  const env = opts.env ?? {};
  signal?.throwIfAborted();

  const errors: ScanResult['errors'] = [];
  const onError = (path: string, msg: string, code?: RefusedCode): void => {
    errors.push(code ? { path, message: msg, code } : { path, message: msg });
  };
  let rootEntries: DirEntry[] | undefined;
  try {
    rootEntries = fs.readdir('');
  } catch (err) {
    return { files: [], excluded: [], counts: { hashed: 0, fromCache: 0, fromGitIndex: 0 }, errors: [{ path: '.', message: message(err) }], nested: [], leftovers: [] };
  }
  rootEntries ??= [];
  const repo = openRepo({ fs, rootEntries, home: opts.home ?? env.HOME, env, ruleBaselines: opts.ruleBaselines, onError });

  // Phase 1: the walk.
  const walk = new TreeWalk(opts, repo, onError);
  walk.walk('', rootEntries, repo.rules.globals, false, scope === undefined || scope.has(''));
  // A scoped walk does not see every `.gitattributes`, so it cannot tell whether the index's
  // blob ids are of the bytes on disk; the few files in scope are hashed instead.
  const indexOidsUsable = repo.indexOidsUsable && !scope && !walk.sawAttributes;

  // Phase 2: digests, in path order so the result needs no second sort.
  walk.candidates.sort(compareGitPaths);
  const { files, counts } = scanFiles(
    {
      fs, statCache: opts.statCache, textLimit: opts.textLimit ?? DEFAULT_TEXT_LIMIT, racyLimitMs, fineRacyLimitMs, signal, onError,
      index: indexOidsUsable ? repo.index : undefined,
    },
    walk.candidates,
  );
  const { excluded, leftovers } = walk;
  excluded.sort((a, b) => compareGitPaths(a.path, b.path));
  log('scanned %d files (%o), %d excluded, %d errors', files.length, counts, excluded.length, errors.length);
  const nested = walk.nested.report((dir) => scope === undefined || scope.has(dir));
  return { files, excluded, counts, errors, nested, leftovers };
}

/**
 * The first phase of a scan: lists candidates, testing each untracked path against the
 * ignore layers that apply in its directory and never descending into an ignored directory
 * except along paths the git index (or cshare) tracks.
 */
class TreeWalk {
  /** Files to digest. */
  readonly candidates: string[] = [];
  readonly excluded: ExcludedFile[] = [];
  readonly leftovers: string[] = [];
  /** A `.gitattributes` was seen: the index's blob ids may not be of the bytes on disk. */
  sawAttributes = false;
  private readonly shared: ReadonlySet<string> | undefined;
  /** Built on the first ignored directory, since most scans of a clean tree meet none. */
  private trackedDirs: Set<string> | undefined;
  /** How many nested indexes {@link trackedDirs} was built with. */
  private trackedDirsNested = 0;
  /** Repositories met inside the tree (`nestedRepos.ts`). */
  readonly nested: NestedRepos;

  constructor(
    private readonly opts: ScanOptions,
    private readonly repo: ScanRepo,
    private readonly onError: (path: string, msg: string, code?: RefusedCode) => void,
  ) {
    this.shared = opts.shared !== undefined && opts.shared.size > 0 ? opts.shared : undefined;
    this.nested = new NestedRepos(opts.fs, repo);
  }

  /**
   * Walks `dir`. `within`: this directory is in the scope (or there is none); else the walk
   * only passes through it on the way to the scope's paths, and takes none of its other entries.
   */
  walk(dir: string, entries: DirEntry[] | undefined, parentStack: LayerStack, trackedOnly: boolean, within: boolean): void {
    const { scope } = this.opts;
    this.opts.signal?.throwIfAborted();
    if (entries === undefined) return;
    let stack = parentStack;
    if (!trackedOnly) {
      let hasGitignore = false;
      let hasCshareignore = false;
      for (const e of entries) {
        if (e.kind !== 'file') continue;
        if (e.name === '.gitignore') hasGitignore = true;
        else if (e.name === '.cshareignore') hasCshareignore = true;
      }
      stack = this.repo.rules.stackFor(dir, parentStack, hasGitignore, hasCshareignore);
    }
    for (const e of entries) {
      const name = e.name;
      // Git skips `.git` at every depth (nested repositories); `.cshare` likewise holds a store.
      if (name === '.git' || name === '.cshare') continue;
      const path = dir === '' ? name : `${dir}/${name}`;
      const inScope = within || scope!.has(path);
      if (!inScope && !(e.kind === 'dir' && scope!.leadsTo(path))) continue;
      if (isCshareTempName(name)) {
        if (e.kind === 'file' && inScope) this.leftovers.push(path);
        continue;
      }
      if (name.includes('\uFFFD')) {
        this.onError(path, 'name is not valid UTF-8 (or contains U+FFFD); skipped', 'BAD_PATH');
        continue;
      }
      if (e.kind === 'dir') this.dir(path, name, stack, trackedOnly, inScope);
      else if (inScope && (e.kind === 'file' || e.kind === 'symlink')) this.file(path, name, stack, trackedOnly);
      // 'other' (fifos, sockets, devices): git ignores them, and so does cshare.
    }
  }

  /** A directory: entered, or only along tracked paths if ignored. */
  private dir(path: string, name: string, stack: LayerStack, trackedOnly: boolean, inScope: boolean): void {
    if (trackedOnly || this.repo.rules.isExcluded(path, true, stack)) {
      if (!trackedOnly && this.opts.includeExcluded && inScope) this.excluded.push({ path: `${path}/`, reason: 'ignored' });
      if (this.isTrackedDir(path) && !this.unusable(path, name)) this.walk(path, this.readdir(path), stack, true, inScope);
      return;
    }
    if (inScope ? this.unusable(path, name) : unsafeRelPathReason(name) !== undefined) return;
    const entries = this.readdir(path);
    const dotGit = entries?.find((e) => e.name === '.git');
    if (dotGit !== undefined) this.nestedRepo(path, entries!, dotGit.kind, stack, inScope);
    else this.walk(path, entries, stack, false, inScope);
  }

  /**
   * A folder holding a `.git`: a repository of its own, walked by its own rules when its files
   * are shared, else listed as not shared and entered only along tracked or shared paths (a
   * file shared before stays shared, as with an ignored folder).
   */
  private nestedRepo(path: string, entries: DirEntry[], dotGitKind: DirEntry['kind'], stack: LayerStack, inScope: boolean): void {
    const decision = this.nested.decide(path, dotGitKind);
    if (decision.share) {
      this.walk(path, entries, decision.stack, false, inScope);
      return;
    }
    if (this.opts.includeExcluded && inScope) this.excluded.push({ path: `${path}/`, reason: 'nested' });
    if (this.isTrackedDir(path)) this.walk(path, entries, stack, true, inScope);
  }

  /** A file or symlink in scope: a candidate, unless a rule, the secrets or its name keep it out. */
  private file(path: string, name: string, stack: LayerStack, trackedOnly: boolean): void {
    const { includeExcluded } = this.opts;
    if (name === '.gitattributes') this.sawAttributes = true;
    if (name === LOCAL_POLICY_FILE) {
      // What this machine shares is decided here: never sent, never taken from a peer.
      if (includeExcluded) this.excluded.push({ path, reason: 'local' });
      return;
    }
    if (!this.isTracked(path)) {
      if (trackedOnly) return;
      if (this.repo.rules.isExcluded(path, false, stack)) {
        if (includeExcluded) this.excluded.push({ path, reason: 'ignored' });
        return;
      }
      if (isScratchName(name) && !this.repo.secrets.includes(path)) {
        if (includeExcluded) this.excluded.push({ path, reason: 'scratch' });
        return;
      }
    }
    if (this.repo.secrets.isSecret(path, name)) {
      this.excluded.push({ path, reason: 'secret' });
      return;
    }
    if (this.unusable(path, name)) return;
    this.candidates.push(path);
  }

  private isTracked(path: string): boolean {
    const { index } = this.repo;
    return (index !== undefined && index.has(path)) || (this.shared !== undefined && this.shared.has(path)) || (this.nested.any && this.nested.isTracked(path));
  }

  /** Does `dir` hold tracked paths? The only directories entered below an ignored one. */
  private isTrackedDir(dir: string): boolean {
    const { index } = this.repo;
    if (index === undefined && this.shared === undefined && !this.nested.any) return false;
    // Rebuilt when a shared nested repository's index came since (rare: once per such repository).
    if (this.trackedDirs === undefined || this.trackedDirsNested !== this.nested.count) {
      this.trackedDirs = trackedDirsOf([...(index?.paths() ?? []), ...(this.shared ?? []), ...this.nested.trackedPaths()]);
      this.trackedDirsNested = this.nested.count;
    }
    return this.trackedDirs.has(dir);
  }

  /**
   * A name that could never be written on every side (ARCHITECTURE.md "Safety rules": a peer's
   * path with it is refused) is not shared, and said so, rather than failing on first use.
   */
  private unusable(path: string, name: string): boolean {
    const reason = path.length > MAX_REL_PATH ? `path is longer than ${MAX_REL_PATH} characters` : unsafeRelPathReason(name);
    if (reason === undefined) return false;
    this.onError(path, `${reason}; rename it to share it`, 'BAD_PATH');
    return true;
  }

  private readdir(dir: string): DirEntry[] | undefined {
    try {
      return this.opts.fs.readdir(dir);
    } catch (err) {
      this.onError(dir, message(err));
      return undefined;
    }
  }
}

/**
 * The directories holding tracked paths. Index paths come sorted, so consecutive entries
 * mostly share a directory, which is then added once without slicing every path.
 */
function trackedDirsOf(paths: Iterable<string>): Set<string> {
  const dirs = new Set<string>();
  let prevDir = '';
  for (const path of paths) {
    const last = path.lastIndexOf('/');
    if (last <= 0 || (last === prevDir.length && path.startsWith(prevDir))) continue;
    for (let i = last; i > 0; i = path.lastIndexOf('/', i - 1)) {
      const d = path.slice(0, i);
      if (dirs.has(d)) break;
      dirs.add(d);
    }
    prevDir = path.slice(0, last);
  }
  return dirs;
}
