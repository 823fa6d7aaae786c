import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ScanScope, SCOPE_MAX_PATHS, scanWorktree } from '../../src/core/Scanner.js';
import { NodeFs } from '../../src/store/fs/NodeFs.js';
import { openReplica } from '../helpers/replica.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

const kinds = (recorded: { kind: string; path: string; from?: string }[]) => recorded.map((c) => `${c.kind} ${c.from ? `${c.from} -> ` : ''}${c.path}`).sort();

describe('ScanScope', () => {
  it('covers its paths and what is under them, and leads a walk through their parents', () => {
    const s = new ScanScope(['a/b/c.txt', 'd']);
    expect(['a/b/c.txt', 'd', 'd/e/f.txt'].map((p) => s.covers(p))).toEqual([true, true, true]);
    expect(['a/b', 'a/b/c.txt.bak', 'dd', 'x'].map((p) => s.covers(p))).toEqual([false, false, false, false]);
    expect(['a', 'a/b', 'd', 'a/b/c.txt'].map((p) => s.leadsTo(p))).toEqual([true, true, false, false]);
  });

  it('is the whole tree for a burst too big to trust, the root, or a file of rules', () => {
    expect(ScanScope.ofChanges(['a.txt', 'd/b.txt'])?.list().sort()).toEqual(['a.txt', 'd/b.txt']);
    expect(ScanScope.ofChanges(Array.from({ length: SCOPE_MAX_PATHS + 1 }, (_, i) => `f${i}`))).toBeUndefined();
    expect(ScanScope.ofChanges([])).toBeUndefined();
    expect(ScanScope.ofChanges(['a.txt', ''])).toBeUndefined();
    for (const rules of ['.gitignore', 'd/.gitignore', 'd/.cshareignore', '.cshareinclude', 'x/.gitattributes']) expect(ScanScope.ofChanges(['a.txt', rules])).toBeUndefined();
  });
});

describe('a scan of a scope', () => {
  it('lists only the files in scope, with the ignore rules of the directories above them', () => {
    const root = tempDir();
    writeTree(root, { '.gitignore': '*.log\n', 'a.txt': 'a', 'd/b.txt': 'b', 'd/x.log': 'log', 'd/e/c.txt': 'c', 'other/o.txt': 'o', 'd/.hid.cshare-tmp-0123456789ab': 'left' });
    const fs = new NodeFs(root);
    const scan = scanWorktree({ fs, statCache: new Map(), scope: new ScanScope(['d', 'a.txt', 'gone.txt']) });
    expect(scan.files.map((f) => f.path)).toEqual(['a.txt', 'd/b.txt', 'd/e/c.txt']);
    expect(scan.leftovers).toEqual(['d/.hid.cshare-tmp-0123456789ab']);
    const one = scanWorktree({ fs, statCache: new Map(), scope: new ScanScope(['d/x.log', 'd/e/c.txt']) });
    expect(one.files.map((f) => f.path)).toEqual(['d/e/c.txt']);
    expect(one.leftovers).toEqual([]);
  });

  it('records the changes in scope only; the files outside it wait for a scan that covers them', async () => {
    const root = tempDir();
    writeTree(root, { 'a.txt': 'alpha\n', 'b.txt': 'beta\n', 'd/c.txt': 'gamma\n', 'd/e/f.txt': 'phi\n', 'm.txt': 'move me\n', 'z.txt': 'zed\n' });
    const { replica } = await openReplica(root);
    await replica.scan();

    writeFileSync(join(root, 'a.txt'), 'alpha two\n');
    writeFileSync(join(root, 'b.txt'), 'beta two\n');
    rmSync(join(root, 'z.txt'));
    expect(kinds((await replica.scan({ scope: new ScanScope(['a.txt']) })).recorded)).toEqual(['edit a.txt']);
    // Out of scope: neither recorded nor touched (not written back, not overwritten).
    expect(existsSync(join(root, 'z.txt'))).toBe(false);
    expect(readFileSync(join(root, 'b.txt'), 'utf8')).toBe('beta two\n');
    expect(kinds((await replica.scan({ scope: new ScanScope(['a.txt']) })).recorded)).toEqual([]);

    // A directory removed, a file moved and a new one, each named by the burst.
    rmSync(join(root, 'd'), { recursive: true });
    renameSync(join(root, 'm.txt'), join(root, 'moved.txt'));
    mkdirSync(join(root, 'n'));
    writeFileSync(join(root, 'n/new.txt'), 'new\n');
    expect(kinds((await replica.scan({ scope: new ScanScope(['d', 'm.txt', 'moved.txt', 'n']) })).recorded)).toEqual([
      'create n/new.txt',
      'delete d/c.txt',
      'delete d/e/f.txt',
      'rename m.txt -> moved.txt',
    ]);

    // The full scan finds what no scope covered, and nothing twice.
    expect(kinds((await replica.scan()).recorded)).toEqual(['delete z.txt', 'edit b.txt']);
    expect((await replica.scan()).recorded).toEqual([]);
  });

  it('of a file that was replaced by a directory (or the reverse) records both sides', async () => {
    const root = tempDir();
    writeTree(root, { 'p': 'a file\n', 'q/inner.txt': 'inner\n' });
    const { replica } = await openReplica(root);
    await replica.scan();
    rmSync(join(root, 'p'));
    writeTree(root, { 'p/child.txt': 'child\n' });
    rmSync(join(root, 'q'), { recursive: true });
    writeFileSync(join(root, 'q'), 'now a file\n');
    expect(kinds((await replica.scan({ scope: new ScanScope(['p', 'q']) })).recorded)).toEqual(['create p/child.txt', 'create q', 'delete p', 'delete q/inner.txt']);
    expect((await replica.scan()).recorded).toEqual([]);
  });
});
