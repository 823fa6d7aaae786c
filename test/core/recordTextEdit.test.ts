import { describe, expect, it } from 'vitest';
import { CshareError } from '../../src/core/errors.js';
import type { Replica } from '../../src/core/Replica.js';
import type { TextEditRequest } from '../../src/core/textEdits.js';
import { RelayHarness } from '../sync/relay/harness.js';
import { localSide, memSide, textOf } from '../sync/regressions/harness.js';
import type { MemFs } from '../helpers/MemFs.js';

const bytes = (s: string) => new TextEncoder().encode(s);

/** A replica over a memory worktree holding `files`, scanned. */
async function withFiles(files: Record<string, string | Uint8Array>) {
  const side = await localSide('alice');
  for (const [path, content] of Object.entries(files)) side.fs.writeFile(path, typeof content === 'string' ? bytes(content) : content);
  await side.replica.scan();
  return side;
}

describe('Replica.recordTextEdit', () => {
  it('records the edits as one change in the log, without a scan, and the disk gets the text', async () => {
    const { fs, replica } = await withFiles({ 'a.txt': 'hello world\n' });
    const before = replica.seq;
    // Given in any order, in positions of the text before the edits.
    const recorded = await replica.recordTextEdit({ path: 'a.txt', edits: [{ from: 11, to: 11, insert: '!' }, { from: 0, to: 5, insert: 'HELLO' }], origin: 'editor-1' });
    expect(recorded).toEqual({ seq: before + 1, kind: 'edit', path: 'a.txt', inserted: 6, deleted: 5, origin: 'editor-1' });
    expect(textOf(fs, 'a.txt')).toBe('HELLO world!\n');
    expect(await replica.textOf('a.txt')).toBe('HELLO world!\n');
    const [op] = await replica.log({ path: 'a.txt', limit: 1 });
    expect(op).toMatchObject({ seq: before + 1, kind: 'edit', origin: 'editor-1', inserted: 6, deleted: 5 });
    expect(op!.patch).toEqual([{ pos: 0, del: 'hello', ins: 'HELLO' }, { pos: 11, del: '', ins: '!' }]);
    // What the write left is what was recorded: a scan finds nothing new.
    expect((await replica.scan()).recorded).toEqual([]);
  });

  it('edits that change nothing record nothing', async () => {
    const { replica } = await withFiles({ 'a.txt': 'abc' });
    const before = replica.seq;
    expect(await replica.recordTextEdit({ path: 'a.txt', edits: [], origin: 'e' })).toBeUndefined();
    expect(await replica.recordTextEdit({ path: 'a.txt', edits: [{ from: 1, to: 1, insert: '' }], origin: 'e' })).toBeUndefined();
    expect(replica.seq).toBe(before);
  });

  it('undo undoes them, and redo makes them again', async () => {
    const { fs, replica } = await withFiles({ 'a.txt': 'one\ntwo\n' });
    await replica.recordTextEdit({ path: 'a.txt', edits: [{ from: 4, to: 7, insert: 'TWO' }], origin: 'e' });
    expect(textOf(fs, 'a.txt')).toBe('one\nTWO\n');
    const undone = await replica.undo({ path: 'a.txt' });
    expect(undone.kind).toBe('undo');
    expect(textOf(fs, 'a.txt')).toBe('one\ntwo\n');
    await replica.redo({ path: 'a.txt' });
    expect(textOf(fs, 'a.txt')).toBe('one\nTWO\n');
  });

  it('a save that reached the file meanwhile is merged, not overwritten', async () => {
    const { fs, replica } = await withFiles({ 'a.txt': 'top\nmiddle\n' });
    // Saved by another program and not scanned yet: the guarded write finds it there.
    fs.writeInPlace('a.txt', bytes('top\nmiddle\nbottom\n'));
    await replica.recordTextEdit({ path: 'a.txt', edits: [{ from: 0, to: 3, insert: 'TOP' }], origin: 'e' });
    expect(textOf(fs, 'a.txt')).toBe('TOP\nmiddle\nbottom\n');
    expect(await replica.textOf('a.txt')).toBe('TOP\nmiddle\nbottom\n');
    const kinds = (await replica.log({ path: 'a.txt' })).map((o) => [o.kind, o.origin]);
    expect(kinds.slice(0, 2)).toEqual([['edit', undefined], ['edit', 'e']]);
  });

  it('reaches a peer through the relay', async () => {
    const relay = new RelayHarness();
    const alice = await memSide(relay, 'sharer', 'alice');
    alice.fs.writeFile('notes.md', bytes('# Notes\n'));
    await alice.session.push();
    const bob = await memSide(relay, 'joiner', 'bob');
    await bob.session.catchUp();
    expect(textOf(bob.fs, 'notes.md')).toBe('# Notes\n');
    await alice.replica.recordTextEdit({ path: 'notes.md', edits: [{ from: 8, to: 8, insert: '- typed in an editor\n' }], origin: 'editor' });
    await alice.session.push();
    await bob.session.catchUp();
    expect(textOf(bob.fs, 'notes.md')).toBe('# Notes\n- typed in an editor\n');
    expect((await bob.replica.log({ path: 'notes.md', limit: 1 }))[0]).toMatchObject({ kind: 'edit', author: 'alice', inserted: 21 });
  });
});

describe('Replica.recordTextEdit refuses', () => {
  /** What a refused request must leave alone: the seq, the log, the disk and the recorded text. */
  async function unchanged(replica: Replica, fs: MemFs, request: TextEditRequest, code: string) {
    const seq = replica.seq;
    const log = await replica.log();
    const disk = fs.snapshot();
    const text = await replica.textOf('a.txt');
    const err = await replica.recordTextEdit(request).then(() => undefined, (e: unknown) => e);
    expect(err, JSON.stringify(request)).toBeInstanceOf(CshareError);
    expect((err as CshareError).code).toBe(code);
    expect(replica.seq).toBe(seq);
    expect(await replica.log()).toEqual(log);
    expect(fs.snapshot()).toEqual(disk);
    expect(await replica.textOf('a.txt')).toBe(text);
  }

  it('a path that is not a shared text file', async () => {
    const { fs, replica } = await withFiles({ 'a.txt': 'abc', 'b.bin': new Uint8Array([0, 1, 2]) });
    fs.writeFile('new.txt', bytes('not scanned yet'));
    await unchanged(replica, fs, { path: 'missing.txt', edits: [{ from: 0, to: 0, insert: 'x' }], origin: 'e' }, 'NOT_FOUND');
    await unchanged(replica, fs, { path: 'new.txt', edits: [{ from: 0, to: 0, insert: 'x' }], origin: 'e' }, 'NOT_FOUND');
    await unchanged(replica, fs, { path: '../a.txt', edits: [{ from: 0, to: 0, insert: 'x' }], origin: 'e' }, 'NOT_FOUND');
    await unchanged(replica, fs, { path: 'b.bin', edits: [{ from: 0, to: 0, insert: 'x' }], origin: 'e' }, 'USAGE');
  });

  it('edits out of range, overlapping, splitting a character, or not text', async () => {
    const { fs, replica } = await withFiles({ 'a.txt': 'ab😀cd' });
    const bad: TextEditRequest['edits'][] = [
      [{ from: 0, to: 7, insert: '' }],
      [{ from: -1, to: 0, insert: '' }],
      [{ from: 3, to: 2, insert: '' }],
      [{ from: 0.5, to: 1, insert: '' }],
      [{ from: 0, to: 0, insert: 5 as unknown as string }],
      [{ from: 0, to: 2, insert: 'x' }, { from: 1, to: 3, insert: 'y' }],
      [{ from: 1, to: 1, insert: 'x' }, { from: 1, to: 1, insert: 'y' }],
      [{ from: 3, to: 3, insert: 'x' }],
      [{ from: 0, to: 0, insert: 'a\0b' }],
      [{ from: 0, to: 0, insert: '\ud800' }],
      [{ from: 0, to: 1, insert: 'ok' }, { from: 5, to: 9, insert: '' }],
    ];
    for (const edits of bad) await unchanged(replica, fs, { path: 'a.txt', edits, origin: 'e' }, 'USAGE');
    await unchanged(replica, fs, { path: 'a.txt', edits: [{ from: 0, to: 0, insert: 'x' }], origin: '' }, 'USAGE');
    // The same file takes good edits after all that.
    await replica.recordTextEdit({ path: 'a.txt', edits: [{ from: 2, to: 4, insert: '🙂' }], origin: 'e' });
    expect(textOf(fs, 'a.txt')).toBe('ab🙂cd');
  });
});
