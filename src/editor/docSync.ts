/**
 * One open document between an editor's buffer and the replica's document: the pure state of
 * EDITOR-API.md "Versions", with no socket and no store (the fuzz test drives it directly).
 *
 * Three texts: the **shadow** S (the buffer as the daemon knows it, at the editor's `version`),
 * the **document** D (the replica's doc text as the `LiveListener` last had it) and between
 * them the daemon's local view L, which both converge to:
 *
 *   L = apply(S, pending)      pending: the daemon's ops the buffer has not taken yet
 *   L = apply(D, unrecorded)   unrecorded: the editor's ops the document has not recorded yet
 *
 * An editor change E (on S) is transformed over `pending`: E' goes into `unrecorded`, pending
 * becomes pending' (on the new S). A document change R (on D) is transformed over `unrecorded`:
 * R' goes into `pending`, unrecorded becomes unrecorded' (on the new D). `applyEdit` sends
 * `pending` as changes on S at exactly `version`; when the editor applies it, S moves on; when it
 * refuses, its own changes are on their way and transform `pending` when they arrive. Nothing is
 * ever dropped: each side's ops reach the other transformed, and TP1 (`operation.ts`) makes the
 * two texts equal once both queues are empty.
 */
import type { TextOp } from '../core/hunkDiff.js';
import type { TextEdit } from '../core/textEdits.js';
import { apply, compose, fromOps, identity, isIdentity, mapBack, mapForward, toEdits, toOps, transform, type Operation } from './operation.js';
import { LineIndex, isRange, type PositionEncoding, type Range } from './positions.js';

/** A change of an editor message: a range of the text the one before left, and its new text. */
export interface EditorChange {
  range: Range;
  text: string;
}

/** Why an editor's message was refused: the JSON-RPC error the server answers with. */
export class EditorInputError extends Error {
  constructor(
    message: string,
    /** The editor must re-send `didOpen` with its whole text (its version or text is not ours). */
    readonly resync: boolean,
  ) {
    super(message);
    this.name = 'EditorInputError';
  }
}

/** An `applyEdit` to send: the changes bring the buffer at `version` to the daemon's text. */
export interface OutgoingEdit {
  version: number;
  changes: EditorChange[];
}

/** Most changes in one `didChange` (each costs a pass over the text: a bound on the work one message makes). */
export const MAX_CHANGES = 10_000;

/** Pending ops kept apart before they are composed into one (an editor that does not answer must not grow them for ever). */
const PENDING_KEPT = 32;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The state of one open document (see the module comment). */
export class DocSync {
  private shadow: string;
  private version: number;
  private doc: string;
  /** The daemon's ops not in the buffer yet, one after the other, the first on the shadow. */
  private pending: Operation[] = [];
  /** The editor's ops not recorded yet: D to L. */
  private unrecorded: Operation;
  /** The `applyEdit` the editor has not answered; `stale` once a change of the editor came first. */
  private inflight: { version: number; op: Operation; stale: boolean; lines: LineIndex } | undefined;
  /** The lines of the shadow, kept up to date change by change (see `LineIndex.edited`). */
  private lines: LineIndex;

  constructor(opts: { text: string; version: number; doc: string; pending?: readonly TextOp[] }) {
    this.shadow = opts.text;
    this.version = opts.version;
    this.doc = opts.doc;
    this.unrecorded = identity(opts.doc.length);
    this.lines = new LineIndex(opts.text);
    if (opts.pending?.length) this.pending.push(fromOps(opts.text, opts.pending));
    if (apply(this.shadow, this.pendingOp()) !== this.doc) throw new RangeError('the ops do not take the buffer to the document');
  }

  /** The editor's version the daemon knows. */
  get editorVersion(): number {
    return this.version;
  }

  /** The buffer as the daemon knows it. */
  get shadowText(): string {
    return this.shadow;
  }

  /** The lines of the shadow. */
  get shadowLines(): LineIndex {
    return this.lines;
  }

  /** The document as the listener last had it. */
  get docText(): string {
    return this.doc;
  }

  /** Has the buffer not got every op of the daemon yet? */
  get behind(): boolean {
    return this.pending.some((p) => !isIdentity(p));
  }

  /** How many pending ops are kept apart (bounded: see `PENDING_KEPT`). */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Is an `applyEdit` waiting for its answer? */
  get awaiting(): boolean {
    return this.inflight !== undefined;
  }

  /** Are editor edits waiting to be recorded? */
  get hasUnrecorded(): boolean {
    return !isIdentity(this.unrecorded);
  }

  /**
   * A `didChange`: `changes` (in `enc`) of the shadow at the known version, making the buffer's
   * version `version`. Throws {@link EditorInputError} (and changes nothing) when a range does
   * not fit or the version does not increase.
   */
  editorChanged(version: unknown, changes: unknown, enc: PositionEncoding): void {
    if (!Number.isSafeInteger(version)) throw new EditorInputError('version must be an integer', true);
    if ((version as number) <= this.version) throw new EditorInputError(`version ${String(version)} is not after ${this.version}, the last one the daemon knows`, true);
    if (!Array.isArray(changes)) throw new EditorInputError('changes must be an array', false);
    if (changes.length > MAX_CHANGES) throw new EditorInputError(`more than ${MAX_CHANGES} changes in one message: send fewer at a time, or didOpen with the whole text`, true);
    const ops: TextOp[] = [];
    let text = this.shadow;
    let lines = this.lines;
    for (const c of changes as unknown[]) {
      if (typeof c !== 'object' || c === null || !isRange((c as EditorChange).range) || typeof (c as EditorChange).text !== 'string') {
        throw new EditorInputError('a change is {range: {start, end}, text}', false);
      }
      const { range, text: ins } = c as EditorChange;
      // What the replica refuses to record (planTextEdit) is refused here, before the buffer and
      // the document part: a refused recording would leave them apart.
      if (LONE_SURROGATE.test(ins) || ins.includes('\0')) throw new EditorInputError('a change inserts a NUL or half of a UTF-16 surrogate pair: a text file cannot hold it', true);
      const from = lines.offsetOf(range.start, enc);
      const to = lines.offsetOf(range.end, enc);
      if (from === undefined || to === undefined || to < from) {
        throw new EditorInputError(`range ${JSON.stringify(range)} is not in the document at version ${this.version} (${lines.lineCount} lines)`, true);
      }
      ops.push({ pos: from, del: text.slice(from, to), ins });
      const next = text.slice(0, from) + ins + text.slice(to);
      lines = lines.edited(from, to, ins, next);
      text = next;
    }
    let e = fromOps(this.shadow, ops);
    this.shadow = text;
    this.lines = lines;
    this.version = version as number;
    if (this.inflight) this.inflight.stale = true;
    for (let k = 0; k < this.pending.length; k++) {
      const [e2, p2] = transform(e, this.pending[k]!);
      this.pending[k] = p2;
      e = e2;
    }
    this.unrecorded = compose(this.unrecorded, e);
  }

  /** The document changed (ops on the text the listener last had, one after the other). */
  docChanged(ops: readonly TextOp[]): void {
    if (ops.length === 0) return;
    const r = fromOps(this.doc, alignCrlf(this.doc, ops));
    const [r2, u2] = transform(r, this.unrecorded);
    this.doc = apply(this.doc, r);
    this.unrecorded = u2;
    this.pending.push(r2);
    if (this.pending.length > PENDING_KEPT) {
      // The first may be the one in flight: it stays apart (its answer drops it alone).
      const keep = this.inflight ? 1 : 0;
      this.pending = [...this.pending.slice(0, keep), this.pending.slice(keep).reduce((a, b) => compose(a, b))];
    }
  }

  /**
   * The editor's edits not recorded yet, as disjoint edits of the document's current text (for
   * `LiveDoc.edit`'s plan); from now on the document is taken to have them.
   */
  takeUnrecorded(): TextEdit[] {
    const edits = toEdits(this.unrecorded);
    this.doc = apply(this.doc, this.unrecorded);
    this.unrecorded = identity(this.doc.length);
    return edits;
  }

  /**
   * The `applyEdit` to send now, or undefined (the buffer has everything, or one is unanswered).
   * The changes never split a `\r\n`: such an op is widened to the whole line break.
   */
  nextEdit(enc: PositionEncoding): OutgoingEdit | undefined {
    if (this.inflight || !this.behind) return undefined;
    const op = this.pendingOp();
    this.pending = [op];
    const { changes, lines } = toChanges(this.lines, op, enc);
    this.inflight = { version: this.version, op, stale: false, lines };
    return { version: this.version, changes };
  }

  /**
   * The editor's answer to the last `applyEdit`. True when it was applied; false when it must be
   * sent again (on a newer version). An answer that cannot be true (applied although a change
   * came first, or a version that does not increase) counts as refused.
   */
  editAnswered(applied: boolean, version: unknown): boolean {
    const sent = this.inflight;
    this.inflight = undefined;
    if (!sent || !applied) return false;
    if (sent.stale || !Number.isSafeInteger(version) || (version as number) <= sent.version) return false;
    this.shadow = sent.lines.text;
    this.lines = sent.lines;
    this.version = version as number;
    this.pending.shift();
    return true;
  }

  /** Where an offset of the shadow (the buffer) is in the document (for presence). */
  shadowToDoc(at: number): number {
    let l = at;
    for (const p of this.pending) l = mapForward(p, l);
    return mapBack(this.unrecorded, l);
  }

  /** Where an offset of the document is in the shadow (the buffer), for peers' cursors. */
  docToShadow(at: number): number {
    let l = mapForward(this.unrecorded, at);
    for (let k = this.pending.length - 1; k >= 0; k--) l = mapBack(this.pending[k]!, l);
    return l;
  }

  /** Every pending op as one, on the shadow. */
  private pendingOp(): Operation {
    return this.pending.reduce((a, b) => compose(a, b), identity(this.shadow.length));
  }
}

/**
 * The same ops with those that start between a `\r` and its `\n` moved one unit on, where
 * that is the same change: an insert of `\n<line>\r` there is an insert of `<line>\r\n` after
 * the `\n`, a deletion of `\n<line>\r` one of `<line>\r\n` (a diff or a merge can place a
 * change either way). Merged with an editor's concurrent deletion of that line break, the first
 * form leaves a lone `\r` and a lone `\n` in the text, which an editor showing a CRLF file
 * without its `\r` (Neovim's `fileformat=dos`) cannot hold; the second leaves whole line breaks.
 */
export function alignCrlf(text: string, ops: readonly TextOp[]): TextOp[] {
  const out: TextOp[] = [];
  let cur = text;
  for (const o of ops) {
    let op = o;
    const splits = op.pos > 0 && cur.charCodeAt(op.pos - 1) === 13 && cur.charCodeAt(op.pos) === 10;
    if (splits && op.del === '' && op.ins.startsWith('\n')) op = { pos: op.pos + 1, del: '', ins: `${op.ins.slice(1)}\n` };
    else if (splits && op.ins === '' && op.del.startsWith('\n') && cur.charCodeAt(op.pos + op.del.length) === 10) {
      op = { pos: op.pos + 1, del: cur.slice(op.pos + 1, op.pos + 1 + op.del.length), ins: '' };
    }
    out.push(op);
    cur = cur.slice(0, op.pos) + op.ins + cur.slice(op.pos + op.del.length);
  }
  return out;
}

/**
 * `op` on the text of `start` as LSP changes (each on the text the one before left), never
 * splitting a `\r\n`; with the lines of the text they make.
 */
export function toChanges(start: LineIndex, op: Operation, enc: PositionEncoding): { changes: EditorChange[]; lines: LineIndex } {
  const out: EditorChange[] = [];
  let cur = start.text;
  let lines = start;
  for (const o of toOps(start.text, op)) {
    let pos = o.pos;
    let del = o.del;
    let ins = o.ins;
    if (pos > 0 && cur.charCodeAt(pos - 1) === 13 && cur.charCodeAt(pos) === 10) {
      pos--;
      del = `\r${del}`;
      ins = `\r${ins}`;
    }
    const end = pos + del.length;
    if (end > 0 && cur.charCodeAt(end - 1) === 13 && cur.charCodeAt(end) === 10) {
      del += '\n';
      ins += '\n';
    }
    out.push({ range: { start: lines.positionOf(pos, enc), end: lines.positionOf(pos + del.length, enc) }, text: ins });
    const next = cur.slice(0, pos) + ins + cur.slice(pos + del.length);
    lines = lines.edited(pos, pos + del.length, ins, next);
    cur = next;
  }
  return { changes: out, lines };
}
