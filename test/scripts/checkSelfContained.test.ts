/**
 * `scripts/check-self-contained.mjs`, run by `.ci/run`: the repository refers to nothing
 * outside itself, and a file that does (as the traces' readers once did) fails the check.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { git, tempDir, writeTree } from '../helpers/tmp.js';

const SCRIPT = fileURLToPath(new URL('../../scripts/check-self-contained.mjs', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));
// Built from pieces so that this file passes the check itself.
const UP3 = ['..', '..', '..'].join('/');
const HOME = ['', 'home'].join('/');

function check(root: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [SCRIPT, root], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A git repository at `<tmp>/repo` holding `files` (committed, unless `commit` is false). */
function repoWith(files: Record<string, string>, commit = true): string {
  const root = `${tempDir('cshare-selfcontained-')}/repo`;
  mkdirSync(root);
  git(root, ['init', '-q']);
  writeTree(root, files);
  if (commit) {
    git(root, ['add', '-A']);
    git(root, ['commit', '-qm', 'x']);
  }
  return root;
}

describe('check-self-contained', () => {
  it('passes on this repository (nothing it runs, builds or tests reads outside it)', () => {
    const r = check(REPO);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('fails on a relative path out of the repository and an absolute home path, naming file and line', () => {
    const root = repoWith({
      'test/helpers/traces.ts': `const ok = '../fixtures/traces/';\nexport const TRACES = new URL('${UP3}/elsewhere/traces/', import.meta.url);\n`,
      'bench/x.ts': `const p = ['${HOME}', 'me', 'x.json'].join('/');\n`,
      'src/a.ts': "import { b } from './b.js';\nimport { c } from '../src/c.js';\n",
    });
    const r = check(root);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`test/helpers/traces.ts:2: a relative path that leaves the repository: "${UP3}/elsewhere/traces/"`);
    expect(r.stderr).toContain(`bench/x.ts:1: an absolute path outside the repository: "${HOME}"`);
    expect(r.stderr).toContain('2 references');
    // Relative paths that stay inside (imports, fixtures) are not flagged.
    expect(r.stderr).not.toContain('src/a.ts');
    expect(r.stderr).not.toContain('traces.ts:1');
  });

  it("flags a shared folder beside the repository however the path is built, and the repository's own absolute path", () => {
    const root = repoWith({ 'test/t.test.ts': `const dir = path.join(root, '..', 'x');\nconst s = \`\${dir}/..${'/'}shared/traces\`;\n` }, false);
    writeTree(root, { 'scripts/s.ts': `const me = ${JSON.stringify(`${root}/bench`)};\n` });
    const r = check(root);
    expect(r.code).toBe(1);
    // Untracked files count: they are what a developer is about to commit.
    expect(r.stderr).toContain("test/t.test.ts:2: refers to a 'shared' folder outside the repository");
    expect(r.stderr).toContain('scripts/s.ts:1: an absolute path (of this checkout');
  });

  it('accepts a literal marked as data, and ignores files outside src/, test/, bench/ and scripts/', () => {
    const root = repoWith({
      'test/a.test.ts': `expect(expandHome('~', '${HOME}/u')).toBe('${HOME}/u'); // self-contained: not a path read\n`,
      'docs/notes.md': `see ${HOME}/me/notes\n`,
    });
    const r = check(root);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
