import { describe, expect, it } from 'vitest';
import { expandHome, mergeGitConfigs, parseGitConfig } from '../../src/core/gitConfig.js';
import { MAX_INCLUDE_DEPTH, readGitConfigFiles, wildmatch } from '../../src/core/gitConfigFiles.js';

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

describe('readGitConfigFiles', () => {
  /** Files in memory, by absolute path (nothing is read from disk). */
  const reader = (files: Record<string, string>) => (p: string) => (p in files ? new TextEncoder().encode(files[p]) : undefined);

  it('splices an included file in where it is named, so a later value in the includer still wins', () => {
    const read = reader({
      '/h/.gitconfig': '[user]\nname = Before\n[include]\npath = inc/a.inc\n[core]\nexcludesFile = after\n',
      '/h/inc/a.inc': '[user]\nname = Included\n[core]\nexcludesFile = included\n',
    });
    const c = readGitConfigFiles({ read, files: ['/h/.gitconfig'], home: '/h' });
    expect(c.get('user.name')).toBe('Included');
    expect(c.get('core.excludesFile')).toBe('after');
  });

  it('ends an include cycle at git\'s depth limit and reports it', () => {
    const read = reader({ '/h/a.inc': '[include]\npath = b.inc\n[x]\nn = a\n', '/h/b.inc': '[include]\npath = ./a.inc\n[x]\nn = b\n' });
    const errors: string[] = [];
    const c = readGitConfigFiles({ read, files: ['/h/a.inc'], home: '/h', onError: (_p, m) => errors.push(m) });
    expect(c.getAll('x.n').length).toBe(MAX_INCLUDE_DEPTH + 1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/maximum include depth/);
  });

  it('matches includeIf gitdir: and onbranch: patterns as git does', () => {
    const read = reader({
      '/h/.gitconfig': ['[includeIf "gitdir:~/work/"]', 'path = work.inc', '[includeIf "gitdir:other/.git"]', 'path = other.inc', '[includeIf "onbranch:rel-*"]', 'path = rel.inc', '[includeIf "hasconfig:remote.*.url:x"]', 'path = never.inc', ''].join('\n'),
      '/h/work.inc': '[w]\nv = 1\n', '/h/other.inc': '[o]\nv = 1\n', '/h/rel.inc': '[r]\nv = 1\n', '/h/never.inc': '[n]\nv = 1\n',
      '/h/work/deep/p/.git/HEAD': 'ref: refs/heads/rel-2\n',
      '/x/other/.git/HEAD': 'ref: refs/heads/main\n',
    });
    const inWork = readGitConfigFiles({ read, files: ['/h/.gitconfig'], home: '/h', gitDir: '/h/work/deep/p/.git' });
    expect([inWork.get('w.v'), inWork.get('o.v'), inWork.get('r.v'), inWork.get('n.v')]).toEqual(['1', undefined, '1', undefined]);
    const inOther = readGitConfigFiles({ read, files: ['/h/.gitconfig'], home: '/h', gitDir: '/x/other/.git' });
    expect([inOther.get('w.v'), inOther.get('o.v'), inOther.get('r.v')]).toEqual([undefined, '1', undefined]);
    expect(wildmatch('a/**/b', false).test('a/b')).toBe(true);
    expect(wildmatch('a/**/b', false).test('a/x/y/b')).toBe(true);
    expect(wildmatch('a/*/b', false).test('a/x/y/b')).toBe(false);
  });
});
