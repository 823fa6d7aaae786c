import { describe, expect, it } from 'vitest';
import { CshareError } from '../../src/core/errors.js';
import { assertSafeRelPath, isSafeRelPath } from '../../src/core/paths.js';

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
