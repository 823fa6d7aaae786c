/**
 * What a scan reads before it walks (`scanWorktree`): the git repository around the
 * worktree (its directories, index and config), the ignore rules, the secret filter and the
 * root `.cshareinclude`, and whether the index's blob ids can stand for the bytes on disk.
 */
import { posix } from 'node:path';
import { expandHome } from './gitConfig.js';
import { GitIndex } from './gitIndex.js';
import { IgnoreRules } from './ignore/IgnoreRules.js';
import { SecretFilter } from './ignore/secrets.js';
import { logger } from './log.js';
import type { RefusedCode } from './refused.js';
import type { DirEntry, WorktreeFs } from './ports.js';

const log = logger('scan');
const utf8 = new TextDecoder('utf-8');

/** Where a repository's files are (the worktree root's, or a nested one's). */
export interface GitDirs {
  gitDir: string;
  commonDir: string;
}

/** What {@link openRepo} found. */
export interface ScanRepo {
  /** The git index, if there is one and it could be read. */
  index: GitIndex | undefined;
  rules: IgnoreRules;
  secrets: SecretFilter;
  /**
   * Whether the index's blob ids are of the bytes on disk (no eol conversion, filter or
   * attributes anywhere git would read them; `.gitattributes` in the tree is for the walk).
   */
  indexOidsUsable: boolean;
  /** The worktree root is a git repository (it has a `.git` that leads to one). */
  isRepo: boolean;
}

/** Options for {@link openRepo}. */
export interface OpenRepoOptions {
  fs: WorktreeFs;
  /** The worktree root's entries. */
  rootEntries: DirEntry[];
  home: string | undefined;
  env: Record<string, string | undefined>;
  ruleBaselines?: ReadonlyMap<string, string>;
  onError: (path: string, msg: string, code?: RefusedCode) => void;
}

/** The message of anything thrown, for a scan error or a log line. */
export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Reads the repository: its dirs, index and rules. Any trouble reading the index only costs
 * speed and the listing of tracked-but-ignored files, so it is logged, not fatal.
 */
export function openRepo(opts: OpenRepoOptions): ScanRepo {
  const { fs, rootEntries, onError } = opts;
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
  const rules = IgnoreRules.load({ fs, home: opts.home, env: opts.env, gitCommonDir: dirs?.commonDir, gitDir: dirs?.gitDir, onError, baselines: opts.ruleBaselines });

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
  return { index, rules, secrets, indexOidsUsable: index !== undefined && indexOidsUsable(opts, rules, dirs), isRepo: dirs !== undefined };
}

/**
 * Index oids are of the *cleaned* content: with eol conversion or filters they differ
 * from the bytes on disk, so any attribute or autocrlf setting turns the index shortcut off.
 */
function indexOidsUsable({ fs, env, home }: OpenRepoOptions, rules: IgnoreRules, dirs: GitDirs | undefined): boolean {
  const autocrlf = rules.config.get('core.autocrlf')?.toLowerCase();
  if (autocrlf === 'true' || autocrlf === 'input') return false;
  if (!dirs) return true;
  try {
    const attrFile = rules.config.get('core.attributesFile');
    const xdg = env.XDG_CONFIG_HOME ? env.XDG_CONFIG_HOME : home !== undefined ? posix.join(home, '.config') : undefined;
    const globalAttrs = attrFile ? posix.resolve(fs.root, expandHome(attrFile, home)) : xdg && posix.join(xdg, 'git', 'attributes');
    if (hasAttributeRules(fs, posix.join(dirs.commonDir, 'info', 'attributes')) || (globalAttrs && hasAttributeRules(fs, globalAttrs))) {
      return false;
    }
  } catch (err) {
    log('not using index oids: %s', message(err));
    return false;
  }
  return true;
}

/**
 * Finds the git directory of the repository at `dir` (the worktree root by default): `.git/`,
 * or the `gitdir:` a `.git` file points to (linked worktrees and submodules), whose
 * `commondir` holds config and `info/exclude`. A `.git` that is neither is treated as no
 * repository.
 */
export function locateGitDirs(fs: WorktreeFs, dotGitKind: string | undefined, dir = ''): GitDirs | undefined {
  if (dotGitKind === undefined) return undefined;
  const base = dir === '' ? fs.root : posix.join(fs.root, dir);
  const dotGit = posix.join(base, '.git');
  if (dotGitKind !== 'file') return { gitDir: dotGit, commonDir: dotGit };
  const text = utf8.decode(fs.readExternal(dotGit) ?? new Uint8Array());
  const m = /^gitdir:\s*(.+?)\s*$/m.exec(text);
  if (!m) return undefined;
  const gitDir = posix.resolve(base, m[1]!);
  const common = fs.readExternal(posix.join(gitDir, 'commondir'));
  const commonDir = common === undefined ? gitDir : posix.resolve(gitDir, utf8.decode(common).trim());
  return { gitDir, commonDir };
}

/** Does an attributes file exist with at least one rule in it? */
function hasAttributeRules(fs: WorktreeFs, path: string): boolean {
  const bytes = fs.readExternal(path);
  return bytes !== undefined && utf8.decode(bytes).split('\n').some((l) => l.trim() !== '' && !l.trim().startsWith('#'));
}
