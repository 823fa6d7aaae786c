/**
 * Cutting texts into units (lines or tokens) numbered so that equal units get equal ids,
 * for {@link diffUnits}.
 *
 * A 5 MB save can hold a million tokens. Slicing each into a string and looking it up in a
 * Map cost more than the diff itself (profiled: 30% of a line-ending change of a 1 MB file,
 * plus the garbage collection of the slices), so units are hashed in place and kept in an
 * open-addressing table that compares a candidate's chars directly: no string per unit.
 */

/** What a text is cut into: lines (each with its newline) or tokens. */
export type UnitLevel = 'line' | 'token';

/** A text cut into units: `ids[k]` is unit k's id, which spans [starts[k], starts[k + 1]). */
export interface Units {
  ids: Int32Array;
  starts: Int32Array;
}

/** Word chars: ASCII letters, digits, `_`, `$`, and everything past ASCII (so pairs stay whole). */
function isWord(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x24 || c >= 0x80;
}

/** ASCII whitespace other than the newline. */
function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0b || c === 0x0c;
}

/**
 * End of the token at `i`: a run of word chars, a run of blanks up to and including a
 * newline (so "\r\n" and trailing spaces end a line's token, and indentation starts the
 * next line's), or one other char. Token ends are ASCII boundaries or the ends of runs of
 * non-ASCII chars, so they never fall inside a surrogate pair.
 */
function tokenEnd(text: string, i: number): number {
  const n = text.length;
  const c = text.charCodeAt(i);
  let j = i + 1;
  if (isWord(c)) {
    while (j < n && isWord(text.charCodeAt(j))) j++;
  } else if (isBlank(c)) {
    while (j < n && isBlank(text.charCodeAt(j))) j++;
    if (j < n && text.charCodeAt(j) === 0x0a) j++;
  }
  return j;
}

/**
 * Numbers distinct units across the texts it has cut: `texts[t]` with `starts`/`ends` of each
 * id's first occurrence, and a table of `hashes` probed linearly.
 */
export class UnitTable {
  private readonly texts: string[] = [];
  private slots = new Int32Array(1 << 10); // id + 1, 0 when empty
  private hashes = new Int32Array(1 << 9);
  private owner = new Int32Array(1 << 9);
  private begin = new Int32Array(1 << 9);
  private end = new Int32Array(1 << 9);
  /** Number of distinct units seen: every id is below it. */
  size = 0;

  /** Cuts `text` into units of `level`. */
  cut(text: string, level: UnitLevel): Units {
    const t = this.texts.length;
    this.texts.push(text);
    let ids = new Int32Array(16);
    let starts = new Int32Array(17);
    let count = 0;
    for (let i = 0; i < text.length; ) {
      let e: number;
      if (level === 'line') {
        const nl = text.indexOf('\n', i);
        e = nl < 0 ? text.length : nl + 1;
      } else e = tokenEnd(text, i);
      if (count + 1 >= ids.length) {
        ids = grow(ids, count);
        starts = grow(starts, count + 1);
      }
      ids[count] = this.intern(t, text, i, e);
      starts[++count] = e;
      i = e;
    }
    return { ids: ids.subarray(0, count), starts: starts.subarray(0, count + 1) };
  }

  /** The id of text[i, e) (of text number `t`), assigning the next one if it is new. */
  private intern(t: number, text: string, i: number, e: number): number {
    let h = 0x811c9dc5 ^ (e - i);
    for (let k = i; k < e; k++) h = Math.imul(h ^ text.charCodeAt(k), 0x01000193);
    h ^= h >>> 15;
    const mask = this.slots.length - 1;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const slot = this.slots[s]!;
      if (slot === 0) {
        const id = this.add(t, i, e, h);
        this.slots[s] = id + 1;
        if (this.size * 2 > this.slots.length) this.rehash();
        return id;
      }
      const id = slot - 1;
      if (this.hashes[id] === h && this.same(id, text, i, e)) return id;
    }
  }

  private same(id: number, text: string, i: number, e: number): boolean {
    const b = this.begin[id]!;
    if (this.end[id]! - b !== e - i) return false;
    const other = this.texts[this.owner[id]!]!;
    for (let k = 0; k < e - i; k++) if (other.charCodeAt(b + k) !== text.charCodeAt(i + k)) return false;
    return true;
  }

  private add(t: number, i: number, e: number, h: number): number {
    const id = this.size++;
    if (id >= this.hashes.length) {
      this.hashes = grow(this.hashes, id);
      this.owner = grow(this.owner, id);
      this.begin = grow(this.begin, id);
      this.end = grow(this.end, id);
    }
    this.hashes[id] = h;
    this.owner[id] = t;
    this.begin[id] = i;
    this.end[id] = e;
    return id;
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let id = 0; id < this.size; id++) {
      let s = this.hashes[id]! & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = id + 1;
    }
    this.slots = slots;
  }
}

/** A copy of `arr` twice as long, keeping its first `used` entries. */
function grow(arr: Int32Array, used: number): Int32Array<ArrayBuffer> {
  const next = new Int32Array(arr.length * 2);
  next.set(arr.subarray(0, used));
  return next;
}
