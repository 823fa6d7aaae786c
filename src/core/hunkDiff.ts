import fastDiff from 'fast-diff';
import { logger } from './log.js';
import { UnitTable, type UnitLevel, type Units } from './textUnits.js';
import { diffUnits, type DiffBudget, type UnitHunk } from './unitDiff.js';

/**
 * One edit: at UTF-16 offset `pos`, delete the string `del`, then insert `ins`. Ops are
 * applied in order, and each `pos` is relative to the text after the previous ops.
 * Positions never split a surrogate pair. (`textDiff.ts` works in these and re-exports the
 * type; it is defined here, below it, so the two files do not import each other.)
 */
export interface TextOp {
  pos: number;
  del: string;
  ins: string;
}

/**
 * The changed middle of a save (what is left once the common prefix and suffix are cut) as
 * small edits, whatever its size.
 *
 * A small middle is diffed by character directly. A larger one is diffed by line
 * ({@link diffUnits}: Myers, then patience anchors, then bisection, all bounded), and each
 * changed run of lines (a hunk) is refined: by character when small, else by token (words,
 * whitespace runs, single punctuation), whose hunks are refined by character in turn. So a
 * multi-place save (a `git pull`, a search-and-replace) becomes one small edit per place, and
 * a whole-file reformat (indentation, line endings, rewrapping) keeps every token that did
 * not change. When the work budget (proportional to the size of the middle) runs out, what is
 * left degrades to line-level edits (each changed line replaced in place), never to one
 * replace of the whole span: that is what moved or undid a collaborator's concurrent edits
 * inside it (issue 14, item 12).
 */

const log = logger('diff');

/**
 * Two texts are char-diffed (fast-diff's Myers) only when the product of their lengths is at
 * most this: Myers costs O((N+M)·D), and two unrelated 8 KB strings already take a second.
 */
const CHAR_DIFF_CELLS = 1_000_000;

/**
 * Inside a large middle, a changed run is char-diffed only up to this product: past it, a
 * token diff (linear) comes first and only its changed runs are char-diffed.
 */
const HUNK_CHAR_CELLS = 64 * 1024;

/**
 * Two changed runs of lines separated by at most this many equal chars (and by no more than
 * either run holds) are refined as one: a lone "}" or blank line that the line diff matched
 * in between would otherwise split a rewrapped or moved statement into an insert of its
 * text before the match and a delete of it after.
 */
const MERGE_GAP_CHARS = 8;

/**
 * Work for one save: unit comparisons of the line and token diffs, and the length products
 * of the char diffs. A base (so small files always get the full treatment) plus an amount
 * per char of the middle, so the bound on time grows linearly with the file. Measured on a
 * shared 2-core machine (load ~12, bench/diff.ts): 5 places of a 1 MB file 28-45 ms; every
 * line ending of it 190-460 ms (its 15k ops in Yjs included); of a 5 MB file 1.8-2.3 s for
 * the diff, which none of test/core/textDiffLarge.test.ts's inputs spends the budget on.
 */
const UNITS_BASE = 2_000_000;
const UNITS_PER_CHAR = 4;
const CELLS_BASE = 4_000_000;
const CELLS_PER_CHAR = 8;

/** The budget of {@link diffUnits} plus the char diffs' share. */
interface Budget extends DiffBudget {
  cells: number;
}

type Level = UnitLevel;

/** Collects ops while walking both texts left to right; `pos` is where the next op goes. */
class OpSink {
  readonly ops: TextOp[] = [];

  constructor(public pos: number) {}

  keep(len: number): void {
    this.pos += len;
  }

  replace(del: string, ins: string): void {
    if (del.length === 0 && ins.length === 0) return;
    this.ops.push({ pos: this.pos, del, ins });
    this.pos += ins.length;
  }
}

/** What the diff of a large middle spent, against its budget (see {@link diffMiddle}). */
export interface MiddleDiffStats {
  /** Unit comparisons of the line and token diffs, and what they were allowed. */
  units: number;
  unitBudget: number;
  /** Length products of the char diffs, and what they were allowed. */
  cells: number;
  cellBudget: number;
  /** The unit budget ran out: part of the middle was diffed coarsely (by whole lines). */
  exhausted: boolean;
}

/** Options of {@link diffMiddle}. */
export interface MiddleDiffOptions {
  oldMid: string;
  newMid: string;
  /** Where the middle starts in the text: the first op's position is at least this. */
  offset: number;
  /** Multiplies the budget (default 1); tests use a tiny one to reach the degraded mode. */
  budgetScale?: number | undefined;
  /** Filled in when the middle is too large for one char diff. */
  stats?: MiddleDiffStats | undefined;
}

/**
 * The ops turning `oldMid` into `newMid`, in order of position. Both texts start and end on
 * code point boundaries; no op splits a surrogate pair.
 */
export function diffMiddle(opts: MiddleDiffOptions): TextOp[] {
  const { oldMid, newMid } = opts;
  const sink = new OpSink(opts.offset);
  // Whole lines on both sides (see `diffToOps`) go by lines first, however small: edits then
  // keep to the lines they change, and merge with a collaborator's as lines do.
  if (oldMid.length * newMid.length <= CHAR_DIFF_CELLS && !(oldMid.includes('\n') && newMid.includes('\n'))) {
    charOps(oldMid, newMid, sink);
    return sink.ops;
  }
  const size = oldMid.length + newMid.length;
  const scale = opts.budgetScale ?? 1;
  const unitBudget = Math.floor((UNITS_BASE + UNITS_PER_CHAR * size) * scale);
  const cellBudget = Math.floor((CELLS_BASE + CELLS_PER_CHAR * size) * scale);
  const budget: Budget = { units: unitBudget, cells: cellBudget };
  diffBy('line', oldMid, newMid, sink, budget);
  log('middle of %d -> %d chars: %d ops; units %d of %d, cells %d of %d%s', oldMid.length, newMid.length, sink.ops.length, unitBudget - budget.units, unitBudget, cellBudget - budget.cells, cellBudget, budget.units <= 0 ? ' (budget spent: line-level edits)' : '');
  if (opts.stats) {
    Object.assign(opts.stats, { units: unitBudget - budget.units, unitBudget, cells: cellBudget - budget.cells, cellBudget, exhausted: budget.units <= 0 });
  }
  return sink.ops;
}

/** Diffs `a` -> `b` cut into units of `level`, refining each changed run of units. */
function diffBy(level: Level, a: string, b: string, sink: OpSink, budget: Budget): void {
  const table = new UnitTable();
  const ua = table.cut(a, level);
  const ub = table.cut(b, level);
  const hunks = mergeClose(diffUnits({ a: ua.ids, b: ub.ids, idCount: table.size, budget }), ua, ub);
  let done = 0; // old units before this are handled
  for (const h of hunks) {
    sink.keep(ua.starts[h.a0]! - ua.starts[done]!);
    refine(level, a.slice(ua.starts[h.a0], ua.starts[h.a1]), b.slice(ub.starts[h.b0], ub.starts[h.b1]), sink, budget);
    done = h.a1;
  }
  sink.keep(a.length - ua.starts[done]!);
}

/** Merges hunks whose equal gap is short next to them (see {@link MERGE_GAP_CHARS}). */
function mergeClose(hunks: UnitHunk[], ua: Units, ub: Units): UnitHunk[] {
  const out: UnitHunk[] = [];
  const chars = (h: UnitHunk): number => ua.starts[h.a1]! - ua.starts[h.a0]! + ub.starts[h.b1]! - ub.starts[h.b0]!;
  for (const h of hunks) {
    const last = out[out.length - 1];
    const gap = last ? ua.starts[h.a0]! - ua.starts[last.a1]! : Infinity;
    if (last && gap <= MERGE_GAP_CHARS && gap <= Math.min(chars(last), chars(h))) {
      last.a1 = h.a1;
      last.b1 = h.b1;
    } else out.push({ ...h });
  }
  return out;
}

/** Turns one changed run of units into ops, as finely as the budget allows. */
function refine(level: Level, del: string, ins: string, sink: OpSink, budget: Budget): void {
  if (del.length === 0 || ins.length === 0) return sink.replace(del, ins);
  const cells = del.length * ins.length;
  if (cells <= HUNK_CHAR_CELLS && cells <= budget.cells) {
    budget.cells -= cells;
    return charOps(del, ins, sink);
  }
  if (budget.units <= 0) return pairLines(del, ins, sink);
  // A large token hunk has no token in common with its counterpart: it is one replace.
  if (level === 'token') return sink.replace(del, ins);
  diffBy('token', del, ins, sink, budget);
}

/**
 * The degraded mode once the budget is spent: the lines of `del` and `ins` are paired in
 * order, each pair that differs is replaced in place, and lines without a partner are one
 * insert or delete at the end. Coarse, but every op stays within a line (or the surplus).
 */
function pairLines(del: string, ins: string, sink: OpSink): void {
  const la = splitLines(del);
  const lb = splitLines(ins);
  const paired = Math.min(la.length, lb.length);
  for (let t = 0; t < paired; t++) {
    if (la[t] === lb[t]) sink.keep(la[t]!.length);
    else sink.replace(la[t]!, lb[t]!);
  }
  sink.replace(la.slice(paired).join(''), lb.slice(paired).join(''));
}

/** Char-level Myers diff of `a` -> `b`: each delete/insert run between equal runs is one op. */
function charOps(a: string, b: string, sink: OpSink): void {
  let del = '';
  let ins = '';
  // fast-diff's top-level call shifts edits so that they never split a surrogate pair.
  for (const [kind, str] of fastDiff(a, b)) {
    if (kind === fastDiff.EQUAL) {
      sink.replace(del, ins);
      del = ins = '';
      sink.keep(str.length);
    } else if (kind === fastDiff.DELETE) del += str;
    else ins += str;
  }
  sink.replace(del, ins);
}

/** Splits after every newline; the last line may lack one. */
function splitLines(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
    out.push(text.slice(start, nl + 1));
    start = nl + 1;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}
