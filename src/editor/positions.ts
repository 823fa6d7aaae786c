/**
 * LSP positions (`{line, character}`) and UTF-16 offsets of a text, in the three position
 * encodings of LSP 3.17. Lines end at `\n`, `\r\n` or `\r` (EDITOR-API.md "Positions"): a
 * position is never between the `\r` and `\n` of one line break, and a `character` past the
 * end of its line, or in the middle of a character (a surrogate pair in UTF-16, a multi-byte
 * sequence in UTF-8), is no position at all (the editor is answered with an error).
 */

/** A position encoding an editor may ask for in `initialize`. */
export type PositionEncoding = 'utf-8' | 'utf-16' | 'utf-32';

/** The encodings this server speaks. */
export const POSITION_ENCODINGS: readonly PositionEncoding[] = ['utf-16', 'utf-8', 'utf-32'];

/** `{line, character}`, zero-based. */
export interface Position {
  line: number;
  character: number;
}

/** `{start, end}`, end exclusive. */
export interface Range {
  start: Position;
  end: Position;
}

/** Where each line of a text starts and where its content ends (before its line break). */
export class LineIndex {
  starts: number[] = [0];
  ends: number[] = [];

  constructor(
    readonly text: string,
    /** Made by {@link edited}: the lines are filled in there. */
    empty = false,
  ) {
    if (empty) return;
    scanBreaks(text, 0, text.length, this.starts, this.ends);
    this.ends.push(text.length);
  }

  /**
   * The index of `next`, which is this text with [from, to) replaced by `insert`: lines before
   * and after the change are taken from this one (shifted), only the lines around it are
   * scanned, so a keystroke in a big file costs a copy of two number arrays, not a pass over
   * its text.
   */
  edited(from: number, to: number, insert: string, next: string): LineIndex {
    // One line more on each side: a change can join a `\r` before it with a `\n` after it.
    const k = Math.max(0, this.lineAt(from) - 1);
    const b = this.lineAt(to);
    const tail = b + 2 < this.starts.length ? b + 2 : -1;
    const delta = insert.length - (to - from);
    const out = new LineIndex(next, true);
    out.starts = this.starts.slice(0, k + 1);
    out.ends = this.ends.slice(0, k);
    scanBreaks(next, this.starts[k]!, tail >= 0 ? this.starts[tail]! + delta : next.length, out.starts, out.ends);
    if (tail < 0) {
      out.ends.push(next.length);
      return out;
    }
    for (let i = tail + 1; i < this.starts.length; i++) out.starts.push(this.starts[i]! + delta);
    for (let i = tail; i < this.ends.length; i++) out.ends.push(this.ends[i]! + delta);
    return out;
  }

  /** The line the UTF-16 offset `at` is on. */
  lineAt(at: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  get lineCount(): number {
    return this.starts.length;
  }

  /**
   * The UTF-16 offset of `pos`, or undefined when it is not a position of this text (a line or
   * character out of range, a character inside a code point, non-integers).
   */
  offsetOf(pos: Position, enc: PositionEncoding): number | undefined {
    const { line, character } = pos;
    if (!Number.isSafeInteger(line) || !Number.isSafeInteger(character) || line < 0 || character < 0 || line >= this.starts.length) return undefined;
    const start = this.starts[line]!;
    const end = this.ends[line]!;
    if (enc === 'utf-16') {
      const at = start + character;
      if (at > end) return undefined;
      if (at > start && at < end && isHigh(this.text.charCodeAt(at - 1)) && isLow(this.text.charCodeAt(at))) return undefined;
      return at;
    }
    let units = 0;
    let at = start;
    while (units < character) {
      if (at >= end) return undefined;
      const cp = this.text.codePointAt(at)!;
      const w = cp > 0xffff ? 2 : 1;
      units += enc === 'utf-32' ? 1 : utf8Length(cp);
      at += w;
    }
    return units === character ? at : undefined;
  }

  /** The position of the UTF-16 offset `at` (which must be in the text, not inside a line break). */
  positionOf(at: number, enc: PositionEncoding): Position {
    const lo = this.lineAt(at);
    const start = this.starts[lo]!;
    // Inside a line break (only a `\r\n`'s middle can be): the end of the line's content.
    const to = Math.min(at, this.ends[lo]!);
    return { line: lo, character: unitsBetween(this.text, start, to, enc) };
  }
}

/**
 * Pushes the line breaks that start in [from, end) of `text`: where each ends (the next line's
 * start) to `starts`, where each starts (its line's end) to `ends`. indexOf, not a loop over
 * every unit.
 */
function scanBreaks(text: string, from: number, end: number, starts: number[], ends: number[]): void {
  let n = text.indexOf('\n', from);
  let r = text.indexOf('\r', from);
  if (n >= end) n = -1;
  if (r >= end) r = -1;
  while (n >= 0 || r >= 0) {
    if (r >= 0 && (n < 0 || r < n)) {
      ends.push(r);
      const next = text.charCodeAt(r + 1) === 10 ? r + 2 : r + 1;
      starts.push(next);
      if (next === r + 2) {
        n = text.indexOf('\n', next);
        if (n >= end) n = -1;
      }
      r = text.indexOf('\r', next);
      if (r >= end) r = -1;
    } else {
      ends.push(n);
      starts.push(n + 1);
      n = text.indexOf('\n', n + 1);
      if (n >= end) n = -1;
    }
  }
}

/** How many units of `enc` the text between two UTF-16 offsets has. */
export function unitsBetween(text: string, from: number, to: number, enc: PositionEncoding): number {
  if (enc === 'utf-16') return to - from;
  let n = 0;
  for (let at = from; at < to; ) {
    const cp = text.codePointAt(at)!;
    n += enc === 'utf-32' ? 1 : utf8Length(cp);
    at += cp > 0xffff ? 2 : 1;
  }
  return n;
}

function utf8Length(cp: number): number {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function isLow(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** Is `v` a `{line, character}`? */
export function isPosition(v: unknown): v is Position {
  return typeof v === 'object' && v !== null && typeof (v as Position).line === 'number' && typeof (v as Position).character === 'number';
}

/** Is `v` a `{start, end}` of positions? */
export function isRange(v: unknown): v is Range {
  return typeof v === 'object' && v !== null && isPosition((v as Range).start) && isPosition((v as Range).end);
}
