/**
 * The git config a repository sees: the files git reads (system, global, repository), each
 * with its `[include] path` and `[includeIf "<condition>"] path` files spliced in where they
 * are named, as git does, so that a setting such as `core.excludesFile`, `core.autocrlf` or
 * `user.name` made in an included file counts.
 *
 * Conditions: `gitdir:`, `gitdir/i:` (case-insensitively) and `onbranch:`; others (such as
 * `hasconfig:`) never match here. Patterns are git's wildmatch with `/` special: `~/` is the
 * home directory, `./` the directory of the file holding the condition, a pattern not
 * starting with `/` gets `**` + `/` in front and one ending with `/` gets `**` after. A relative
 * include path is relative to the file that names it. Includes nest at most
 * {@link MAX_INCLUDE_DEPTH} deep, git's limit, so a cycle ends; git stops with an error there,
 * a scan reports it and carries on without the deeper files.
 */
import { posix } from 'node:path';
import { expandHome, gitConfigOf, mergeGitConfigs, parseGitConfigEntries, type GitConfig, type GitConfigEntry } from './gitConfig.js';
import { logger } from './log.js';

const log = logger('gitconfig');
const utf8 = new TextDecoder('utf-8');

/** Git's `MAX_INCLUDE_DEPTH`. */
export const MAX_INCLUDE_DEPTH = 10;

/** Reads a file outside the worktree (`WorktreeFs.readExternal`), `undefined` if absent. */
export type ExternalReader = (absPath: string) => Uint8Array | undefined;

/** Options for {@link readGitConfigFiles}. */
export interface ReadGitConfigOptions {
  read: ExternalReader;
  /** Absolute paths of the config files, lowest precedence first. */
  files: readonly string[];
  home: string | undefined;
  /** The repository's git dir, for `gitdir:`; its `HEAD` names the branch for `onbranch:`. */
  gitDir?: string;
  /** A file that could not be read or an include too deep: reported, then skipped. */
  onError?: (path: string, message: string) => void;
}

/** Reads and merges config files (later wins), following their includes. */
export function readGitConfigFiles(opts: ReadGitConfigOptions): GitConfig {
  const ctx: IncludeContext = { ...opts, branch: opts.gitDir === undefined ? undefined : currentBranch(opts.read, opts.gitDir) };
  const configs: GitConfig[] = [];
  for (const file of opts.files) {
    const entries = readWithIncludes(ctx, file, 0);
    if (entries !== undefined) configs.push(gitConfigOf(entries));
  }
  return mergeGitConfigs(configs);
}

/**
 * The config files git reads for a repository whose common dir is `commonDir` (none outside
 * one), lowest precedence first: the system file (`$GIT_CONFIG_SYSTEM`, else `/etc/gitconfig`;
 * none with `$GIT_CONFIG_NOSYSTEM`), the global ones (`$GIT_CONFIG_GLOBAL`, else
 * `$XDG_CONFIG_HOME/git/config` or `~/.config/git/config`, then `~/.gitconfig`), then the
 * repository's `config`.
 */
export function gitConfigPaths(env: Record<string, string | undefined>, home: string | undefined, commonDir: string | undefined): string[] {
  const paths: string[] = [];
  if (!isTrue(env.GIT_CONFIG_NOSYSTEM)) paths.push(env.GIT_CONFIG_SYSTEM ? env.GIT_CONFIG_SYSTEM : '/etc/gitconfig');
  if (env.GIT_CONFIG_GLOBAL) paths.push(expandHome(env.GIT_CONFIG_GLOBAL, home));
  else {
    const xdg = env.XDG_CONFIG_HOME ? env.XDG_CONFIG_HOME : home !== undefined ? posix.join(home, '.config') : undefined;
    if (xdg !== undefined) paths.push(posix.join(xdg, 'git', 'config'));
    if (home !== undefined) paths.push(posix.join(home, '.gitconfig'));
  }
  if (commonDir !== undefined) paths.push(posix.join(commonDir, 'config'));
  return paths;
}

/** Git's boolean of an environment variable: set and not `0`, `false`, `no` or `off`. */
function isTrue(v: string | undefined): boolean {
  return v !== undefined && v !== '' && !['0', 'false', 'no', 'off'].includes(v.toLowerCase());
}

/** Git's `user.name` (repository config, then global and system), else `$USER`, else "unknown". */
export function gitAuthorName(fs: { root: string; readExternal: ExternalReader }, env: Record<string, string | undefined>, home = env.HOME): string {
  const gitDir = `${fs.root}/.git`;
  const read: ExternalReader = (p) => {
    try {
      return fs.readExternal(p);
    } catch (err) {
      log('cannot read %s: %s', p, err instanceof Error ? err.message : String(err));
      return undefined;
    }
  };
  const config = readGitConfigFiles({ read, files: gitConfigPaths(env, home, gitDir), home, gitDir });
  return config.get('user.name') || env.USER || env.LOGNAME || 'unknown';
}

interface IncludeContext extends ReadGitConfigOptions {
  branch: string | undefined;
}

/** The entries of `file` with its includes spliced in, or `undefined` if it cannot be read. */
function readWithIncludes(ctx: IncludeContext, file: string, depth: number): GitConfigEntry[] | undefined {
  let bytes: Uint8Array | undefined;
  try {
    bytes = ctx.read(file);
  } catch (err) {
    ctx.onError?.(file, err instanceof Error ? err.message : String(err));
    return undefined;
  }
  if (bytes === undefined) return undefined;
  const out: GitConfigEntry[] = [];
  for (const entry of parseGitConfigEntries(utf8.decode(bytes))) {
    out.push(entry);
    const target = includeTarget(ctx, file, entry);
    if (target === undefined) continue;
    if (depth + 1 > MAX_INCLUDE_DEPTH) {
      ctx.onError?.(target, `exceeded maximum include depth (${MAX_INCLUDE_DEPTH}) while including it from ${file}; skipped`);
      continue;
    }
    const included = readWithIncludes(ctx, target, depth + 1);
    if (included !== undefined) for (const e of included) out.push(e);
  }
  return out;
}

/** The file an `include.path` or a matching `includeIf.<condition>.path` entry names. */
function includeTarget(ctx: IncludeContext, file: string, [name, value]: GitConfigEntry): string | undefined {
  if (!name.endsWith('.path') || value === '') return undefined;
  if (name === 'include.path') return resolveFrom(file, value, ctx.home);
  if (!name.startsWith('includeif.')) return undefined;
  const condition = name.slice('includeif.'.length, -'.path'.length);
  return conditionHolds(ctx, file, condition) ? resolveFrom(file, value, ctx.home) : undefined;
}

/** A path named in `file`: `~/` expanded, relative ones against the file's directory. */
function resolveFrom(file: string, path: string, home: string | undefined): string {
  return posix.resolve(posix.dirname(file), expandHome(path, home));
}

/** Does an `includeIf` condition hold for this repository? */
function conditionHolds(ctx: IncludeContext, file: string, condition: string): boolean {
  const colon = condition.indexOf(':');
  if (colon < 0) return false;
  const kind = condition.slice(0, colon);
  let pattern = condition.slice(colon + 1);
  if (kind === 'gitdir' || kind === 'gitdir/i') {
    if (ctx.gitDir === undefined) return false;
    pattern = expandHome(pattern, ctx.home);
    if (pattern.startsWith('./')) pattern = posix.dirname(file) + pattern.slice(1);
    if (!pattern.startsWith('/')) pattern = `**/${pattern}`;
    if (pattern.endsWith('/')) pattern += '**';
    return wildmatch(pattern, kind === 'gitdir/i').test(ctx.gitDir);
  }
  if (kind === 'onbranch') {
    if (ctx.branch === undefined) return false;
    if (pattern.endsWith('/')) pattern += '**';
    return wildmatch(pattern, false).test(ctx.branch);
  }
  log('includeIf condition %s is not supported: not included', kind);
  return false;
}

/** The branch `HEAD` is on (`refs/heads/` left off), or `undefined` when detached or unknown. */
function currentBranch(read: ExternalReader, gitDir: string): string | undefined {
  let bytes: Uint8Array | undefined;
  try {
    bytes = read(posix.join(gitDir, 'HEAD'));
  } catch (err) {
    log('cannot read HEAD: %s', err instanceof Error ? err.message : String(err));
    return undefined;
  }
  const m = bytes === undefined ? null : /^ref:\s*refs\/heads\/(.+?)\s*$/m.exec(utf8.decode(bytes));
  return m ? m[1] : undefined;
}

/**
 * Git's wildmatch with `WM_PATHNAME` as a regular expression: `*` and `?` stop at `/`, `**`
 * between slashes (or at either end) crosses them, `[...]` is a class (`[!...]` negated).
 */
export function wildmatch(pattern: string, ignoreCase: boolean): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      const atStart = i === 0 || pattern[i - 1] === '/';
      if (pattern[i + 1] === '*' && atStart && (i + 2 === pattern.length || pattern[i + 2] === '/')) {
        // `**/` is zero or more whole directories; a trailing `**` is everything below.
        if (i + 2 === pattern.length) re += '.*';
        else re += '(?:.*/)?';
        i += 2;
        continue;
      }
      while (pattern[i + 1] === '*') i++;
      re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, end);
      const negated = body[0] === '!' || body[0] === '^';
      if (negated) body = body.slice(1);
      re += `[${negated ? '^/' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i]!);
    else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`, ignoreCase ? 'i' : '');
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}
