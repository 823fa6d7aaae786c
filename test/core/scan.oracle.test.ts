import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { scanWorktree, type ScanResult } from '../../src/core/Scanner.js';
import { NodeFs } from '../../src/store/fs/NodeFs.js';
import { git, gitHashes, gitInit, gitSharedSet, put, rng, sandbox, type Sandbox } from './gitOracle.js';

const boxes: Sandbox[] = [];
afterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});
function box(): Sandbox {
  const b = sandbox();
  boxes.push(b);
  return b;
}

function scan(b: Sandbox, root = b.repo, extra: Partial<Parameters<typeof scanWorktree>[0]> = {}): ScanResult {
  return scanWorktree({ fs: new NodeFs(root), statCache: new Map(), home: b.home, env: b.env, racyWindowMs: 0, ...extra });
}

/** Asserts every scanned digest equals git's, and the list is in git's byte order. */
function expectDigestsMatchGit(b: Sandbox, result: ScanResult, root = b.repo): void {
  const hashes = gitHashes(root, b.env, result.files.map((f) => f.path));
  for (const f of result.files) expect({ path: f.path, digest: f.digest }).toEqual({ path: f.path, digest: hashes.get(f.path) });
  const sorted = [...result.files.map((f) => f.path)].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  expect(result.files.map((f) => f.path)).toEqual(sorted);
}

describe('scanWorktree against git ls-files', () => {
  it('matches git on a repository with tricky ignore rules', () => {
    const b = box();
    const r = b.repo;
    gitInit(r, b.env);
    fs.writeFileSync(join(b.home, '.config', 'git', 'ignore'), '*.globalignored\n');
    put(r, '.git/info/exclude', 'from-info-exclude.txt\n');
    put(r, '.gitignore', ['*.log', '!important.log', '/anchored.txt', 'build/', '**/deep/**/*.tmp', 'foo.txt', 'docs/*.md', '!docs/keep.md', 'ignored-dir/', '# comment', ''].join('\n'));
    put(r, 'sub/.gitignore', ['*.txt', '!keep.txt', 'nested/'].join('\n'));
    const text: Record<string, string> = {
      'a.log': 'a', 'important.log': 'imp', 'sub/x.log': 'x', 'anchored.txt': 'top', 'sub/anchored.txt': 'deep anchored',
      'build/out.js': 'out', 'src/build/x.js': 'x', 'src/build.js': 'file named like the dir', 'src/deep/a/b.tmp': 'tmp', 'src/deep/b.tmp': 'tmp2', 'src/x.tmp': 'kept',
      'foo.txt': 'lower', 'Foo.txt': 'Upper', 'FOO.TXT': 'UPPER', 'docs/readme.md': '# r', 'docs/keep.md': '# k', 'docs/sub/readme.md': '# deep',
      'ignored-dir/tracked.txt': 'tracked though ignored', 'ignored-dir/untracked.txt': 'not listed', 'ignored-dir/inner/also.txt': 'no',
      'sub/a.txt': 'ignored by sub', 'sub/keep.txt': 'kept', 'sub/nested/y.js': 'y', 'sub/other/nested': 'a file named nested', 'sub/code.js': 'js',
      'with space.txt': 'space', 'ünïcödé.txt': 'unicode', '日本語/ファイル.txt': 'こんにちは', 'emoji-😀.md': 'smile', 'empty.txt': '',
      'from-info-exclude.txt': 'x', 'x.globalignored': 'g', 'crlf.txt': 'a\r\nb\r\n',
    };
    for (const [p, c] of Object.entries(text)) put(r, p, c);
    put(r, 'exec.sh', '#!/bin/sh\necho hi\n', 0o755);
    put(r, 'bin.dat', Uint8Array.from([0, 1, 2, 255, 254, 0, 10]));
    put(r, 'latin1.txt', Uint8Array.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
    fs.symlinkSync('exec.sh', join(r, 'link'));
    fs.symlinkSync('sub', join(r, 'dirlink'));
    fs.symlinkSync('does/not/exist', join(r, 'dangling'));
    // Secrets, one tracked, one opted back in.
    const secrets = ['.env', 'config/.env.local', 'keys/server.pem', 'id_rsa', 'id_rsa.pub', '.npmrc', 'deep/er/credentials.json', 'tracked.key', 'x.p12', 'id_ed25519'];
    for (const p of secrets) put(r, p, `secret ${p}`);
    put(r, '.cshareinclude', 'config/.env.local\n');
    put(r, 'README.md', 'readme');
    git(r, b.env, ['add', 'README.md', 'exec.sh', 'tracked.key', 'src', 'docs/keep.md']);
    git(r, b.env, ['add', '-f', 'ignored-dir/tracked.txt', 'a.log']);
    git(r, b.env, ['commit', '-q', '-m', 'init']);

    const result = scan(b, r, { includeExcluded: true });
    expect(result.errors).toEqual([]);
    const want = gitSharedSet(r, b.env);
    const optedIn = 'config/.env.local';
    const deny = secrets.filter((s) => s !== optedIn);
    for (const s of deny) want.delete(s);
    // `.cshareinclude` decides what this machine shares: it is never shared itself.
    want.delete('.cshareinclude');
    expect(result.excluded).toContainEqual({ path: '.cshareinclude', reason: 'local' });
    expect(new Set(result.files.map((f) => f.path))).toEqual(want);
    expect(result.files.map((f) => f.path)).toContain(optedIn);
    expect(result.excluded.filter((e) => e.reason === 'secret').map((e) => e.path).sort()).toEqual([...deny].sort());
    expect(result.excluded).toContainEqual({ path: 'ignored-dir/', reason: 'ignored' });
    expect(result.excluded).toContainEqual({ path: 'sub/x.log', reason: 'ignored' });
    expect(result.excluded).not.toContainEqual({ path: 'a.log', reason: 'ignored' }); // tracked
    expectDigestsMatchGit(b, result);

    const byPath = new Map(result.files.map((f) => [f.path, f]));
    expect(byPath.get('exec.sh')?.mode).toBe(0o100755);
    expect(byPath.get('README.md')?.mode).toBe(0o100644);
    expect(byPath.get('link')).toMatchObject({ kind: 'symlink', mode: 0o120000, size: 'exec.sh'.length });
    expect(byPath.get('dirlink')?.kind).toBe('symlink');
    expect(byPath.get('bin.dat')?.kind).toBe('binary');
    expect(byPath.get('latin1.txt')?.kind).toBe('binary');
    expect(byPath.get('empty.txt')?.kind).toBe('text');
    expect(byPath.get('日本語/ファイル.txt')?.kind).toBe('text');
    // Git already hashed the committed files: some of them come from its index.
    expect(result.counts.fromGitIndex).toBeGreaterThan(0);
    expect(result.counts.hashed + result.counts.fromGitIndex).toBe(result.files.length);
  });

  it('reads core.excludesFile from ~/.gitconfig, with ~ expanded, and from .git/config', () => {
    const b = box();
    gitInit(b.repo, b.env);
    fs.writeFileSync(join(b.home, '.gitconfig'), '[core]\n\texcludesFile = "~/my excludes"  ; comment\n');
    fs.writeFileSync(join(b.home, 'my excludes'), '*.mine\n');
    fs.writeFileSync(join(b.home, '.config', 'git', 'ignore'), '*.default\n'); // not used: excludesFile is set
    for (const p of ['a.mine', 'b.default', 'c.txt', 'd/e.mine']) put(b.repo, p, p);
    let result = scan(b);
    expect(new Set(result.files.map((f) => f.path))).toEqual(gitSharedSet(b.repo, b.env));
    expect(result.files.map((f) => f.path)).toEqual(['b.default', 'c.txt']);

    git(b.repo, b.env, ['config', 'core.excludesFile', join(b.home, 'repo-excludes')]);
    fs.writeFileSync(join(b.home, 'repo-excludes'), 'c.txt\n');
    result = scan(b);
    expect(new Set(result.files.map((f) => f.path))).toEqual(gitSharedSet(b.repo, b.env));
  });

  it('applies .gitignore files outside a git repository', () => {
    const b = box();
    put(b.repo, '.gitignore', 'node_modules/\n*.o\n');
    put(b.repo, 'src/.gitignore', 'gen/\n');
    for (const p of ['node_modules/x/index.js', 'a.o', 'a.c', 'src/gen/g.c', 'src/m.c', '.cshare/store/x', '.env']) put(b.repo, p, p);
    const result = scan(b);
    expect(result.files.map((f) => f.path)).toEqual(['.gitignore', 'a.c', 'src/.gitignore', 'src/m.c']);
    expect(result.excluded).toEqual([{ path: '.env', reason: 'secret' }]);
  });

  it('lets .cshareignore override the .gitignore of the same directory', () => {
    const b = box();
    gitInit(b.repo, b.env);
    put(b.repo, '.gitignore', '*.log\n');
    put(b.repo, '.cshareignore', '!keep.log\nprivate/\n');
    put(b.repo, 'sub/.cshareignore', '*.md\n');
    put(b.repo, 'sub/.gitignore', '!*.md\n');
    for (const p of ['a.log', 'keep.log', 'private/notes.txt', 'sub/r.md', 'sub/x.js', 'r.md']) put(b.repo, p, p);
    const result = scan(b);
    expect(result.files.map((f) => f.path)).toEqual(['.cshareignore', '.gitignore', 'keep.log', 'r.md', 'sub/.cshareignore', 'sub/.gitignore', 'sub/x.js']);
  });
});

/** Random trees and rules, compared with git over several seeds (CSHARE_SEED=n replays one). */
describe('scanWorktree on random trees', () => {
  const names = ['a', 'b', 'c', 'A', 'build', 'd.log', 'keep.log', 'e.txt', 'x.tmp', 'f g', 'é', 'deep'];
  const patterns = [
    '*.log', '!keep.log', 'build/', '/a', 'a/', 'b', '**/c', '*.txt', '!e.txt', 'd*', 'x.*', 'a/**/b', 'c/*', '/build', '!b/', '!a',
    'deep/', '**/deep/**', '!*.tmp', '*', '!*/', 'A', 'b/c', '/b/*.txt', 'f\\ g', '?.log', '[ab]', '!build/', 'é',
  ];
  const count = Number(process.env.CSHARE_SEEDS ?? 12);
  const seeds = process.env.CSHARE_SEED ? [Number(process.env.CSHARE_SEED)] : Array.from({ length: count }, (_, i) => i + 1);
  for (const seed of seeds) {
    it(`seed ${seed}`, () => {
      const r = rng(seed);
      const b = box();
      const repoA = b.repo;
      gitInit(repoA, b.env);
      const files: string[] = [];
      const dirs: string[] = [''];
      const grow = (dir: string, depth: number): void => {
        const n = 1 + r.int(5);
        for (let i = 0; i < n; i++) {
          const name = r.pick(names);
          const path = dir === '' ? name : `${dir}/${name}`;
          if (fs.existsSync(join(repoA, path))) continue;
          if (depth < 3 && r.chance(0.4)) {
            fs.mkdirSync(join(repoA, path));
            dirs.push(path);
            grow(path, depth + 1);
          } else {
            put(repoA, path, `${path} ${r.int(1000)}\n`);
            files.push(path);
          }
        }
      };
      grow('', 0);
      const rules = (): string => Array.from({ length: 1 + r.int(4) }, () => r.pick(patterns)).join('\n') + '\n';
      const cshareignores: string[] = [];
      for (const d of dirs) {
        const base = d === '' ? '' : `${d}/`;
        if (r.chance(0.5)) put(repoA, `${base}.gitignore`, rules());
        if (r.chance(0.2)) {
          put(repoA, `${base}.cshareignore`, rules());
          cshareignores.push(d);
        }
      }
      if (r.chance(0.5)) put(repoA, '.git/info/exclude', rules());
      if (r.chance(0.5)) fs.writeFileSync(join(b.home, '.config', 'git', 'ignore'), rules());
      const tracked = files.filter(() => r.chance(0.3));
      if (tracked.length > 0) git(repoA, b.env, ['add', '-f', '--', ...tracked]);

      const result = scan(b, repoA, { includeExcluded: true });
      expect(result.errors).toEqual([]);
      if (process.env.CSHARE_VERBOSE) process.stderr.write(`seed ${seed}: ${result.files.length} shared, ${result.excluded.length} excluded, ${tracked.length} tracked\n`);

      // Git knows no .cshareignore: in a copy, append each one to its directory's .gitignore
      // (later lines win, the same precedence), then ask git there.
      const repoB = join(b.base, 'mirror');
      execFileSync('cp', ['-a', repoA, repoB]);
      const created: string[] = [];
      for (const d of cshareignores) {
        const base = d === '' ? '' : `${d}/`;
        const gi = join(repoB, base, '.gitignore');
        if (!fs.existsSync(gi)) created.push(`${base}.gitignore`);
        fs.appendFileSync(gi, '\n' + fs.readFileSync(join(repoA, base, '.cshareignore'), 'utf8'));
      }
      const want = gitSharedSet(repoB, b.env);
      for (const c of created) want.delete(c);
      const got = new Set(result.files.map((f) => f.path));
      const ctx = { seed, missing: [...want].filter((p) => !got.has(p)), extra: [...got].filter((p) => !want.has(p)) };
      expect(ctx).toEqual({ seed, missing: [], extra: [] });
      expectDigestsMatchGit(b, result);
    });
  }
});
