/** LSP positions in the three encodings, line breaks, and the LSP framing reader. */
import { describe, expect, it } from 'vitest';
import { FrameReader, FramingError, frame } from '../../src/editor/framing.js';
import { LineIndex } from '../../src/editor/positions.js';

describe('positions', () => {
  const text = 'a😀é\r\nx\ry\n中e\u0301';
  const lines = new LineIndex(text);

  it('splits lines at \\n, \\r\\n and \\r, each one break', () => {
    expect(lines.lineCount).toBe(4);
    expect(lines.starts).toEqual([0, 6, 8, 10]);
    expect(new LineIndex('a\r\n').lineCount).toBe(2);
  });

  it('counts characters in utf-16 units, utf-8 bytes and code points', () => {
    // After the emoji: 3 UTF-16 units, 5 bytes, 2 code points.
    expect(lines.offsetOf({ line: 0, character: 3 }, 'utf-16')).toBe(3);
    expect(lines.offsetOf({ line: 0, character: 5 }, 'utf-8')).toBe(3);
    expect(lines.offsetOf({ line: 0, character: 2 }, 'utf-32')).toBe(3);
    expect(lines.positionOf(3, 'utf-8')).toEqual({ line: 0, character: 5 });
    expect(lines.positionOf(4, 'utf-8')).toEqual({ line: 0, character: 7 });
    expect(lines.positionOf(13, 'utf-32')).toEqual({ line: 3, character: 3 });
    expect(lines.positionOf(13, 'utf-8')).toEqual({ line: 3, character: 6 });
  });

  it('refuses a position inside a character, past its line, or not a whole number', () => {
    expect(lines.offsetOf({ line: 0, character: 2 }, 'utf-16')).toBeUndefined(); // between the surrogates
    expect(lines.offsetOf({ line: 0, character: 3 }, 'utf-8')).toBeUndefined(); // inside the emoji's bytes
    expect(lines.offsetOf({ line: 0, character: 5 }, 'utf-16')).toBeUndefined(); // past "a😀é"
    expect(lines.offsetOf({ line: 4, character: 0 }, 'utf-16')).toBeUndefined();
    expect(lines.offsetOf({ line: 0.5, character: 0 }, 'utf-16')).toBeUndefined();
    expect(lines.offsetOf({ line: -1, character: 0 }, 'utf-16')).toBeUndefined();
    // The end of a line is before its break, never between \r and \n.
    expect(lines.offsetOf({ line: 0, character: 4 }, 'utf-16')).toBe(4);
    expect(lines.positionOf(5, 'utf-16')).toEqual({ line: 0, character: 4 });
  });
});

describe('LSP framing', () => {
  it('reads frames split anywhere and several in one chunk; other headers and header case are fine', () => {
    const bytes = Buffer.concat([frame({ a: 'é' }), Buffer.from('content-length: 2\r\nContent-Type: x\r\n\r\n{}'), frame([1])]);
    for (const cut of [1, 7, 20, bytes.length - 1]) {
      const r = new FrameReader();
      const out = [...r.push(bytes.subarray(0, cut)), ...r.push(bytes.subarray(cut))];
      expect(out.map((b) => JSON.parse(b.toString('utf8')))).toEqual([{ a: 'é' }, {}, [1]]);
    }
  });

  it('a header without Content-Length, a malformed one, a too long header or body: FramingError', () => {
    expect(() => new FrameReader().push(Buffer.from('X: 1\r\n\r\n'))).toThrow(FramingError);
    expect(() => new FrameReader().push(Buffer.from('Content-Length: -1\r\n\r\n'))).toThrow(FramingError);
    expect(() => new FrameReader().push(Buffer.from('x'.repeat(2000)))).toThrow(FramingError);
    expect(() => new FrameReader(10).push(Buffer.from('Content-Length: 11\r\n\r\n'))).toThrow(/over the limit/);
  });
});

describe('LineIndex.edited', () => {
  it('equals a fresh index after random edits (line breaks of every kind, joins of \\r and \\n)', () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pieces = ['a', 'bc', '\n', '\r', '\r\n', '', 'é😀'];
    const piece = () => pieces[rnd(pieces.length)]!;
    for (let run = 0; run < 300; run++) {
      let text = Array.from({ length: rnd(12) }, piece).join('');
      let lines = new LineIndex(text);
      for (let step = 0; step < 20; step++) {
        const from = rnd(text.length + 1);
        const to = from + rnd(Math.min(4, text.length - from) + 1);
        const insert = Array.from({ length: rnd(3) }, piece).join('');
        const next = text.slice(0, from) + insert + text.slice(to);
        lines = lines.edited(from, to, insert, next);
        const fresh = new LineIndex(next);
        expect({ run, step, starts: lines.starts, ends: lines.ends }).toEqual({ run, step, starts: fresh.starts, ends: fresh.ends });
        text = next;
      }
    }
  });
});
