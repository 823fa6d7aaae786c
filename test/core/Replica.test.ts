import { chmodSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LevelStore } from '../../src/store/level/LevelStore.js';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { openReplica } from '../helpers/replica.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

const read = (root: string, rel: string) => readFileSync(join(root, rel), 'utf8');

describe('Replica: recording changes', () => {
  it('records creates, edits, renames, mode changes and deletes with the right kinds', async () => {
    const root = tempDir();
    writeTree(root, { 'a.txt': 'hello world\n', 'dir/b.txt': 'bee\n', 'bin.dat': new Uint8Array([0, 1, 2, 3]) });
    const { replica } = await openReplica(root);
    const first = await replica.scan();
    expect(first.recorded.map((c) => `${c.kind} ${c.path}`).sort()).toEqual(['create a.txt', 'create bin.dat', 'create dir/b.txt']);

    writeFileSync(join(root, 'a.txt'), 'hello brave world\n');
    const edit = await replica.scan();
    expect(edit.recorded).toMatchObject([{ kind: 'edit', path: 'a.txt', inserted: 6, deleted: 0 }]);

    renameSync(join(root, 'dir/b.txt'), join(root, 'c.txt'));
    const ren = await replica.scan();
    expect(ren.recorded).toMatchObject([{ kind: 'rename', path: 'c.txt', from: 'dir/b.txt' }]);

    chmodSync(join(root, 'c.txt'), 0o755);
    expect((await replica.scan()).recorded).toMatchObject([{ kind: 'mode', path: 'c.txt' }]);

    rmSync(join(root, 'bin.dat'));
    expect((await replica.scan()).recorded).toMatchObject([{ kind: 'delete', path: 'bin.dat' }]);

    expect((await replica.scan()).recorded).toEqual([]);

    // History follows the rename.
    const log = await replica.log({ path: 'c.txt' });
    expect(log.map((o) => o.kind)).toEqual(['mode', 'rename', 'create']);
    const all = await replica.log({ limit: 2 });
    expect(all.map((o) => o.kind)).toEqual(['delete', 'mode']);
    expect(all[0]!.author).toBe('tester');
  });

  it('writes each stat cache entry of a first scan once, and the entries hold what the scan saw', async () => {
    const root = tempDir();
    writeTree(root, { 'a.txt': 'one\n', 'dir/b.txt': 'two\n', 'bin.dat': new Uint8Array([0, 1, 2]) });
    const kv = new MemoryStore();
    const statWrites: string[] = [];
    const batch = kv.batch.bind(kv);
    kv.batch = async (ops) => {
      for (const op of ops) if (op.type === 'put' && op.key.startsWith('s:')) statWrites.push(op.key);
      return batch(ops);
    };
    const { replica } = await openReplica(root, kv);
    await replica.scan();
    expect(statWrites.sort()).toEqual(['s:a.txt', 's:bin.dat', 's:dir/b.txt']);
    // Each entry names the file it holds, as the manifest has it.
    const live = (await replica.files()).files;
    for (const path of ['a.txt', 'bin.dat', 'dir/b.txt']) {
      const entry = JSON.parse(new TextDecoder().decode(await kv.get(`s:${path}`)));
      expect(entry.fileId).toBeTruthy();
      expect(entry.digest).toBe(live.find((f) => f.path === path)!.digest);
    }
  });

  it('stores the patch of an edit for log --patch', async () => {
    const root = tempDir();
    writeTree(root, { 'f.txt': 'one\ntwo\nthree\n' });
    const { replica } = await openReplica(root);
    await replica.scan();
    writeFileSync(join(root, 'f.txt'), 'one\n2\nthree\n');
    await replica.scan();
    const [op] = await replica.log({ limit: 1 });
    expect(op!.patch).toEqual([{ pos: 4, del: 'two', ins: '2' }]);
  });

  it('keeps the text of a create once, in its blob, and gives it as the patch when asked', async () => {
    const root = tempDir();
    writeTree(root, { 'f.txt': 'first line\nsecond\n' });
    const { replica } = await openReplica(root);
    await replica.scan();
    const [stored] = await replica.log({ limit: 1 });
    expect(stored).toMatchObject({ kind: 'create', inserted: 18, deleted: 0 });
    expect(stored!.patch).toBeUndefined();
    const [withPatch] = await replica.log({ limit: 1, patches: true });
    expect(withPatch!.patch).toEqual([{ pos: 0, del: '', ins: 'first line\nsecond\n' }]);
  });

  it('reports unrecorded changes in status without recording them', async () => {
    const root = tempDir();
    writeTree(root, { 'a.txt': 'a', 'b.txt': 'b' });
    const { replica } = await openReplica(root);
    await replica.scan();
    writeFileSync(join(root, 'a.txt'), 'changed');
    writeTree(root, { 'new.txt': 'n' });
    rmSync(join(root, 'b.txt'));
    const s = await replica.status();
    expect(s.files).toBe(2);
    expect(s.sharing).toBe('off');
    expect(s.changed).toEqual([
      { path: 'a.txt', change: 'modified' },
      { path: 'b.txt', change: 'deleted' },
      { path: 'new.txt', change: 'created' },
    ]);
    expect((await replica.status()).changed).toHaveLength(3);
  });
});

describe('Replica: undo and redo', () => {
  it('undoes and redoes an edit across a restart (LevelDB store)', async () => {
    const root = tempDir();
    const storeDir = tempDir('cshare-store-');
    writeTree(root, { 'f.txt': 'line one\nline two\n' });
    let kv = await LevelStore.open(storeDir);
    let { replica } = await openReplica(root, kv);
    await replica.scan();
    writeFileSync(join(root, 'f.txt'), 'line one\nline 2\nline three\n');
    await replica.scan();
    replica.close();
    await kv.close();

    kv = await LevelStore.open(storeDir);
    ({ replica } = await openReplica(root, kv));
    const undone = await replica.undo();
    expect(undone.kind).toBe('undo');
    expect(read(root, 'f.txt')).toBe('line one\nline two\n');
    replica.close();
    await kv.close();

    kv = await LevelStore.open(storeDir);
    ({ replica } = await openReplica(root, kv));
    await replica.redo();
    expect(read(root, 'f.txt')).toBe('line one\nline 2\nline three\n');
    // The redo can itself be undone.
    await replica.undo();
    expect(read(root, 'f.txt')).toBe('line one\nline two\n');
    // Nothing recorded remains unaccounted for: a scan finds no change.
    expect((await replica.scan()).recorded).toEqual([]);
    replica.close();
    await kv.close();
  });

  it('undoes a create, a delete and a rename', async () => {
    const root = tempDir();
    writeTree(root, { 'keep.txt': 'k' });
    const { replica } = await openReplica(root);
    await replica.scan();
    writeTree(root, { 'new.txt': 'fresh' });
    await replica.scan();
    await replica.undo();
    expect(() => read(root, 'new.txt')).toThrow();

    rmSync(join(root, 'keep.txt'));
    await replica.scan();
    await replica.undo();
    expect(read(root, 'keep.txt')).toBe('k');

    renameSync(join(root, 'keep.txt'), join(root, 'moved.txt'));
    await replica.scan();
    await replica.undo({ path: 'moved.txt' });
    expect(read(root, 'keep.txt')).toBe('k');
    expect(() => read(root, 'moved.txt')).toThrow();
    expect((await replica.scan()).recorded).toEqual([]);
  });

  it('undo with a path reverts the last change to that file only', async () => {
    const root = tempDir();
    writeTree(root, { 'a.txt': 'a0', 'b.txt': 'b0' });
    const { replica } = await openReplica(root);
    await replica.scan();
    writeFileSync(join(root, 'a.txt'), 'a1');
    await replica.scan();
    writeFileSync(join(root, 'b.txt'), 'b1');
    await replica.scan();
    await replica.undo({ path: 'a.txt' });
    expect(read(root, 'a.txt')).toBe('a0');
    expect(read(root, 'b.txt')).toBe('b1');
  });

  it('records an unsaved local edit before undoing, so it is not lost', async () => {
    const root = tempDir();
    writeTree(root, { 'f.txt': 'abc' });
    const { replica } = await openReplica(root);
    await replica.scan();
    writeFileSync(join(root, 'f.txt'), 'abcdef');
    await replica.scan();
    writeFileSync(join(root, 'f.txt'), 'Xabcdef'); // not scanned
    await replica.undo(); // reverts the latest change: the X
    expect(read(root, 'f.txt')).toBe('abcdef');
    await replica.undo();
    expect(read(root, 'f.txt')).toBe('abc');
  });

  it('says there is nothing to undo or redo', async () => {
    const root = tempDir();
    writeTree(root, { 'f.txt': 'x' });
    const { replica } = await openReplica(root);
    await replica.scan();
    await expect(replica.undo()).rejects.toMatchObject({ code: 'NOTHING_TO_UNDO' });
    await expect(replica.redo()).rejects.toMatchObject({ code: 'NOTHING_TO_REDO' });
  });

  it('is selective: undo removes only this replica\'s edits after merging a concurrent replica', async () => {
    const rootA = tempDir();
    const rootB = tempDir();
    const initial = 'The quick brown fox\njumps over\nthe lazy dog\n';
    writeTree(rootA, { 'story.txt': initial });
    writeTree(rootB, { 'story.txt': initial });
    const { replica: a } = await openReplica(rootA, new MemoryStore(), 'alice');
    const { replica: b } = await openReplica(rootB, new MemoryStore(), 'bob');
    await a.scan();
    await b.scan();

    // Concurrent edits on both sides.
    writeFileSync(join(rootA, 'story.txt'), 'The quick red fox\njumps over\nthe lazy dog\n');
    await a.scan();
    writeFileSync(join(rootB, 'story.txt'), 'The quick brown fox\njumps high over\nthe lazy dog!\n');
    await b.scan();

    // Merge both ways: the same fileId and base on both sides, so nothing is doubled.
    const ha = await a.fileHistory('story.txt');
    const hb = await b.fileHistory('story.txt');
    expect(ha.fileId).toBe(hb.fileId);
    await a.applyChanges((await b.changesSince(0)).changes, { replica: b.identity.replicaId, author: 'bob' });
    await b.applyChanges((await a.changesSince(0)).changes, { replica: a.identity.replicaId, author: 'alice' });
    const merged = 'The quick red fox\njumps high over\nthe lazy dog!\n';
    expect(read(rootA, 'story.txt')).toBe(merged);
    expect(read(rootB, 'story.txt')).toBe(merged);

    // Alice undoes her change: only "red" goes back to "brown"; Bob's edits stay.
    await a.undo({ path: 'story.txt' });
    expect(read(rootA, 'story.txt')).toBe('The quick brown fox\njumps high over\nthe lazy dog!\n');
  });
});

describe('Replica: bad input', () => {
  it('skips a file that vanishes between the scan and the recording, and records its delete next time', async () => {
    const root = tempDir();
    writeTree(root, { 'a.txt': 'a', 'b.txt': 'b' });
    const { NodeFs } = await import('../../src/store/fs/NodeFs.js');
    const { Replica } = await import('../../src/core/Replica.js');
    const kv = new MemoryStore();
    const first = await Replica.open({ fs: new NodeFs(root), kv, env: { USER: 't' } });
    await first.scan();
    first.close();
    writeFileSync(join(root, 'b.txt'), 'b changed');
    // A file system where b.txt disappears the moment cshare reads it to record it.
    // The scan reads it once to hash it; the recording reads it again.
    let reads = 0;
    class VanishingFs extends NodeFs {
      override readFile(rel: string): Uint8Array | undefined {
        if (rel === 'b.txt' && ++reads === 2) rmSync(join(root, 'b.txt'), { force: true });
        return super.readFile(rel);
      }
    }
    const r = await Replica.open({ fs: new VanishingFs(root), kv, env: { USER: 't' } });
    const rep = await r.scan();
    expect(reads).toBe(2);
    expect(rep.recorded.filter((c) => c.path === 'b.txt' && c.kind === 'edit')).toEqual([]);
    const next = await r.scan();
    expect(next.recorded).toMatchObject([{ kind: 'delete', path: 'b.txt' }]);
    await r.undo();
    expect(read(root, 'b.txt')).toBe('b');
  });
});
