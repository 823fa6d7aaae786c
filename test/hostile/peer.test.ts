import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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

/** The worktree as path -> text (symlinks as "link:target"). */
function textTree(root: string): Record<string, string> {
  return Object.fromEntries(Object.entries(treeOf(root)).map(([k, v]) => [k, v.startsWith('link:') ? v : Buffer.from(v.slice(2), 'base64').toString()]));
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
  it.each(['../outside.txt', '/etc/passwd', '..', 'sub/../../outside.txt', 'y/..', '.git/hooks', 'GIT~1'])('refuses a symlink entry to %j alone: the rest applied, the link reported, nothing written outside', async (target) => {
    const { box, kv, replica } = await setup();
    const change = remoteChange({ good: { path: 'ok.txt', content: 'fine\n' }, link: { path: 'link', content: target, kind: 'symlink' } });
    await replica.applyChanges(change, MALLORY);
    expect(box.outside()).toEqual(UNTOUCHED);
    expect(textTree(box.root)).toEqual({ 'ok.txt': 'fine\n' });
    expect(replica.blockedPaths()).toEqual([{ path: 'link', fileId: 'link', reason: expect.stringMatching(/symlink link is not created/) }]);
    // The link that was never written is not taken for a local deletion.
    expect((await replica.scan()).recorded).toEqual([]);
    await stillWorks(replica, box.root);
    replica.close();
    const { replica: again } = await openReplica(box.root, kv, 'bob');
    expect((await again.log()).map((op) => `${op.kind} ${op.path}`).sort()).toEqual(['create later.txt', 'create ok.txt']);
    again.close();
  });

  it('a link changed to a target that leads out goes from this disk (its old target stays in history) instead of being kept and undone everywhere', async () => {
    const { box, replica } = await setup();
    const sender = ManifestDoc.create(4242);
    await replica.applyChanges(remoteChange({ l: { path: 'cfg', content: 'config/dev.json', kind: 'symlink' } }, 4242, 1000, sender), MALLORY);
    expect(textTree(box.root)).toEqual({ cfg: 'link:config/dev.json' });
    await replica.applyChanges(remoteChange({ l: { path: 'cfg', content: '../../../etc/passwd', kind: 'symlink' } }, 4242, 1001, sender), MALLORY); // self-contained: not a path read
    expect(textTree(box.root)).toEqual({});
    expect(box.outside()).toEqual(UNTOUCHED);
    expect((await replica.scan()).recorded).toEqual([]);
    await stillWorks(replica, box.root);
  });

  it('leaves alone a path under a symlinked directory that leads out of the worktree: nothing outside, the rest applied, reported', async () => {
    const { box, replica } = await setup();
    // The user made a link to the parent directory, which is not shared (ignored).
    writeFileSync(join(box.root, '.gitignore'), 'up\n');
    symlinkSync('..', join(box.root, 'up'));
    expect((await replica.scan()).recorded.map((c) => `${c.kind} ${c.path}`)).toEqual(['create .gitignore']);
    const change = remoteChange({ evil: { path: 'up/outside.txt', content: 'pwned\n' }, deep: { path: 'up/etc/passwd', content: 'pwned\n' }, good: { path: 'ok.txt', content: 'fine\n' } });
    await replica.applyChanges(change, MALLORY);
    expect(box.outside()).toEqual(UNTOUCHED);
    expect(textTree(box.root)).toEqual({ '.gitignore': 'up\n', up: 'link:..', 'ok.txt': 'fine\n' });
    expect(replica.blockedPaths().map((b) => `${b.path}: ${b.reason}`).sort()).toEqual(['up/etc/passwd: up is a symlink, and cshare never writes through one', 'up/outside.txt: up is a symlink, and cshare never writes through one']);
    expect((await replica.scan()).recorded).toEqual([]);
    await stillWorks(replica, box.root);
  });

  it('a shared link and later entries below it: the link loses as a file to a folder would, and goes; nothing is written outside', async () => {
    const { box, replica } = await setup();
    symlinkSync('..', join(box.root, 'up'));
    expect((await replica.scan()).recorded.map((c) => `${c.kind} ${c.path}`)).toEqual(['create up']);
    await replica.applyChanges(remoteChange({ evil: { path: 'up/outside.txt', content: 'pwned\n' } }), MALLORY);
    expect(box.outside()).toEqual(UNTOUCHED);
    expect(textTree(box.root)).toEqual({ 'up/outside.txt': 'pwned\n' });
    expect(replica.refusedEntries().map((r) => r.path)).toEqual(['up']);
    expect((await replica.scan()).recorded).toEqual([]);
    await stillWorks(replica, box.root);
  });

  it('does not write through a symlinked directory that stays inside either (git\'s rule); the path is written once the link is gone', async () => {
    const { box, replica } = await setup();
    await replica.applyChanges(remoteChange({ d: { path: 'real/keep.txt', content: 'k\n' } }, 4242, 1000), MALLORY);
    symlinkSync('real', join(box.root, 'alias'));
    await replica.applyChanges(remoteChange({ a: { path: 'alias/new.txt', content: 'n\n' } }, 4243, 1001), MALLORY);
    expect(textTree(box.root)).toEqual({ 'real/keep.txt': 'k\n', alias: 'link:real' });
    expect(replica.blockedPaths().map((b) => b.path)).toEqual(['alias/new.txt']);
    expect(box.outside()).toEqual(UNTOUCHED);
    // The user removes the link (recorded), and the next scan writes the file it was hiding.
    rmSync(join(box.root, 'alias'));
    await replica.scan();
    expect(readFileSync(join(box.root, 'alias/new.txt'), 'utf8')).toBe('n\n');
    expect(replica.blockedPaths()).toEqual([]);
    expect((await replica.scan()).recorded).toEqual([]);
  });
});

describe('hostile changes at a peer: what a disk cannot take', () => {
  it('a file "a" and an entry "a/b" in separate updates: the later write stays on every replica, the other is reported, nothing is wedged', async () => {
    const { box, kv, replica } = await setup();
    const sender = ManifestDoc.create(4242);
    await replica.applyChanges(remoteChange({ fa: { path: 'a', content: 'file a\n' } }, 4242, 1000, sender), MALLORY);
    await replica.applyChanges(remoteChange({ fab: { path: 'a/b', content: 'file a/b\n' } }, 4242, 1001, sender), MALLORY);
    expect(textTree(box.root)).toEqual({ 'a/b': 'file a/b\n' });
    expect(replica.refusedEntries()).toEqual([expect.objectContaining({ fileId: 'fa', path: 'a', reason: expect.stringMatching(/a file and a folder of one name/) })]);
    expect((await replica.scan()).recorded).toEqual([]);
    // A later write of "a" wins back, and "a/b" goes.
    await replica.applyChanges(remoteChange({ fa: { path: 'a', content: 'file a, again\n' } }, 4242, 1002, sender), MALLORY);
    expect(textTree(box.root)).toEqual({ a: 'file a, again\n' });
    expect((await replica.scan()).recorded).toEqual([]);
    await stillWorks(replica, box.root);
    replica.close();
    const { replica: again } = await openReplica(box.root, kv, 'bob');
    expect(again.refusedEntries().map((r) => r.path)).toEqual(['a/b']);
    again.close();
  });

  it('a folder or a FIFO where a file goes is left alone, the rest applied, and nothing hangs', async () => {
    const { box, replica } = await setup();
    mkdirSync(join(box.root, 'dir'));
    execFileSync('mkfifo', [join(box.root, 'pipe')]);
    const change = remoteChange({ d: { path: 'dir', content: 'a file\n' }, p: { path: 'pipe', content: 'a file\n' }, good: { path: 'ok.txt', content: 'fine\n' } });
    await replica.applyChanges(change, MALLORY);
    expect(readFileSync(join(box.root, 'ok.txt'), 'utf8')).toBe('fine\n');
    expect(lstatSync(join(box.root, 'dir')).isDirectory()).toBe(true);
    expect(lstatSync(join(box.root, 'pipe')).isFIFO()).toBe(true);
    expect(replica.blockedPaths().map((b) => b.path).sort()).toEqual(['dir', 'pipe']);
    expect((await replica.scan()).recorded).toEqual([]);
    // Once the FIFO is gone, the next scan writes the file.
    rmSync(join(box.root, 'pipe'));
    await replica.scan();
    expect(readFileSync(join(box.root, 'pipe'), 'utf8')).toBe('a file\n');
    await stillWorks(replica, box.root);
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

describe('hostile changes at a peer: the rules that decide what leaves this machine', () => {
  it.each(['.cshareinclude', 'sub/.CshareInclude'])('refuses a peer\'s local policy file %j: never written, reported, and the replica\'s own one and its secrets stay as they were', async (path) => {
    const { box, replica } = await setup();
    writeFileSync(join(box.root, '.cshareinclude'), '# mine\n');
    writeFileSync(join(box.root, '.env'), 'API_KEY=mine\n');
    await replica.applyChanges(remoteChange({ inc: { path, content: '*\n' }, good: { path: 'ok.txt', content: 'fine\n' } }), MALLORY);
    expect(textTree(box.root)).toEqual({ '.cshareinclude': '# mine\n', '.env': 'API_KEY=mine\n', 'ok.txt': 'fine\n' });
    expect(replica.refusedEntries()).toEqual([expect.objectContaining({ fileId: 'inc', reason: expect.stringMatching(/local policy file/) })]);
    expect((await replica.files()).files.map((f) => f.path)).toEqual(['ok.txt']);
    expect((await replica.scan()).recorded).toEqual([]);
  });

  it('a peer\'s new .cshareignore of !* un-ignores nothing here until the user saves it here; a first join adopts it as it is', async () => {
    const { box, replica } = await setup();
    writeFileSync(join(box.root, '.gitignore'), 'private.txt\n');
    writeFileSync(join(box.root, 'private.txt'), 'mine\n');
    await replica.scan();
    const unignore = remoteChange({ ign: { path: '.cshareignore', content: '!*\n' } });
    await replica.applyChanges(unignore, MALLORY);
    expect(readFileSync(join(box.root, '.cshareignore'), 'utf8')).toBe('!*\n');
    expect((await replica.files()).files.map((f) => f.path)).toEqual(['.cshareignore', '.gitignore']);
    expect((await replica.scan()).recorded).toEqual([]);
    // The user saves the file here: from then on it is theirs, and it applies (from the scan
    // after the one that records the save: that one ran with the rules it started with).
    writeFileSync(join(box.root, '.cshareignore'), '!*\n# accepted here\n');
    expect((await replica.scan()).recorded.map((c) => `${c.kind} ${c.path}`)).toEqual(['edit .cshareignore']);
    expect((await replica.scan()).recorded.map((c) => `${c.kind} ${c.path}`)).toEqual(['create private.txt']);

    // A first join's catch-up takes the share's rule files as they are.
    const other = await setup();
    writeFileSync(join(other.box.root, '.gitignore'), 'private.txt\n');
    writeFileSync(join(other.box.root, 'private.txt'), 'mine\n');
    await other.replica.applyChanges(unignore, MALLORY, { adoptRules: true });
    expect((await other.replica.files()).files.map((f) => f.path)).toContain('private.txt');
  });
});
