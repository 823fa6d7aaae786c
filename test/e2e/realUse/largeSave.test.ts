/**
 * Issue 14, item 12, with real relay, share and join processes on 127.0.0.1: a save that
 * changes several places of a ~500 KB source file (a span far over 64 KiB) was recorded as
 * one replace of the whole span, so a collaborator's concurrent edits inside it were moved
 * or undone on every disk. Both disks must end with both sides' edits in place, as
 * `git merge-file` merges them, and `cshare log` must show the big save as what it changed.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cshareJson } from '../../helpers/cli.js';
import { applyLineEdits, cSourceLines, gitMergeFile, localEdits, pullEdits } from '../../helpers/largeSource.js';
import { freePort, start, stopAll, until, type Proc } from '../../helpers/procs.js';
import { tempDir, writeTree } from '../../helpers/tmp.js';

afterEach(stopAll);

const read = (root: string, rel: string): string | undefined => (existsSync(join(root, rel)) ? readFileSync(join(root, rel), 'utf8') : undefined);

async function relayAt(dir: string): Promise<string> {
  const proc = start('relay', dir, ['relay', '--data', join(dir, 'data'), '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`]);
  const l = await proc.line((x) => x.event === 'listening');
  return (l.addresses as string[])[0]!;
}

async function sharing(p: Proc): Promise<{ readWrite: string; readOnly: string }> {
  const l = await p.line((x) => x.event === 'sharing');
  return l.codes as { readWrite: string; readOnly: string };
}

interface LogChange {
  kind: string;
  author: string;
  path: string;
  inserted: number;
  deleted: number;
}

/** The edits of `path` in `root`'s history (through the running process), newest first. */
function edits(root: string, path: string): LogChange[] {
  const log = cshareJson(root, ['log', path]);
  expect(log.code).toBe(0);
  return (log.json.changes as LogChange[]).filter((c) => c.kind === 'edit');
}

describe('a large multi-place save against a concurrent edit inside its span (real processes)', () => {
  it('both disks end as git merge-file merges the two saves, and the log shows the big save as small counts', async () => {
    const base = tempDir('cshare-e2e-');
    const relay = await relayAt(base);
    const lines = cSourceLines({ seed: 1412, bytes: 500_000 });
    const original = lines.join('');
    const alice = join(base, 'alice');
    writeTree(alice, { 'src/big.c': original, 'README.md': '# big\n' });
    const sharer = start('alice', alice, ['share', '--relay', relay]);
    const codes = await sharing(sharer);
    const bob = join(base, 'bob');
    const joiner = start('bob', base, ['join', codes.readWrite, bob]);
    await joiner.line((x) => x.event === 'joined');
    expect(read(bob, 'src/big.c') === original).toBe(true);

    // Alice pulls a change touching 5 places across the file; at the same moment Bob saves
    // his edits at two places between them.
    const pulled = applyLineEdits(lines, pullEdits(lines));
    const bobs = applyLineEdits(lines, localEdits(lines, [0.4, 0.6]));
    const span = (text: string): number => {
      let p = 0;
      while (text[p] === original[p]) p++;
      let s = 0;
      while (text[text.length - 1 - s] === original[original.length - 1 - s]) s++;
      return text.length - s - p;
    };
    expect(span(pulled)).toBeGreaterThan(300 * 1024);
    const oracle = gitMergeFile({ base: original, ours: pulled, theirs: bobs });
    expect(oracle.conflicts).toBe(0);
    writeFileSync(join(alice, 'src/big.c'), pulled);
    writeFileSync(join(bob, 'src/big.c'), bobs);

    // Wait for the two disks to agree on a text holding both saves, then compare it with git's.
    const both = (): string | undefined => {
      const a = read(alice, 'src/big.c');
      return a !== undefined && a === read(bob, 'src/big.c') && a !== pulled && a !== bobs ? a : undefined;
    };
    await until(() => both() !== undefined, 90_000, () => `the disks did not converge; sharer: ${sharer.stderr.slice(-2000)}`);
    const merged = both()!;
    const firstDiff = merged.split('\n').findIndex((line, i) => line !== oracle.text.split('\n')[i]);
    expect(merged === oracle.text, `the merge differs from git merge-file from line ${firstDiff + 1}`).toBe(true);

    // Alice's own save is recorded as the lines it changed, not as the ~400 KB between its
    // first and last change; so is Bob's on his side, and each side's record of the other's.
    const mine = edits(alice, 'src/big.c').find((c) => c.author === 'alice');
    expect(mine, JSON.stringify(edits(alice, 'src/big.c'))).toBeDefined();
    expect(mine!.inserted + mine!.deleted).toBeLessThan(400);
    expect(mine!.inserted + mine!.deleted).toBeGreaterThan(0);
    const his = edits(bob, 'src/big.c').find((c) => c.author === 'bob');
    expect(his!.inserted + his!.deleted).toBeLessThan(200);
    for (const c of [...edits(alice, 'src/big.c'), ...edits(bob, 'src/big.c')]) expect(c.inserted + c.deleted, JSON.stringify(c)).toBeLessThan(400);

    await joiner.stop();
    await sharer.stop();
  }, 180_000);
});
