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
 *      (see `indexOidUsable`); the file is still read to classify it as text or binary,
 *      unless it is over the text limit or the cache already knows the kind of that oid,
 *      because the kind is a function of the bytes and is not in the index;
 *   3. otherwise read and hash.
 *
 * Racy entries: a file written in the same clock tick as the scan could change again
 * without its stat changing. Like git, which smudges such index entries, the scan returns
 * their `stat` with `ctimeMs = -1` so that a cache built from it never matches, and the next
 * scan reads them again.
 */
import { posix } from 'node:path';
import { DEFAULT_TEXT_LIMIT, isText } from './classify.js';
import { gitBlobId } from './digest.js';
import { expandHome } from './gitConfig.js';
import { GitIndex, type GitIndexEntry } from './gitIndex.js';
import { IgnoreRules, type LayerStack } from './ignore/IgnoreRules.js';
import { isScratchName } from './ignore/scratch.js';
import { SecretFilter } from './ignore/secrets.js';
import { logger } from './log.js';
import { isCshareTempName, LOCAL_POLICY_FILE, MAX_REL_PATH, unsafeRelPathReason } from './paths.js';
import type { RefusedCode, ScanError } from './refused.js';
import type { DirEntry, FileStat, WorktreeFs } from './ports.js';

const log = logger('scan');
const utf8 = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

/** How cshare treats a file's content: merged as text, or synced as a whole blob. */
export type FileKind = 'text' | 'binary' | 'symlink';

/**
 * What the stat cache remembers about a file, so an unchanged file is not read again. A
 * `ctimeMs` of -1 marks an entry taken while the file was too fresh to trust (racy).
 */
export interface CachedStat {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  mode: number;
  kind: FileKind;
  digest: string;
  /**
   * The shared file (manifest fileId) whose content this is on this disk, where known: which
   * file a save at this path was made on, when another file took the path since (one created
   * at once elsewhere won it). Absent in entries a scan took of files it has not recorded.
   */
  fileId?: string;
}

/** One shared file found by a scan. */
export interface ScannedFile {
  /** Relative to the root, `/`-separated. */
  path: string;
  kind: FileKind;
  /** Git mode: 0o100644, 0o100755 or 0o120000. */
  mode: number;
  /** Bytes of content (of the link target, for a symlink). */
  size: number;
  /** Git blob id of the content (of the link target, for a symlink). */
  digest: string;
  /** The entry to store in the stat cache for this file. */
  stat: CachedStat;
}

/**
 * A path that is not shared, and why: an ignore rule, the secret deny-list, an editor or OS
 * scratch file (`scratch.ts`), or a file that only ever applies here (`.cshareinclude`). An
 * ignored directory is listed once, as `dir/`.
 */
export interface ExcludedFile {
  path: string;
  reason: 'ignored' | 'secret' | 'scratch' | 'local';
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
   * A file whose mtime or ctime is this close to the scan start is racy (default 3000 ms,
   * enough for the 2 s timestamps of FAT; most file systems need far less, and the only cost
   * is re-reading a file that was just written).
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

/** What {@link scanWorktree} found. */
export interface ScanResult {
  /** Shared files, sorted by path in byte order, like git. */
  files: ScannedFile[];
  /** Secrets always; ignored paths only with `includeExcluded`. Sorted by path. */
  excluded: ExcludedFile[];
  counts: { hashed: number; fromCache: number; fromGitIndex: number };
  /**
   * Paths that are not shared although nothing excludes them: names cshare cannot use
   * (`BAD_PATH`: a backslash, a `.git` segment in other case, not UTF-8, too long) and files
   * or folders that could not be read (`IO`). They are neither listed nor thrown.
   */
  errors: ScanError[];
  /**
   * cshare's own temp files (`.<name>.cshare-tmp-<hex>`) seen: never listed. With the store
   * held and nothing being written, they are what a killed process left behind.
   */
  leftovers: string[];
}

/** Default for {@link ScanOptions.racyWindowMs}. */
export const RACY_WINDOW_MS = 3000;

/** Where the repository's files are, when the worktree root is a git worktree. */
interface GitDirs {
  gitDir: string;
  commonDir: string;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Finds the git directory of the worktree root: `.git/`, or the `gitdir:` a `.git` file
 * points to (linked worktrees and submodules), whose `commondir` holds config and
 * `info/exclude`. A `.git` that is neither is treated as no repository.
 */
function locateGitDirs(fs: WorktreeFs, dotGitKind: string | undefined): GitDirs | undefined {
  if (dotGitKind === undefined) return undefined;
  const dotGit = posix.join(fs.root, '.git');
  if (dotGitKind !== 'file') return { gitDir: dotGit, commonDir: dotGit };
  const text = utf8.decode(fs.readExternal(dotGit) ?? new Uint8Array());
  const m = /^gitdir:\s*(.+?)\s*$/m.exec(text);
  if (!m) return undefined;
  const gitDir = posix.resolve(fs.root, m[1]!);
  const common = fs.readExternal(posix.join(gitDir, 'commondir'));
  const commonDir = common === undefined ? gitDir : posix.resolve(gitDir, utf8.decode(common).trim());
  return { gitDir, commonDir };
}

/** Does an attributes file exist with at least one rule in it? */
function hasAttributeRules(fs: WorktreeFs, path: string): boolean {
  const bytes = fs.readExternal(path);
  return bytes !== undefined && utf8.decode(bytes).split('\n').some((l) => l.trim() !== '' && !l.trim().startsWith('#'));
}

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

/** Does the file's stat match git's recorded stat data (times to the microsecond)? */
function statMatchesIndex(e: GitIndexEntry, st: FileStat): boolean {
  return (
    e.size === st.size % 0x100000000 &&
    e.ino === st.ino % 0x100000000 &&
    Math.abs(st.mtimeMs - (e.mtimeSec * 1000 + e.mtimeNsec / 1e6)) < 0.001 &&
    Math.abs(st.ctimeMs - (e.ctimeSec * 1000 + e.ctimeNsec / 1e6)) < 0.001
  );
}

/**
 * Scans the worktree behind `opts.fs`. Synchronous: it is all small sync fs calls (see
 * `WorktreeFs`). Unreadable files and undecodable names land in `errors`; files that vanish
 * during the scan are skipped; only an aborted `signal` throws.
 */
export function scanWorktree(opts: ScanOptions): ScanResult {
  const { fs, statCache, signal } = opts;
  const textLimit = opts.textLimit ?? DEFAULT_TEXT_LIMIT;
  const racyLimitMs = (opts.now ?? Date.now()) - (opts.racyWindowMs ?? RACY_WINDOW_MS);
  const includeExcluded = opts.includeExcluded ?? false;
  const env = opts.env ?? {};
  const home = opts.home ?? env.HOME;
  signal?.throwIfAborted();

  const errors: ScanResult['errors'] = [];
  const leftovers: string[] = [];
  const excluded: ExcludedFile[] = [];
  const onError = (path: string, msg: string, code?: RefusedCode): void => {
    errors.push(code ? { path, message: msg, code } : { path, message: msg });
  };
  // A name that could never be written on every side (ARCHITECTURE.md "Safety rules": a peer's
  // path with it is refused) is not shared, and said so, rather than failing on first use.
  const unusable = (path: string, name: string): boolean => {
    const reason = path.length > MAX_REL_PATH ? `path is longer than ${MAX_REL_PATH} characters` : unsafeRelPathReason(name);
    if (reason === undefined) return false;
    onError(path, `${reason}; rename it to share it`, 'BAD_PATH');
    return true;
  };

  let rootEntries: DirEntry[] | undefined;
  try {
    rootEntries = fs.readdir('');
  } catch (err) {
    return { files: [], excluded, counts: { hashed: 0, fromCache: 0, fromGitIndex: 0 }, errors: [{ path: '.', message: message(err) }], leftovers };
  }
  rootEntries ??= [];

  // The repository: its dirs, index and rules. Any trouble reading the index only costs
  // speed and the listing of tracked-but-ignored files, so it is logged, not fatal.
  let dirs: GitDirs | undefined;
  try {
    dirs = locateGitDirs(fs, rootEntries.find((e) => e.name === '.git')?.kind);
  } catch (err) {
    onError('.git', message(err));
  }
  let index: GitIndex | undefined;
  if (dirs) {
    try {
      const bytes = fs.readExternal(posix.join(dirs.gitDir, 'index'));
      if (bytes) index = GitIndex.parse(bytes);
    } catch (err) {
      log('ignoring the git index: %s', message(err));
    }
  }
  const rules = IgnoreRules.load({ fs, home, env, gitCommonDir: dirs?.commonDir, onError, baselines: opts.ruleBaselines });
  const shared = opts.shared !== undefined && opts.shared.size > 0 ? opts.shared : undefined;
  const isTracked = (path: string): boolean => (index !== undefined && index.has(path)) || (shared !== undefined && shared.has(path));

  // Directories holding tracked paths: the only ones entered below an ignored directory.
  // Built on the first ignored directory, since most scans of a clean tree meet none.
  let trackedDirs: Set<string> | undefined;
  const isTrackedDir = (dir: string): boolean => {
    if (index === undefined && shared === undefined) return false;
    trackedDirs ??= trackedDirsOf([...(index?.paths() ?? []), ...(shared ?? [])]);
    return trackedDirs.has(dir);
  };

  let includeText: string | undefined;
  if (rootEntries.some((e) => e.name === '.cshareinclude' && e.kind === 'file')) {
    try {
      const bytes = fs.readFile('.cshareinclude');
      if (bytes) includeText = utf8.decode(bytes);
    } catch (err) {
      onError('.cshareinclude', message(err));
    }
  }
  const secrets = new SecretFilter(includeText);
  const readmitted = (path: string): boolean => secrets.includes(path);

  // Index oids are of the *cleaned* content: with eol conversion or filters they differ
  // from the bytes on disk, so any attribute or autocrlf setting turns the index shortcut off.
  const autocrlf = rules.config.get('core.autocrlf')?.toLowerCase();
  let indexOidsUsable = index !== undefined && autocrlf !== 'true' && autocrlf !== 'input';
  if (indexOidsUsable && dirs) {
    try {
      const attrFile = rules.config.get('core.attributesFile');
      const xdg = env.XDG_CONFIG_HOME ? env.XDG_CONFIG_HOME : home !== undefined ? posix.join(home, '.config') : undefined;
      const globalAttrs = attrFile ? posix.resolve(fs.root, expandHome(attrFile, home)) : xdg && posix.join(xdg, 'git', 'attributes');
      if (hasAttributeRules(fs, posix.join(dirs.commonDir, 'info', 'attributes')) || (globalAttrs && hasAttributeRules(fs, globalAttrs))) {
        indexOidsUsable = false;
      }
    } catch (err) {
      log('not using index oids: %s', message(err));
      indexOidsUsable = false;
    }
  }

  // Phase 1: the walk.
  const candidates: string[] = [];
  let sawAttributes = false;
  const scope = opts.scope;
  // A scoped walk does not see every `.gitattributes`, so it cannot tell whether the index's
  // blob ids are of the bytes on disk; the few files in scope are hashed instead.
  if (scope) indexOidsUsable = false;
  // `within`: this directory is in the scope (or there is none); else the walk only passes
  // through it on the way to the scope's paths, and takes none of its other entries.
  const walk = (dir: string, entries: ReturnType<WorktreeFs['readdir']>, parentStack: LayerStack, trackedOnly: boolean, within: boolean): void => {
    signal?.throwIfAborted();
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
      stack = rules.stackFor(dir, parentStack, hasGitignore, hasCshareignore);
    }
    for (const e of entries) {
      const name = e.name;
      // Git skips `.git` at every depth (nested repositories); `.cshare` likewise holds a store.
      if (name === '.git' || name === '.cshare') continue;
      const path = dir === '' ? name : `${dir}/${name}`;
      const inScope = within || scope!.has(path);
      if (!inScope && !(e.kind === 'dir' && scope!.leadsTo(path))) continue;
      if (isCshareTempName(name)) {
        if (e.kind === 'file' && inScope) leftovers.push(path);
        continue;
      }
      if (name.includes('\uFFFD')) {
        onError(path, 'name is not valid UTF-8 (or contains U+FFFD); skipped', 'BAD_PATH');
        continue;
      }
      if (e.kind === 'dir') {
        if (trackedOnly || rules.isExcluded(path, true, stack)) {
          if (!trackedOnly && includeExcluded && inScope) excluded.push({ path: `${path}/`, reason: 'ignored' });
          if (isTrackedDir(path) && !unusable(path, name)) walk(path, readdir(path), stack, true, inScope);
          continue;
        }
        if (inScope ? unusable(path, name) : unsafeRelPathReason(name) !== undefined) continue;
        walk(path, readdir(path), stack, false, inScope);
      } else if (inScope && (e.kind === 'file' || e.kind === 'symlink')) {
        if (name === '.gitattributes') sawAttributes = true;
        if (name === LOCAL_POLICY_FILE) {
          // What this machine shares is decided here: never sent, never taken from a peer.
          if (includeExcluded) excluded.push({ path, reason: 'local' });
          continue;
        }
        if (!isTracked(path)) {
          if (trackedOnly) continue;
          if (rules.isExcluded(path, false, stack)) {
            if (includeExcluded) excluded.push({ path, reason: 'ignored' });
            continue;
          }
          if (isScratchName(name) && !readmitted(path)) {
            if (includeExcluded) excluded.push({ path, reason: 'scratch' });
            continue;
          }
        }
        if (secrets.isSecret(path, name)) {
          excluded.push({ path, reason: 'secret' });
          continue;
        }
        if (unusable(path, name)) continue;
        candidates.push(path);
      }
      // 'other' (fifos, sockets, devices): git ignores them, and so does cshare.
    }
  };
  const readdir = (dir: string): ReturnType<WorktreeFs['readdir']> => {
    try {
      return fs.readdir(dir);
    } catch (err) {
      onError(dir, message(err));
      return undefined;
    }
  };
  walk('', rootEntries, rules.globals, false, scope === undefined || scope.has(''));
  if (sawAttributes) indexOidsUsable = false;

  // Phase 2: digests, in path order so the result needs no second sort.
  candidates.sort(compareGitPaths);
  const files: ScannedFile[] = [];
  const counts = { hashed: 0, fromCache: 0, fromGitIndex: 0 };
  for (let n = 0; n < candidates.length; n++) {
    if ((n & 255) === 0) signal?.throwIfAborted();
    const path = candidates[n]!;
    let st: FileStat | undefined;
    try {
      st = fs.lstat(path);
    } catch (err) {
      onError(path, message(err));
      continue;
    }
    if (st === undefined || (st.kind !== 'file' && st.kind !== 'symlink')) continue; // vanished or replaced

    const cached = statCache.get(path);
    if (
      cached !== undefined &&
      cached.size === st.size &&
      cached.mtimeMs === st.mtimeMs &&
      cached.ctimeMs === st.ctimeMs &&
      cached.ino === st.ino &&
      cached.mode === st.mode
    ) {
      counts.fromCache++;
      // A lowered text limit turns a cached text file binary without reading it.
      const kind = cached.kind === 'text' && cached.size > textLimit ? 'binary' : cached.kind;
      const stat = kind === cached.kind ? cached : { ...cached, kind };
      const mode = kind === 'symlink' ? 0o120000 : st.mode & 0o111 ? 0o100755 : 0o100644;
      files.push({ path, kind, mode, size: cached.size, digest: cached.digest, stat });
      continue;
    }

    const racy = st.mtimeMs >= racyLimitMs || st.ctimeMs >= racyLimitMs;
    if (st.kind === 'symlink') {
      let target: string | undefined;
      try {
        target = fs.readlink(path);
      } catch (err) {
        onError(path, message(err));
        continue;
      }
      if (target === undefined) continue;
      if (target.includes('\uFFFD')) {
        onError(path, 'symlink target is not valid UTF-8; skipped');
        continue;
      }
      const bytes = utf8Encoder.encode(target);
      const digest = gitBlobId(bytes);
      counts.hashed++;
      files.push(makeFile(path, 'symlink', 0o120000, bytes.byteLength, digest, st, racy || bytes.byteLength !== st.size));
      continue;
    }

    const mode = st.mode & 0o111 ? 0o100755 : 0o100644;
    // Decoded only here, for a file the stat cache could not vouch for. Git smudges racy
    // entries when it writes the index, but an entry written in the same tick as the index
    // itself can still be stale, and git detects that by comparing with the index file's
    // mtime. `WorktreeFs` cannot stat inside `.git/`, and the index is written after every
    // entry it records was stat'ed, so the newest entry mtime is a lower bound of the index
    // mtime: entries that recent are not trusted (usually one file).
    const tracked = indexOidsUsable ? index?.get(path) : undefined;
    if (
      tracked !== undefined &&
      tracked.stage === 0 &&
      !tracked.assumeValid &&
      !tracked.skipWorktree &&
      !tracked.intentToAdd &&
      (tracked.mode === 0o100644 || tracked.mode === 0o100755) &&
      tracked.mtimeSec * 1000 + tracked.mtimeNsec / 1e6 < index!.newestMtimeMs() &&
      statMatchesIndex(tracked, st)
    ) {
      let kind: FileKind | undefined;
      if (st.size > textLimit) kind = 'binary';
      else if (cached !== undefined && cached.digest === tracked.oid && cached.kind !== 'symlink') kind = cached.kind;
      else {
        let bytes: Uint8Array | undefined;
        try {
          bytes = fs.readFile(path);
        } catch (err) {
          onError(path, message(err));
          continue;
        }
        if (bytes === undefined) continue;
        // A file that changed size since the lstat is not what git hashed: hash it here.
        if (bytes.byteLength !== st.size) {
          counts.hashed++;
          files.push(makeFile(path, isText(bytes, textLimit) ? 'text' : 'binary', mode, bytes.byteLength, gitBlobId(bytes), st, true));
          continue;
        }
        kind = isText(bytes, textLimit) ? 'text' : 'binary';
      }
      counts.fromGitIndex++;
      files.push(makeFile(path, kind, mode, st.size, tracked.oid, st, racy));
      continue;
    }

    let bytes: Uint8Array | undefined;
    try {
      bytes = fs.readFile(path);
    } catch (err) {
      onError(path, message(err));
      continue;
    }
    if (bytes === undefined) continue;
    counts.hashed++;
    const kind = isText(bytes, textLimit) ? 'text' : 'binary';
    files.push(makeFile(path, kind, mode, bytes.byteLength, gitBlobId(bytes), st, racy || bytes.byteLength !== st.size));
  }

  excluded.sort((a, b) => compareGitPaths(a.path, b.path));
  log('scanned %d files (%o), %d excluded, %d errors', files.length, counts, excluded.length, errors.length);
  return { files, excluded, counts, errors, leftovers };
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

/** Builds a result entry; `smudge` marks its cache entry as never matching (see the header). */
function makeFile(path: string, kind: FileKind, mode: number, size: number, digest: string, st: FileStat, smudge: boolean): ScannedFile {
  const stat: CachedStat = { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: smudge ? -1 : st.ctimeMs, ino: st.ino, mode: st.mode, kind, digest };
  return { path, kind, mode, size, digest, stat };
}
