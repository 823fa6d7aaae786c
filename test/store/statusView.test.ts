import { chmodSync, existsSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeStatusView, encodeStatusView, StatusViewBuilder, type StatusView } from '../../src/core/statusView.js';
import { openWorktree } from '../../src/store/openWorktree.js';
import { statusViewPath } from '../../src/store/layout.js';
import { readStatusView } from '../../src/store/statusViewFile.js';
import { statusOffline } from '../../src/status/statusOffline.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

const env = { HOME: '/nonexistent-home', USER: 'tester' };

/** Status the slow way: the store opened and the replica loaded. */
async function statusFromStore(root: string) {
  const wt = await openWorktree({ cwd: root, env });
  try {
    return await wt.replica.status();
  } finally {
    await wt.close();
  }
}

async function scan(root: string): Promise<void> {
  const wt = await openWorktree({ cwd: root, env });
  await wt.replica.scan();
  await wt.close();
}

describe('status view', () => {
  it('round-trips through its encoding, and damaged or foreign bytes decode to nothing', () => {
    const stat = { size: 3, mtimeMs: 1700000000123.456, ctimeMs: -1, ino: 2 ** 40 + 7, mode: 0o100755, kind: 'binary' as const, digest: 'b'.repeat(40) };
    const b = new StatusViewBuilder('r1');
    b.addFile('a/é.txt', 'f1', 'text', 0o100644, 'a'.repeat(40));
    b.addFile('link', 'f2', 'symlink', 0o120000, 'c'.repeat(40));
    b.addStat('bin', stat);
    const view: StatusView = b.build();
    const bytes = encodeStatusView(view);
    const back = decodeStatusView(bytes)!;
    expect(back.replicaId).toBe('r1');
    expect(back.files.paths).toEqual(['a/é.txt', 'link']);
    expect([...back.files.kinds]).toEqual([0, 2]);
    expect([...back.files.modes]).toEqual([0o100644, 0o120000]);
    expect([...back.stats.nums]).toEqual([3, stat.mtimeMs, -1, stat.ino, 0o100755]);
    expect(back.stats.digests).toEqual(['b'.repeat(40)]);

    expect(decodeStatusView(bytes.subarray(0, bytes.byteLength - 9))).toBeUndefined();
    expect(decodeStatusView(new TextEncoder().encode('{"version":1}'))).toBeUndefined();
    expect(decodeStatusView(new Uint8Array(0))).toBeUndefined();
    const flipped = new Uint8Array(bytes);
    flipped[4 + 2] ^= 0xff; // inside the header
    expect(decodeStatusView(flipped)).toBeUndefined();
    const one = new StatusViewBuilder('r1');
    one.addFile('x', 'f', 'text', 0o100644, 'd');
    const badKind = one.build();
    badKind.files.kinds[0] = 9;
    expect(decodeStatusView(encodeStatusView(badKind))).toBeUndefined();
  });

  it('answers status without the store exactly as the loaded replica does', async () => {
    const root = tempDir();
    writeTree(root, { 'keep.txt': 'same\n', 'edit.txt': 'one\n', 'gone.txt': 'bye\n', 'move/from.txt': 'moving\n', 'mode.sh': 'echo\n', 'bin.dat': new Uint8Array([0, 1, 2]) });
    await scan(root);
    expect(existsSync(statusViewPath(root))).toBe(true);

    writeFileSync(join(root, 'edit.txt'), 'two\n');
    rmSync(join(root, 'gone.txt'));
    renameSync(join(root, 'move/from.txt'), join(root, 'moved.txt'));
    chmodSync(join(root, 'mode.sh'), 0o755);
    writeFileSync(join(root, 'new.txt'), 'hello\n');
    // Same size, older mtime: only the digest tells.
    writeFileSync(join(root, 'bin.dat'), new Uint8Array([9, 9, 9]));
    utimesSync(join(root, 'bin.dat'), new Date(2001, 1, 1), new Date(2001, 1, 1));

    const fast = await statusOffline(root, env);
    expect(fast).toBeDefined();
    expect(fast!.changed).toEqual([
      { path: 'bin.dat', change: 'modified' },
      { path: 'edit.txt', change: 'modified' },
      { path: 'gone.txt', change: 'deleted' },
      { path: 'mode.sh', change: 'modified' },
      { path: 'moved.txt', change: 'renamed', from: 'move/from.txt' },
      { path: 'new.txt', change: 'created' },
    ]);
    const slow = await statusFromStore(root);
    expect(fast).toEqual({ ...slow, storeBytes: fast!.storeBytes });
    expect(fast!.files).toBe(6);

    // Recorded: the view is rewritten and reports a clean tree again.
    await scan(root);
    const after = (await statusOffline(root, env))!;
    expect(after.changed).toEqual([]);
    expect(after.files).toBe(6);
    expect(after).toEqual({ ...(await statusFromStore(root)), storeBytes: after.storeBytes });
  });

  it('is removed before the first write to the store, so a killed process leaves none', async () => {
    const root = tempDir();
    writeTree(root, { 'a.txt': 'a\n' });
    await scan(root);
    expect(readStatusView(root)).toBeDefined();

    const wt = await openWorktree({ cwd: root, env });
    // Opening and reading change nothing: the view still describes the store.
    await wt.replica.log();
    expect(existsSync(statusViewPath(root))).toBe(true);
    writeFileSync(join(root, 'a.txt'), 'changed\n');
    await wt.replica.scan();
    // A process killed now (its store never closed) leaves no view behind to go stale.
    expect(existsSync(statusViewPath(root))).toBe(false);
    expect(await statusOffline(root, env)).toBeUndefined();
    await wt.close();
    expect((await statusOffline(root, env))!.changed).toEqual([]);
  });

  it('is left to the next command by a process opened without it (share, join)', async () => {
    const root = tempDir();
    writeTree(root, { 'a.txt': 'a\n' });
    const wt = await openWorktree({ cwd: root, env, statusView: false });
    await wt.replica.scan();
    await wt.close();
    expect(existsSync(statusViewPath(root))).toBe(false);
    const slow = await statusFromStore(root);
    expect(await statusOffline(root, env)).toEqual({ ...slow, storeBytes: (await statusOffline(root, env))!.storeBytes });
  });

  it('is not used when damaged, and the next close writes a good one', async () => {
    const root = tempDir();
    writeTree(root, { 'a.txt': 'a\n' });
    await scan(root);
    writeFileSync(statusViewPath(root), readFileSync(statusViewPath(root)).subarray(0, 100));
    expect(await statusOffline(root, env)).toBeUndefined();
    expect(existsSync(statusViewPath(root))).toBe(false);
    const slow = await statusFromStore(root);
    expect(await statusOffline(root, env)).toEqual({ ...slow, storeBytes: (await statusOffline(root, env))!.storeBytes });

    // A damaged store is not hidden behind a good view: status opens it and reports it.
    writeFileSync(join(root, '.cshare/store/CURRENT'), 'garbage');
    expect(readStatusView(root)).toBeDefined();
    expect(await statusOffline(root, env)).toBeUndefined();
  });
});
