/**
 * Large saves through diffToOps (issue 14, item 12): whatever the size of the span between
 * a save's first and last change, the save is recorded as small edits where the text
 * changed, never as one replace of the span.
 */
import { describe, expect, it } from 'vitest';
import { prng } from '../helpers/largeSource.js';
import { diffToOps, opsStats, type MiddleDiffStats, type TextOp } from '../../src/core/textDiff.js';

const seed = Number(process.env.CSHARE_SEED ?? 0x5eed);

const WORDS = ['int', 'return', 'if', 'for', '(', ')', '{', ';', 'x', 'count', 'buffer', '=', '+', '0', 'static', 'void', 'é', '中', '😀'];

/**
 * A C-like file of about `bytes` chars: numbered statement lines (so most lines are unique),
 * with the repeated lines real code has ("}", blank lines) and astral characters.
 */
function codeLines(rand: () => number, bytes: number): string[] {
  const lines: string[] = [];
  for (let size = 0, i = 0; size < bytes; i++) {
    const r = rand();
    let line: string;
    if (r < 0.08) line = '}\n';
    else if (r < 0.16) line = '\n';
    else {
      line = '  '.repeat(i % 4);
      for (let k = 3 + Math.floor(rand() * 8); k > 0; k--) line += `${WORDS[Math.floor(rand() * WORDS.length)]} `;
      line += `/* ${i} */\n`;
    }
    lines.push(line);
    size += line.length;
  }
  return lines;
}

/** An op moved back to the coordinates of the text before the save. */
interface OldSpan {
  start: number;
  end: number;
  op: TextOp;
}

/**
 * Applies `ops` in one pass (applyOps is quadratic over a hundred thousand ops), asserting
 * on the way that they are ordered, that each deletes what the text holds there, and that
 * none cuts a surrogate pair. Returns the new text and each op's span in the old text.
 */
function applyChecked(text: string, ops: TextOp[]): { text: string; spans: OldSpan[] } {
  const parts: string[] = [];
  const spans: OldSpan[] = [];
  let from = 0;
  let shift = 0;
  const cutsPair = (i: number): boolean => i > 0 && i < text.length && text.charCodeAt(i - 1) >= 0xd800 && text.charCodeAt(i - 1) <= 0xdbff;
  for (const op of ops) {
    const start = op.pos - shift;
    const end = start + op.del.length;
    if (start < from) throw new Error(`op at ${op.pos} is before the previous op's end`);
    if (text.slice(start, end) !== op.del) throw new Error(`op at ${op.pos} deletes text that is not there`);
    if (cutsPair(start) || cutsPair(end)) throw new Error(`op at ${op.pos} splits a surrogate pair`);
    parts.push(text.slice(from, start), op.ins);
    spans.push({ start, end, op });
    from = end;
    shift += op.ins.length - op.del.length;
  }
  parts.push(text.slice(from));
  return { text: parts.join(''), spans };
}

/** Offsets where each line of `lines` starts, plus the total length. */
function lineStarts(lines: string[]): number[] {
  const out = [0];
  for (const l of lines) out.push(out[out.length - 1]! + l.length);
  return out;
}

/**
 * `count` edits at evenly spread lines (far apart): a word changed in a line, two lines
 * inserted, or a line deleted. Returns the new text and, per edit, the old span it may
 * touch: its line and the lines on either side (a diff may attach an inserted line to
 * either neighbour), and the run of lines equal to it.
 */
function scatteredEdits(lines: string[], count: number): { text: string; sites: Array<[number, number]> } {
  const starts = lineStarts(lines);
  const out = lines.slice();
  const sites: Array<[number, number]> = [];
  const step = Math.floor(lines.length / (count + 1));
  for (let e = 1; e <= count; e++) {
    const at = e * step;
    const kind = e % 3;
    if (kind === 0) out[at] = lines[at]!.length > 2 ? lines[at]!.replace(/\/\* (\d+) \*\//, '/* edited $1 */') : `  changed_${e}();\n`;
    else if (kind === 1) out[at] = `  inserted_${e}(a, b);\n  assert(ok_${e});\n${lines[at]}`;
    else out[at] = '';
    if (out[at] === lines[at]) throw new Error('the generator made a no-op edit');
    // A deleted line may be any of a run of equal lines around it.
    let lo = at - 1;
    let hi = at + 1;
    while (lo > 0 && lines[lo] === lines[at]) lo--;
    while (hi < lines.length - 1 && lines[hi] === lines[at]) hi++;
    sites.push([starts[lo]!, starts[hi + 1]!]);
  }
  return { text: out.join(''), sites };
}

/** Asserts that every op lies inside one site, and that every site got at least one op. */
function expectOpsInSites(spans: OldSpan[], sites: Array<[number, number]>): void {
  const hit = new Set<number>();
  for (const { start, end, op } of spans) {
    const site = sites.findIndex(([s, e]) => start >= s && end <= e);
    expect(site, `op ${JSON.stringify(op).slice(0, 120)} at old ${start}..${end} is outside every edited place`).toBeGreaterThanOrEqual(0);
    hit.add(site);
  }
  expect(hit.size).toBe(sites.length);
}

/** The longest line of `text` (with its newline). */
function longestLine(text: string): number {
  let max = 0;
  for (let start = 0; start < text.length; ) {
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : nl + 1;
    max = Math.max(max, end - start);
    start = end;
  }
  return max;
}

function newStats(): MiddleDiffStats {
  return { units: 0, unitBudget: 0, cells: 0, cellBudget: 0, exhausted: false };
}

describe('diffToOps on large saves', () => {
  it.each([
    [0.5, 5],
    [1, 40],
    [5, 2000],
  ])(`a %f MB file with %i edits far apart: one small op per place, within budget (seed ${seed})`, (mb, count) => {
    const rand = prng(seed + count);
    const lines = codeLines(rand, mb * 1_000_000);
    const a = lines.join('');
    const { text: b, sites } = scatteredEdits(lines, count);
    const stats = newStats();
    const ops = diffToOps(a, b, { stats });
    const { text, spans } = applyChecked(a, ops);
    expect(text === b).toBe(true);
    expectOpsInSites(spans, sites);
    // No op is larger than the lines of its place, so the whole span was not replaced.
    const siteSizes = sites.map(([s, e]) => e - s);
    expect(Math.max(...ops.map((op) => op.del.length))).toBeLessThanOrEqual(Math.max(...siteSizes));
    expect(opsStats(ops).deleted).toBeLessThan(siteSizes.reduce((x, y) => x + y, 0));
    expect(stats.exhausted).toBe(false);
    expect(stats.units).toBeLessThanOrEqual(stats.unitBudget);
  });

  it.each([
    ['line endings to CRLF', (a: string) => a.replaceAll('\n', '\r\n')],
    ['reindent with tabs', (a: string) => a.replace(/^(?: {2})+/gm, (s) => '\t'.repeat(s.length / 2))],
    ['rewrap: lines joined to the next unindented one', (a: string) => a.replace(/( \/\* \d+ \*\/)\n(?=\S)/g, '$1 ')],
    ['search and replace of a common word', (a: string) => a.replaceAll('count', 'total_count')],
  ])(`a whole-file reformat of 2 MB (%s): every op within a line (seed ${seed})`, (_name, reformat) => {
    const lines = codeLines(prng(seed + 7), 2_000_000);
    const a = lines.join('');
    const b = reformat(a);
    expect(b).not.toBe(a);
    const stats = newStats();
    const ops = diffToOps(a, b, { stats });
    expect(applyChecked(a, ops).text === b).toBe(true);
    const bound = Math.max(longestLine(a), longestLine(b));
    for (const op of ops) expect(op.del.length + op.ins.length, JSON.stringify(op)).toBeLessThanOrEqual(bound);
    // What changed is small next to the file: the tokens that did not change are kept.
    const { inserted, deleted } = opsStats(ops);
    expect(inserted + deleted).toBeLessThan((a.length + b.length) / 4);
    expect(stats.exhausted).toBe(false);
  });

  it(`a 5 MB file of one repeated line with lines inserted at 2000 places: small ops, in order (seed ${seed})`, () => {
    const rand = prng(seed + 11);
    const n = 2_500_000;
    const a = 'x\n'.repeat(n);
    const at = Array.from({ length: 2000 }, () => Math.floor(rand() * n)).sort((p, q) => p - q);
    const parts: string[] = [];
    let prev = 0;
    at.forEach((line, k) => {
      parts.push('x\n'.repeat(line - prev), `y${k % 3}\n`);
      prev = line;
    });
    parts.push('x\n'.repeat(n - prev));
    const b = parts.join('');
    const stats = newStats();
    const ops = diffToOps(a, b, { stats });
    expect(applyChecked(a, ops).text === b).toBe(true);
    // Repeated lines leave the alignment ambiguous: the bisection may shift a run of x lines
    // by a few, but every op stays a few lines long and the total stays near the inserts.
    for (const op of ops) expect(op.del.length + op.ins.length).toBeLessThanOrEqual(40);
    expect(opsStats(ops).inserted).toBeLessThan(4 * 2000 * 3);
    expect(stats.units).toBeLessThanOrEqual(stats.unitBudget + a.length);
  });

  it(`with the budget spent, degrades to line-level edits, never to one replace (seed ${seed})`, () => {
    const rand = prng(seed + 13);
    const lines = codeLines(rand, 1_000_000);
    const a = lines.join('');
    const b = lines.map((l, i) => (i % 50 === 3 ? l.replace(/\n$/, ' // edited\n') : l)).join('');
    const stats = newStats();
    const ops = diffToOps(a, b, { stats, budgetScale: 0.0001 });
    expect(stats.exhausted).toBe(true);
    const { text, spans } = applyChecked(a, ops);
    expect(text === b).toBe(true);
    const starts = lineStarts(lines);
    // Every op is inside one old line (the changed lines, replaced in place).
    let line = 0;
    for (const { start, end } of spans) {
      while (starts[line + 1]! <= start) line++;
      expect(end).toBeLessThanOrEqual(starts[line + 1]!);
    }
    expect(ops.length).toBe(Math.ceil((lines.length - 3) / 50));
  });

  it(`round-trips random mid-size texts through the line and token levels (seed ${seed})`, () => {
    const rand = prng(seed + 17);
    const alphabet = ['a', 'b', ' ', '\n', '\n', '(', 'é', '😀', '\r\n', 'word '];
    const randomText = (len: number): string => Array.from({ length: len }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');
    for (let i = 0; i < 40; i++) {
      const a = randomText(2000 + Math.floor(rand() * 6000));
      const cps = [...a];
      for (let e = 0; e < 1 + Math.floor(rand() * 30); e++) {
        const pos = Math.floor(rand() * (cps.length + 1));
        cps.splice(pos, Math.floor(rand() * 20), ...[...randomText(Math.floor(rand() * 20))]);
      }
      const b = rand() < 0.2 ? randomText(3000) : cps.join('');
      const ops = diffToOps(a, b, { budgetScale: rand() < 0.3 ? 0.001 : 1 });
      expect(applyChecked(a, ops).text, `case ${i}`).toBe(b);
    }
  });
});
