import { describe, expect, it } from 'vitest';
import { expandHome, mergeGitConfigs, parseGitConfig } from '../../src/core/gitConfig.js';

describe('parseGitConfig', () => {
  const text = [
    '# comment',
    '[core]',
    '\texcludesFile = ~/.gitignore_global',
    '\tAutoCRLF = input ; trailing comment',
    '[User]',
    '  name = "Ada  Lovelace" # comment',
    '  email = ada@example.com',
    '[remote "origin"]',
    '  url = git@example.com:x.git',
    '  fetch = +refs/heads/*:refs/remotes/origin/*',
    '[core]',
    '  excludesfile = "/abs/path with \\"quotes\\""',
    '  bare',
    '[alias]',
    '  lg = log \\',
    '    --oneline',
  ].join('\n');
  const c = parseGitConfig(text);

  it('reads sections and keys case-insensitively, last value wins', () => {
    expect(c.get('core.excludesFile')).toBe('/abs/path with "quotes"');
    expect(c.getAll('CORE.EXCLUDESFILE')).toEqual(['~/.gitignore_global', '/abs/path with "quotes"']);
    expect(c.get('core.autocrlf')).toBe('input');
    expect(c.get('user.name')).toBe('Ada  Lovelace');
    expect(c.get('core.bare')).toBe('true');
    expect(c.get('missing.key')).toBeUndefined();
  });

  it('keeps subsections case-sensitive', () => {
    expect(c.get('remote.origin.url')).toBe('git@example.com:x.git');
    expect(c.get('REMOTE.origin.URL')).toBe('git@example.com:x.git');
    expect(c.get('remote.Origin.url')).toBeUndefined();
  });

  it('joins continuation lines', () => {
    expect(c.get('alias.lg')).toBe('log     --oneline');
  });

  it('merges configs with later ones winning', () => {
    const m = mergeGitConfigs([parseGitConfig('[user]\nname = A\nemail = a@x'), parseGitConfig('[user]\nname = B')]);
    expect(m.get('user.name')).toBe('B');
    expect(m.get('user.email')).toBe('a@x');
  });

  it('expands ~/ only', () => {
    const home = '/home/u'; // self-contained: not a path read (a string expandHome joins)
    expect(expandHome('~/x/y', home)).toBe(`${home}/x/y`);
    expect(expandHome('~', home)).toBe(home);
    expect(expandHome('~bob/x', home)).toBe('~bob/x');
    expect(expandHome('/abs', home)).toBe('/abs');
    expect(expandHome('~/x', undefined)).toBe('~/x');
  });
});
