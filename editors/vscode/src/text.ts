/**
 * Text positions and changes as EDITOR-API.md defines them, with no `vscode` import (unit-tested
 * without an editor). Positions are `{line, character}` in UTF-16 code units (the encoding this
 * extension negotiates, VS Code's own); lines break at `\r\n`, `\n` or `\r`.
 */

/** A zero-based position, `character` in UTF-16 code units. */
export interface Position {
  line: number;
  character: number;
}

/** A range, end exclusive. */
export interface Range {
  start: Position;
  end: Position;
}

/** One change of the API: applied to the text the change before it left (as LSP's contentChanges). */
export interface Change {
  range: Range;
  text: string;
}

/** An edit in offsets of one text (several of them do not overlap and are all relative to that text). */
export interface OffsetEdit {
  from: number;
  to: number;
  text: string;
}

/** The offsets where each line of `text` starts (a `\r\n` is one line break). */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 13 /* \r */) {
      if (text.charCodeAt(i + 1) === 10) i++;
      starts.push(i + 1);
    } else if (c === 10 /* \n */) {
      starts.push(i + 1);
    }
  }
  return starts;
}

/** The end of line `line`'s content (before its line break). */
function lineEnd(text: string, starts: readonly number[], line: number): number {
  let end = line + 1 < starts.length ? starts[line + 1]! : text.length;
  if (end > starts[line]! && text.charCodeAt(end - 1) === 10) end--;
  if (end > starts[line]! && text.charCodeAt(end - 1) === 13) end--;
  return end;
}

/**
 * The offset of `pos` in `text`, or undefined when it is outside the text (a line past the end,
 * a character past the line's end). Never inside a `\r\n`.
 */
export function offsetAt(text: string, pos: Position, starts: readonly number[] = lineStarts(text)): number | undefined {
  if (!Number.isInteger(pos.line) || !Number.isInteger(pos.character) || pos.line < 0 || pos.character < 0) return undefined;
  if (pos.line >= starts.length) return undefined;
  const start = starts[pos.line]!;
  const offset = start + pos.character;
  return offset <= lineEnd(text, starts, pos.line) ? offset : undefined;
}

/** The position of `offset` in `text` (an offset inside a `\r\n` counts as before it). */
export function positionAt(text: string, offset: number, starts: readonly number[] = lineStarts(text)): Position {
  const at = Math.max(0, Math.min(offset, text.length));
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= at) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo, character: Math.min(at, lineEnd(text, starts, lo)) - starts[lo]! };
}

/** `text` after the API changes `changes`, applied one after the other; undefined if one is out of range. */
export function applyChanges(text: string, changes: readonly Change[]): string | undefined {
  let out = text;
  for (const c of changes) {
    const starts = lineStarts(out);
    const from = offsetAt(out, c.range.start, starts);
    const to = offsetAt(out, c.range.end, starts);
    if (from === undefined || to === undefined || to < from) return undefined;
    out = out.slice(0, from) + c.text + out.slice(to);
  }
  return out;
}

/** `text` after offset edits that are all relative to it (VS Code's `contentChanges` of one event). */
export function applyOffsetEdits(text: string, edits: readonly OffsetEdit[]): string {
  let out = text;
  for (const e of [...edits].sort((a, b) => b.from - a.from)) out = out.slice(0, e.from) + e.text + out.slice(e.to);
  return out;
}

/** The smallest single edit taking `before` to `after` (common prefix and suffix kept), or undefined if equal. */
export function diffEdit(before: string, after: string): OffsetEdit | undefined {
  if (before === after) return undefined;
  let p = 0;
  const max = Math.min(before.length, after.length);
  while (p < max && before.charCodeAt(p) === after.charCodeAt(p)) p++;
  let s = 0;
  while (s < max - p && before.charCodeAt(before.length - 1 - s) === after.charCodeAt(after.length - 1 - s)) s++;
  // Never split a surrogate pair or a \r\n: widen to whole code points and line breaks.
  const splits = (t: string, i: number) => i > 0 && i < t.length && ((isHigh(t.charCodeAt(i - 1)) && isLow(t.charCodeAt(i))) || (t.charCodeAt(i - 1) === 13 && t.charCodeAt(i) === 10));
  while (p > 0 && (splits(before, p) || splits(after, p))) p--;
  while (s > 0 && (splits(before, before.length - s) || splits(after, after.length - s))) s--;
  return { from: p, to: before.length - s, text: after.slice(p, after.length - s) };
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/**
 * The API's sequential `changes` on `text` as non-overlapping edits all relative to `text`
 * (what one `WorkspaceEdit` takes), and the text they lead to; undefined if a change is out
 * of range. Changes that already go from the end of the document to its start (each one
 * before the one it follows, VS Code's own order) map one to one, keeping the cursors and
 * markers around each change where they were; any other order becomes one minimal edit.
 */
export function planEdits(text: string, changes: readonly Change[]): { edits: OffsetEdit[]; result: string } | undefined {
  const result = applyChanges(text, changes);
  if (result === undefined) return undefined;
  const starts = lineStarts(text);
  const edits: OffsetEdit[] = [];
  let bound = Infinity;
  for (const c of changes) {
    const from = offsetAt(text, c.range.start, starts);
    const to = offsetAt(text, c.range.end, starts);
    // A change that ends after the previous one starts is relative to a text that one changed.
    if (from === undefined || to === undefined || to > bound || (to === bound && edits.length > 0 && from === to)) {
      const one = diffEdit(text, result);
      return { edits: one ? [one] : [], result };
    }
    edits.push({ from, to, text: c.text });
    bound = from;
  }
  return { edits, result };
}

/**
 * VS Code's `contentChanges` of one event (all relative to the text before the event) as API
 * changes applied one after the other: from the last in the document to the first, so that each
 * range is still valid when its turn comes.
 */
export function sequentialChanges(changes: readonly { range: Range; rangeOffset: number; text: string }[]): Change[] {
  return [...changes].sort((a, b) => b.rangeOffset - a.rangeOffset).map((c) => ({ range: c.range, text: c.text }));
}
