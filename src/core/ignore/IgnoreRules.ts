/**
 * Which paths git (and cshare) ignore: the `git ls-files --others --exclude-standard` rules,
 * plus `.cshareignore` files.
 *
 * Layers, highest precedence first, as git's `last_matching_pattern` walks them: for a path
 * `a/b/c`, `a/b/.cshareignore`, `a/b/.gitignore`, `a/.cshareignore`, `a/.gitignore`,
 * `.cshareignore`, `.gitignore`, `.git/info/exclude`, then the global excludes file. The
 * first layer with a matching pattern decides (its last matching pattern, negations
 * included); no match means not ignored. Patterns of a per-directory file are matched
 * against the path relative to that directory, and directories are tested with a trailing
 * `/` so that `build/` matches only directories.
 *
 * The walk (see `Scanner.ts`) never descends into an ignored directory for untracked files,
 * so each path is tested on its own, never through its parents: git does the same, and it
 * is why a parent ignored by a lower layer but re-included by a higher one does not hide
 * its children here.
 */
import ignore, { type Ignore } from 'ignore';
import { posix } from 'node:path';
import { expandHome, gitBool, type GitConfig } from '../gitConfig.js';
import { gitConfigPaths, readGitConfigFiles } from '../gitConfigFiles.js';
import { logger } from '../log.js';
import type { WorktreeFs } from '../ports.js';

const log = logger('ignore');
const utf8 = new TextDecoder('utf-8');

/** The outcome of testing one path against one layer. */
interface MatchResult {
  ignored: boolean;
  unignored: boolean;
}

/** One ignore file, its patterns relative to `base` (`''` for the root, else `dir/`). */
export interface IgnoreLayer {
  readonly base: string;
  /** Where the patterns came from, for debugging. */
  readonly source: string;
  /** Tests a path relative to `base` (directories end with `/`), without looking at parents. */
  readonly test: (rel: string) => MatchResult;
  /**
   * The same file as this machine's user last accepted it, when a peer has changed it since
   * (see {@link LoadIgnoreOptions.baselines}); `null` when that version has no patterns.
   */
  readonly baseline?: ((rel: string) => MatchResult) | null;
}

/** The layers that apply inside one directory, highest precedence first. */
export type LayerStack = readonly IgnoreLayer[];

/** Reports a file that could not be read (it is then treated as absent, as git does). */
export type IgnoreErrorSink = (path: string, message: string) => void;

/** Options for {@link IgnoreRules.load}. */
export interface LoadIgnoreOptions {
  fs: WorktreeFs;
  home?: string;
  env?: Record<string, string | undefined>;
  /** Absolute git common dir (holds `config` and `info/exclude`), or undefined outside a repo. */
  gitCommonDir?: string;
  /** Absolute git dir (differs from the common dir in a linked worktree), for `includeIf "gitdir:"`. */
  gitDir?: string;
  onError: IgnoreErrorSink;
  /**
   * Rule files (`.gitignore`, `.cshareignore`, by path) that a peer changed, with the text this
   * machine's user last accepted (what was on disk before the peer's change). What decides
   * what leaves a machine is local: a peer's change of a rule file can make more paths
   * ignored here, never fewer (a removed `build/` line must not upload this machine's build
   * output, nor a `!*` its private files), so a path is excluded if either version excludes it.
   */
  baselines?: ReadonlyMap<string, string>;
}

/**
 * Builds a matcher for one ignore file's text, or `undefined` if it has no patterns (so it
 * costs nothing per path). `ignoreCase`: git's `core.ignorecase=true`, under which git
 * matches exclude patterns case-insensitively.
 */
export function compileLayer(text: string, base: string, source: string, ignoreCase = false): IgnoreLayer | undefined {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (!lines.some((l) => l.trim() !== '' && !l.startsWith('#'))) return undefined;
  const ig = ignore({ ignorecase: ignoreCase }).add(lines);
  return { base, source, test: singlePathTester(ig) };
}

/**
 * `Ignore#test` also tests every parent directory and lets an ignored parent decide. That
 * is wrong across layers (git tests the path alone, in every layer) and wasted work here,
 * since the walk already stopped at ignored directories. The rule list's own `test` (not
 * part of the typed API of `ignore`, pinned at 7.0.16) tests just the path; if a future
 * version drops it we fall back to the public call, which is right except in that rare
 * cross-layer case.
 */
function singlePathTester(ig: Ignore): (rel: string) => MatchResult {
  const rules = (ig as unknown as { _rules?: { test?: (path: string, mode: string) => MatchResult } })._rules;
  if (rules && typeof rules.test === 'function') {
    const test = rules.test.bind(rules);
    return (rel) => test(rel, 'regex');
  }
  log('ignore: private single-path test not found; falling back to Ignore#test');
  return (rel) => ig.test(rel);
}

/** Reads an external file as text, or `undefined` if absent; unreadable files are reported. */
function readExternalText(fs: WorktreeFs, path: string, onError: IgnoreErrorSink): string | undefined {
  try {
    const bytes = fs.readExternal(path);
    return bytes === undefined ? undefined : utf8.decode(bytes);
  } catch (err) {
    onError(path, err instanceof Error ? err.message : String(err));
    return undefined;
  }
}

/** The ignore layers of one worktree, and the git config they were found through. */
export class IgnoreRules {
  /** Global excludes and `.git/info/exclude`, highest precedence first. */
  readonly globals: LayerStack;
  /** Global and repository git config, merged (later wins). */
  readonly config: GitConfig;
  private readonly fs: WorktreeFs;
  private readonly onError: IgnoreErrorSink;

  private readonly baselines: ReadonlyMap<string, string>;
  /** `core.ignorecase`: patterns match case-insensitively, as git then matches them. */
  readonly ignoreCase: boolean;

  private constructor(fs: WorktreeFs, globals: LayerStack, config: GitConfig, onError: IgnoreErrorSink, baselines: ReadonlyMap<string, string>) {
    this.ignoreCase = gitBool(config.get('core.ignorecase'), false);
    this.fs = fs;
    this.globals = globals;
    this.config = config;
    this.onError = onError;
    this.baselines = baselines;
  }

  /**
   * Reads the git config (the files git reads, with their includes: `gitConfigFiles.ts`) to
   * find `core.excludesFile` (default `$XDG_CONFIG_HOME/git/ignore` or
   * `~/.config/git/ignore`) and `core.ignorecase`, and reads the excludes file and
   * `info/exclude`. Outside a repository the global excludes still apply.
   */
  static load(opts: LoadIgnoreOptions): IgnoreRules {
    const { fs, onError } = opts;
    const env = opts.env ?? {};
    const home = opts.home ?? env.HOME;
    const xdg = env.XDG_CONFIG_HOME ? env.XDG_CONFIG_HOME : home !== undefined ? posix.join(home, '.config') : undefined;

    const config = readGitConfigFiles({
      read: (p) => fs.readExternal(p),
      files: gitConfigPaths(env, home, opts.gitCommonDir),
      home,
      gitDir: opts.gitDir ?? opts.gitCommonDir,
      onError,
    });
    const ignoreCase = gitBool(config.get('core.ignorecase'), false);

    const globals: IgnoreLayer[] = [];
    if (opts.gitCommonDir !== undefined) {
      const p = posix.join(opts.gitCommonDir, 'info', 'exclude');
      const text = readExternalText(fs, p, onError);
      const layer = text === undefined ? undefined : compileLayer(text, '', p, ignoreCase);
      if (layer) globals.push(layer);
    }
    const configured = config.get('core.excludesFile');
    let excludesFile: string | undefined;
    if (configured !== undefined && configured !== '') {
      // git resolves a relative path against the directory it runs in: the worktree root.
      excludesFile = posix.resolve(fs.root, expandHome(configured, home));
    } else if (xdg !== undefined) excludesFile = posix.join(xdg, 'git', 'ignore');
    let excludesLayer: IgnoreLayer | undefined;
    if (excludesFile !== undefined) {
      const text = readExternalText(fs, excludesFile, onError);
      excludesLayer = text === undefined ? undefined : compileLayer(text, '', excludesFile, ignoreCase);
      if (excludesLayer) globals.push(excludesLayer);
    }
    log('global layers: %o', globals.map((l) => l.source));
    const rules = new IgnoreRules(fs, globals, config, onError, opts.baselines ?? new Map());
    rules.excludesLayer = excludesLayer;
    return rules;
  }

  /** The global excludes file's layer, if it has patterns. */
  private excludesLayer: IgnoreLayer | undefined;

  /**
   * The layers a nested repository at `dir` starts from, in place of the outer ones: its own
   * `info/exclude` (in `gitCommonDir`, patterns relative to `dir`), then the global excludes.
   * Git leaves a nested repository to itself, so the outer repository's `.gitignore` files
   * and `info/exclude` do not apply in it; its own `.gitignore` files add to this as the walk
   * goes down.
   */
  nestedGlobals(dir: string, gitCommonDir: string | undefined): LayerStack {
    const out: IgnoreLayer[] = [];
    if (gitCommonDir !== undefined) {
      const p = posix.join(gitCommonDir, 'info', 'exclude');
      const text = readExternalText(this.fs, p, this.onError);
      const layer = text === undefined ? undefined : compileLayer(text, `${dir}/`, p, this.ignoreCase);
      if (layer) out.push(layer);
    }
    if (this.excludesLayer) out.push(this.excludesLayer);
    return out;
  }

  /**
   * The stack for the entries of directory `dir` (`''` for the root): its own `.cshareignore`
   * and `.gitignore` (if `hasCshareignore`/`hasGitignore`, i.e. they are regular files; git
   * does not follow a symlinked `.gitignore`) on top of `parent`. Returns `parent` itself
   * when the directory adds nothing, so most directories cost no allocation.
   */
  stackFor(dir: string, parent: LayerStack, hasGitignore: boolean, hasCshareignore: boolean): LayerStack {
    const base = dir === '' ? '' : `${dir}/`;
    const baselines = this.baselines.size > 0;
    if (!hasGitignore && !hasCshareignore && !(baselines && (this.baselines.has(`${base}.gitignore`) || this.baselines.has(`${base}.cshareignore`)))) return parent;
    const own: IgnoreLayer[] = [];
    for (const [has, name] of [
      [hasCshareignore, '.cshareignore'],
      [hasGitignore, '.gitignore'],
    ] as const) {
      const rel = base + name;
      const accepted = baselines ? this.baselines.get(rel) : undefined;
      let layer: IgnoreLayer | undefined;
      if (has) {
        let bytes: Uint8Array | undefined;
        try {
          bytes = this.fs.readFile(rel);
        } catch (err) {
          this.onError(rel, err instanceof Error ? err.message : String(err));
        }
        if (bytes !== undefined) layer = compileLayer(utf8.decode(bytes), base, rel, this.ignoreCase);
      }
      if (accepted !== undefined) {
        // The current file (or none) beside the version the user accepted: either may exclude.
        const before = compileLayer(accepted, base, `${rel} (as accepted here)`, this.ignoreCase);
        layer = { base, source: rel, test: layer?.test ?? NO_MATCH, baseline: before?.test ?? null };
      }
      if (layer) own.push(layer);
    }
    return own.length === 0 ? parent : [...own, ...parent];
  }

  /** Is `path` (relative to the root; a directory if `isDir`) ignored by `stack`? */
  isExcluded(path: string, isDir: boolean, stack: LayerStack): boolean {
    if (excludedBy(path, isDir, stack, false)) return true;
    // Excluded by the rules as this machine's user accepted them, before a peer changed some.
    for (let i = 0; i < stack.length; i++) if (stack[i]!.baseline !== undefined) return excludedBy(path, isDir, stack, true);
    return false;
  }
}

const NO_MATCH = (): MatchResult => ({ ignored: false, unignored: false });

/** The first layer with a matching pattern decides; with `useBaseline`, a layer's accepted version where it has one. */
function excludedBy(path: string, isDir: boolean, stack: LayerStack, useBaseline: boolean): boolean {
  for (let i = 0; i < stack.length; i++) {
    const layer = stack[i]!;
    const test = useBaseline && layer.baseline !== undefined ? layer.baseline : layer.test;
    if (test === null) continue;
    const rel = layer.base === '' ? path : path.slice(layer.base.length);
    const r = test(isDir ? `${rel}/` : rel);
    if (r.ignored) return true;
    if (r.unignored) return false;
  }
  return false;
}
