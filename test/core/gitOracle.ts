/**
 * Helpers for tests that use git as the oracle: temporary repositories with their own HOME
 * (so the global excludes file is under test control), and git's answers for the shared path
 * set and blob ids.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temporary sandbox: `home` for git's global config, `repo` for the worktree. */
export interface Sandbox {
  base: string;
  home: string;
  repo: string;
  env: Record<string, string>;
  cleanup(): void;
}

/** Creates a sandbox (the repo directory exists but is not a repository yet). */
export function sandbox(prefix = 'cshare-scan-'): Sandbox {
  const base = fs.realpathSync(fs.mkdtempSync(join(tmpdir(), prefix)));
  const home = join(base, 'home');
  const repo = join(base, 'repo');
  fs.mkdirSync(join(home, '.config', 'git'), { recursive: true });
  fs.mkdirSync(repo);
  const env = { HOME: home, XDG_CONFIG_HOME: join(home, '.config') };
  return { base, home, repo, env, cleanup: () => fs.rmSync(base, { recursive: true, force: true }) };
}

/** The environment git runs with: ours, minus anything that points git elsewhere. */
function gitEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) out[k] = v;
  return { ...out, ...env, GIT_CONFIG_NOSYSTEM: '1' };
}

/** Runs git in `cwd` and returns stdout as a buffer. */
export function gitRaw(cwd: string, env: Record<string, string>, args: string[], input?: string | Buffer): Buffer {
  return execFileSync('git', args, { cwd, env: gitEnv(env), input, maxBuffer: 256 * 1024 * 1024, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs git in `cwd` and returns stdout as text. */
export function git(cwd: string, env: Record<string, string>, args: string[], input?: string | Buffer): string {
  return gitRaw(cwd, env, args, input).toString('utf8');
}

/** `git init` with a local identity. */
export function gitInit(repo: string, env: Record<string, string>): void {
  git(repo, env, ['init', '-q']);
  git(repo, env, ['config', 'user.name', 'Test']);
  git(repo, env, ['config', 'user.email', 'test@example.com']);
  git(repo, env, ['config', 'commit.gpgsign', 'false']);
}

/**
 * `git ls-files -z --cached --others --exclude-standard`, without index paths that are no
 * longer on disk (cshare lists only what exists).
 */
export function gitSharedSet(repo: string, env: Record<string, string>): Set<string> {
  const out = git(repo, env, ['-c', 'core.quotepath=off', 'ls-files', '-z', '--cached', '--others', '--exclude-standard']);
  const paths = out.split('\0').filter((p) => p !== '');
  return new Set(paths.filter((p) => fs.lstatSync(join(repo, p), { throwIfNoEntry: false }) !== undefined));
}

/** Git's blob id for each path (symlinks: of the link target), via `git hash-object`. */
export function gitHashes(repo: string, env: Record<string, string>, paths: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const regular: string[] = [];
  for (const p of paths) {
    const st = fs.lstatSync(join(repo, p));
    if (st.isSymbolicLink()) {
      const target = fs.readlinkSync(join(repo, p), { encoding: 'buffer' });
      out.set(p, git(repo, env, ['hash-object', '--no-filters', '--stdin'], target).trim());
    } else regular.push(p);
  }
  if (regular.length > 0) {
    const ids = git(repo, env, ['hash-object', '--no-filters', '--stdin-paths'], regular.join('\n') + '\n').trim().split('\n');
    regular.forEach((p, i) => out.set(p, ids[i]!));
  }
  return out;
}

/** Writes a file, creating its parent directories. */
export function put(root: string, rel: string, content: string | Uint8Array, mode?: number): void {
  const abs = join(root, rel);
  fs.mkdirSync(join(abs, '..'), { recursive: true });
  fs.writeFileSync(abs, content);
  if (mode !== undefined) fs.chmodSync(abs, mode);
}

/** A small seeded PRNG (mulberry32), so a failing random case replays from its seed. */
export function rng(seed: number): { next(): number; int(n: number): number; pick<T>(xs: readonly T[]): T; chance(p: number): boolean } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
    chance: (p) => next() < p,
  };
}
