import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { baseClientId, FileDoc, type UndoRecord } from '../../src/core/FileDoc.js';
import { CshareError } from '../../src/core/errors.js';

const A = 1001;
const B = 2002;

/** Two replicas of one file created independently from the same base, then synced. */
function pair(base: string): { a: FileDoc; b: FileDoc; aLog: Uint8Array[]; bLog: Uint8Array[] } {
  const ca = FileDoc.create({ fileId: 'f1', clientId: A, baseText: base });
  const cb = FileDoc.create({ fileId: 'f1', clientId: B, baseText: base });
  return { a: ca.doc, b: cb.doc, aLog: ca.baseUpdate ? [ca.baseUpdate] : [], bLog: cb.baseUpdate ? [cb.baseUpdate] : [] };
}

/** Applies everything `from` has that `to` lacks, the way catch-up sync would. */
function sync(from: FileDoc, to: FileDoc): void {
  to.applyUpdate(Y.diffUpdate(from.snapshot(), to.stateVector()));
}

describe('FileDoc', () => {
  it('derives a deterministic base client id per file', () => {
    expect(baseClientId('abc')).toBe(baseClientId('abc'));
    expect(baseClientId('abc')).not.toBe(baseClientId('abd'));
    expect(Number.isInteger(baseClientId('x')) && baseClientId('x') >= 0 && baseClientId('x') <= 0xffffffff).toBe(true);
    expect(baseClientId('abc', 'one\n')).toBe(baseClientId('abc', 'one\n'));
    expect(baseClientId('abc', 'one\n')).not.toBe(baseClientId('abc', 'two\n'));
  });

  it('converges when two replicas created one file\'s doc from different base texts', () => {
    // Same ids for different base texts would be taken for the same items: each side would
    // keep its own text forever.
    const { doc: a } = FileDoc.create({ fileId: 'f9', clientId: A, baseText: 'from a\n' });
    const { doc: b } = FileDoc.create({ fileId: 'f9', clientId: A + 1, baseText: 'from b, longer\n' });
    sync(a, b);
    sync(b, a);
    expect(a.text).toBe(b.text);
    expect(a.text).toContain('from a\n');
    expect(a.text).toContain('from b, longer\n');
  });

  it('round-trips create, setText and load', () => {
    const { doc, baseUpdate } = FileDoc.create({ fileId: 'f1', clientId: A, baseText: 'hello\nworld\n' });
    expect(doc.text).toBe('hello\nworld\n');
    expect(baseUpdate).not.toBeNull();
    const c1 = doc.setText('hello\nbrave new world\n');
    expect(c1).not.toBeNull();
    expect(c1!.ops).toEqual([{ pos: 6, del: '', ins: 'brave new ' }]);
    expect(c1!.inserted).toBe(10);
    expect(c1!.record.insertions).toEqual([[A, 0, 10]]);
    expect(doc.setText('hello\nbrave new world\n')).toBeNull();
    const c2 = doc.setText('brave new world\n😀');
    expect(c2!.deleted).toBe(6);
    expect(c2!.record.deletions.length).toBeGreaterThan(0);

    const loaded = FileDoc.load({ fileId: 'f1', clientId: A, updates: [baseUpdate!, c1!.update, c2!.update] });
    expect(loaded.text).toBe('brave new world\n😀');
    // The loaded replica keeps its own client id for new edits (Yjs would otherwise pick a
    // random one on seeing its own id in loaded updates).
    const c3 = loaded.setText('brave new world!\n😀');
    expect(c3!.record.insertions[0]![0]).toBe(A);
    // A snapshot plus later updates gives the same text.
    const fromSnap = FileDoc.load({ fileId: 'f1', clientId: A, snapshot: doc.snapshot(), updates: [c3!.update] });
    expect(fromSnap.text).toBe('brave new world!\n😀');
  });

  it('creates no base update for an empty file', () => {
    const { doc, baseUpdate } = FileDoc.create({ fileId: 'empty', clientId: A, baseText: '' });
    expect(baseUpdate).toBeNull();
    expect(doc.text).toBe('');
    expect(doc.setText('x')!.update.byteLength).toBeGreaterThan(0);
  });

  it('gives byte-identical base updates, so independent creates merge without doubling', () => {
    const ca = FileDoc.create({ fileId: 'same', clientId: A, baseText: 'base text\n' });
    const cb = FileDoc.create({ fileId: 'same', clientId: B, baseText: 'base text\n' });
    expect(ca.baseUpdate).toEqual(cb.baseUpdate);
    ca.doc.setText('base text\nfrom a\n');
    cb.doc.setText('from b\nbase text\n');
    sync(ca.doc, cb.doc);
    sync(cb.doc, ca.doc);
    expect(ca.doc.text).toBe('from b\nbase text\nfrom a\n');
    expect(cb.doc.text).toBe(ca.doc.text);
  });

  it('merges concurrent edits and reports whether a remote update changed the text', () => {
    const { a, b } = pair('one two three');
    const ua = a.setText('one 2 three')!;
    const ub = b.setText('one two three four')!;
    expect(a.applyUpdate(ub.update)).toBe(true);
    expect(b.applyUpdate(ua.update)).toBe(true);
    expect(a.text).toBe('one 2 three four');
    expect(b.text).toBe(a.text);
    // Applying an update again changes nothing.
    expect(a.applyUpdate(ub.update)).toBe(false);
    // Own updates echoed back do not disturb the replica's client id.
    expect(a.applyUpdate(ua.update)).toBe(false);
    expect(a.setText('one 2 three four five')!.record.insertions[0]![0]).toBe(A);
  });

  it('selectively undoes only its own change, leaving concurrent edits of others', () => {
    const { a, b } = pair('The quick fox.\n');
    const ca = a.setText('The quick brown fox.\n')!;
    const cb = b.setText('The quick fox jumps.\n')!;
    a.applyUpdate(cb.update);
    b.applyUpdate(ca.update);
    expect(a.text).toBe('The quick brown fox jumps.\n');

    const undo = a.undo(ca.record)!;
    expect(undo).not.toBeNull();
    expect(a.text).toBe('The quick fox jumps.\n');
    expect(undo.deleted).toBe('brown '.length);
    b.applyUpdate(undo.update);
    expect(b.text).toBe('The quick fox jumps.\n');

    // Redo: undoing the undo's record brings A's words back.
    const redo = a.undo(undo.record)!;
    expect(a.text).toBe('The quick brown fox jumps.\n');
    expect(redo.inserted).toBe('brown '.length);
    b.applyUpdate(redo.update);
    expect(b.text).toBe(a.text);
    // Undoing a record whose effect is already gone is a no-op.
    expect(a.undo(undo.record)).toBeNull();
  });

  it('restores deleted text on undo of a deletion, and redo deletes it again', () => {
    const { a } = pair('keep this, drop this, keep that');
    const del = a.setText('keep this, keep that')!;
    const undo = a.undo(del.record)!;
    expect(a.text).toBe('keep this, drop this, keep that');
    expect(undo.inserted).toBe('drop this, '.length);
    a.undo(undo.record);
    expect(a.text).toBe('keep this, keep that');
  });

  it('does not re-delete text another replica already removed', () => {
    const { a, b } = pair('abc\n');
    const ca = a.setText('abc XYZ\n')!;
    b.applyUpdate(ca.update);
    const cb = b.setText('abc XZ\n')!; // B deletes one of A's characters
    a.applyUpdate(cb.update);
    const undo = a.undo(ca.record)!;
    expect(a.text).toBe('abc\n');
    // Only the characters of A's that were still there are deleted: " X" and "Z".
    expect(undo.deleted).toBe(3);
  });

  it('keeps undo records valid across JSON and a reload from stored updates (restart)', () => {
    const { a, b, aLog } = pair('alpha\nbeta\ngamma\n');
    const ca = a.setText('alpha\nBETA\ngamma\n')!;
    aLog.push(ca.update);
    const cb = b.setText('alpha\nbeta\ngamma\ndelta\n')!;
    a.applyUpdate(cb.update);
    aLog.push(cb.update);
    const stored = JSON.stringify(ca.record);
    a.destroy();

    // Restart: rebuild from A's log alone (B's base is byte-identical to A's, so not needed).
    const a2 = FileDoc.load({ fileId: 'f1', clientId: A, updates: aLog });
    expect(a2.text).toBe('alpha\nBETA\ngamma\ndelta\n');
    const undo = a2.undo(JSON.parse(stored) as UndoRecord)!;
    expect(a2.text).toBe('alpha\nbeta\ngamma\ndelta\n');
    aLog.push(undo.update);

    // The redo record survives a second restart too.
    const redoStored = JSON.stringify(undo.record);
    const a3 = FileDoc.load({ fileId: 'f1', clientId: A, updates: aLog });
    a3.undo(JSON.parse(redoStored) as UndoRecord);
    expect(a3.text).toBe('alpha\nBETA\ngamma\ndelta\n');
  });

  it('rejects records that do not belong to the file', () => {
    const { a } = pair('x');
    expect(() => a.undo({ insertions: [[999, 0, 5]], deletions: [] })).toThrow(CshareError);
    expect(() => a.undo({ insertions: [[A, -1, 5]] as never, deletions: [] })).toThrow(/malformed/);
    expect(() => a.undo({ insertions: 'nope' as never, deletions: [] })).toThrow(/not an array/);
  });

  it('gives every save an update another replica can apply and an exact undo record', () => {
    // Seeded random saves, each checked against an independent replica and by undo + redo.
    let x = 0x5eed;
    const rand = (n: number): number => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return (x >>> 8) % n;
    };
    const { a, b } = pair('seed text\n');
    let text = a.text;
    for (let i = 0; i < 200; i++) {
      const cps = [...text]; // edits at code points: a real save never splits a pair
      const at = rand(cps.length + 1);
      cps.splice(at, rand(4), ['x', 'yy', '', '\n', '😀'][rand(5)]!);
      const next = cps.join('');
      const change = a.setText(next);
      if (next === text) {
        expect(change).toBeNull();
        continue;
      }
      expect(a.text).toBe(next);
      const ins = change!.record.insertions.reduce((n, r) => n + r[2], 0);
      const del = change!.record.deletions.reduce((n, r) => n + r[2], 0);
      expect([ins, del]).toEqual([change!.inserted, change!.deleted]);
      b.applyUpdate(change!.update);
      expect(b.text).toBe(next);
      if (i % 10 === 0) {
        const undo = a.undo(change!.record)!;
        expect(a.text).toBe(text);
        const redo = a.undo(undo.record)!;
        expect(a.text).toBe(next);
        b.applyUpdate(undo.update);
        b.applyUpdate(redo.update);
        expect(b.text).toBe(next);
      }
      text = next;
    }
    expect(b.stateVector()).toEqual(a.stateVector());
  });

  it('places a save that typed into a run of equal characters where the last save ended', () => {
    const { doc } = FileDoc.create({ fileId: 'run', clientId: A, baseText: 'hello' });
    doc.setText('heXllo'); // typed X at 2: the cursor is now at 3
    doc.setText('hello'); // backspace: the cursor is back at 2
    // "l" typed at the cursor: without knowing the cursor the diff would insert at 4.
    expect(doc.setText('helllo')!.ops).toEqual([{ pos: 2, del: '', ins: 'l' }]);
    // After a remote change the old cursor means nothing: the insert goes at the run's end.
    const { doc: other } = FileDoc.create({ fileId: 'run', clientId: B, baseText: 'hello' });
    doc.applyUpdate(other.setText('hello!')!.update);
    expect(doc.text).toBe('helllo!');
    expect(doc.setText('hellllo!')!.ops).toEqual([{ pos: 5, del: '', ins: 'l' }]);
  });

  it('keeps the cached text right across remote updates with surrogate pairs', () => {
    const { a, b } = pair('😀😀');
    const cb = b.setText('😀👍🏽😀')!;
    expect(a.applyUpdate(cb.update)).toBe(true);
    expect(a.text).toBe('😀👍🏽😀');
    const ca = a.setText('😀👍🏽😀𝄞')!;
    b.applyUpdate(ca.update);
    expect(b.text).toBe('😀👍🏽😀𝄞');
  });
});
