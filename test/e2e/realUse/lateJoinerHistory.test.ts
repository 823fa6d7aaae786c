import { chmodSync, existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cshareJson } from '../../helpers/cli.js';
import { freePort, start, stopAll, until, type Proc } from '../../helpers/procs.js';
import { tempDir, writeTree } from '../../helpers/tmp.js';

// Issue 14, item 11: author names and times travel with the changes, so a joiner's `log`
// (a late one's too) equals the sharer's for the same changes: same kinds, paths, authors,
// times and counts (the ids are each replica's own).

afterEach(stopAll);

const read = (root: string, rel: string) => (existsSync(join(root, rel)) ? readFileSync(join(root, rel), 'utf8') : undefined);

type LogEntry = { id: number; kind: string; author: string; replica: string; time: string; path: string; from?: string; inserted: number; deleted: number };

/** `cshare log --json` in `root` (through its running share/join, if any), without the local ids. */
function history(root: string): Omit<LogEntry, 'id'>[] {
  const r = cshareJson(root, ['log']);
  expect(r.code, JSON.stringify(r.json)).toBe(0);
  return (r.json.changes as LogEntry[]).map(({ kind, author, replica, time, path, from, inserted, deleted }) => ({ kind, author, replica, time, path, ...(from ? { from } : {}), inserted, deleted }));
}

async function sharing(p: Proc): Promise<{ readWrite: string; readOnly: string }> {
  return (await p.line((x) => x.event === 'sharing')).codes as { readWrite: string; readOnly: string };
}

describe("a joiner's history is its authors' history", () => {
  it("a late joiner's log equals the sharer's and the live joiner's: every kind of change, two authors, their times", async () => {
    const base = tempDir('cshare-history-');
    const relayProc = start('relay', base, ['relay', '--data', join(base, 'data'), '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`]);
    const relay = ((await relayProc.line((x) => x.event === 'listening')).addresses as string[])[0]!;
    const alice = join(base, 'alice');
    writeTree(alice, { 'a.txt': 'one\ntwo\n', 'b.txt': 'bee\n', 'img.bin': new Uint8Array([0, 1, 2, 3]) });
    const sharer = start('Alice', alice, ['share', '--relay', relay]);
    const codes = await sharing(sharer);
    const bob = join(base, 'bob');
    const joiner = start('Bob', base, ['join', codes.readWrite, bob]);
    await joiner.line((x) => x.event === 'joined');

    // One change at a time, each seen on the other side (and in its log) before the next, so
    // that every log has them in the same order.
    const step = async (change: () => void, done: () => boolean, entries: number) => {
      change();
      await until(done, 30_000, () => `alice ${JSON.stringify(treeState(alice))} bob ${JSON.stringify(treeState(bob))}`);
      await until(() => history(alice).length === entries && history(bob).length === entries, 30_000, () => `alice: ${JSON.stringify(history(alice))}\nbob: ${JSON.stringify(history(bob))}`);
    };
    await until(() => history(bob).length === 3);
    await step(() => writeFileSync(join(alice, 'a.txt'), 'one\ntwo\nthree\n'), () => read(bob, 'a.txt') === 'one\ntwo\nthree\n', 4);
    await step(() => writeFileSync(join(bob, 'a.txt'), 'zero\none\ntwo\nthree\n'), () => read(alice, 'a.txt') === 'zero\none\ntwo\nthree\n', 5);
    await step(() => renameSync(join(alice, 'b.txt'), join(alice, 'c.txt')), () => read(bob, 'c.txt') === 'bee\n' && !existsSync(join(bob, 'b.txt')), 6);
    await step(() => writeTree(bob, { 'docs/d.txt': 'by bob\n' }), () => read(alice, 'docs/d.txt') === 'by bob\n', 7);
    await step(() => rmSync(join(alice, 'img.bin')), () => !existsSync(join(bob, 'img.bin')), 8);
    await step(() => chmodSync(join(bob, 'c.txt'), 0o755), () => (statSync(join(alice, 'c.txt')).mode & 0o111) !== 0, 9);
    await step(() => expect(cshareJson(alice, ['undo', 'a.txt']).code).toBe(0), () => read(bob, 'a.txt') === 'zero\none\ntwo\n', 10);

    const shared = history(alice);
    expect(shared.map((e) => `${e.author} ${e.kind} ${e.from ? `${e.from} -> ` : ''}${e.path}`)).toEqual([
      'Alice undo a.txt',
      'Bob mode c.txt',
      'Alice delete img.bin',
      'Bob create docs/d.txt',
      'Alice rename b.txt -> c.txt',
      'Bob edit a.txt',
      'Alice edit a.txt',
      'Alice create img.bin',
      'Alice create b.txt',
      'Alice create a.txt',
    ]);
    // Times are the authors' own, in the order they made the changes.
    const times = shared.map((e) => Date.parse(e.time));
    expect([...times].sort((x, y) => y - x)).toEqual(times);
    expect(history(bob)).toEqual(shared);

    // A late joiner, after everything: the same history, not one create per file at its join time.
    const carol = join(base, 'carol');
    expect(cshareJson(base, ['join', codes.readOnly, carol, '--once']).code).toBe(0);
    expect(history(carol)).toEqual(shared);
    // And a late live joiner, while the others keep going: it gets what comes after too.
    const dave = join(base, 'dave');
    const late = start('Dave', base, ['join', codes.readOnly, dave]);
    await late.line((x) => x.event === 'joined');
    await step(() => writeFileSync(join(bob, 'docs/d.txt'), 'by bob\nand more\n'), () => read(alice, 'docs/d.txt') === 'by bob\nand more\n', 11);
    await until(() => history(dave).length === 11, 30_000, () => JSON.stringify(history(dave)));
    expect(history(dave)).toEqual(history(alice));
    expect(history(dave)[0]).toMatchObject({ author: 'Bob', kind: 'edit', path: 'docs/d.txt', inserted: 9, deleted: 0 });
  }, 240_000);
});

/** The files of a tree, for failure messages. */
function treeState(root: string): string[] {
  return ['a.txt', 'b.txt', 'c.txt', 'docs/d.txt', 'img.bin'].filter((p) => existsSync(join(root, p)));
}

