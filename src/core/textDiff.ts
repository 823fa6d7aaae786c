import { diffMiddle, type MiddleDiffStats, type TextOp } from './hunkDiff.js';

export type { MiddleDiffStats } from './hunkDiff.js';

/**
 * Text diffs as CRDT-ready operations.
 *
 * A save is turned into inserts/deletes against the last synced text. Most saves change one
 * small region of a possibly large file, so the work is dominated by finding the common
 * prefix and suffix: that is done with chunked string comparisons (which V8 runs as memcmp
 * over flat strings) instead of a character loop, so a one-line change in a 1 MB file costs
 * well under a millisecond. The changed middle between them goes to {@link diffMiddle}: by
 * character when small, else by line, then by token and character inside each changed run of
 * lines, within a work budget that degrades to line-level edits. A save is never recorded as
 * one replace of the whole span between its first and last change, which would undo or move
 * a collaborator's concurrent edits inside that span.
 */

export type { TextOp } from './hunkDiff.js';

/** Compare runs shorter than this char by char: below it, slicing costs more than it saves. */
const SCAN_CHARS = 32;

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/**
 * Length of the common prefix of `a` and `b`, at most `limit`.
 *
 * Cost model: V8 compares two flat strings with an early exit, so `a.slice(i, j) ===
 * b.slice(i, j)` costs `j - i` when equal and only up to the first difference when not. With
 * a hint `near` (where the change is expected), one comparison of everything before it
 * usually settles most of the prefix, for about `prefix` chars compared in all. Without one
 * (or when the hint is wrong), the search gallops forward with doubling chunks while they
 * are equal, then bisects the first unequal chunk: under 2 x `prefix` chars compared, in a
 * few dozen native comparisons. The result does not depend on the hint.
 */
function commonPrefix(a: string, b: string, limit: number, near: number): number {
  let lo = 0;
  let hi = limit;
  // Invariant: a[0, lo) === b[0, lo), and a mismatch lies in [lo, hi) unless lo === limit.
  let bounded = false;
  const guess = Math.min(near - SCAN_CHARS, limit);
  if (guess > SCAN_CHARS) {
    if (a.slice(0, guess) === b.slice(0, guess)) lo = guess;
    else {
      hi = guess;
      bounded = true;
    }
  }
  if (!bounded) {
    let step = SCAN_CHARS;
    while (lo < limit) {
      const end = Math.min(lo + step, limit);
      if (a.slice(lo, end) === b.slice(lo, end)) {
        lo = end;
        step *= 2;
      } else {
        hi = end;
        break;
      }
    }
  }
  while (hi - lo > SCAN_CHARS) {
    const mid = lo + ((hi - lo) >> 1);
    if (a.slice(lo, mid) === b.slice(lo, mid)) lo = mid;
    else hi = mid;
  }
  while (lo < hi && a.charCodeAt(lo) === b.charCodeAt(lo)) lo++;
  return lo;
}

/**
 * Length of the common suffix of `a` and `b`, at most `limit` (what the prefix left).
 *
 * Compared from the end, a failing comparison stops where the slice reaches into the change,
 * so it is cheap when its length is close to the answer. Most saves change one region, so
 * the suffix is usually `limit` (a pure insert or delete: one comparison) or just under it
 * (a replace): the search tries `limit`, then gallops downward from it with doubling steps
 * until a length matches, then bisects. About `suffix` plus a few x (`limit` - `suffix`)
 * chars compared in all.
 */
function commonSuffix(a: string, b: string, limit: number): number {
  const la = a.length;
  const lb = b.length;
  if (limit === 0 || a.slice(la - limit) === b.slice(lb - limit)) return limit;
  // Invariant: the last `lo` chars are equal, and the suffix is shorter than `hi`.
  let lo = 0;
  let hi = limit;
  let step = SCAN_CHARS;
  while (hi > SCAN_CHARS) {
    const k = Math.max(hi - step, 0);
    if (a.slice(la - k) === b.slice(lb - k)) {
      lo = k;
      break;
    }
    hi = k;
    step *= 2;
  }
  while (hi - lo > SCAN_CHARS) {
    const mid = lo + ((hi - lo) >> 1);
    if (a.slice(la - mid, la - lo) === b.slice(lb - mid, lb - lo)) lo = mid;
    else hi = mid;
  }
  while (lo < hi && a.charCodeAt(la - 1 - lo) === b.charCodeAt(lb - 1 - lo)) lo++;
  return lo;
}

/** Options of {@link diffToOps}. */
export interface DiffOptions {
  /**
   * UTF-16 offset in `oldText` where the change probably is: where the previous change of
   * the same author ended (its cursor). It makes finding the change cheaper, and it places
   * an ambiguous edit: a pure insert or delete inside a run of repeated text (typing "l"
   * into "hel|lo") could sit anywhere in the run, and is put where the cursor was (an
   * insert at `near`, a delete ending at `near`, as backspace does) rather than at the end
   * of the run. That keeps a typist's consecutive characters adjacent, so Yjs stores them
   * as one item and merges concurrent edits the way they were typed. Otherwise the ops do
   * not depend on it.
   */
  near?: number;
  /**
   * Multiplies the work budget of a large middle (default 1). Tests set a tiny one to
   * exercise the degraded, line-level mode.
   */
  budgetScale?: number;
  /** Filled with the work a large middle cost, against its budget (tests, benchmarks). */
  stats?: MiddleDiffStats;
}

/**
 * Moves a pure insert (`ins`) or delete (`del`) at `pos` in `text` left, toward `target`,
 * while it stays the same edit: one step left is equivalent when the char before `pos`
 * equals the op's last char. Never crosses a surrogate, so no pair is split.
 */
function slideLeft(text: string, op: TextOp, target: number): TextOp {
  const moved = op.ins.length > 0 ? op.ins : op.del;
  const len = moved.length;
  const pos = op.pos;
  let k = 0;
  while (pos - k > target) {
    const before = text.charCodeAt(pos - 1 - k);
    if (before >= 0xd800 && before <= 0xdfff) break;
    // The op's last char after k steps: `moved` shifted right by k within text[pos-k, pos) + moved.
    const last = k < len ? moved.charCodeAt(len - 1 - k) : text.charCodeAt(pos - k + len - 1);
    if (before !== last) break;
    k++;
  }
  if (k === 0) return op;
  const shifted = (text.slice(pos - k, pos) + moved).slice(0, len);
  return op.ins.length > 0 ? { pos: pos - k, del: '', ins: shifted } : { pos: pos - k, del: shifted, ins: '' };
}

/**
 * The inserts/deletes that turn `oldText` into `newText`: the common prefix and suffix are
 * kept, and the middle is diffed into small edits ({@link diffMiddle}), in order, each
 * positioned in the text left by the previous ones, and ordered by position (each starts at or
 * after where the previous one's insert ended). Returns `[]` when the texts are equal. Never
 * splits a surrogate pair, so the ops can be applied to a Yjs text without corrupting
 * characters outside the BMP.
 */
export function diffToOps(oldText: string, newText: string, opts?: DiffOptions): TextOp[] {
  if (oldText === newText) return [];
  const near = opts?.near;
  const minLen = Math.min(oldText.length, newText.length);
  let prefix = commonPrefix(oldText, newText, minLen, near ?? 0);
  // The prefix must not end between the halves of a pair (both texts share that high half).
  if (prefix > 0 && isHighSurrogate(oldText.charCodeAt(prefix - 1))) prefix--;
  let suffix = commonSuffix(oldText, newText, minLen - prefix);
  if (suffix > 0 && isLowSurrogate(oldText.charCodeAt(oldText.length - suffix))) suffix--;

  let oldMid = oldText.slice(prefix, oldText.length - suffix);
  let newMid = newText.slice(prefix, newText.length - suffix);
  if (oldMid.length > 0 && newMid.length > 0 && (oldMid.includes('\n') || newMid.includes('\n'))) {
    // A change across lines is diffed from whole lines: cut mid-line, the line diff would
    // pair the wrong lines ("2\nline 3" -> "3\nALICE" for a deleted line 2 and a line added
    // after line 3), and the edits would merge with a collaborator's by character, not line.
    if (prefix > 0) prefix = oldText.lastIndexOf('\n', prefix - 1) + 1;
    const end = oldText.length - suffix;
    if (end > 0 && oldText.charCodeAt(end - 1) !== 10) {
      const nl = oldText.indexOf('\n', end);
      suffix = nl < 0 ? 0 : oldText.length - nl - 1;
    }
    oldMid = oldText.slice(prefix, oldText.length - suffix);
    newMid = newText.slice(prefix, newText.length - suffix);
  }
  if (oldMid.length === 0 || newMid.length === 0) {
    const op = { pos: prefix, del: oldMid, ins: newMid };
    // The prefix is maximal, so the op is at the right end of the places it could go.
    if (near === undefined) return [alignToLines(oldText, op)];
    return [slideLeft(oldText, op, Math.max(0, newMid.length > 0 ? near : near - oldMid.length))];
  }
  return diffMiddle({ oldMid, newMid, offset: prefix, budgetScale: opts?.budgetScale, stats: opts?.stats });
}

/**
 * A pure insert or delete of whole lines, placed where it starts a line: of the places a run
 * like `3\nline 4\nline ` could go (after "line "), the one that is `line 3\nline 4\n`. Where
 * the op goes decides how it merges with a concurrent edit next to it (an insert by someone
 * else at the end of "line 2" stays on its line), and it is how a person reads the change.
 * Only slides left (the op given is at its rightmost place), never past the text it follows.
 */
function alignToLines(text: string, op: TextOp): TextOp {
  const t = op.del.length > 0 ? op.del : op.ins;
  if ((op.del.length > 0 && op.ins.length > 0) || !t.includes('\n')) return op;
  if ((op.pos === 0 || text.charCodeAt(op.pos - 1) === 10) && t.charCodeAt(t.length - 1) === 10) return op;
  for (let k = 1; k <= t.length && k <= op.pos; k++) {
    if (text.charCodeAt(op.pos - k) !== t.charCodeAt(t.length - k)) break; // cannot slide further
    const p = op.pos - k;
    if (t.charCodeAt(t.length - k - 1) === 10 && (p === 0 || text.charCodeAt(p - 1) === 10) && !isLowSurrogate(text.charCodeAt(p))) {
      const moved = text.slice(p, op.pos) + t.slice(0, t.length - k);
      return op.del.length > 0 ? { pos: p, del: moved, ins: '' } : { pos: p, del: '', ins: moved };
    }
  }
  return op;
}

/** Applies `ops` (as produced by {@link diffToOps}) to `text`. */
export function applyOps(text: string, ops: readonly TextOp[]): string {
  let out = text;
  for (const op of ops) out = out.slice(0, op.pos) + op.ins + out.slice(op.pos + op.del.length);
  return out;
}

/** How much `ops` insert and delete, in UTF-16 code units (the unit of every other count in cshare). */
export function opsStats(ops: readonly TextOp[]): { inserted: number; deleted: number } {
  let inserted = 0;
  let deleted = 0;
  for (const op of ops) {
    inserted += op.ins.length;
    deleted += op.del.length;
  }
  return { inserted, deleted };
}
