/**
 * `cshare files --json` and `status --json` against git itself, on small real repositories
 * made with real git commands: modes, config includes, case-insensitive ignores, nested
 * repositories and submodules, and digests where git converts line endings (issue 20).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cshareJson } from '../helpers/cli.js';
import { git, gitHashes, gitInit, gitSharedSet, put, sandbox, type Sandbox } from '../core/gitOracle.js';

const boxes: Sandbox[] = [];
afterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});
function box(): Sandbox {
  const b = sandbox('cshare-agree-');
  boxes.push(b);
  return b;
}

/** `cshare files --json` in the sandbox's repo, with its HOME and no system config. */
function files(b: Sandbox, args: string[] = [], root = b.repo): { path: string; kind: string; mode: string; size: number; digest: string }[] & { json?: unknown } {
  const r = cshareJson(root, ['files', ...args], { ...b.env, GIT_CONFIG_NOSYSTEM: '1' });
  expect(r.code, r.stderr).toBe(0);
  return Object.assign(r.json.files, { json: r.json });
}

/** Git's `path -> mode` for every index entry (`git ls-files -s`). */
function gitModes(b: Sandbox, root = b.repo): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of git(root, b.env, ['ls-files', '-s', '-z']).split('\0')) {
    const m = /^(\d{6}) [0-9a-f]+ \d\t(.*)$/.exec(line);
    if (m) out.set(m[2]!, m[1]!);
  }
  return out;
}

describe('files --json agrees with git', () => {
  it('gives a file 100755 only when its owner may execute it, as git add records it', () => {
    const b = box();
    gitInit(b.repo, b.env);
    const perms: Record<string, number> = { 'rw.txt': 0o644, 'exec.sh': 0o755, 'group-x.sh': 0o655, 'other-x.sh': 0o754, 'owner-only.sh': 0o744, 'no-owner.sh': 0o611, 'all-but-owner.sh': 0o677 };
    for (const [p, mode] of Object.entries(perms)) put(b.repo, p, `#!/bin/sh\necho ${p}\n`, mode);
    git(b.repo, b.env, ['add', '-A']);
    const want = gitModes(b);
    const got = new Map(files(b).map((f) => [f.path, f.mode]));
    expect(got).toEqual(want);
    // Not a vacuous agreement: both modes occur.
    expect(want.get('group-x.sh')).toBe('100644');
    expect(want.get('owner-only.sh')).toBe('100755');
  });

  it('follows [include] and [includeIf] (gitdir/i:, onbranch:, relative paths) for core.excludesFile and core.ignorecase', () => {
    const b = box();
    const r = b.repo;
    gitInit(r, b.env);
    // ~/.gitconfig includes inc/main.inc (relative to itself), which includes the excludes
    // setting only where the git dir matches, case-insensitively; a condition that does not
    // hold (later, so it would win) must not count.
    put(b.home, '.gitconfig', '[include]\n\tpath = inc/main.inc\n');
    put(b.home, 'inc/main.inc', `[includeIf "gitdir/i:${b.base.toUpperCase()}/"]\n\tpath = excl.inc\n[includeIf "gitdir:/nowhere/"]\n\tpath = wrong.inc\n`);
    put(b.home, 'inc/excl.inc', '[core]\n\texcludesFile = ~/from-include.ignore\n');
    put(b.home, 'inc/wrong.inc', '[core]\n\texcludesFile = ~/wrong.ignore\n');
    put(b.home, 'from-include.ignore', '*.tmp\n');
    put(b.home, 'wrong.ignore', '*.md\n');
    // On a feature/ branch, the repository's config turns core.ignorecase on.
    git(r, b.env, ['config', 'includeIf.onbranch:feature/.path', join(b.home, 'branch.inc')]);
    put(b.home, 'branch.inc', '[core]\n\tignorecase = true\n');
    put(r, '.gitignore', '*.LOG\nBuild/\n');
    for (const p of ['a.tmp', 'README.md', 'x.log', 'y.LOG', 'build/out.txt', 'src/main.c']) put(r, p, p);
    git(r, b.env, ['add', '.gitignore', 'src/main.c']);
    git(r, b.env, ['commit', '-q', '-m', 'one']);

    const onMain = new Set(files(b).map((f) => f.path));
    expect(onMain).toEqual(gitSharedSet(r, b.env));
    expect(onMain.has('a.tmp')).toBe(false);
    expect(onMain.has('README.md')).toBe(true);
    expect(onMain.has('x.log')).toBe(true);

    git(r, b.env, ['checkout', '-q', '-b', 'feature/x']);
    const onFeature = new Set(files(b).map((f) => f.path));
    expect(onFeature).toEqual(gitSharedSet(r, b.env));
    expect(onFeature.has('x.log')).toBe(false);
    expect(onFeature.has('build/out.txt')).toBe(false);
  });
});
