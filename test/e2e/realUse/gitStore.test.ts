/**
 * Issue 14, item 4: `.cshare/` and git. The store is ignored by git (`.cshare/.gitignore` holds
 * `*`), so whole-tree git commands leave it alone under a running share; a store moved away
 * from a running share (`git stash --all`) stops it with a clear error, and a restart once it
 * is back resumes without divergence. Real git, real relay, share and join processes.
 */
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cshare, cshareJson } from '../../helpers/cli.js';
import { freePort, start, stopAll, until, type Proc } from '../../helpers/procs.js';
import { git, tempDir, writeTree } from '../../helpers/tmp.js';
import { treeOf } from '../../helpers/tree.js';

afterEach(stopAll);

const read = (root: string, rel: string) => (existsSync(join(root, rel)) ? readFileSync(join(root, rel), 'utf8') : undefined);

/** A relay, a git repository with two committed files shared through it, and a joiner. */
async function sharedRepo(): Promise<{ base: string; alice: string; bob: string; relay: string; sharer: Proc; joiner: Proc; codes: { readWrite: string }; gitEnv: Record<string, string> }> {
  const base = tempDir('cshare-git-');
  // No global git config or excludes of whoever runs the tests: only the repository's rules.
  const home = join(base, 'home');
  writeTree(home, { '.keep': '' });
  const gitEnv = { HOME: home, XDG_CONFIG_HOME: home };
  const relayProc = start('relay', base, ['relay', '--data', join(base, 'relay'), '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`]);
  const relay = ((await relayProc.line((x) => x.event === 'listening')).addresses as string[])[0]!;
  const alice = join(base, 'alice');
  writeTree(alice, { 'a.txt': 'one\n', 'src/b.ts': 'export const b = 1;\n', '.gitignore': 'build/\n' });
  git(alice, ['init', '-q'], gitEnv);
  git(alice, ['add', '-A'], gitEnv);
  git(alice, ['commit', '-qm', 'start'], gitEnv);
  const sharer = start('alice', alice, ['share', '--relay', relay]);
  const codes = (await sharer.line((x) => x.event === 'sharing')).codes as { readWrite: string };
  const bob = join(base, 'bob');
  const joiner = start('bob', base, ['join', codes.readWrite, bob]);
  await joiner.line((x) => x.event === 'joined');
  return { base, alice, bob, relay, sharer, joiner, codes, gitEnv };
}

const running = (p: Proc) => p.child.exitCode === null && p.child.signalCode === null;

describe('.cshare/ and git', () => {
  it('git add -A in a shared worktree does not stage .cshare, also for a store made before .cshare/.gitignore existed', async () => {
    const base = tempDir('cshare-git-');
    const home = join(base, 'home');
    writeTree(home, { '.keep': '' });
    const gitEnv = { HOME: home, XDG_CONFIG_HOME: home };
    const root = join(base, 'repo');
    writeTree(root, { 'a.txt': 'one\n' });
    git(root, ['init', '-q'], gitEnv);
    // A store as an older cshare left it: no .cshare/.gitignore.
    expect(cshareJson(root, ['scan']).code).toBe(0);
    rmSync(join(root, '.cshare/.gitignore'), { force: true });
    const sharer = start('alice', root, ['share']);
    await sharer.line((x) => x.event === 'sharing');
    expect(readFileSync(join(root, '.cshare/.gitignore'), 'utf8')).toBe('*\n');
    git(root, ['add', '-A'], gitEnv);
    const staged = git(root, ['diff', '--cached', '--name-only'], gitEnv).split('\n').filter(Boolean);
    expect(staged).toEqual(['a.txt']);
    expect(git(root, ['status', '--porcelain', '--untracked-files=all'], gitEnv)).toBe('A  a.txt\n');
    await sharer.stop();
  }, 60_000);

  it('git clean -fd under a running share keeps .cshare: history, undo and sync go on', async () => {
    const { alice, bob, sharer, gitEnv } = await sharedRepo();
    writeFileSync(join(alice, 'a.txt'), 'one\ntwo\n');
    await until(() => read(bob, 'a.txt') === 'one\ntwo\n');
    const storeIno = statSync(join(alice, '.cshare/store')).ino;
    writeTree(alice, { 'scratch/junk.txt': 'junk\n' });
    await until(() => read(bob, 'scratch/junk.txt') === 'junk\n');
    const cleaned = git(alice, ['clean', '-fd'], gitEnv);
    expect(cleaned).toContain('scratch/');
    expect(cleaned).not.toContain('.cshare');
    expect(statSync(join(alice, '.cshare/store')).ino).toBe(storeIno);
    await until(() => read(bob, 'scratch/junk.txt') === undefined);
    expect(running(sharer)).toBe(true);
    // The history is there, and undo works through the running share.
    const log = cshareJson(alice, ['log', 'a.txt']);
    expect(log.json.changes.map((c: { kind: string }) => c.kind)).toContain('edit');
    const undo = cshareJson(alice, ['undo', 'a.txt']);
    expect(undo.code, JSON.stringify(undo.json)).toBe(0);
    await until(() => read(alice, 'a.txt') === 'one\n' && read(bob, 'a.txt') === 'one\n');
  }, 120_000);

  it('git stash -u and git stash pop under a running share: the store stays, every change syncs both ways, unshare finds the share', async () => {
    const { alice, bob, sharer, gitEnv } = await sharedRepo();
    const storeIno = statSync(join(alice, '.cshare')).ino;
    writeFileSync(join(alice, 'a.txt'), 'one\nwork in progress\n');
    writeTree(alice, { 'draft.md': 'draft\n' });
    await until(() => read(bob, 'a.txt') === 'one\nwork in progress\n' && read(bob, 'draft.md') === 'draft\n');

    git(alice, ['stash', '-u'], gitEnv);
    expect(git(alice, ['stash', 'show', '--include-untracked', '--name-only', 'stash@{0}'], gitEnv).split('\n').filter(Boolean).sort()).toEqual(['a.txt', 'draft.md']);
    expect(statSync(join(alice, '.cshare')).ino).toBe(storeIno);
    await until(() => read(bob, 'a.txt') === 'one\n' && read(bob, 'draft.md') === undefined, 30_000, () => JSON.stringify(treeOf(bob)));

    git(alice, ['stash', 'pop'], gitEnv);
    await until(() => read(bob, 'a.txt') === 'one\nwork in progress\n' && read(bob, 'draft.md') === 'draft\n', 30_000, () => JSON.stringify(treeOf(bob)));
    // And the other way.
    writeFileSync(join(bob, 'src/b.ts'), 'export const b = 2;\n');
    await until(() => read(alice, 'src/b.ts') === 'export const b = 2;\n');
    await until(() => JSON.stringify(treeOf(alice, new Set(['.cshare', '.no-home', '.git']))) === JSON.stringify(treeOf(bob)));
    expect(running(sharer)).toBe(true);
    expect(cshare(alice, ['unshare']).code).toBe(0);
    expect((await sharer.exit).code).toBe(0);
  }, 120_000);

  it('a store moved away under a running share (git stash --all) stops it with a clear error; after stash pop a restart resumes without divergence', async () => {
    const { alice, bob, relay, sharer, joiner, gitEnv } = await sharedRepo();
    writeFileSync(join(alice, 'a.txt'), 'one\ntwo\n');
    await until(() => read(bob, 'a.txt') === 'one\ntwo\n');
    git(alice, ['commit', '-qam', 'two'], gitEnv);

    // --all stashes ignored files too: the store leaves the worktree.
    git(alice, ['stash', '--all'], gitEnv);
    expect(existsSync(join(alice, '.cshare'))).toBe(false);
    const exit = await sharer.exit;
    expect(exit.code).toBe(5);
    const error = sharer.lines.at(-1)!;
    expect(error).toMatchObject({ ok: false, code: 'STORE_CORRUPT', data: { loss: 'vanished' } });
    expect(error.message).toContain(`the store ${join(alice, '.cshare')} was moved away or deleted while cshare share was running`);
    expect(error.message).toContain('git stash pop');

    // Put back; the share resumes with the same codes and nothing is lost either way.
    git(alice, ['stash', 'pop'], gitEnv);
    const again = start('alice', alice, ['share', '--relay', relay]);
    await again.line((x) => x.event === 'sharing');
    writeFileSync(join(alice, 'a.txt'), 'one\ntwo\nthree\n');
    await until(() => read(bob, 'a.txt') === 'one\ntwo\nthree\n', 60_000, () => `bob: ${read(bob, 'a.txt')}; joiner: ${joiner.stderr}`);
    writeFileSync(join(bob, 'src/b.ts'), 'export const b = 3;\n');
    await until(() => read(alice, 'src/b.ts') === 'export const b = 3;\n');
    await until(() => JSON.stringify(treeOf(alice, new Set(['.cshare', '.no-home', '.git']))) === JSON.stringify(treeOf(bob)));
    // Both logs hold the same changes of a.txt.
    const edits = (root: string) => cshareJson(root, ['log', 'a.txt']).json.changes.map((c: { kind: string; inserted: number; deleted: number }) => [c.kind, c.inserted, c.deleted]);
    expect(edits(alice)).toEqual(edits(bob));
  }, 180_000);
});
