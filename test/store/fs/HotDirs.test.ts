import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { HotDirs } from '../../../src/store/fs/HotDirs.js';
import { until } from '../../helpers/procs.js';
import { tempDir } from '../../helpers/tmp.js';

it('reports the paths changed in a watched folder, and only there', async () => {
  const root = tempDir();
  mkdirSync(join(root, 'hot'));
  mkdirSync(join(root, 'cold'));
  const seen: string[] = [];
  const dirs = new HotDirs({ onPath: (p) => seen.push(p) });
  try {
    dirs.touch(join(root, 'hot'));
    writeFileSync(join(root, 'cold', 'b.txt'), 'x');
    writeFileSync(join(root, 'hot', 'a.txt'), 'x');
    await until(() => seen.includes(join(root, 'hot', 'a.txt')), 5000);
    expect(seen.filter((p) => !p.startsWith(join(root, 'hot')))).toEqual([]);
  } finally {
    dirs.close();
  }
});

it('watches at most max folders, dropping the least recently used; a folder that is gone is skipped', async () => {
  const root = tempDir();
  for (const d of ['a', 'b', 'c']) mkdirSync(join(root, d));
  const seen: string[] = [];
  const dirs = new HotDirs({ onPath: (p) => seen.push(p), max: 2 });
  try {
    dirs.touch(join(root, 'a'));
    dirs.touch(join(root, 'b'));
    dirs.touch(join(root, 'a')); // used again: b is now the oldest
    dirs.touch(join(root, 'c'));
    expect(dirs.list()).toEqual([join(root, 'a'), join(root, 'c')]);
    dirs.touch(join(root, 'missing'));
    expect(dirs.list()).toEqual([join(root, 'a'), join(root, 'c')]);
    // A watched folder deleted: its watch ends without an error thrown here.
    rmSync(join(root, 'c'), { recursive: true });
    writeFileSync(join(root, 'a', 'x.txt'), 'x');
    await until(() => seen.includes(join(root, 'a', 'x.txt')), 5000);
  } finally {
    dirs.close();
  }
  expect(dirs.list()).toEqual([]);
});
