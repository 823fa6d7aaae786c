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
  readonly starts: number[] = [0];
  readonly ends: number[] = [];

  constructor(readonly text: string) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10 /* \n */) {
        this.ends.push(i);
        this.starts.push(i + 1);
      } else if (c === 13 /* \r */) {
        this.ends.push(i);
        if (text.charCodeAt(i + 1) === 10) i++;
        this.starts.push(i + 1);
      }
    }
    this.ends.push(text.length);
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
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    const start = this.starts[lo]!;
    // Inside a line break (only a `\r\n`'s middle can be): the end of the line's content.
    const to = Math.min(at, this.ends[lo]!);
    return { line: lo, character: unitsBetween(this.text, start, to, enc) };
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
