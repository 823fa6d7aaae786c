import { chmodSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { link, pair } from '../helpers/replicaPair.js';
import { openReplica } from '../helpers/replica.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { treeOf } from '../helpers/tree.js';

const read = (root: string, rel: string) => readFileSync(join(root, rel), 'utf8');


describe('exchanging changes between replicas', () => {
  it('materialises a whole tree (text, binary, symlink, executable) on an empty replica', async () => {
    const { rootA, rootB, ab } = await pair();
    writeTree(rootA, { 'src/a.ts': 'export {}\n', 'img.bin': new Uint8Array([0, 255, 1, 2]), 'run.sh': '#!/bin/sh\necho hi\n', 'docs/deep/x.md': '# x\n' });
    chmodSync(join(rootA, 'run.sh'), 0o755);
    symlinkSync('src/a.ts', join(rootA, 'link'));
    await ab();
    expect(treeOf(rootB)).toEqual(treeOf(rootA));
  });

  it('logs a remote create with its text kept once, in the blob, and shows it as the patch', async () => {
    const { rootA, b, ab } = await pair();
    writeTree(rootA, { 'n.txt': 'new file\n' });
    await ab();
    const [stored] = await b.log({ limit: 1 });
    expect(stored).toMatchObject({ kind: 'create', path: 'n.txt', author: 'alice', inserted: 9 });
    expect(stored!.patch).toBeUndefined();
    const [shown] = await b.log({ limit: 1, patches: true });
    expect(shown!.patch).toEqual([{ pos: 0, del: '', ins: 'new file\n' }]);
  });

  it('syncs edits, creates, deletes, renames and mode changes incrementally, with no echo', async () => {
    const { rootA, rootB, b, ab, ba } = await pair();
    writeTree(rootA, { 'a.txt': 'alpha\n', 'b.txt': 'beta\n', 'c.bin': new Uint8Array([0, 1]) });
    await ab();
    writeFileSync(join(rootA, 'a.txt'), 'alpha one\n');
    renameSync(join(rootA, 'b.txt'), join(rootA, 'moved/b.txt'.replace('moved/', '')) + '2');
    rmSync(join(rootA, 'c.bin'));
    writeTree(rootA, { 'new/n.txt': 'new\n' });
    chmodSync(join(rootA, 'a.txt'), 0o755);
    const { recorded } = await ab();
    expect(treeOf(rootB)).toEqual(treeOf(rootA));
    expect(recorded.map((r) => r.kind).sort()).toEqual(['create', 'delete', 'edit', 'rename']);
    // Nothing B wrote is taken for a local edit, and nothing goes back.
    expect((await b.scan()).recorded).toEqual([]);
    const back = await ba();
    expect(back.recorded).toEqual([]);
    // History on B names the author.
    const log = await b.log({ path: 'a.txt', limit: 1 });
    expect(log[0]).toMatchObject({ author: 'alice' });
  });

  it('merges concurrent edits of one file character by character', async () => {
    const { rootA, rootB, ab, ba } = await pair();
    writeTree(rootA, { 'f.txt': 'one\ntwo\nthree\n' });
    await ab();
    writeFileSync(join(rootA, 'f.txt'), 'one!\ntwo\nthree\n');
    writeFileSync(join(rootB, 'f.txt'), 'one\ntwo\nthree?\n');
    await ab();
    await ba();
    await ab();
    expect(read(rootA, 'f.txt')).toBe('one!\ntwo\nthree?\n');
    expect(read(rootB, 'f.txt')).toBe('one!\ntwo\nthree?\n');
  });

  it('settles concurrent binary writes on the last writer by Lamport time, whichever client id Yjs prefers', async () => {
    // Run both ways round: Yjs alone would pick the same replica in both runs.
    for (const lateIsA of [true, false]) {
      const { rootA, rootB, ab, ba, b, a } = await pair();
      writeTree(rootA, { 'bin.dat': new Uint8Array([0, 1, 0]) });
      await ab();
      const [lateRoot, earlyRoot] = lateIsA ? [rootA, rootB] : [rootB, rootA];
      // The early side writes once; the late side twice (the second write is the last one).
      writeFileSync(join(earlyRoot, 'bin.dat'), new Uint8Array([0, 2, 0]));
      writeFileSync(join(lateRoot, 'bin.dat'), new Uint8Array([0, 3, 0]));
      await (lateIsA ? a : b).scan();
      writeFileSync(join(lateRoot, 'bin.dat'), new Uint8Array([0, 4, 0]));
      await ab();
      await ba();
      await ab();
      await ba();
      expect([...readFileSync(join(rootA, 'bin.dat'))]).toEqual([0, 4, 0]);
      expect([...readFileSync(join(rootB, 'bin.dat'))]).toEqual([0, 4, 0]);
      // The losing version stays in its writer's history.
      const early = lateIsA ? b : a;
      const entries = await early.log({ path: 'bin.dat' });
      expect(entries.some((e) => e.kind === 'edit' && e.replica === early.identity.replicaId)).toBe(true);
    }
  });

  it('keeps both a rename on one side and an edit of the same file on the other', async () => {
    const { rootA, rootB, ab, ba } = await pair();
    writeTree(rootA, { 'old.txt': 'hello\n' });
    await ab();
    renameSync(join(rootA, 'old.txt'), join(rootA, 'new.txt'));
    writeFileSync(join(rootB, 'old.txt'), 'hello world\n');
    await ab();
    await ba();
    await ab();
    expect(treeOf(rootA)).toEqual({ 'new.txt': `-:${Buffer.from('hello world\n').toString('base64')}` });
    expect(treeOf(rootB)).toEqual(treeOf(rootA));
  });

  it('does not double a file when both replicas recorded the same content independently', async () => {
    const { rootA, rootB, a, b, ab, ba } = await pair();
    writeTree(rootA, { 'same.txt': 'shared start\n' });
    writeTree(rootB, { 'same.txt': 'shared start\n' });
    await a.scan();
    await b.scan();
    writeFileSync(join(rootA, 'same.txt'), 'A: shared start\n');
    writeFileSync(join(rootB, 'same.txt'), 'shared start :B\n');
    await ab();
    await ba();
    await ab();
    expect(read(rootA, 'same.txt')).toBe('A: shared start :B\n');
    expect(read(rootB, 'same.txt')).toBe('A: shared start :B\n');
  });

  it('after one small offline edit on a long history, sends about the size of the edit', async () => {
    const { rootA, rootB, ab } = await pair();
    let text = 'start\n';
    writeTree(rootA, { 'long.txt': text });
    await ab();
    for (let i = 0; i < 300; i++) {
      text += `line ${i} of a long history\n`;
      writeFileSync(join(rootA, 'long.txt'), text);
      await ab();
    }
    writeFileSync(join(rootA, 'long.txt'), text.replace('line 150', 'LINE 150'));
    const { size } = await ab();
    expect(read(rootB, 'long.txt')).toBe(text.replace('line 150', 'LINE 150'));
    expect(size).toBeLessThan(200);
    expect(text.length).toBeGreaterThan(7500);
    expect(size * 40).toBeLessThan(text.length);
  });
});

describe('applying many files at once', () => {
  it('writes the text of a file history, not its base, when a reopened replica applies a move of 100 files', async () => {
    const { LevelStore } = await import('../../src/store/level/LevelStore.js');
    const rootA = tempDir();
    const rootB = tempDir();
    const storeDir = tempDir('cshare-store-');
    writeTree(rootA, Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`d/f${i}.txt`, `file ${i}\n`])));
    const { replica: a } = await openReplica(rootA, undefined, 'alice');
    let kv = await LevelStore.open(storeDir);
    let { replica: b } = await openReplica(rootB, kv, 'bob');
    await link(a, b)();
    for (let i = 0; i < 10; i++) writeFileSync(join(rootB, `d/f${i}.txt`), `file ${i}\nedited by bob\n`);
    await b.scan();
    // Reopened: no doc is loaded, so which files have a history comes from the store.
    b.close();
    await kv.close();
    kv = await LevelStore.open(storeDir);
    ({ replica: b } = await openReplica(rootB, kv, 'bob'));
    renameSync(join(rootA, 'd'), join(rootA, 'e'));
    await link(a, b)();
    for (let i = 0; i < 100; i++) expect(read(rootB, `e/f${i}.txt`)).toBe(i < 10 ? `file ${i}\nedited by bob\n` : `file ${i}\n`);
    expect(() => read(rootB, 'd/f0.txt')).toThrow();
    b.close();
    await kv.close();
  });
});

describe('seq numbers', () => {
  it('are never reused after a restart, even when applying changes wrote no op entry', async () => {
    const { LevelStore } = await import('../../src/store/level/LevelStore.js');
    const rootA = tempDir();
    const storeDir = tempDir('cshare-store-');
    const rootB = tempDir();
    writeTree(rootB, { 'f.txt': 'from b\n' });
    const { replica: b } = await openReplica(rootB, undefined, 'bob');
    await b.scan();
    const { changes } = await b.changesSince(-1);
    let kv = await LevelStore.open(storeDir);
    let { replica: a } = await openReplica(rootA, kv, 'alice');
    await a.applyChanges(changes, { replica: b.identity.replicaId, author: 'bob' });
    // The same changes again: nothing visible changes, but the updates are logged under a seq.
    expect(await a.applyChanges(changes, { replica: b.identity.replicaId, author: 'bob' })).toEqual([]);
    const used = a.seq;
    a.close();
    await kv.close();
    kv = await LevelStore.open(storeDir);
    ({ replica: a } = await openReplica(rootA, kv, 'alice'));
    expect(a.seq).toBeGreaterThanOrEqual(used);
    writeFileSync(join(rootA, 'f.txt'), 'from b\nand a\n');
    const rec = await a.scan();
    expect(rec.recorded[0]!.seq).toBeGreaterThan(used);
    a.close();
    await kv.close();
  });
});
