import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GitIndex } from '../../src/core/gitIndex.js';
import { scanWorktree } from '../../src/core/Scanner.js';
import { gitIndexBytes } from '../helpers/gitIndexFile.js';
import { MemFs } from '../helpers/MemFs.js';
import { git, tempDir } from '../helpers/tmp.js';

// The convergence fuzzer gives replicas a git tracked set with this writer (`rules.ts`).
describe('gitIndexBytes (the fuzzer’s git index)', () => {
  const paths = ['b.txt', 'a/z.log', 'a.txt', 'é/x.md', 'a/b/c.txt'];

  it('is an index git itself reads: ls-files lists exactly the paths, in git’s order', () => {
    const repo = tempDir();
    git(repo, ['init', '-q']);
    writeFileSync(join(repo, '.git', 'index'), gitIndexBytes(paths));
    const listed = git(repo, ['-c', 'core.quotepath=off', 'ls-files', '-z']).split('\0').filter((p) => p !== '');
    expect(listed).toEqual([...paths].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
  });

  it('makes a scan share an ignored file it tracks, and only that one', () => {
    const fs = new MemFs('/mem/repo');
    const enc = new TextEncoder();
    fs.mkdir('.git');
    fs.external.set('/mem/repo/.git/index', gitIndexBytes(['t/sample.log']));
    fs.writeFile('.gitignore', enc.encode('*.log\n'));
    fs.writeFile('t/sample.log', enc.encode('tracked\n'));
    fs.writeFile('t/other.log', enc.encode('ignored\n'));
    expect(GitIndex.parse(fs.readExternal('/mem/repo/.git/index')!).has('t/sample.log')).toBe(true);
    const scan = scanWorktree({ fs, statCache: new Map(), includeExcluded: true });
    expect(scan.files.map((f) => f.path)).toEqual(['.gitignore', 't/sample.log']);
    expect(scan.excluded).toEqual([{ path: 't/other.log', reason: 'ignored' }]);
  });
});
