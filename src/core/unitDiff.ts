/**
 * A bounded diff of two sequences of units (lines or tokens, each mapped to an integer id):
 * which runs of old units were replaced by which runs of new units.
 *
 * Why not plain Myers: Myers costs O((N+M)·D), so a save that touches many places of a large
 * file (a `git pull`, a formatter, a search-and-replace) or a file of many repeated lines
 * would take seconds or more. Giving up and replacing the whole changed span is what made a
 * collaborator's concurrent edits inside it move or come back (issue 14, item 12). So each
 * range of units goes through steps of decreasing precision, all charged to one work budget:
 *
 * 1. the common prefix and suffix of the range are trimmed;
 * 2. Myers (greedy, with its trace kept for the backtrack), abandoned when its work passes an
 *    allowance proportional to the range: when it completes, the result is a minimal diff;
 * 3. else patience anchors: units that occur exactly once on each side, kept in order (a
 *    longest increasing subsequence); the gaps between anchors are ranges again;
 * 4. else (no unique common unit) the range is cut at one common unit near its middle,
 *    matched to its nearest occurrence around the proportional position on the other side,
 *    so repetitive input still splits into halves and the work stays O(n log n);
 * 5. once the budget is spent, a range still to do becomes one hunk as it stands.
 *
 * A hunk never spans an equal unit that a step found, so a hunk is never larger than the
 * region where the two sides actually differ, except in step 5, which the budget (sized by
 * the caller from the input length) keeps for adversarial input.
 */

/** Old units [a0, a1) were replaced by new units [b0, b1) (one side may be empty). */
export interface UnitHunk {
  a0: number;
  a1: number;
  b0: number;
  b1: number;
}

/** Work left for a diff (elementary comparisons), shared by every range and level of it. */
export interface DiffBudget {
  units: number;
}

/** Options of {@link diffUnits}. */
export interface UnitDiffOptions {
  /** Old units (ids below `idCount`). */
  a: Int32Array;
  /** New units (ids below `idCount`). */
  b: Int32Array;
  /** One more than the largest id in `a` and `b`. */
  idCount: number;
  /** Decremented by the work done; a range found with none left becomes one hunk. */
  budget: DiffBudget;
}

/** Work Myers may spend on one range: a base, plus this many units per unit of the range. */
const MYERS_BASE = 20_000;
const MYERS_PER_UNIT = 1;
/** Myers keeps its trace (about D² ints): this caps its memory at 16 MB. */
const MYERS_MAX_WORK = 4_000_000;

/** A range still to diff: old units [a0, a1) against new units [b0, b1). */
type Range = UnitHunk;

/**
 * The hunks that turn `a` into `b`, in order and disjoint; units between hunks are equal.
 * Deterministic for given inputs and budget.
 */
export function diffUnits(opts: UnitDiffOptions): UnitHunk[] {
  const { a, b, budget } = opts;
  const scratch = new Scratch(opts.idCount);
  const hunks: UnitHunk[] = [];
  // Ranges still to do, the leftmost last: hunks come out in order without recursion.
  const todo: Range[] = [{ a0: 0, a1: a.length, b0: 0, b1: b.length }];
  for (let r = todo.pop(); r !== undefined; r = todo.pop()) {
    let { a0, a1, b0, b1 } = r;
    const start = a0;
    while (a0 < a1 && b0 < b1 && a[a0] === b[b0]) {
      a0++;
      b0++;
    }
    while (a1 > a0 && b1 > b0 && a[a1 - 1] === b[b1 - 1]) {
      a1--;
      b1--;
    }
    budget.units -= a0 - start + (r.a1 - a1) + 1;
    if (a0 === a1 && b0 === b1) continue;
    const range = { a0, a1, b0, b1 };
    if (a0 === a1 || b0 === b1 || budget.units <= 0) {
      hunks.push(range);
      continue;
    }
    const size = a1 - a0 + (b1 - b0);
    const allowance = Math.min(budget.units, MYERS_MAX_WORK, MYERS_BASE + MYERS_PER_UNIT * size);
    const exact = myers(a, b, range, allowance, budget);
    if (exact) {
      hunks.push(...exact);
      continue;
    }
    const split = anchors(a, b, range, scratch, budget) ?? bisect(a, b, range, scratch, budget);
    if (!split) {
      hunks.push(range); // nothing in common: the range is one replace
      continue;
    }
    // Equal units (i, j) cut the range into gaps; push them rightmost first.
    let ra1 = a1;
    let rb1 = b1;
    for (let k = split.length - 1; k >= 0; k--) {
      const [i, j] = split[k]!;
      if (i + 1 < ra1 || j + 1 < rb1) todo.push({ a0: i + 1, a1: ra1, b0: j + 1, b1: rb1 });
      ra1 = i;
      rb1 = j;
    }
    if (a0 < ra1 || b0 < rb1) todo.push({ a0, a1: ra1, b0, b1: rb1 });
  }
  return hunks;
}

/**
 * Greedy Myers over `range`, keeping each step's furthest points for the backtrack. Returns
 * the hunks of a minimal diff, or null when the work would pass `allowance` (what it spent
 * is charged to `budget` either way).
 */
function myers(a: Int32Array, b: Int32Array, range: Range, allowance: number, budget: DiffBudget): UnitHunk[] | null {
  const { a0, b0 } = range;
  const n = range.a1 - a0;
  const m = range.b1 - b0;
  // Each step d costs at least 2d+1, so d stays below sqrt(allowance).
  const maxD = Math.min(n + m, Math.ceil(Math.sqrt(allowance)) + 1);
  const off = maxD + 1;
  const v = new Int32Array(2 * maxD + 3);
  const trace: Int32Array[] = [];
  let work = 0;
  for (let d = 0; d <= maxD; d++) {
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[off + k - 1]! < v[off + k + 1]!) ? v[off + k + 1]! : v[off + k - 1]! + 1;
      let y = x - k;
      const x0 = x;
      while (x < n && y < m && a[a0 + x] === b[b0 + y]) {
        x++;
        y++;
      }
      work += 1 + x - x0;
      v[off + k] = x;
      if (x >= n && y >= m) {
        trace.push(v.slice(off - d, off + d + 1));
        budget.units -= work;
        return backtrack(trace, range);
      }
    }
    trace.push(v.slice(off - d, off + d + 1));
    if (work > allowance) break;
  }
  budget.units -= work;
  return null;
}

/** Walks a Myers trace back from the end and merges its single-unit edits into hunks. */
function backtrack(trace: Int32Array[], range: Range): UnitHunk[] {
  const { a0, b0 } = range;
  let x = range.a1 - a0;
  let y = range.b1 - b0;
  // Edits from last to first: [x, y] of the unit deleted (dy = 0) or inserted (dx = 0).
  const edits: Array<[x: number, y: number, del: boolean]> = [];
  for (let d = trace.length - 1; d > 0; d--) {
    const prev = trace[d - 1]!; // diagonals -(d-1) .. d-1, at index k + d - 1
    const k = x - y;
    const down = k === -d || (k !== d && prev[k - 1 + d - 1]! < prev[k + 1 + d - 1]!);
    const pk = down ? k + 1 : k - 1;
    const px = prev[pk + d - 1]!;
    const py = px - pk;
    edits.push(down ? [px, py, false] : [px, py, true]);
    x = px;
    y = py;
  }
  const hunks: UnitHunk[] = [];
  for (let i = edits.length - 1; i >= 0; i--) {
    const [ex, ey, del] = edits[i]!;
    const last = hunks[hunks.length - 1];
    if (last && last.a1 === a0 + ex && last.b1 === b0 + ey) {
      if (del) last.a1++;
      else last.b1++;
    } else hunks.push({ a0: a0 + ex, a1: a0 + ex + (del ? 1 : 0), b0: b0 + ey, b1: b0 + ey + (del ? 0 : 1) });
  }
  return hunks;
}

/**
 * Per-id counters reused by every range of one diff: sized by the id count once, and only
 * the entries a range touched are cleared after it, so a small range costs its own size.
 */
class Scratch {
  readonly countA: Int32Array;
  readonly countB: Int32Array;
  readonly posB: Int32Array;

  constructor(ids: number) {
    this.countA = new Int32Array(ids);
    this.countB = new Int32Array(ids);
    this.posB = new Int32Array(ids);
  }

  count(a: Int32Array, b: Int32Array, range: Range): void {
    for (let i = range.a0; i < range.a1; i++) this.countA[a[i]!]!++;
    for (let j = range.b0; j < range.b1; j++) {
      const id = b[j]!;
      this.countB[id]!++;
      this.posB[id] = j;
    }
  }

  clear(a: Int32Array, b: Int32Array, range: Range): void {
    for (let i = range.a0; i < range.a1; i++) this.countA[a[i]!] = 0;
    for (let j = range.b0; j < range.b1; j++) this.countB[b[j]!] = 0;
  }
}

/**
 * Patience anchors: the pairs (i, j) of units unique on both sides, reduced to the longest
 * run increasing on both sides. Null when there is none.
 */
function anchors(a: Int32Array, b: Int32Array, range: Range, s: Scratch, budget: DiffBudget): Array<[number, number]> | null {
  s.count(a, b, range);
  const pairs: Array<[number, number]> = [];
  for (let i = range.a0; i < range.a1; i++) {
    const id = a[i]!;
    if (s.countA[id] === 1 && s.countB[id] === 1) pairs.push([i, s.posB[id]!]);
  }
  s.clear(a, b, range);
  budget.units -= 2 * (range.a1 - range.a0 + range.b1 - range.b0);
  if (pairs.length === 0) return null;
  budget.units -= pairs.length * Math.ceil(Math.log2(pairs.length + 1));
  return longestIncreasing(pairs);
}

/** The longest subsequence of `pairs` (increasing in [0]) that increases in [1] too. */
function longestIncreasing(pairs: Array<[number, number]>): Array<[number, number]> {
  // Patience sorting: tails[L] is the index of the smallest last j of a run of length L+1.
  const tails: number[] = [];
  const prev = new Int32Array(pairs.length);
  for (let p = 0; p < pairs.length; p++) {
    const j = pairs[p]![1];
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (pairs[tails[mid]!]![1] < j) lo = mid + 1;
      else hi = mid;
    }
    prev[p] = lo > 0 ? tails[lo - 1]! : -1;
    tails[lo] = p;
  }
  const out: Array<[number, number]> = [];
  for (let p = tails[tails.length - 1]!; p >= 0; p = prev[p]!) out.push(pairs[p]!);
  return out.reverse();
}

/**
 * Cuts a range that has no unique common unit: the common unit nearest the middle of the old
 * side, matched to its occurrence nearest the proportional position on the new side. Null
 * when the sides have no unit in common.
 */
function bisect(a: Int32Array, b: Int32Array, range: Range, s: Scratch, budget: DiffBudget): Array<[number, number]> | null {
  const { a0, a1, b0, b1 } = range;
  s.count(a, b, range);
  const mid = (a0 + a1) >> 1;
  let i = -1;
  for (let t = 0; t <= a1 - a0 && i < 0; t++) {
    const lo = mid - t;
    const hi = mid + t;
    if (lo >= a0 && s.countB[a[lo]!]! > 0) i = lo;
    else if (hi < a1 && s.countB[a[hi]!]! > 0) i = hi;
    if (lo < a0 && hi >= a1) break;
  }
  s.clear(a, b, range);
  budget.units -= 2 * (a1 - a0 + b1 - b0);
  if (i < 0) return null;
  const want = a[i]!;
  const target = b0 + Math.min(b1 - b0 - 1, Math.round(((i - a0) * (b1 - b0)) / (a1 - a0)));
  // The unit occurs on the new side (counted above), so this finds it within b1 - b0 steps.
  for (let t = 0; t < b1 - b0; t++) {
    budget.units--;
    if (target - t >= b0 && b[target - t] === want) return [[i, target - t]];
    if (target + t < b1 && b[target + t] === want) return [[i, target + t]];
  }
  return null;
}
