/**
 * `cshare files --json` and `status --json` against git itself, on small real repositories
 * made with real git commands: modes, config includes, case-insensitive ignores, nested
 * repositories and submodules, and digests where git converts line endings (issue 20).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cshare, cshareJson } from '../helpers/cli.js';
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

  it('shares a checked-out submodule by its own rules, says which nested repositories are left out, never shares a .git', () => {
    const b = box();
    const r = b.repo;
    // The submodule's own repository: it tracks build/config.h, which the outer .gitignore would leave out.
    const libSrc = join(b.base, 'libsrc');
    fs.mkdirSync(libSrc);
    gitInit(libSrc, b.env);
    put(libSrc, '.gitignore', '*.o\n');
    put(libSrc, 'build/config.h', '#define X 1\n');
    put(libSrc, 'lib.c', 'int x;\n');
    git(libSrc, b.env, ['add', '-A']);
    git(libSrc, b.env, ['commit', '-q', '-m', 'lib']);
    gitInit(r, b.env);
    put(r, '.gitignore', 'build/\n');
    put(r, 'main.c', 'int main(void) { return 0; }\n');
    git(r, b.env, ['add', '-A']);
    git(r, b.env, ['commit', '-q', '-m', 'main']);
    for (const sub of ['lib', 'other']) git(r, b.env, ['-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', libSrc, sub]);
    git(r, b.env, ['commit', '-q', '-m', 'submodules']);
    git(r, b.env, ['submodule', 'deinit', '-q', '-f', 'other']);
    put(r, 'lib/notes.txt', 'untracked in the submodule\n');
    put(r, 'lib/lib.o', 'object\n');
    // An untracked clone inside the repository.
    fs.mkdirSync(join(r, 'vendor-clone'));
    gitInit(join(r, 'vendor-clone'), b.env);
    put(r, 'vendor-clone/v.c', 'int v;\n');
    git(join(r, 'vendor-clone'), b.env, ['add', '-A']);
    git(join(r, 'vendor-clone'), b.env, ['commit', '-q', '-m', 'v']);

    const outer = gitSharedSet(r, b.env);
    // Git lists the submodules as gitlinks and the clone as one entry; cshare shares what is in the checked-out submodule.
    expect(outer.has('vendor-clone/') && outer.has('lib') && outer.has('other')).toBe(true);
    const inLib = [...gitSharedSet(join(r, 'lib'), b.env)].map((p) => `lib/${p}`);
    const want = new Set([...outer].filter((p) => !['vendor-clone/', 'lib', 'other'].includes(p)).concat(inLib));
    const list = files(b);
    const got = list.map((f) => f.path);
    expect(new Set(got)).toEqual(want);
    expect(got).toContain('lib/build/config.h');
    expect(got).not.toContain('lib/lib.o');
    expect(got.some((p) => p.split('/').includes('.git'))).toBe(false);
    const hashes = gitHashes(r, b.env, got);
    for (const f of list) expect([f.path, f.digest]).toEqual([f.path, hashes.get(f.path)]);
    expect((list.json as { nested: unknown }).nested).toEqual([
      { path: 'lib/', kind: 'submodule', state: 'shared' },
      { path: 'other/', kind: 'submodule', state: 'not-checked-out' },
      { path: 'vendor-clone/', kind: 'repository', state: 'not-shared' },
    ]);
    const human = cshare(r, ['files'], { ...b.env, GIT_CONFIG_NOSYSTEM: '1' }).stdout;
    expect(human).toMatch(/nested repository vendor-clone\/: not shared/);
    expect(human).toMatch(/submodule other\/: not checked out/);
    expect(files(b, ['--excluded']).json).toMatchObject({ excluded: expect.arrayContaining([{ path: 'vendor-clone/', reason: 'nested' }]) });

    // status says the same, from a scan and then from its cache; checking a submodule out shares it.
    const env = { ...b.env, GIT_CONFIG_NOSYSTEM: '1' };
    expect(cshareJson(r, ['scan'], env).code).toBe(0);
    const nestedNow = (list.json as { nested: unknown }).nested;
    expect(cshareJson(r, ['status'], env).json.nested).toEqual(nestedNow);
    expect(cshareJson(r, ['status'], env).json.nested).toEqual(nestedNow);
    expect(cshare(r, ['status'], env).stdout).toMatch(/submodule other\/: not checked out[^]*nested repository vendor-clone\/: not shared/);
    git(r, b.env, ['-c', 'protocol.file.allow=always', 'submodule', 'update', '-q', '--init', 'other']);
    const after = cshareJson(r, ['status'], env).json;
    expect(after.nested).toContainEqual({ path: 'other/', kind: 'submodule', state: 'shared' });
    expect(after.changed).toContainEqual({ path: 'other/lib.c', change: 'created' });

    // Named in .cshareinclude, the clone's files are shared as a submodule's (its .git never).
    put(r, '.cshareinclude', 'vendor-clone/\n');
    const optedIn = files(b).map((f) => f.path);
    expect(optedIn).toContain('vendor-clone/v.c');
    expect(optedIn.some((p) => p.split('/').includes('.git'))).toBe(false);
  });

  it('gives the digest of the bytes on disk where git converted them, never the index blob id (eol, ident, autocrlf, attributes gone since)', () => {
    const b = box();
    const origin = join(b.base, 'origin');
    fs.mkdirSync(origin);
    gitInit(origin, b.env);
    put(origin, '.gitattributes', '*.txt text eol=crlf\n*.c ident\n');
    put(origin, 'notes.txt', 'one\ntwo\n');
    put(origin, 'id.c', '/* $Id$ */\nint x;\n');
    put(origin, 'plain.md', 'no conversion\n');
    git(origin, b.env, ['add', '-A']);
    git(origin, b.env, ['commit', '-q', '-m', 'attrs']);
    const r = b.repo;
    fs.rmSync(r, { recursive: true });
    git(b.base, b.env, ['clone', '-q', origin, r]);
    // One more file written after, so the converted ones are not the index's newest entries (those are hashed anyway).
    const past = new Date(Date.now() - 60_000);
    for (const p of ['notes.txt', 'id.c', 'plain.md', '.gitattributes']) fs.utimesSync(join(r, p), past, past);
    git(r, b.env, ['add', '-A']);
    put(r, 'later.md', 'later\n');
    git(r, b.env, ['add', 'later.md']);
    const blob = new Map([...git(r, b.env, ['ls-files', '-s']).trim().split('\n')].map((l) => [l.split('\t')[1]!, l.split(' ')[1]!]));
    const check = (): void => {
      const list = files(b);
      const hashes = gitHashes(r, b.env, list.map((f) => f.path));
      for (const f of list) expect([f.path, f.digest]).toEqual([f.path, hashes.get(f.path)]);
      const digest = new Map(list.map((f) => [f.path, f.digest]));
      // The test means something: git converted these, so the index's blob ids differ from the bytes.
      expect(digest.get('notes.txt')).not.toBe(blob.get('notes.txt'));
      expect(digest.get('id.c')).not.toBe(blob.get('id.c'));
      expect(digest.get('plain.md')).toBe(blob.get('plain.md'));
    };
    check();
    // The attributes gone from disk: git's index still describes the converted files as clean.
    fs.rmSync(join(r, '.gitattributes'));
    expect(git(r, b.env, ['status', '--porcelain', '--', 'notes.txt', 'id.c'])).toBe('');
    check();

    // core.autocrlf=true when git added a CRLF file, unset since: the blob is LF, the disk CRLF.
    const c = join(b.base, 'crlf');
    fs.mkdirSync(c);
    gitInit(c, b.env);
    git(c, b.env, ['config', 'core.autocrlf', 'true']);
    put(c, 'dos.txt', 'a\r\nb\r\n');
    fs.utimesSync(join(c, 'dos.txt'), past, past);
    put(c, 'newer.txt', 'x\n');
    git(c, b.env, ['add', '-A']);
    git(c, b.env, ['config', '--unset', 'core.autocrlf']);
    const dos = files(b, [], c).find((f) => f.path === 'dos.txt')!;
    expect(dos.digest).toBe(gitHashes(c, b.env, ['dos.txt']).get('dos.txt'));
    expect(dos.digest).not.toBe(git(c, b.env, ['rev-parse', ':dos.txt']).trim());
  });

  it('outside any repository shares every repository in the folder, each by its own rules (info/exclude too)', () => {
    const b = box();
    const want: string[] = [];
    for (const name of ['one', 'two']) {
      const dir = join(b.repo, name);
      fs.mkdirSync(dir);
      gitInit(dir, b.env);
      put(dir, '.gitignore', name === 'one' ? '*.log\n' : 'dist/\n');
      put(dir, '.git/info/exclude', 'local-only.txt\n');
      for (const p of ['src/a.c', 'x.log', 'dist/out.js', 'local-only.txt']) put(dir, p, `${name} ${p}\n`);
      git(dir, b.env, ['add', '.gitignore', 'src/a.c']);
      git(dir, b.env, ['commit', '-q', '-m', name]);
      want.push(...[...gitSharedSet(dir, b.env)].map((p) => `${name}/${p}`));
    }
    put(b.repo, 'loose.txt', 'not in a repository\n');
    want.push('loose.txt');
    const list = files(b);
    expect(new Set(list.map((f) => f.path))).toEqual(new Set(want));
    expect(list.map((f) => f.path)).toContain('two/x.log');
    expect(list.map((f) => f.path)).toContain('one/dist/out.js');
    expect((list.json as { nested: unknown }).nested).toEqual([
      { path: 'one/', kind: 'repository', state: 'shared' },
      { path: 'two/', kind: 'repository', state: 'shared' },
    ]);
  });
});
