/**
 * Whole-document text operations and their transform: what the editor server uses to keep an
 * editor's buffer and the replica's document apart while both change at once (see
 * `EditorDoc.ts`). Positions are UTF-16 code units, as in `TextOp` and `TextEdit`.
 *
 * An operation walks the whole base text left to right: `retain n` keeps n units, `insert s`
 * inserts s, `delete n` removes n units (the ot.js representation). Two operations on one base
 * transform into a pair that converges: `apply(apply(s, a), b') === apply(apply(s, b), a')`
 * (TP1). Only TP1 is needed: the daemon is the only one that transforms, between exactly two
 * sides (the buffer and the document), so there is no three-way puzzle to solve.
 */
import type { TextOp } from '../core/hunkDiff.js';
import type { TextEdit } from '../core/textEdits.js';

/** One component: `{ r }` retain, `{ i }` insert, `{ d }` delete (counts in UTF-16 units). */
export type Component = { r: number } | { i: string } | { d: number };

/** An operation on a text of `base` units that yields a text of `target` units. */
export interface Operation {
  readonly base: number;
  readonly target: number;
  readonly parts: readonly Component[];
}

/** Builds an operation, merging neighbours of one kind and putting an insert before a delete. */
class Builder {
  readonly parts: Component[] = [];
  base = 0;
  target = 0;

  retain(n: number): this {
    if (n <= 0) return this;
    this.base += n;
    this.target += n;
    const last = this.parts[this.parts.length - 1];
    if (last && 'r' in last) this.parts[this.parts.length - 1] = { r: last.r + n };
    else this.parts.push({ r: n });
    return this;
  }

  insert(s: string): this {
    if (s === '') return this;
    this.target += s.length;
    const n = this.parts.length;
    const last = this.parts[n - 1];
    if (last && 'i' in last) this.parts[n - 1] = { i: last.i + s };
    else if (last && 'd' in last) {
      // Canonical form: an insert goes before the delete it touches (so equal ops compare equal).
      const before = this.parts[n - 2];
      if (before && 'i' in before) this.parts[n - 2] = { i: before.i + s };
      else this.parts.splice(n - 1, 0, { i: s });
    } else this.parts.push({ i: s });
    return this;
  }

  delete(n: number): this {
    if (n <= 0) return this;
    this.base += n;
    const last = this.parts[this.parts.length - 1];
    if (last && 'd' in last) this.parts[this.parts.length - 1] = { d: last.d + n };
    else this.parts.push({ d: n });
    return this;
  }

  done(): Operation {
    return { base: this.base, target: this.target, parts: this.parts };
  }
}

/** The operation that changes nothing in a text of `length` units. */
export function identity(length: number): Operation {
  return new Builder().retain(length).done();
}

/** Does `op` change nothing? */
export function isIdentity(op: Operation): boolean {
  return op.parts.every((p) => 'r' in p);
}

/** Applies `op` to `text` (which must be `op.base` units long). */
export function apply(text: string, op: Operation): string {
  if (text.length !== op.base) throw new RangeError(`operation on ${op.base} units applied to ${text.length}`);
  let out = '';
  let at = 0;
  for (const p of op.parts) {
    if ('r' in p) {
      out += text.slice(at, at + p.r);
      at += p.r;
    } else if ('i' in p) out += p.i;
    else at += p.d;
  }
  return out;
}

/**
 * The operation of `ops` applied one after the other to `text` (each in the text the one before
 * left, as `TextOp`s are). Throws `RangeError` when one does not fit.
 */
export function fromOps(text: string, ops: readonly TextOp[]): Operation {
  let op = identity(text.length);
  let cur = text;
  for (const o of ops) {
    if (o.pos < 0 || o.pos + o.del.length > cur.length || cur.slice(o.pos, o.pos + o.del.length) !== o.del) {
      throw new RangeError(`op at ${o.pos} does not fit a text of ${cur.length} units`);
    }
    const step = new Builder().retain(o.pos).delete(o.del.length).insert(o.ins).retain(cur.length - o.pos - o.del.length).done();
    cur = cur.slice(0, o.pos) + o.ins + cur.slice(o.pos + o.del.length);
    op = compose(op, step);
  }
  return op;
}

/** One change of `op` as a `TextOp` on the text `op` applies to, one after the other. */
export function toOps(text: string, op: Operation): TextOp[] {
  const out: TextOp[] = [];
  let at = 0; // in the base
  let pos = 0; // in the text being built
  let i = 0;
  const parts = op.parts;
  while (i < parts.length) {
    const p = parts[i]!;
    if ('r' in p) {
      at += p.r;
      pos += p.r;
      i++;
      continue;
    }
    // A run of inserts and deletes is one op.
    let ins = '';
    let del = 0;
    while (i < parts.length && !('r' in parts[i]!)) {
      const q = parts[i]!;
      if ('i' in q) ins += q.i;
      else if ('d' in q) del += q.d;
      i++;
    }
    out.push({ pos, del: text.slice(at, at + del), ins });
    at += del;
    pos += ins.length;
  }
  return out;
}

/** The changes of `op` as disjoint edits in positions of its base text (as `LiveDoc.edit` takes them). */
export function toEdits(op: Operation): TextEdit[] {
  const out: TextEdit[] = [];
  let at = 0;
  let i = 0;
  const parts = op.parts;
  while (i < parts.length) {
    const p = parts[i]!;
    if ('r' in p) {
      at += p.r;
      i++;
      continue;
    }
    let insert = '';
    const from = at;
    while (i < parts.length && !('r' in parts[i]!)) {
      const q = parts[i]!;
      if ('i' in q) insert += q.i;
      else if ('d' in q) at += q.d;
      i++;
    }
    out.push({ from, to: at, insert });
  }
  return out;
}

/** Reads an operation's components piece by piece (splitting them as the other side needs). */
class Cursor {
  private i = 0;
  private cur: Component | undefined;

  constructor(private readonly parts: readonly Component[]) {
    this.cur = parts[0];
  }

  peek(): Component | undefined {
    return this.cur;
  }

  /** Takes the whole current component. */
  next(): Component {
    const c = this.cur!;
    this.cur = this.parts[++this.i];
    return c;
  }

  /** Takes `n` units of the current retain or delete (the rest stays). */
  take(n: number): void {
    const c = this.cur!;
    const len = 'r' in c ? c.r : 'd' in c ? c.d : c.i.length;
    if (n >= len) {
      this.next();
      return;
    }
    this.cur = 'r' in c ? { r: c.r - n } : 'd' in c ? { d: c.d - n } : { i: c.i.slice(n) };
  }
}

const lengthOf = (c: Component) => ('r' in c ? c.r : 'd' in c ? c.d : c.i.length);

/** `a` then `b` as one operation (`b.base` must be `a.target`). */
export function compose(a: Operation, b: Operation): Operation {
  if (a.target !== b.base) throw new RangeError(`compose: ${a.target} units then an operation on ${b.base}`);
  const out = new Builder();
  const ca = new Cursor(a.parts);
  const cb = new Cursor(b.parts);
  for (;;) {
    const x = ca.peek();
    const y = cb.peek();
    if (x === undefined && y === undefined) break;
    if (x && 'd' in x) {
      out.delete(x.d);
      ca.next();
      continue;
    }
    if (y && 'i' in y) {
      out.insert(y.i);
      cb.next();
      continue;
    }
    if (x === undefined || y === undefined) throw new RangeError('compose: lengths do not match');
    const n = Math.min(lengthOf(x), lengthOf(y));
    if ('r' in x && 'r' in y) out.retain(n);
    else if ('r' in x && 'd' in y) out.delete(n);
    else if ('i' in x && 'r' in y) out.insert(x.i.slice(0, n));
    // an insert of a deleted by b: nothing remains
    ca.take(n);
    cb.take(n);
  }
  return out.done();
}

/**
 * Transforms two operations on one base: returns `[a', b']` with `a'` applying after `b` and
 * `b'` after `a`, both giving the same text. Inserts at one position: `a`'s go first.
 */
export function transform(a: Operation, b: Operation): [Operation, Operation] {
  if (a.base !== b.base) throw new RangeError(`transform: operations on ${a.base} and ${b.base} units`);
  const a2 = new Builder();
  const b2 = new Builder();
  const ca = new Cursor(a.parts);
  const cb = new Cursor(b.parts);
  for (;;) {
    const x = ca.peek();
    const y = cb.peek();
    if (x === undefined && y === undefined) break;
    if (x && 'i' in x) {
      a2.insert(x.i);
      b2.retain(x.i.length);
      ca.next();
      continue;
    }
    if (y && 'i' in y) {
      a2.retain(y.i.length);
      b2.insert(y.i);
      cb.next();
      continue;
    }
    if (x === undefined || y === undefined) throw new RangeError('transform: lengths do not match');
    const n = Math.min(lengthOf(x), lengthOf(y));
    if ('r' in x && 'r' in y) {
      a2.retain(n);
      b2.retain(n);
    } else if ('d' in x && 'r' in y) a2.delete(n);
    else if ('r' in x && 'd' in y) b2.delete(n);
    // both delete the same units: neither has to any more
    ca.take(n);
    cb.take(n);
  }
  return [a2.done(), b2.done()];
}

/**
 * Where the offset `at` of `op`'s base text is in its target text: at an insert, before the
 * inserted text (or after it, with `after`); inside deleted text, where the deletion was.
 */
export function mapForward(op: Operation, at: number, after = false): number {
  let base = 0;
  let target = 0;
  for (const p of op.parts) {
    if ('r' in p) {
      if (at < base + p.r) return target + (at - base);
      base += p.r;
      target += p.r;
    } else if ('i' in p) {
      if (at === base && !after) return target;
      target += p.i.length;
    } else {
      if (at < base + p.d) return target;
      base += p.d;
    }
  }
  return target;
}

/** Where the offset `at` of `op`'s target text was in its base text (inserted text maps to where it was inserted). */
export function mapBack(op: Operation, at: number): number {
  let base = 0;
  let target = 0;
  for (const p of op.parts) {
    if ('r' in p) {
      if (at < target + p.r) return base + (at - target);
      base += p.r;
      target += p.r;
    } else if ('i' in p) {
      if (at < target + p.i.length) return base;
      target += p.i.length;
    } else base += p.d;
  }
  return base;
}
