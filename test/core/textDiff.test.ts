import { describe, expect, it } from 'vitest';
import { prng } from '../helpers/largeSource.js';
import { applyOps, diffToOps, opsStats, type TextOp } from '../../src/core/textDiff.js';

// A small alphabet makes repeats (and so ambiguous diffs) likely; the emoji and the CJK
// character exercise surrogate pairs and BMP characters beyond Latin-1.
const ALPHABET = ['a', 'b', 'c', ' ', '\n', 'é', '中', '😀', '👍🏽', '𝄞'];

function randomText(rand: () => number, maxChars: number): string {
  const n = Math.floor(rand() * maxChars);
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(rand() * ALPHABET.length)];
  return s;
}

/** Random edits at code-point boundaries, so `next` is a plausible save of `text`. */
function mutate(rand: () => number, text: string): string {
  const cps = [...text];
  const edits = 1 + Math.floor(rand() * 4);
  for (let e = 0; e < edits; e++) {
    const pos = Math.floor(rand() * (cps.length + 1));
    const del = Math.floor(rand() * Math.min(5, cps.length - pos + 1));
    cps.splice(pos, del, ...[...randomText(rand, 6)]);
  }
  return cps.join('');
}

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/** Asserts that no op boundary falls between the halves of a surrogate pair. */
function expectNoSplitPairs(text: string, ops: TextOp[]): void {
  let cur = text;
  for (const op of ops) {
    const end = op.pos + op.del.length;
    expect(op.pos === 0 || !isHigh(cur.charCodeAt(op.pos - 1)), `op at ${op.pos} splits a pair`).toBe(true);
    expect(end === 0 || !isHigh(cur.charCodeAt(end - 1)), `op end ${end} splits a pair`).toBe(true);
    expect(cur.slice(op.pos, end)).toBe(op.del);
    cur = cur.slice(0, op.pos) + op.ins + cur.slice(end);
  }
}

const seed = Number(process.env.CSHARE_SEED ?? 0x5eed);

describe('diffToOps', () => {
  it(`round-trips random texts with surrogate pairs (seed ${seed})`, () => {
    const rand = prng(seed);
    for (let i = 0; i < 2000; i++) {
      const a = randomText(rand, 60);
      const b = rand() < 0.7 ? mutate(rand, a) : randomText(rand, 60);
      const ops = diffToOps(a, b);
      expect(applyOps(a, ops), `case ${i}: ${JSON.stringify(a)} -> ${JSON.stringify(b)}`).toBe(b);
      expectNoSplitPairs(a, ops);
    }
  });

  it('round-trips large texts through line mode and the size cap', () => {
    const rand = prng(seed + 1);
    const lines = Array.from({ length: 1500 }, (_, i) => `line ${i} ${randomText(rand, 30).replaceAll('\n', '')}\n`);
    const a = lines.join('');
    // Many scattered line edits: the middle is too big for a char diff and goes by line.
    const b = lines.map((l, i) => (i % 97 === 0 ? `changed ${l}` : i % 131 === 0 ? '' : l)).join('');
    const ops = diffToOps(a, b);
    expect(applyOps(a, ops)).toBe(b);
    expectNoSplitPairs(a, ops);
    expect(ops.length).toBeGreaterThan(20);
    expect(opsStats(ops).deleted).toBeLessThan(2000);

    // A middle of 64 KiB and more (once one replace) is still three small edits.
    const big = 'x'.repeat(70_000);
    const c = `<${big}|${big}>`;
    const d = `<!${big}|-${big}>?`;
    expect(diffToOps(c, d)).toEqual([
      { pos: 1, del: '', ins: '!' },
      { pos: 70_003, del: '', ins: '-' },
      { pos: 140_005, del: '', ins: '?' },
    ]);
    // Nothing in common at all: one replace is the edit.
    const other = 'y'.repeat(70_000);
    expect(diffToOps(`<${big}>`, `<${other}>`)).toEqual([{ pos: 1, del: big, ins: other }]);
  });

  it('keeps the common prefix and suffix out of the ops', () => {
    expect(diffToOps('hello world', 'hello world')).toEqual([]);
    expect(diffToOps('hello world', 'hello brave world')).toEqual([{ pos: 6, del: '', ins: 'brave ' }]);
    expect(diffToOps('abcdef', 'abXYef')).toEqual([{ pos: 2, del: 'cd', ins: 'XY' }]);
    expect(diffToOps('abc', '')).toEqual([{ pos: 0, del: 'abc', ins: '' }]);
    expect(diffToOps('', 'abc')).toEqual([{ pos: 0, del: '', ins: 'abc' }]);
    // Ambiguous insert into a run: the prefix is kept maximal, so the insert goes last.
    expect(diffToOps('aaa', 'aaaa')).toEqual([{ pos: 3, del: '', ins: 'a' }]);
    // Prefix and suffix must not overlap when the texts share both ends.
    expect(diffToOps('abab', 'ab')).toEqual([{ pos: 2, del: 'ab', ins: '' }]);
  });

  it('never splits a surrogate pair at the prefix or suffix boundary', () => {
    // Same high surrogate, different low one: the whole character is replaced.
    expect(diffToOps('x😀y', 'x😁y')).toEqual([{ pos: 1, del: '😀', ins: '😁' }]);
    // Same low half, different high one (U+1F600 and U+1F200 both end in \uDE00).
    const a = 'x\uD83D\uDE00y';
    const b = 'x\uD83C\uDE00y';
    expect(diffToOps(a, b)).toEqual([{ pos: 1, del: '\uD83D\uDE00', ins: '\uD83C\uDE00' }]);
  });

  it('finds a one-line change in a 1 MB text fast', () => {
    const line = 'const value = compute(alpha, beta, gamma); // some comment text\n';
    const a = line.repeat(Math.ceil((1024 * 1024) / line.length));
    const mid = Math.floor(a.length / 2 / line.length) * line.length;
    const b = `${a.slice(0, mid)}const value = compute(alpha, BETA, gamma); // some comment text\n${a.slice(mid + line.length)}`;
    diffToOps(a, b); // warm up
    const start = performance.now();
    const ops = diffToOps(a, b);
    const ms = performance.now() - start;
    expect(ops).toEqual([{ pos: mid + 'const value = compute(alpha, '.length, del: 'beta', ins: 'BETA' }]);
    // Generous bound for a loaded CI machine; the bench measures the real figure.
    expect(ms).toBeLessThan(20);
  });
});

/** The ops of a single-region edit, by a plain char-by-char prefix/suffix scan (no hint). */
function referenceOps(a: string, b: string): TextOp[] {
  if (a === b) return [];
  const min = Math.min(a.length, b.length);
  let p = 0;
  while (p < min && a.charCodeAt(p) === b.charCodeAt(p)) p++;
  if (p > 0 && isHigh(a.charCodeAt(p - 1))) p--;
  let q = 0;
  while (q < min - p && a.charCodeAt(a.length - 1 - q) === b.charCodeAt(b.length - 1 - q)) q++;
  if (q > 0 && a.charCodeAt(a.length - q) >= 0xdc00 && a.charCodeAt(a.length - q) <= 0xdfff) q--;
  return [{ pos: p, del: a.slice(p, a.length - q), ins: b.slice(p, b.length - q) }];
}

describe('diffToOps with a `near` hint', () => {
  it(`finds the same prefix and suffix as a plain scan, whatever the hint (seed ${seed})`, () => {
    const rand = prng(seed + 2);
    // Long texts with one edit anywhere, so the galloping and bisecting searches (not only
    // the final char scan) decide; a hint that is right, near, or anywhere at all.
    const base = Array.from({ length: 400 }, () => randomText(rand, 60)).join('');
    for (let i = 0; i < 300; i++) {
      const start = Math.floor(rand() * [...base].length);
      const cps = [...base];
      cps.splice(start, 0, ...randomText(rand, 40));
      const a = cps.join('');
      const atCp = Math.floor(rand() * cps.length);
      const cut = Math.floor(rand() * 8);
      // "#" is not in the alphabet: one op, which cannot slide. Cut at code points.
      const b = [...cps.slice(0, atCp), '#', ...cps.slice(atCp + cut)].join('');
      const at = cps.slice(0, atCp).join('').length;
      const hints = [undefined, at, at + cut, Math.floor(rand() * a.length), 0, a.length + 5];
      const expected = referenceOps(a, b);
      for (const near of hints) {
        const ops = diffToOps(a, b, { near });
        expect(ops, `case ${i}, near ${near}`).toEqual(expected);
        expect(applyOps(a, ops)).toBe(b);
      }
    }
  });

  it('places an ambiguous insert or delete in a run where the cursor was', () => {
    // Typing "l" into "he|llo": without a hint the insert goes at the end of the run.
    expect(diffToOps('hello', 'helllo')).toEqual([{ pos: 4, del: '', ins: 'l' }]);
    expect(diffToOps('hello', 'helllo', { near: 2 })).toEqual([{ pos: 2, del: '', ins: 'l' }]);
    expect(diffToOps('hello', 'helllo', { near: 3 })).toEqual([{ pos: 3, del: '', ins: 'l' }]);
    // A cursor outside the run: the op moves only as far as the run allows.
    expect(diffToOps('hello', 'helllo', { near: 0 })).toEqual([{ pos: 2, del: '', ins: 'l' }]);
    // Backspace at "aa|ab" deletes the char before the cursor.
    expect(diffToOps('aaab', 'aab', { near: 2 })).toEqual([{ pos: 1, del: 'a', ins: '' }]);
    // Multi-char ops rotate as they move: "ab" typed at 1 in "xabab".
    expect(diffToOps('xabab', 'xababab', { near: 1 })).toEqual([{ pos: 1, del: '', ins: 'ab' }]);
    expect(diffToOps('xababab', 'xabab', { near: 3 })).toEqual([{ pos: 1, del: 'ab', ins: '' }]);
    // Never across a surrogate pair.
    expect(diffToOps('😀😀', '😀😀😀', { near: 0 })).toEqual([{ pos: 4, del: '', ins: '😀' }]);
  });

  it(`round-trips random edits with random hints (seed ${seed})`, () => {
    const rand = prng(seed + 3);
    for (let i = 0; i < 2000; i++) {
      const a = randomText(rand, 60);
      const b = rand() < 0.7 ? mutate(rand, a) : randomText(rand, 60);
      const ops = diffToOps(a, b, { near: Math.floor(rand() * (a.length + 2)) });
      expect(applyOps(a, ops), `case ${i}: ${JSON.stringify(a)} -> ${JSON.stringify(b)}`).toBe(b);
      expectNoSplitPairs(a, ops);
    }
  });
});

describe('applyOps and opsStats', () => {
  it('apply ops in order, each relative to the previous result', () => {
    const ops: TextOp[] = [
      { pos: 0, del: 'a', ins: 'AA' },
      { pos: 3, del: 'c', ins: '' },
    ];
    expect(applyOps('abcd', ops)).toBe('AAbd');
    expect(opsStats(ops)).toEqual({ inserted: 2, deleted: 2 });
  });
});
