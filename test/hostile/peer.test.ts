import { readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManifestDoc } from '../../src/core/ManifestDoc.js';
import type { Replica } from '../../src/core/Replica.js';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { openReplica } from '../helpers/replica.js';
import { treeOf } from '../helpers/tree.js';
import { UNTOUCHED, remoteChange, sandbox } from './helpers.js';

/**
 * A peer applying hostile changes (what a malicious or broken replica could send if the
 * relay let it through): nothing is ever written outside the worktree, the bad part is
 * refused with a clear error, and the replica stays usable.
 */

const MALLORY = { replica: 'mallory', author: 'mallory' };

const BAD_PATHS = [
  '../x',
  '../outside.txt',
  '/etc/passwd',
  'a/../../b',
  '../../etc/passwd',
  '.git/config',
  '.GIT/hooks/post-checkout',
  'src/.git/config',
  '.cshare/store/CURRENT',
  'a\0b',
  '..\\outside.txt',
  'a\\..\\..\\outside.txt',
  './a',
  'a//b',
  '',
  // Platform aliases of .git and .cshare (issue 15 item 14), and a name no disk can hold (item 10).
  '.git./hooks/pre-commit',
  'GIT~1/config',
  '.git::$INDEX_ALLOCATION/hooks/post-checkout',
  '.g\u200cit/hooks/pre-commit',
  'src/.cshare /store/CURRENT',
  `${'n'.repeat(300)}.txt`,
];

async function setup() {
  const box = sandbox();
  const kv = new MemoryStore();
  const { replica } = await openReplica(box.root, kv, 'bob');
  return { box, kv, replica };
}

/** The replica still works: a later honest change is applied and shows on disk. */
async function stillWorks(replica: Replica, root: string): Promise<void> {
  await replica.applyChanges(remoteChange({ later: { path: 'later.txt', content: 'later\n' } }, 99, 2000), MALLORY);
  expect(readFileSync(join(root, 'later.txt'), 'utf8')).toBe('later\n');
  expect((await replica.scan()).recorded).toEqual([]);
}

describe('hostile changes at a peer: path traversal', () => {
  it.each(BAD_PATHS)('refuses the entry %j: nothing outside, the rest applied, reported, store reopens', async (bad) => {
    const { box, kv, replica } = await setup();
    const change = remoteChange({ good: { path: 'ok.txt', content: 'fine\n' }, bad: { path: bad, content: 'evil\n' } });
    await replica.applyChanges(change, MALLORY);
    expect(box.outside()).toEqual(UNTOUCHED);
    expect(Object.keys(treeOf(box.root))).toEqual(['ok.txt']);
    expect(readFileSync(join(box.root, 'ok.txt'), 'utf8')).toBe('fine\n');
    expect(replica.refusedEntries()).toEqual([expect.objectContaining({ fileId: 'bad', reason: expect.any(String) })]);
    // A scan does not mistake the refused entry for a deleted file, and nothing is wedged.
    expect((await replica.scan()).recorded).toEqual([]);
    await stillWorks(replica, box.root);
    replica.close();
    const { replica: again } = await openReplica(box.root, kv, 'bob');
    expect((await again.log()).map((op) => `${op.kind} ${op.path}`)).toEqual(['create later.txt', 'create ok.txt']);
    expect(again.refusedEntries().map((r) => r.fileId)).toEqual(['bad']);
    again.close();
  });

  it('refuses an entry renamed to an unsafe path: the file goes away here, nothing is written outside', async () => {
    const { box, replica } = await setup();
    const sender = ManifestDoc.create(4242);
    await replica.applyChanges(remoteChange({ f1: { path: 'a.txt', content: 'A\n' } }, 4242, 1000, sender), MALLORY);
    expect(readFileSync(join(box.root, 'a.txt'), 'utf8')).toBe('A\n');
    await replica.applyChanges(remoteChange({ f1: { path: '../a.txt', content: 'A\n' } }, 4242, 1001, sender), MALLORY);
    expect(box.outside()).toEqual(UNTOUCHED);
    expect(treeOf(box.root)).toEqual({});
    expect(replica.refusedEntries().map((r) => r.path)).toEqual(['../a.txt']);
    await stillWorks(replica, box.root);
  });
});

describe('hostile changes at a peer: symlinks', () => {
  it.each(['../outside.txt', '/etc/passwd', '..', 'sub/../../outside.txt'])('refuses a symlink entry to %j that leaves the worktree: whole change rolled back, BAD_PATH', async (target) => {
    const { box, kv, replica } = await setup();
    const change = remoteChange({ good: { path: 'ok.txt', content: 'fine\n' }, link: { path: 'link', content: target, kind: 'symlink' } });
    const err = await replica.applyChanges(change, MALLORY).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err?.code).toBe('BAD_PATH');
    expect(err?.message).toMatch(/leaves the worktree/);
    expect(err?.message).toMatch(/nothing of them was applied/);
    expect(box.outside()).toEqual(UNTOUCHED);
    // All or nothing: the file written before the link was refused is rolled back.
    expect(treeOf(box.root)).toEqual({});
    await stillWorks(replica, box.root);
    replica.close();
    const { replica: again } = await openReplica(box.root, kv, 'bob');
    expect((await again.log()).map((op) => `${op.kind} ${op.path}`)).toEqual(['create later.txt']);
    again.close();
  });

  it('refuses to write through a symlinked directory that leads out of the worktree', async () => {
    const { box, replica } = await setup();
    // The user (or an earlier change) made a link to the parent directory, and it was recorded
    // (the scan before an apply covers only the paths the apply writes, not their parents).
    symlinkSync('..', join(box.root, 'up'));
    expect((await replica.scan()).recorded.map((c) => `${c.kind} ${c.path}`)).toEqual(['create up']);
    const change = remoteChange({ evil: { path: 'up/outside.txt', content: 'pwned\n' }, deep: { path: 'up/etc/passwd', content: 'pwned\n' } });
    const err = await replica.applyChanges(change, MALLORY).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err?.code).toBe('BAD_PATH');
    expect(err?.message).toMatch(/symlink that leaves the worktree|resolves outside the worktree/);
    expect(box.outside()).toEqual(UNTOUCHED);
    expect(treeOf(box.root)).toEqual({ up: 'link:..' });
    await stillWorks(replica, box.root);
  });

  it('writes through a symlinked directory that stays inside, and nowhere else', async () => {
    const { box, replica } = await setup();
    await replica.applyChanges(remoteChange({ d: { path: 'real/keep.txt', content: 'k\n' } }, 4242, 1000), MALLORY);
    symlinkSync('real', join(box.root, 'alias'));
    await replica.applyChanges(remoteChange({ a: { path: 'alias/new.txt', content: 'n\n' } }, 4243, 1001), MALLORY);
    expect(readFileSync(join(box.root, 'real/new.txt'), 'utf8')).toBe('n\n');
    expect(box.outside()).toEqual(UNTOUCHED);
  });
});

describe('hostile changes at a peer: case collisions', () => {
  it('"A.txt" and "a.txt" from separate updates (which the relay lets through) stay two files inside the worktree, and a rescan records nothing', async () => {
    const { box, replica } = await setup();
    await replica.applyChanges(remoteChange({ upper: { path: 'A.txt', content: 'upper\n' } }, 4242, 1000), MALLORY);
    await replica.applyChanges(remoteChange({ lower: { path: 'a.txt', content: 'lower\n' } }, 4243, 1001), MALLORY);
    expect(box.outside()).toEqual(UNTOUCHED);
    expect(readFileSync(join(box.root, 'A.txt'), 'utf8')).toBe('upper\n');
    expect(readFileSync(join(box.root, 'a.txt'), 'utf8')).toBe('lower\n');
    expect((await replica.scan()).recorded).toEqual([]);
  });
});
