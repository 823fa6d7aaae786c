/**
 * Story (issue 14, item 1): an ignore rule, on any side, only stops syncing a path; it never
 * deletes a file anywhere. A file one side shares stays shared and on every disk, whatever
 * the other side's rules, and a rule a peer removes never makes this machine's ignored files
 * go out.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stopAll, until } from '../../helpers/procs.js';
import { git } from '../../helpers/tmp.js';
import { cluster, converged, read } from './cluster.js';

afterEach(stopAll);

/** Writes a file on one side and waits for it on the other: everything said before it has arrived. */
async function roundTrip(from: string, to: string, name: string): Promise<void> {
  writeFileSync(join(from, name), `${name}\n`);
  await until(() => read(to, name) === `${name}\n`, 30_000, () => `${name} did not reach ${to}`);
}

const count = (root: string, dir: string) => (existsSync(join(root, dir)) ? readdirSync(join(root, dir)).length : 0);

describe('ignore rules never delete', () => {
  it('a file git tracks although it is ignored (git add -f) is shared, stays on the sharer, and syncs both ways', async () => {
    const c = await cluster({
      files: { '.gitignore': '*.log\n', 't/sample.log': 'sample 1\n', 'src/a.txt': 'a\n' },
      prepare: (alice) => {
        git(alice, ['init', '-q']);
        git(alice, ['add', '.gitignore', 'src/a.txt']);
        git(alice, ['add', '-f', 't/sample.log']);
        git(alice, ['commit', '-qm', 'init']);
      },
    });
    // Bob has no .git: for his rules, t/sample.log is ignored.
    expect(read(c.bob, 't/sample.log')).toBe('sample 1\n');
    await roundTrip(c.bob, c.alice, 'sentinel-1.txt');
    await roundTrip(c.alice, c.bob, 'sentinel-2.txt');
    expect(read(c.alice, 't/sample.log')).toBe('sample 1\n');
    // Both sides edit it, and each sees the other's edit.
    appendFileSync(join(c.bob, 't/sample.log'), 'from bob\n');
    await converged(c.alice, c.bob, 't/sample.log', (t) => t.includes('from bob'));
    appendFileSync(join(c.alice, 't/sample.log'), 'from alice\n');
    expect(await converged(c.alice, c.bob, 't/sample.log', (t) => t.includes('from alice'))).toBe('sample 1\nfrom bob\nfrom alice\n');
  }, 120_000);

  it('a rule added on either side deletes nothing anywhere, and a removed rule uploads nobody else\'s ignored files', async () => {
    const files: Record<string, string> = { '.gitignore': 'build/\n' };
    for (let i = 0; i < 100; i++) files[`dir/f${i}.txt`] = `file ${i}\n`;
    for (let i = 0; i < 20; i++) files[`other/g${i}.txt`] = `other ${i}\n`;
    files['build/alice.out'] = 'alice build output\n';
    const c = await cluster({ files });
    expect(count(c.bob, 'dir')).toBe(100);
    expect(existsSync(join(c.bob, 'build/alice.out'))).toBe(false); // ignored: never shared

    // Bob adds dir/ to .gitignore: the rule reaches Alice, and neither side loses a file.
    appendFileSync(join(c.bob, '.gitignore'), 'dir/\n');
    await until(() => read(c.alice, '.gitignore')?.includes('dir/') === true);
    await roundTrip(c.bob, c.alice, 'sentinel-1.txt');
    await roundTrip(c.alice, c.bob, 'sentinel-2.txt');
    expect(count(c.alice, 'dir')).toBe(100);
    expect(count(c.bob, 'dir')).toBe(100);

    // Alice adds other/: same.
    appendFileSync(join(c.alice, '.gitignore'), 'other/\n');
    await until(() => read(c.bob, '.gitignore')?.includes('other/') === true);
    await roundTrip(c.alice, c.bob, 'sentinel-3.txt');
    await roundTrip(c.bob, c.alice, 'sentinel-4.txt');
    expect(count(c.alice, 'other')).toBe(20);
    expect(count(c.bob, 'other')).toBe(20);
    // A file shared before its rule came keeps syncing (as git keeps tracking it).
    appendFileSync(join(c.bob, 'dir/f7.txt'), 'edited by bob\n');
    await converged(c.alice, c.bob, 'dir/f7.txt', (t) => t.includes('edited by bob'));

    // Bob builds something of his own, ignored by build/. Alice removes the rule: her build
    // output goes out (her own change), Bob's does not (a peer's rule change never widens
    // what his machine uploads).
    mkdirSync(join(c.bob, 'build'), { recursive: true });
    writeFileSync(join(c.bob, 'build/bob.out'), 'bob build output\n');
    writeFileSync(join(c.alice, '.gitignore'), 'other/\ndir/\n');
    await until(() => read(c.bob, 'build/alice.out') === 'alice build output\n', 30_000, () => 'alice.out did not reach bob');
    await roundTrip(c.bob, c.alice, 'sentinel-5.txt');
    expect(existsSync(join(c.alice, 'build/bob.out'))).toBe(false);
    expect(read(c.bob, 'build/bob.out')).toBe('bob build output\n');
  }, 180_000);

  it("rules that exist on one side only (a joiner's global excludes) neither delete nor hide a shared file", async () => {
    const c = await cluster({
      files: { 'notes.tmp': 'shared notes\n', 'sub/.gitignore': '*.bak\n', 'sub/keep.bak': 'tracked bak\n', 'a.txt': 'a\n' },
      prepare: (alice) => {
        git(alice, ['init', '-q']);
        git(alice, ['add', '-f', '.']);
        git(alice, ['commit', '-qm', 'init']);
      },
      bobEnv: { XDG_CONFIG_HOME: '' },
      prepareBob: (bob) => {
        // Bob's HOME (see test/helpers/procs.ts) holds a global excludes file ignoring *.tmp.
        mkdirSync(join(bob, '..', '.no-home', '.config', 'git'), { recursive: true });
        writeFileSync(join(bob, '..', '.no-home', '.config', 'git', 'ignore'), '*.tmp\n');
      },
    });
    expect(read(c.bob, 'notes.tmp')).toBe('shared notes\n');
    expect(read(c.bob, 'sub/keep.bak')).toBe('tracked bak\n');
    await roundTrip(c.bob, c.alice, 'sentinel-1.txt');
    expect(read(c.alice, 'notes.tmp')).toBe('shared notes\n');
    expect(read(c.alice, 'sub/keep.bak')).toBe('tracked bak\n');
    // Bob's edit of the shared file goes out; his own new *.tmp file does not.
    appendFileSync(join(c.bob, 'notes.tmp'), 'bob\n');
    writeFileSync(join(c.bob, 'scratch.tmp'), 'bob only\n');
    await converged(c.alice, c.bob, 'notes.tmp', (t) => t.includes('bob'));
    await roundTrip(c.bob, c.alice, 'sentinel-2.txt');
    expect(existsSync(join(c.alice, 'scratch.tmp'))).toBe(false);
  }, 120_000);
});
