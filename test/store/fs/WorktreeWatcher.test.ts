import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { watchWorktree } from '../../../src/store/fs/WorktreeWatcher.js';
import { tempDir } from '../../helpers/tmp.js';

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

it('reports a burst of saves as one change, and ignores .cshare/', async () => {
  const root = tempDir();
  mkdirSync(join(root, '.cshare'));
  const bursts: string[][] = [];
  const w = await watchWorktree({ root, debounceMs: 100, onChange: async (p) => void bursts.push(p), onError: (e) => { throw e; } });
  try {
    for (let i = 0; i < 20; i++) writeFileSync(join(root, `f${i}.txt`), 'x');
    writeFileSync(join(root, '.cshare', 'noise'), 'x');
    await until(() => bursts.length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    // One callback for the whole burst (what a sync needs: it rescans on each). The paths
    // are a hint: under load @parcel/watcher has been seen to fold one of 20 creates away.
    expect(bursts).toHaveLength(1);
    expect(bursts[0]!.length).toBeGreaterThanOrEqual(15);
    expect(bursts[0]!.every((p) => /f\d+\.txt$/.test(p))).toBe(true);
  } finally {
    await w.close();
  }
});

it('collects events that arrive while a burst is handled into the next burst', async () => {
  const root = tempDir();
  const bursts: string[][] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const w = await watchWorktree({
    root,
    debounceMs: 30,
    onChange: async (p) => {
      bursts.push(p);
      if (bursts.length === 1) await gate;
    },
    onError: (e) => { throw e; },
  });
  try {
    writeFileSync(join(root, 'a.txt'), 'x');
    await until(() => bursts.length === 1);
    writeFileSync(join(root, 'b.txt'), 'x');
    await new Promise((r) => setTimeout(r, 200));
    expect(bursts).toHaveLength(1); // still handling the first
    release();
    await until(() => bursts.length === 2);
    expect(bursts[1]!.some((p) => p.endsWith('b.txt'))).toBe(true);
  } finally {
    await w.close();
  }
});

it('holds events until released, then reports them as one burst; a release with none reports nothing', async () => {
  const root = tempDir();
  const bursts: string[][] = [];
  const quiet = await watchWorktree({ root, debounceMs: 20, held: true, onChange: async (p) => void bursts.push(p), onError: (e) => { throw e; } });
  try {
    expect(quiet.release()).toBe(false);
    await new Promise((r) => setTimeout(r, 150));
    expect(bursts).toHaveLength(0);
  } finally {
    await quiet.close();
  }

  const w = await watchWorktree({ root, debounceMs: 20, held: true, onChange: async (p) => void bursts.push(p), onError: (e) => { throw e; } });
  try {
    writeFileSync(join(root, 'saved-while-held.txt'), 'x');
    await new Promise((r) => setTimeout(r, 300));
    expect(bursts).toHaveLength(0);
    expect(w.release()).toBe(true);
    await until(() => bursts.length === 1);
    expect(bursts[0]!.some((p) => p.endsWith('saved-while-held.txt'))).toBe(true);
    // Released: later saves are reported as they come.
    writeFileSync(join(root, 'later.txt'), 'x');
    await until(() => bursts.length === 2);
    expect(w.release()).toBe(false);
  } finally {
    await w.close();
  }
});

it('the fast path: a folder given by hot() reports a save there at once, still as a burst of paths', async () => {
  const root = tempDir();
  mkdirSync(join(root, 'src'));
  const bursts: string[][] = [];
  const w = await watchWorktree({ root, debounceMs: 5, onChange: async (p) => void bursts.push(p), onError: (e) => { throw e; } });
  try {
    w.hot(['src/app.ts']);
    // In place, then by rename (a temporary file renamed over the file, as editors save).
    writeFileSync(join(root, 'src', 'app.ts'), 'one');
    await until(() => bursts.flat().some((p) => p === join(root, 'src', 'app.ts')));
    writeFileSync(join(root, 'src', '.app.ts.tmp'), 'two');
    renameSync(join(root, 'src', '.app.ts.tmp'), join(root, 'src', 'app.ts'));
    await until(() => bursts.flat().filter((p) => p === join(root, 'src', 'app.ts')).length >= 2);
    expect(bursts.flat().every((p) => p.startsWith(join(root, 'src')))).toBe(true);
  } finally {
    await w.close();
  }
});
