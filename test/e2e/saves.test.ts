import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cshareJson } from '../helpers/cli.js';
import { freePort, start, stopAll, until, type Proc } from '../helpers/procs.js';
import { git, tempDir, writeTree } from '../helpers/tmp.js';

afterEach(stopAll);

const read = (root: string, rel: string) => (existsSync(join(root, rel)) ? readFileSync(join(root, rel), 'utf8') : undefined);

/** A relay, a sharer of `tree` and a live joiner; the joiner's folder is `<base>/bob`. */
async function shared(base: string, tree: string): Promise<{ sharer: Proc; joiner: Proc; bob: string }> {
  const relay = start('relay', base, ['relay', '--data', join(base, 'data'), '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`]);
  const addr = ((await relay.line((l) => l.event === 'listening')).addresses as string[])[0]!;
  const sharer = start('alice', tree, ['share', '--relay', addr]);
  const codes = (await sharer.line((l) => l.event === 'sharing', 120_000)).codes as { readWrite: string };
  const bob = join(base, 'bob');
  const joiner = start('bob', base, ['join', codes.readWrite, bob]);
  await joiner.line((l) => l.event === 'joined', 120_000);
  return { sharer, joiner, bob };
}

/** The edits `cshare log <path>` lists in `cwd` (through the running share or join). */
function edits(cwd: string, path: string): number {
  const r = cshareJson(cwd, ['log', path]);
  expect(r.code).toBe(0);
  return (r.json.changes as { kind: string }[]).filter((c) => c.kind === 'edit').length;
}

/** Every entry of `cshare log` in `cwd` (through the running share). */
function logEntries(cwd: string): { id: number; kind: string; path: string }[] {
  const r = cshareJson(cwd, ['log']);
  expect(r.code).toBe(0);
  return r.json.changes as { id: number; kind: string; path: string }[];
}

describe('saves through the watcher and its fast path (issue 20)', () => {
  it('saves in place and by rename, in folders both hot and not, reach the joiner and are recorded once on each side', async () => {
    const base = tempDir('cshare-saves-');
    const alice = join(base, 'alice');
    writeTree(alice, { 'src/app.ts': 'start\n', 'docs/notes.md': '# notes\n', 'lib/util.ts': 'util\n' });
    const { bob } = await shared(base, alice);

    // Alternately in place and by rename (an editor's temporary file renamed over the file),
    // over three folders, each save waiting for the one before to arrive.
    const files = ['src/app.ts', 'docs/notes.md', 'lib/util.ts'];
    const text = new Map(files.map((f) => [f, read(alice, f)!]));
    const saves = 12;
    for (let i = 0; i < saves; i++) {
      const f = files[i % files.length]!;
      text.set(f, `${text.get(f)}save ${i}\n`);
      if (i % 2 === 0) writeFileSync(join(alice, f), text.get(f)!);
      else {
        writeFileSync(join(alice, `${f}.tmp~`), text.get(f)!);
        renameSync(join(alice, `${f}.tmp~`), join(alice, f));
      }
      await until(() => read(bob, f) === text.get(f), 30_000, () => `save ${i} of ${f}: bob has ${JSON.stringify(read(bob, f))}`);
    }

    // Each save is one edit in the sharer's log and, once its log entries came, in the joiner's:
    // the fast path and parcel both report it, and it is recorded once.
    for (const f of files) {
      expect(edits(alice, f)).toBe(saves / files.length);
      await until(() => edits(bob, f) === saves / files.length, 30_000, () => `bob's log of ${f}: ${edits(bob, f)} edits`);
    }
    // No temporary file was shared.
    expect(read(bob, 'src/app.ts.tmp~')).toBeUndefined();
  }, 300_000);

  it('a git checkout in hot folders is still batched: each file recorded once, in a few uploads, both disks equal', async () => {
    const base = tempDir('cshare-saves-co-');
    const repo = join(base, 'repo');
    const files = 300;
    const path = (i: number) => `d${i % 10}/f${i}.txt`;
    const commit = (branch: string) => {
      writeTree(repo, Object.fromEntries(Array.from({ length: files }, (_, i) => [path(i), `${branch} ${i}\n`])));
      git(repo, ['add', '-A']);
      git(repo, ['commit', '-q', '-m', branch]);
    };
    git(base, ['init', '-q', '-b', 'main', repo]);
    commit('main');
    git(repo, ['checkout', '-q', '-b', 'other']);
    commit('other');
    git(repo, ['checkout', '-q', 'main']);
    const { sharer, joiner, bob } = await shared(base, repo);
    await until(() => read(bob, path(files - 1)) === `main ${files - 1}\n`, 60_000);

    // Saves in every folder make them all hot.
    for (let d = 0; d < 10; d++) {
      writeFileSync(join(repo, path(d)), `main ${d} saved\n`);
      await until(() => read(bob, path(d)) === `main ${d} saved\n`, 30_000);
    }
    git(repo, ['checkout', '-q', '.']);
    await until(() => Array.from({ length: 10 }, (_, d) => read(bob, path(d)) === `main ${d}\n`).every(Boolean), 30_000);

    const before = logEntries(repo);
    const lastId = Math.max(...before.map((c) => c.id));
    const from = sharer.lines.length;
    git(repo, ['checkout', '-q', 'other']);
    await until(() => Array.from({ length: files }, (_, i) => read(bob, path(i)) === `other ${i}\n`).every(Boolean), 120_000, () => `sharer: ${sharer.stderr.slice(-2000)}`);
    // Every file of the checkout recorded once: nothing twice because both watchers saw it.
    const recorded = logEntries(repo).filter((c) => c.id > lastId).map((c) => c.path);
    expect(recorded.length).toBe(files);
    expect(new Set(recorded).size).toBe(files);
    // Batched: a few uploads (one per burst at most), not one per file or per folder.
    const uploads = sharer.lines.slice(from).filter((l) => l.event === 'uploaded').length;
    expect(uploads).toBeGreaterThanOrEqual(1);
    expect(uploads).toBeLessThanOrEqual(8);
    expect(joiner.stderr).not.toContain('error');
  }, 300_000);
});
