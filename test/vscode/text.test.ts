import { describe, expect, it } from 'vitest';
import { applyChanges, diffEdit, lineStarts, offsetAt, planEdits, positionAt, sequentialChanges } from '../../editors/vscode/src/text.js';
import { FrameReader, frame } from '../../editors/vscode/src/rpc.js';
import { marksIn, statusText } from '../../editors/vscode/src/peers.js';

const pos = (line: number, character: number) => ({ line, character });

describe('VS Code extension: UTF-16 positions and changes (editors/vscode/src/text.ts)', () => {
  it('counts characters in UTF-16 code units and breaks lines at \\r\\n, \\n and \\r (a \\r\\n is one break)', () => {
    const text = 'a😀b\r\nçé\rx\n漢字';
    expect(lineStarts(text)).toEqual([0, 6, 9, 11]);
    expect(offsetAt(text, pos(0, 3))).toBe(3); // after the emoji's two code units
    expect(offsetAt(text, pos(0, 4))).toBe(4); // line end: before \r\n
    expect(offsetAt(text, pos(0, 5))).toBeUndefined(); // never between \r and \n
    expect(offsetAt(text, pos(1, 2))).toBe(8);
    expect(offsetAt(text, pos(3, 2))).toBe(13);
    expect(offsetAt(text, pos(4, 0))).toBeUndefined();
    expect(positionAt(text, 5)).toEqual(pos(0, 4)); // inside \r\n counts as before it
    expect(positionAt(text, 12)).toEqual(pos(3, 1));
    for (let o = 0; o <= text.length; o++) {
      if (o === 5) continue;
      expect(offsetAt(text, positionAt(text, o))).toBe(o);
    }
  });

  it('applies changes one after the other (each in the text the one before left), refusing one out of range', () => {
    expect(applyChanges('hello\r\nworld', [{ range: { start: pos(1, 0), end: pos(1, 5) }, text: 'there' }, { range: { start: pos(0, 0), end: pos(0, 0) }, text: '👋 ' }])).toBe('👋 hello\r\nthere');
    expect(applyChanges('ab', [{ range: { start: pos(0, 3), end: pos(0, 3) }, text: 'x' }])).toBeUndefined();
  });

  it('plans a WorkspaceEdit: changes from the end to the start map one to one; any other order becomes one minimal edit; both give the sequential result', () => {
    const text = 'one\ntwo\nthree\n';
    const backwards = [{ range: { start: pos(2, 0), end: pos(2, 5) }, text: 'THREE' }, { range: { start: pos(0, 0), end: pos(0, 3) }, text: 'ONE' }];
    expect(planEdits(text, backwards)).toEqual({ edits: [{ from: 8, to: 13, text: 'THREE' }, { from: 0, to: 3, text: 'ONE' }], result: 'ONE\ntwo\nTHREE\n' });
    // Forwards: the second change's range is in the text the first one left.
    const forwards = [{ range: { start: pos(0, 0), end: pos(0, 0) }, text: 'x\n' }, { range: { start: pos(1, 0), end: pos(1, 3) }, text: '1' }];
    const plan = planEdits(text, forwards)!;
    expect(plan.result).toBe('x\n1\ntwo\nthree\n');
    expect(plan.edits).toHaveLength(1);
    expect(text.slice(0, plan.edits[0]!.from) + plan.edits[0]!.text + text.slice(plan.edits[0]!.to)).toBe(plan.result);
    expect(planEdits(text, [{ range: { start: pos(9, 0), end: pos(9, 0) }, text: 'x' }])).toBeUndefined();
  });

  it('turns one VS Code event (all changes relative to the text before it) into sequential changes, last in the document first', () => {
    const before = 'ab\ncd\n';
    // A multi-cursor edit: 'X' typed at the start of both lines, reported in document order.
    const event = [
      { range: { start: pos(0, 0), end: pos(0, 0) }, rangeOffset: 0, text: 'X' },
      { range: { start: pos(1, 0), end: pos(1, 0) }, rangeOffset: 3, text: 'X' },
    ];
    expect(applyChanges(before, sequentialChanges(event))).toBe('Xab\nXcd\n');
  });

  it('diffs to one minimal edit that never splits a surrogate pair or a \\r\\n', () => {
    expect(diffEdit('same', 'same')).toBeUndefined();
    expect(diffEdit('a😀b', 'a😁b')).toEqual({ from: 1, to: 3, text: '😁' });
    expect(diffEdit('a\nb', 'a\r\nb')).toEqual({ from: 1, to: 2, text: '\r\n' });
    expect(diffEdit('a\r\nb', 'a\r\r\nb')).toEqual({ from: 1, to: 3, text: '\r\r\n' });
  });
});

describe('VS Code extension: framing and peers (editors/vscode/src/rpc.ts, peers.ts)', () => {
  it("reads LSP frames split anywhere, with multibyte bodies, and refuses a header without Content-Length", () => {
    const bytes = Buffer.concat([frame({ a: '漢字😀' }), frame({ b: 2 })]);
    const r = new FrameReader();
    const got: unknown[] = [];
    for (let i = 0; i < bytes.length; i += 3) for (const body of r.push(bytes.subarray(i, i + 3))) got.push(JSON.parse(body.toString('utf8')));
    expect(got).toEqual([{ a: '漢字😀' }, { b: 2 }]);
    expect(() => new FrameReader().push(Buffer.from('Content-Type: x\r\n\r\n{}'))).toThrow(/malformed header/);
  });

  it("gives each peer of a document its cursors (selection heads) and ordered non-empty selections, and a status text", () => {
    const peers = [
      { id: 'a', name: 'Ann', color: '#ff0000', path: 'x.ts', selections: [{ anchor: pos(2, 5), head: pos(1, 0) }, { anchor: pos(3, 1), head: pos(3, 1) }] },
      { id: 'b', name: 'Bob', color: 'red; evil', path: 'x.ts', selections: [] },
      { id: 'c', name: 'Cy', color: '#00ff00', path: 'y.ts', selections: [{ anchor: pos(0, 0), head: pos(0, 0) }] },
      { id: 'd', name: 'Di', color: '#0000ff' },
    ];
    expect(marksIn(peers, 'x.ts')).toEqual([
      { id: 'a', name: 'Ann', color: '#ff0000', cursors: [pos(1, 0), pos(3, 1)], selections: [{ start: pos(1, 0), end: pos(2, 5) }] },
      { id: 'b', name: 'Bob', color: '#888888', cursors: [], selections: [] },
    ]);
    expect(statusText({ connection: 'online', role: 'sharer', peers: 1 })).toBe('$(broadcast) cshare: sharing · 1 peer');
    expect(statusText({ connection: 'reconnecting', role: 'joiner', peers: 0, readOnly: true })).toBe('$(sync~spin) cshare: joined (read-only) · 0 peers · reconnecting');
  });
});
