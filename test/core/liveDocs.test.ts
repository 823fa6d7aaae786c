/**
 * Files open in an editor (`Replica.openLive`, `core/liveDocs.ts`): edits recorded as typed,
 * every other change told to the editor as UTF-16 ops, the disk left alone until the close.
 */
import { describe, expect, it } from 'vitest';
import type { TextOp } from '../../src/core/FileDoc.js';
import type { LiveListener } from '../../src/core/liveDocs.js';
import { Replica } from '../../src/core/Replica.js';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { MemFs } from '../helpers/MemFs.js';
import { link, localSide, textOf, type Side } from '../sync/regressions/harness.js';

const bytes = (s: string) => new TextEncoder().encode(s);

/** An editor's buffer: the text it opened with, every change it was told applied, in order. */
class Buffer implements LiveListener {
  text: string;
  told: TextOp[][] = [];
  events: string[] = [];
  constructor(text: string) {
    this.text = text;
  }
  changed(ops: readonly TextOp[]): void {
    this.told.push([...ops]);
    for (const op of ops) {
      // Each op is in the text the one before left, and deletes what that text holds there.
      expect(this.text.slice(op.pos, op.pos + op.del.length)).toBe(op.del);
      this.text = this.text.slice(0, op.pos) + op.ins + this.text.slice(op.pos + op.del.length);
    }
  }
  arrived(text: string): void {
    this.events.push('arrived');
    this.text = text;
  }
  renamed(to: string): void {
    this.events.push(`renamed ${to}`);
  }
  deleted(): void {
    this.events.push('deleted');
  }
}

async function sideWith(name: string, files: Record<string, string>, fs = new MemFs(`/mem/${name}`)): Promise<Side> {
  const side = await localSide(name, fs);
  for (const [path, content] of Object.entries(files)) side.fs.writeFile(path, bytes(content));
  await side.replica.scan();
  return side;
}

/** Opens `path` live with a fresh buffer holding what the doc has. */
async function open(replica: Replica, path: string, origin = 'nvim:1') {
  const buffer = new Buffer('');
  const doc = await replica.openLive({ path, origin, listener: buffer });
  buffer.text = doc.text;
  return { doc, buffer };
}

/** Types `insert` at `at` in `buffer` and through `doc` (as an editor server would). */
async function type(doc: Awaited<ReturnType<typeof open>>['doc'], buffer: Buffer, at: number, insert: string, del = 0): Promise<void> {
  buffer.text = buffer.text.slice(0, at) + insert + buffer.text.slice(at + del);
  await doc.edit(() => [{ from: at, to: at + del, insert }]);
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
    // The disk behind the doc is no edit: a scan records nothing.
    expect((await alice.replica.scan()).recorded).toEqual([]);
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
  });
});
