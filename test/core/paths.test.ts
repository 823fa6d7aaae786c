import { describe, expect, it } from 'vitest';
import { CshareError } from '../../src/core/errors.js';
import { assertSafeRelPath, isSafeRelPath, reservedNameOf, unsafeLinkTargetReason, unsafeRelPathReason } from '../../src/core/paths.js';

describe('isSafeRelPath', () => {
  it('accepts ordinary relative paths', () => {
    for (const p of ['a', 'a/b.txt', '.gitignore', '.github/workflows/ci.yml', 'x/.gitkeep', 'ünï code/ファイル', 'a..b', '...', '.gitx', 'a/.cshareignore']) {
      expect({ p, ok: isSafeRelPath(p) }).toEqual({ p, ok: true });
    }
  });

  it('rejects absolute, dot-dot, NUL, backslash, empty segments, .git and .cshare', () => {
    for (const p of ['', '/etc/passwd', '../x', 'a/../../x', 'a/..', '..', '.', './a', 'a/./b', 'a\0b', 'a\\b', 'a//b', 'a/', '.git', '.git/config', '.GIT/hooks/pre-commit', 'sub/.git/hooks/x', '.cshare', '.cshare/store', 'a/.Cshare/x', 'x'.repeat(5000)]) {
      expect({ p: p.slice(0, 40), ok: isSafeRelPath(p) }).toEqual({ p: p.slice(0, 40), ok: false });
    }
  });

  it('throws BAD_PATH with the reason', () => {
    expect(() => assertSafeRelPath('../x')).toThrow(CshareError);
    try {
      assertSafeRelPath('.git/config');
    } catch (err) {
      expect(err).toMatchObject({ code: 'BAD_PATH', data: { path: '.git/config' } });
      expect((err as Error).message).toMatch(/\.git/);
    }
  });
});

describe('platform aliases of .git and .cshare (git core.protectNTFS / core.protectHFS)', () => {
  const aliases = [
    '.git.', '.git..', '.git ', '.git . .', '.Git.', 'GIT~1', 'git~1', 'Git~1 .', '.git::$INDEX_ALLOCATION', '.git:stream', 'GIT~1::$INDEX_ALLOCATION',
    '.g\u200cit', '\u200c.git', '.git\u200d', '.\u200eg\u200fi\u202at\ufeff', '.G\u206aIT',
    '.cshare.', '.cshare  ', 'CSHARE~1', 'cshare~4', '.cshare::$INDEX_ALLOCATION', '.c\u200cshare', 'cs1a2b~1', 'CS9F0E~7',
  ];
  it.each(aliases)('refuses %j as a segment at any depth', (name) => {
    for (const p of [name, `${name}/hooks/pre-commit`, `src/${name}/config`]) expect({ p, ok: isSafeRelPath(p) }).toEqual({ p, ok: false });
    expect(unsafeRelPathReason(`${name}/config`)).toMatch(/inside \.(git|cshare)\//);
    expect(reservedNameOf(name)).toMatch(/^\.(git|cshare)$/);
  });

  it('accepts names that only look alike', () => {
    for (const p of ['.gitignore', '.git-blame-ignore-revs', '.gitx', 'git', 'git~2', 'git~1a', '.git.x', '.git x', 'x.git', '.gi\u200bt', '.csharex', 'cshare~5', 'cshare', 'cs12345~1', 'cs1a2g~1', '.cshareignore', '.cshareinclude']) {
      expect({ p, ok: isSafeRelPath(p) }).toEqual({ p, ok: true });
    }
  });
});

describe('name length', () => {
  it('refuses a name over 255 UTF-8 bytes, counting multi-byte characters, and accepts 255', () => {
    expect(isSafeRelPath('a'.repeat(255))).toBe(true);
    expect(isSafeRelPath(`d/${'a'.repeat(255)}`)).toBe(true);
    expect(unsafeRelPathReason('a'.repeat(256))).toMatch(/longer than 255 bytes/);
    expect(unsafeRelPathReason(`${'a'.repeat(300)}/x`)).toMatch(/longer than 255 bytes/);
    expect(isSafeRelPath('é'.repeat(127))).toBe(true); // 254 bytes
    expect(isSafeRelPath('é'.repeat(128))).toBe(false); // 256 bytes
    expect(isSafeRelPath('🌍'.repeat(63))).toBe(true); // 252 bytes
    expect(isSafeRelPath('🌍'.repeat(64))).toBe(false); // 256 bytes
    // Many short names are fine however long the whole path.
    expect(isSafeRelPath(Array.from({ length: 100 }, () => 'abcdefghij').join('/'))).toBe(true);
  });
});

describe('unsafeLinkTargetReason', () => {
  it('accepts targets that stay inside through real folders', () => {
    for (const [link, target] of [['a', 'b'], ['a', '.'], ['a', './b/c'], ['d/a', '..'], ['d/a', '../b'], ['d/e/a', '../../x/y'], ['a', 'b//c/'], ['a', '.gitignore']]) {
      expect({ link, target, why: unsafeLinkTargetReason(link!, target!) }).toEqual({ link, target, why: undefined });
    }
  });

  it('refuses targets that leave, climb after a name, point into .git or .cshare, or are malformed', () => {
    const bad: [string, string, RegExp][] = [
      ['a', '..', /leaves the worktree/],
      ['d/a', '../..', /leaves the worktree/],
      ['a', '/etc/passwd', /absolute/],
      ['x', 'y/..', /after a name/],
      ['u0', 'x/../..', /after a name/],
      ['d/a', '../b/../..', /after a name/],
      ['g', '.git', /into \.git\//],
      ['g', '.GIT/hooks', /into \.git\//],
      ['g', 'sub/.git.', /into \.git\//],
      ['g', 'GIT~1', /into \.git\//],
      ['c', '.cshare/store', /into \.cshare\//],
      ['c', '.c\u200cshare', /into \.cshare\//],
      ['a', '', /empty/],
      ['a', 'b\0c', /NUL/],
      ['a', '..\\..\\x', /backslash/],
    ];
    for (const [link, target, why] of bad) expect({ link, target, why: unsafeLinkTargetReason(link, target) }).toEqual({ link, target, why: expect.stringMatching(why) });
  });
});
