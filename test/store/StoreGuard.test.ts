import { cpSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CshareError } from '../../src/core/errors.js';
import { openWorktree } from '../../src/store/openWorktree.js';
import { StoreGuard } from '../../src/store/StoreGuard.js';
import { until } from '../helpers/procs.js';
import { tempDir } from '../helpers/tmp.js';

/** A worktree with a store directory as openWorktree lays it out. */
function worktree(): string {
  const root = tempDir();
  mkdirSync(join(root, '.cshare/store'), { recursive: true });
  return root;
}

describe('StoreGuard', () => {
  it('holds while the store stays, also when it is moved away and back (the same directories)', () => {
    const root = worktree();
    const lost: CshareError[] = [];
    const guard = StoreGuard.take({ root, command: 'share', onLost: (e) => lost.push(e) });
    expect(guard.check()).toBeUndefined();
    renameSync(join(root, '.cshare'), join(root, 'elsewhere'));
    renameSync(join(root, 'elsewhere'), join(root, '.cshare'));
    expect(guard.check()).toBeUndefined();
    guard.close();
    expect(lost).toEqual([]);
  });

  it('finds a store moved away (vanished), tells onLost once, and refuses from then on', () => {
    const root = worktree();
    const lost: CshareError[] = [];
    const guard = StoreGuard.take({ root, command: 'join', onLost: (e) => lost.push(e) });
    renameSync(join(root, '.cshare'), join(root, 'stashed'));
    const err = guard.check();
    expect(err).toMatchObject({ code: 'STORE_CORRUPT', data: { loss: 'vanished', root } });
    expect(err!.message).toContain('was moved away or deleted while cshare join was running');
    // Still refused once it is back: what was written meanwhile went elsewhere.
    renameSync(join(root, 'stashed'), join(root, '.cshare'));
    expect(() => guard.assertIntact()).toThrow(err!.message);
    expect(lost).toEqual([err]);
    guard.close();
  });

  it('finds a store replaced by a copy (a stash popped, a restore), even one put back at once', () => {
    const root = worktree();
    writeFileSync(join(root, '.cshare/store/CURRENT'), 'MANIFEST-000001\n');
    const guard = StoreGuard.take({ root, command: 'share', onLost: () => {} });
    cpSync(join(root, '.cshare'), join(root, 'copy'), { recursive: true });
    rmSync(join(root, '.cshare'), { recursive: true });
    renameSync(join(root, 'copy'), join(root, '.cshare'));
    expect(guard.check()).toMatchObject({ code: 'STORE_CORRUPT', data: { loss: 'replaced' } });
    guard.close();
  });

  it('with everyMs, notices on its own', async () => {
    const root = worktree();
    const lost: CshareError[] = [];
    const guard = StoreGuard.take({ root, command: 'share', everyMs: 10, onLost: (e) => lost.push(e) });
    rmSync(join(root, '.cshare/store'), { recursive: true });
    await until(() => lost.length > 0, 5000);
    expect(lost[0]).toMatchObject({ data: { loss: 'vanished', path: join(root, '.cshare/store') } });
    guard.close();
  });

  it('openWorktree with a guard: no write reaches a store that went away', async () => {
    const root = tempDir();
    writeFileSync(join(root, 'a.txt'), 'a\n');
    const lost: CshareError[] = [];
    const wt = await openWorktree({ cwd: root, exactRoot: true, guard: { command: 'share', onLost: (e) => lost.push(e) } });
    try {
      await wt.replica.scan();
      renameSync(join(root, '.cshare'), join(root, 'moved'));
      writeFileSync(join(root, 'a.txt'), 'a\nb\n');
      await expect(wt.replica.scan()).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
      expect(lost).toHaveLength(1);
    } finally {
      await wt.close();
    }
  });
});
