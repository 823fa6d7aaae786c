/**
 * Files open in an editor (`Replica.openLive`, `core/liveDocs.ts`): edits recorded as typed,
 * every other change told to the editor as UTF-16 ops, the disk left alone until the close.
 */
import { describe, expect, it, vi } from 'vitest';
import { deltaOps } from '../../src/core/liveDocs.js';
import type { KvBatchOp } from '../../src/core/ports.js';
import { Replica } from '../../src/core/Replica.js';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { EditorBuffer } from '../helpers/editorBuffer.js';
import { MemFs } from '../helpers/MemFs.js';
import { link, localSide, textOf, type Side } from '../sync/regressions/harness.js';

const bytes = (s: string) => new TextEncoder().encode(s);

async function sideWith(name: string, files: Record<string, string>, fs = new MemFs(`/mem/${name}`)): Promise<Side> {
  const side = await localSide(name, fs);
  for (const [path, content] of Object.entries(files)) side.fs.writeFile(path, bytes(content));
  await side.replica.scan();
  return side;
}

/** Opens `path` live with a fresh buffer holding what the doc has. */
async function open(replica: Replica, path: string, origin = 'nvim:1') {
  const buffer = new EditorBuffer('');
  const doc = await replica.openLive({ path, origin, listener: buffer });
  buffer.text = doc.text;
  return { doc, buffer };
}

/** Types `insert` at `at` in `buffer` and through `doc` (as an editor server would). */
async function type(doc: Awaited<ReturnType<typeof open>>['doc'], buffer: EditorBuffer, at: number, insert: string, del = 0): Promise<void> {
  buffer.text = buffer.text.slice(0, at) + insert + buffer.text.slice(at + del);
  await doc.edit(() => [{ from: at, to: at + del, insert }]);
}

/** What bob types after "start" in {@link peerTypesWhileRead}. */
const WORDS = ' one two three four five six seven eight nine ten';

/**
 * Alice shares g.txt (`text`, starting "start"); bob types {@link WORDS} after "start" in his
 * editor, and each keystroke reaches alice's disk by its own write (she has no editor on it).
 * `read` is her disk as her editor read it just after " two" arrived: many writes follow.
 */
async function peerTypesWhileRead(text: string) {
  const alice = await sideWith('alice', { 'g.txt': text });
  const bob = await localSide('bob');
  const toBob = link(alice, bob);
  const toAlice = link(bob, alice);
  await toBob();
  const typist = await open(bob.replica, 'g.txt', 'nvim:bob');
  const readWhen = text.replace('start', 'start one two');
  let read: string | undefined;
  for (let i = 0; i < WORDS.length; i++) {
    await type(typist.doc, typist.buffer, 5 + i, WORDS[i]!);
    await toAlice();
    if (typist.buffer.text === readWhen) read = textOf(alice.fs, 'g.txt');
  }
  return { alice, toBob, typist, read };
}

describe('Replica.openLive', () => {
  it('records edits without touching the disk, and the close writes the merged text', async () => {
    const alice = await sideWith('alice', { 'a.txt': 'hello\n' });
    const { doc, buffer } = await open(alice.replica, 'a.txt');
    expect(doc.state).toBe('live');
    expect(doc.text).toBe('hello\n');
    await type(doc, buffer, 5, ' world');
    expect(await alice.replica.textOf('a.txt')).toBe('hello world\n');
    expect(textOf(alice.fs, 'a.txt')).toBe('hello\n');
    // The disk behind the doc is no edit: a scan records nothing, status lists nothing.
    expect((await alice.replica.scan()).recorded).toEqual([]);
    expect((await alice.replica.status()).changed).toEqual([]);
    expect(buffer.told).toEqual([]);
    await doc.close();
    expect(textOf(alice.fs, 'a.txt')).toBe('hello world\n');
    expect((await alice.replica.scan()).recorded).toEqual([]);
  });

  it("tells a peer's changes as UTF-16 ops (emoji, CJK, combining marks) and leaves the disk alone", async () => {
    const start = 'a😀b 漢字 e\u0301!\n';
    const alice = await sideWith('alice', { 'm.txt': start });
    const bob = await localSide('bob');
    const toBob = link(alice, bob);
    await toBob();
    expect(textOf(bob.fs, 'm.txt')).toBe(start);
    const { buffer } = await open(bob.replica, 'm.txt');
    // Alice saves edits around the multibyte characters (one save: one remote change).
    const next = 'X😀😎b 漢語字 é\u0301?\n';
    alice.fs.writeFile('m.txt', bytes(next));
    await toBob();
    expect(buffer.text).toBe(next);
    expect(buffer.told.length).toBeGreaterThan(0);
    expect(await bob.replica.textOf('m.txt')).toBe(next);
    expect(textOf(bob.fs, 'm.txt')).toBe(start);
    expect((await bob.replica.scan()).recorded).toEqual([]);
    // In the history as a peer's edit, though the disk did not get it.
    const [op] = await bob.replica.log({ path: 'm.txt', limit: 1 });
    expect(op).toMatchObject({ kind: 'edit', author: 'alice' });
    // Positions are UTF-16 code units: after "X😀" is unit 3.
    buffer.told = [];
    alice.fs.writeFile('m.txt', bytes(next.replace('X😀', 'X😀🎉')));
    await toBob();
    expect(buffer.told).toEqual([[{ pos: 3, del: '', ins: '🎉' }]]);
    expect(buffer.text).toBe(next.replace('X😀', 'X😀🎉'));
  });

  it('converges when the editor types while a peer saves the same file', async () => {
    const alice = await sideWith('alice', { 'c.txt': 'one\ntwo\nthree\n' });
    const bob = await localSide('bob');
    const toBob = link(alice, bob);
    const toAlice = link(bob, alice);
    await toBob();
    const { doc, buffer } = await open(alice.replica, 'c.txt');
    // Both at once: alice types at the start, bob saves a new last line.
    bob.fs.writeFile('c.txt', bytes('one\ntwo\nthree\nfour\n'));
    await type(doc, buffer, 0, '> ');
    await toAlice();
    await toBob();
    await type(doc, buffer, buffer.text.indexOf('two') + 3, '!');
    await toBob();
    const merged = '> one\ntwo!\nthree\nfour\n';
    expect(buffer.text).toBe(merged);
    expect(await alice.replica.textOf('c.txt')).toBe(merged);
    expect(await bob.replica.textOf('c.txt')).toBe(merged);
    expect(textOf(bob.fs, 'c.txt')).toBe(merged);
    // Alice's disk waits for her editor: it still holds what it held at open.
    expect(textOf(alice.fs, 'c.txt')).toBe('one\ntwo\nthree\n');
    await doc.close();
    expect(textOf(alice.fs, 'c.txt')).toBe(merged);
  });

  it('a text the editor saved is no edit; another disk change is recorded and told to the editor', async () => {
    const alice = await sideWith('alice', { 's.txt': 'alpha\n' });
    const bob = await localSide('bob');
    const toBob = link(alice, bob);
    const toAlice = link(bob, alice);
    await toBob();
    const { doc, buffer } = await open(alice.replica, 's.txt');
    await type(doc, buffer, 5, ' beta');
    // A peer's line arrives in the doc; the editor saves before it applied it to its buffer.
    bob.fs.writeFile('s.txt', bytes('alpha\ngamma\n'));
    await toAlice();
    const stale = 'alpha beta\n';
    alice.fs.writeFile('s.txt', bytes(stale));
    doc.saved(stale);
    const before = alice.replica.seq;
    expect((await alice.replica.scan()).recorded).toEqual([]);
    expect(await alice.replica.textOf('s.txt')).toBe('alpha beta\ngamma\n');
    expect(alice.replica.seq).toBeGreaterThanOrEqual(before);
    // A checkout under the editor: recorded (after the editor had its moment to say it saved it).
    alice.fs.writeFile('s.txt', bytes('alpha beta\ngamma\ndelta\n'));
    expect((await alice.replica.scan()).recorded).toEqual([]);
    await vi.waitFor(async () => expect(await alice.replica.textOf('s.txt')).toBe('alpha beta\ngamma\ndelta\n'), { timeout: 5000, interval: 50 });
    expect(buffer.text).toBe('alpha beta\ngamma\ndelta\n');
    const [last] = await alice.replica.log({ path: 's.txt', limit: 1 });
    expect(last).toMatchObject({ kind: 'edit', inserted: 6, deleted: 0 });
    expect(last!.origin).toBeUndefined();
    await doc.close();
    expect(textOf(alice.fs, 's.txt')).toBe('alpha beta\ngamma\ndelta\n');
  });

  it('a path not shared yet waits, and arrives when a peer shares it', async () => {
    const alice = await sideWith('alice', { 'a.txt': 'a\n' });
    const bob = await localSide('bob');
    const toBob = link(alice, bob);
    await toBob();
    const buffer = new EditorBuffer('');
    const doc = await bob.replica.openLive({ path: 'new.txt', origin: 'nvim:2', listener: buffer });
    expect(doc.state).toBe('waiting');
    expect(doc.text).toBe('');
    await expect(doc.edit(() => [{ from: 0, to: 0, insert: 'x' }])).rejects.toMatchObject({ code: 'USAGE' });
    alice.fs.writeFile('new.txt', bytes('fresh 🌱\n'));
    await toBob();
    expect(buffer.events).toEqual(['arrived']);
    expect(doc.state).toBe('live');
    expect(buffer.text).toBe('fresh 🌱\n');
    await doc.edit(() => [{ from: 9, to: 9, insert: '!' }]);
    expect(await bob.replica.textOf('new.txt')).toBe('fresh 🌱\n!');
  });

  it("follows a peer's rename, and a peer's delete ends the document", async () => {
    const alice = await sideWith('alice', { 'old.txt': 'text\n' });
    const bob = await localSide('bob');
    const toBob = link(alice, bob);
    await toBob();
    const { doc, buffer } = await open(bob.replica, 'old.txt');
    await type(doc, buffer, 4, '!');
    alice.fs.rename('old.txt', 'new.txt');
    await toBob();
    expect(buffer.events).toEqual(['renamed new.txt']);
    expect(doc.path).toBe('new.txt');
    // The rename happened on disk, with the merged text where the file went.
    expect(textOf(bob.fs, 'old.txt')).toBeUndefined();
    expect(textOf(bob.fs, 'new.txt')).toBe('text!\n');
    await type(doc, buffer, 0, '>');
    expect(await bob.replica.textOf('new.txt')).toBe('>text!\n');
    // A delete that saw bob's edits (one that did not would lose to them).
    await link(bob, alice)();
    alice.fs.remove('new.txt');
    await toBob();
    expect(buffer.events).toEqual(['renamed new.txt', 'deleted']);
    expect(textOf(bob.fs, 'new.txt')).toBeUndefined();
    await expect(doc.edit(() => [{ from: 0, to: 0, insert: 'x' }])).rejects.toMatchObject({ code: 'USAGE' });
    await doc.close();
  });

  it('groups a typing burst into one log entry, undone as one and told to the editor', async () => {
    let clock = 1_000_000;
    const fs = new MemFs('/mem/burst');
    fs.writeFile('b.txt', bytes('x\n'));
    const replica = await Replica.open({ fs, kv: new MemoryStore(), env: { USER: 'alice' }, home: '/mem/home', now: () => clock });
    await replica.scan();
    const { doc, buffer } = await open(replica, 'b.txt');
    for (const ch of 'hello') {
      clock += 200;
      await type(doc, buffer, buffer.text.length - 2 + 1, ch);
    }
    // A pause longer than a burst's gap: the next edits are a burst of their own.
    clock += 5000;
    await type(doc, buffer, 0, 'A');
    clock += 100;
    await type(doc, buffer, 1, 'B');
    expect(buffer.text).toBe('ABxhello\n');
    const edits = (await replica.log({ path: 'b.txt' })).filter((op) => op.kind === 'edit' && op.origin === 'nvim:1');
    expect(edits.map((op) => [op.inserted, op.deleted])).toEqual([[2, 0], [5, 0]]);
    expect(edits[1]!.patch).toEqual([{ pos: 1, del: '', ins: 'hello' }]);
    expect(buffer.told).toEqual([]);
    // Undo takes the latest burst whole, and the editor hears of it.
    await replica.undo({ path: 'b.txt' });
    expect(buffer.text).toBe('xhello\n');
    expect(await replica.textOf('b.txt')).toBe('xhello\n');
    await replica.undo({ path: 'b.txt' });
    expect(buffer.text).toBe('x\n');
    // The disk was never written while the file was open.
    expect(textOf(fs, 'b.txt')).toBe('x\n');
    await replica.redo({ path: 'b.txt' });
    expect(buffer.text).toBe('xhello\n');
    await doc.close();
    expect(textOf(fs, 'b.txt')).toBe('xhello\n');
  });

  it('a process that stops with a file open leaves the disk behind; the next start writes the merged text', async () => {
    const fs = new MemFs('/mem/restart');
    const kv = new MemoryStore();
    fs.writeFile('r.txt', bytes('start\n'));
    const first = await Replica.open({ fs, kv, env: { USER: 'alice' }, home: '/mem/home' });
    await first.scan();
    const { doc, buffer } = await open(first, 'r.txt');
    await type(doc, buffer, 5, ' typed');
    // The editor saved once before the typing went on.
    doc.saved('start typed\n');
    fs.writeFile('r.txt', bytes('start typed\n'));
    await type(doc, buffer, 0, '# ');
    first.close();
    expect(textOf(fs, 'r.txt')).toBe('start typed\n');
    const second = await Replica.open({ fs, kv, env: { USER: 'alice' }, home: '/mem/home' });
    expect(textOf(fs, 'r.txt')).toBe('# start typed\n');
    expect(second.liveFileIds().size).toBe(1);
    // Nothing was taken for an edit: the saved text was no edit.
    expect((await second.scan()).recorded).toEqual([]);
    expect(await second.textOf('r.txt')).toBe('# start typed\n');
    second.close();
  });

  it('reconcile records a stale buffer as a save of the version it was loaded from, and returns the ops to the merged text', async () => {
    const alice = await sideWith('alice', { 'r.txt': 'one\ntwo\n' });
    const bob = await localSide('bob');
    await link(alice, bob)();
    // Bob adds a line, written to alice's disk; alice's editor still shows what it loaded, changed.
    bob.fs.writeFile('r.txt', bytes('one\ntwo\nthree\n'));
    await link(bob, alice)();
    const buffer = new EditorBuffer('ONE\ntwo\n');
    const doc = await alice.replica.openLive({ path: 'r.txt', origin: 'nvim:1', listener: buffer });
    expect(doc.text).toBe('one\ntwo\nthree\n');
    const ops = await doc.reconcile(buffer.text);
    buffer.changed(ops);
    expect(buffer.text).toBe('ONE\ntwo\nthree\n');
    expect(await alice.replica.textOf('r.txt')).toBe('ONE\ntwo\nthree\n');
    const [op] = await alice.replica.log({ path: 'r.txt', limit: 1 });
    expect(op).toMatchObject({ kind: 'edit', origin: 'nvim:1', inserted: 3, deleted: 3 });
    // Its own reconcile is not told back to it.
    expect(buffer.told).toEqual([[...ops]]);
    await doc.close();
    expect(textOf(alice.fs, 'r.txt')).toBe('ONE\ntwo\nthree\n');
  });

  it("two editors of one file: each is told the other's edits, never its own", async () => {
    const alice = await sideWith('alice', { 't.txt': 'ab\n' });
    const one = await open(alice.replica, 't.txt', 'nvim:1');
    const two = await open(alice.replica, 't.txt', 'code:2');
    await type(one.doc, one.buffer, 1, '1');
    await type(two.doc, two.buffer, 3, '2');
    expect(one.buffer.text).toBe('a1b2\n');
    expect(two.buffer.text).toBe('a1b2\n');
    expect(one.buffer.told).toEqual([[{ pos: 3, del: '', ins: '2' }]]);
    expect(two.buffer.told).toEqual([[{ pos: 1, del: '', ins: '1' }]]);
    // The first close leaves the disk to the other editor; the last writes it.
    await one.doc.close();
    expect(textOf(alice.fs, 't.txt')).toBe('ab\n');
    await two.doc.close();
    expect(textOf(alice.fs, 't.txt')).toBe('a1b2\n');
  });

  it('an edit whose commit fails is taken back from every editor of the file, and a listener that throws breaks nothing', async () => {
    class FullDisk extends MemoryStore {
      full = false;
      override async batch(ops: KvBatchOp[]): Promise<void> {
        if (this.full) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
        return super.batch(ops);
      }
    }
    const fs = new MemFs('/mem/full');
    const kv = new FullDisk();
    fs.writeFile('f.txt', bytes('abc\n'));
    const replica = await Replica.open({ fs, kv, env: { USER: 'alice' }, home: '/mem/home' });
    await replica.scan();
    const one = await open(replica, 'f.txt', 'nvim:1');
    const two = await open(replica, 'f.txt', 'nvim:2');
    const throwing = await replica.openLive({ path: 'f.txt', origin: 'nvim:3', listener: { changed: () => { throw new Error('plugin bug'); }, arrived: () => undefined, renamed: () => undefined, deleted: () => undefined } });
    kv.full = true;
    await expect(type(one.doc, one.buffer, 3, '!')).rejects.toThrow('no space left on device');
    kv.full = false;
    // The editor that typed it, and the other one, are both back at the text the store has.
    expect(await replica.textOf('f.txt')).toBe('abc\n');
    expect(one.buffer.text).toBe('abc\n');
    expect(two.buffer.text).toBe('abc\n');
    await type(one.doc, one.buffer, 0, '>');
    expect(two.buffer.text).toBe('>abc\n');
    await throwing.close();
    await one.doc.close();
    await two.doc.close();
    expect(textOf(fs, 'f.txt')).toBe('>abc\n');
  });

  it('deltaOps turns a Yjs delta into ops in UTF-16 units, and refuses what is not text', () => {
    expect(deltaOps('a😀b', [{ retain: 3 }, { insert: '世' }, { delete: 1 }])).toEqual({ ops: [{ pos: 3, del: '', ins: '世' }, { pos: 4, del: 'b', ins: '' }], text: 'a😀世' });
    expect(deltaOps('abc', [{ retain: 1, attributes: { bold: true } }])).toBeUndefined();
    expect(deltaOps('abc', [{ insert: { image: 'x' } }])).toBeUndefined();
    expect(deltaOps('abc', [{ retain: 2 }, { delete: 5 }])).toBeUndefined();
  });

  it('reconcile of a buffer read from a version written here while a peer typed is no edit, however many writes came since', async () => {
    const { alice, typist, read } = await peerTypesWhileRead('start\n');
    expect(read).toBe('start one two\n');
    const merged = `start${WORDS}\n`;
    expect(textOf(alice.fs, 'g.txt')).toBe(merged);
    const before = await alice.replica.log({ path: 'g.txt', limit: 1 });
    const buffer = new EditorBuffer(read!);
    const doc = await alice.replica.openLive({ path: 'g.txt', origin: 'nvim:alice', listener: buffer });
    const ops = await doc.reconcile(buffer.text);
    buffer.changed(ops);
    expect(buffer.text).toBe(merged);
    expect(await alice.replica.textOf('g.txt')).toBe(merged);
    // Nothing recorded: the newest entry is still bob's.
    expect(await alice.replica.log({ path: 'g.txt', limit: 1 })).toEqual(before);
    await doc.close();
    await typist.doc.close();
  });

  it("reconcile of a buffer read from an older written version, then changed by its user, keeps both the peer's typing and the user's change", async () => {
    const { alice, toBob, typist, read } = await peerTypesWhileRead('start\nend\n');
    expect(read).toBe('start one two\nend\n');
    // Alice's editor read it then, and she changed the last line before it opened live.
    const buffer = new EditorBuffer(read!.replace('end', 'THE END'));
    const doc = await alice.replica.openLive({ path: 'g.txt', origin: 'nvim:alice', listener: buffer });
    const ops = await doc.reconcile(buffer.text);
    buffer.changed(ops);
    const merged = `start${WORDS}\nTHE END\n`;
    expect(buffer.text).toBe(merged);
    expect(await alice.replica.textOf('g.txt')).toBe(merged);
    const [op] = await alice.replica.log({ path: 'g.txt', limit: 1 });
    // Her change only ("end" for "THE END"), nothing of bob's deleted.
    expect(op).toMatchObject({ kind: 'edit', origin: 'nvim:alice', inserted: 7, deleted: 3 });
    // Bob gets both.
    await toBob();
    expect(typist.buffer.text).toBe(merged);
    await doc.close();
    await typist.doc.close();
  });
});
