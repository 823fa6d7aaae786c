import * as Y from 'yjs';
import { CshareError } from './errors.js';
import { logger } from './log.js';
import { diffToOps, opsStats, type TextOp } from './textDiff.js';

export type { TextOp } from './textDiff.js';

const log = logger('filedoc');

/** A run of Yjs item ids: `len` consecutive clocks of `client` starting at `clock`. */
export type IdRange = [client: number, clock: number, len: number];

/** JSON-serialisable selective-undo record: what one change inserted and deleted (Yjs ID ranges). */
export interface UndoRecord {
  insertions: IdRange[];
  deletions: IdRange[];
}

/** One change made by this replica: the update to store and send, and how to describe and revert it. */
export interface OwnChange {
  /** The Yjs (v1) update of this change alone. */
  update: Uint8Array;
  /** The change as text ops against the text before it. */
  ops: TextOp[];
  /** UTF-16 code units inserted and deleted. */
  inserted: number;
  deleted: number;
  /** Undoes this change (for an undo, this is the redo record). */
  record: UndoRecord;
  /**
   * For a save merged from an earlier version ({@link FileDoc.applyFromBase}): the doc state
   * whose text is exactly what was saved (its base plus this change, without what others did
   * meanwhile), when it can be told. An editor that goes on from that buffer saves from it.
   */
  savedVersion?: Uint8Array;
}

/** One item of a Yjs text delta (see {@link FileDoc.observeText}); `insert` is a string in a file doc. */
export interface TextDelta {
  insert?: unknown;
  retain?: number;
  delete?: number;
  attributes?: unknown;
}

/** Name of the one shared type in every file doc. */
const CONTENT = 'content';

/** Yjs's DeleteSet class is not exported by name; its instances come from createDeleteSet. */
type DeleteSet = ReturnType<typeof Y.createDeleteSet>;

/** Origin of this replica's own edits (a marker for anyone observing the Yjs doc). */
const LOCAL = Symbol('cshare.local');

/**
 * Client id the doc carries while it integrates updates. Yjs, seeing a non-local transaction
 * add items under the doc's own client id, assumes another process uses that id, picks a
 * random one and prints a warning. Our own earlier edits legitimately come back that way
 * (from the store at load, or echoed by the relay), so updates are applied under this
 * unused id and the replica's id is put back afterwards.
 */
const APPLY_CLIENT_ID = 0xfffffffe;

/**
 * A deterministic Yjs client id for the base insert of `fileId` with `baseText` (FNV-1a over
 * both, then a final mix). Every replica that creates the file's doc from the same base text
 * therefore produces the same base item ids, and merging their histories never doubles the
 * file. The text is part of it because two bases of one file with different texts under the
 * same ids would be taken for the same items: each replica would keep its own and the file
 * would never converge (found by the chaos run, seed 4242). Different texts get different
 * ids, so the docs merge like any concurrent edits.
 */
export function baseClientId(fileId: string, baseText = ''): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < fileId.length; i++) {
    h ^= fileId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= 0xff;
  h = Math.imul(h, 0x01000193);
  for (let i = 0; i < baseText.length; i++) {
    h ^= baseText.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

function checkIds(fileId: unknown, clientId: unknown): void {
  if (typeof fileId !== 'string' || fileId.length === 0) throw new CshareError('INTERNAL', 'FileDoc needs a non-empty fileId', { fileId });
  if (typeof clientId !== 'number' || !Number.isInteger(clientId) || clientId < 0 || clientId > 0xffffffff || clientId === APPLY_CLIENT_ID) {
    throw new CshareError('INTERNAL', `invalid Yjs client id ${String(clientId)}`, { fileId, clientId });
  }
}

/**
 * One text file as a Yjs doc (a `Y.Text` named `content`), edited by one replica.
 *
 * The doc keeps tombstones (`gc: false`) so that a selective undo can restore deleted text
 * and history stays inspectable. The current text is cached: local saves set it directly,
 * and a remote update or an undo that touched the text marks it stale, to be rebuilt on
 * next read.
 */
export class FileDoc {
  readonly fileId: string;
  readonly clientId: number;
  private readonly doc: Y.Doc;
  private readonly ytext: Y.Text;
  private cached = '';
  /** Set when a non-local transaction changed the text: {@link cached} must be rebuilt. */
  private stale = false;
  /**
   * Where the last local change ended, while the text is still the one it produced: where
   * the next save most likely changes it (see DiffOptions.near). Unknown after a remote
   * change or an undo.
   */
  private near: number | undefined;
  /** What {@link onLocalUpdate} saw of the transaction {@link capture} is running. */
  private capturedUpdate: Uint8Array | null = null;
  private capturedTr: Y.Transaction | null = null;
  /** The ops {@link applyPending} applies: set by {@link commit} just before. */
  private pendingOps: readonly TextOp[] = [];

  /**
   * The 'update' listener, attached only around this replica's own transactions: with a
   * permanent listener Yjs would also re-encode every remote update and, at load, the whole
   * history. Created once per doc, not per save (a closure per save is measurable at the
   * rate of a typing trace); Yjs hands it the transaction, so no second closure is needed.
   */
  private readonly onLocalUpdate = (update: Uint8Array, _origin: unknown, _doc: Y.Doc, tr: Y.Transaction): void => {
    this.capturedUpdate = update;
    this.capturedTr = tr;
  };

  /** The edit of {@link commit}, bound once for the same reason as {@link onLocalUpdate}. */
  private readonly applyPending = (): void => {
    const ytext = this.ytext;
    for (const op of this.pendingOps) {
      if (op.del.length > 0) ytext.delete(op.pos, op.del.length);
      if (op.ins.length > 0) ytext.insert(op.pos, op.ins);
    }
  };

  private constructor(fileId: string, clientId: number, doc: Y.Doc) {
    this.fileId = fileId;
    this.clientId = clientId;
    this.doc = doc;
    this.ytext = doc.getText(CONTENT);
  }

  /**
   * A doc whose base is `baseText` inserted by client baseClientId(fileId, baseText) in one
   * transaction: two replicas that create the same fileId with the same base text produce
   * byte-identical base updates, so merging their histories never doubles the file.
   * Returns the doc and the base update (empty text => no update).
   */
  static create(opts: { fileId: string; clientId: number; baseText: string }): { doc: FileDoc; baseUpdate: Uint8Array | null } {
    checkIds(opts.fileId, opts.clientId);
    const ydoc = new Y.Doc({ gc: false, guid: opts.fileId });
    ydoc.clientID = baseClientId(opts.fileId, opts.baseText);
    const doc = new FileDoc(opts.fileId, opts.clientId, ydoc);
    let baseUpdate: Uint8Array | null = null;
    if (opts.baseText.length > 0) {
      baseUpdate = doc.capture(() => doc.ytext.insert(0, opts.baseText)).update;
      doc.cached = opts.baseText;
    }
    ydoc.clientID = opts.clientId;
    return { doc, baseUpdate };
  }

  /**
   * Rebuild from stored state: an optional snapshot (encodeStateAsUpdate) plus updates,
   * applied one by one inside one transact (measured 15x faster than mergeUpdates).
   */
  static load(opts: { fileId: string; clientId: number; snapshot?: Uint8Array; updates: Iterable<Uint8Array> }): FileDoc {
    checkIds(opts.fileId, opts.clientId);
    // The guid is the file id: Yjs's default is a random uuid (31 calls to the system's random
    // source each), which nothing here reads (it names subdocuments) and which was ~8% of a
    // sharer's time recording the 3000 saves of a git checkout.
    const ydoc = new Y.Doc({ gc: false, guid: opts.fileId });
    const doc = new FileDoc(opts.fileId, opts.clientId, ydoc);
    let count = 0;
    doc.integrate(() => {
      ydoc.transact(() => {
        if (opts.snapshot) Y.applyUpdate(ydoc, opts.snapshot);
        for (const u of opts.updates) {
          Y.applyUpdate(ydoc, u);
          count++;
        }
      });
    });
    doc.cached = doc.ytext.toString();
    doc.stale = false;
    log('loaded %s: snapshot=%s, %d updates, %d chars', opts.fileId, opts.snapshot ? 'yes' : 'no', count, doc.cached.length);
    return doc;
  }

  /** The current text. */
  get text(): string {
    if (this.stale) {
      this.cached = this.ytext.toString();
      this.stale = false;
    }
    return this.cached;
  }

  /** Diff against the current text and apply as inserts/deletes in ONE transaction by this replica; null if equal. */
  setText(next: string): OwnChange | null {
    const ops = diffToOps(this.text, next, { near: this.near });
    if (ops.length === 0) return null;
    return this.commit(ops, next);
  }

  /**
   * Apply known edits as they are, in one transaction by this replica; null if `ops` is
   * empty. For sources that know where the user typed (an editor integration, a recorded
   * trace): a diff of a save cannot tell which of two equal characters was typed, and under
   * concurrency that choice decides how edits interleave.
   */
  applyOps(ops: readonly TextOp[]): OwnChange | null {
    const real = ops.filter((op) => op.del.length > 0 || op.ins.length > 0);
    if (real.length === 0) return null;
    let next = this.text;
    for (const op of real) {
      const end = op.pos + op.del.length;
      if (!Number.isInteger(op.pos) || op.pos < 0 || next.slice(op.pos, end) !== op.del || splitsPair(next, op.pos) || splitsPair(next, end)) {
        throw new CshareError('INTERNAL', `op at ${op.pos} does not match the text of ${this.fileId}`, { fileId: this.fileId, pos: op.pos });
      }
      next = next.slice(0, op.pos) + op.ins + next.slice(op.pos + op.del.length);
    }
    return this.commit(real, next);
  }

  /** Applies `ops` (already checked against the text) in one local transaction. */
  private commit(ops: TextOp[], next: string): OwnChange {
    this.pendingOps = ops;
    let captured: { update: Uint8Array; record: UndoRecord };
    try {
      captured = this.capture(this.applyPending);
    } finally {
      this.pendingOps = [];
    }
    this.cached = next;
    const last = ops[ops.length - 1]!;
    this.near = last.pos + last.ins.length;
    const { inserted, deleted } = opsStats(ops);
    return { update: captured.update, ops, inserted, deleted, record: captured.record };
  }

  /** Apply an update from another replica (or from the store). Returns true if the text changed. */
  applyUpdate(update: Uint8Array): boolean {
    const before = this.text;
    this.integrate(() => Y.applyUpdate(this.doc, update));
    return this.text !== before;
  }

  /**
   * Selectively undo a change of this replica: delete the characters it inserted that are
   * still there, restore the ones it deleted, without touching anything other replicas did.
   * Returns the new change (whose `record` undoes the undo, i.e. the redo record) or null if
   * nothing to do.
   */
  undo(record: UndoRecord): OwnChange | null {
    const item = { insertions: this.toDeleteSet(record.insertions, 'insertions'), deletions: this.toDeleteSet(record.deletions, 'deletions'), meta: new Map() };
    const before = this.text;
    // A throwaway UndoManager does the work: Yjs's redo logic (restore deleted items at
    // their old place, follow already-restored ones) is subtle and battle-tested. It tracks
    // no origin but its own, so it captures exactly its undo transaction, on its redo stack.
    const um = new Y.UndoManager(this.ytext, { trackedOrigins: new Set(), captureTimeout: 0 });
    let update: Uint8Array | null = null;
    const onUpdate = (u: Uint8Array): void => {
      update = u;
    };
    this.doc.on('update', onUpdate);
    try {
      // The stack item type is not exported; UndoManager only reads these three fields.
      um.undoStack.push(item as unknown as (typeof um.undoStack)[number]);
      const done = um.undo();
      this.stale = true;
      this.near = undefined;
      const redo = um.redoStack[um.redoStack.length - 1];
      if (done === null || update === null || redo === undefined) return null;
      const after = this.text;
      const ops = diffToOps(before, after);
      const out: OwnChange = {
        update,
        ops,
        ...opsStats(ops),
        record: { insertions: fromDeleteSet(redo.insertions), deletions: fromDeleteSet(redo.deletions) },
      };
      return out;
    } finally {
      this.doc.off('update', onUpdate);
      um.destroy();
    }
  }

  /**
   * The state the text is in now, kept to merge a later save made from it ({@link applyFromBase}):
   * a Yjs snapshot (state vector and delete set). Docs keep deleted items (`gc: false`), so the
   * text of any earlier snapshot can be told and positions in it mapped to the text now.
   */
  version(): Uint8Array {
    return Y.encodeSnapshot(Y.snapshot(this.doc));
  }

  /**
   * The version holding only the deterministic base insert of `baseText` (see {@link create}),
   * as {@link version} would have encoded it in a doc made from that base alone: what a
   * replica that created the file with that text had, whatever others did to the doc since.
   */
  baseVersion(baseText: string): Uint8Array {
    const sv = new Map<number, number>();
    if (baseText.length > 0) sv.set(baseClientId(this.fileId, baseText), baseText.length);
    return Y.encodeSnapshot(Y.createSnapshot(Y.createDeleteSet(), sv));
  }

  /** The text as it was at `version` (from {@link version}), or undefined if this doc cannot tell. */
  textAt(version: Uint8Array): string | undefined {
    const snap = decodeVersion(version);
    return snap && this.textAtSnapshot(snap);
  }

  /**
   * Records a save made from an earlier text of this file (`version`, see {@link version}): the
   * diff from that text to `next`, placed where those characters are now. Characters others
   * inserted since stay, text others deleted since stays deleted, and the save's own inserts
   * land beside the characters they followed in its base. This is what lets a save from an
   * editor's stale buffer, or one that landed while a remote change was being written, merge
   * instead of reverting the collaborator's edit. Null if the save changed nothing of its base;
   * undefined if this doc cannot tell the text at `version` (then diff against {@link text}).
   */
  applyFromBase(version: Uint8Array, next: string): OwnChange | null | undefined {
    const snap = decodeVersion(version);
    const baseText = snap && this.textAtSnapshot(snap);
    if (snap === undefined || baseText === undefined) return undefined;
    if (baseText === this.text) return this.setText(next);
    const ops = diffToOps(baseText, next);
    if (ops.length === 0) return null;
    const edits = toBaseEdits(ops);
    const actions = this.mapEdits(snap, edits);
    const before = this.text;
    let captured: { update: Uint8Array; record: UndoRecord } | undefined;
    const ytext = this.ytext;
    if (actions.length > 0) {
      captured = this.capture(() => {
        for (const a of actions) {
          if (a.del > 0) ytext.delete(a.at, a.del);
          else ytext.insert(a.at, a.ins);
        }
      });
    }
    this.stale = true;
    this.near = undefined;
    if (!captured) return null;
    const after = this.text;
    const visible = diffToOps(before, after);
    const savedVersion = this.versionOfSave(snap, captured.record, next);
    return { update: captured.update, ops: visible, ...opsStats(visible), record: captured.record, ...(savedVersion ? { savedVersion } : {}) };
  }

  /**
   * The snapshot of `base` plus one change of this replica: the base's state vector with this
   * client's clock moved past the change, and the base's deletions plus the change's, plus this
   * client's items between the base and the change (not in that buffer). Checked: undefined
   * unless its text is exactly `saved`.
   */
  private versionOfSave(base: Y.Snapshot, record: UndoRecord, saved: string): Uint8Array | undefined {
    try {
      const client = this.doc.clientID;
      const sv = new Map(base.sv);
      const from = base.sv.get(client) ?? 0;
      const start = record.insertions[0]?.[1] ?? Y.getState(this.doc.store, client);
      const end = Y.getState(this.doc.store, client);
      sv.set(client, end);
      const ranges = [...fromDeleteSet(base.ds), ...record.deletions];
      if (start > from) ranges.push([client, from, start - from]);
      const snap = Y.createSnapshot(this.toDeleteSet(ranges, 'version'), sv);
      return this.textAtSnapshot(snap) === saved ? Y.encodeSnapshot(snap) : undefined;
    } catch (err) {
      log('no version for a merged save of %s: %s', this.fileId, (err as Error).message);
      return undefined;
    }
  }

  /**
   * The text visible at `snap`: of each item, the characters whose ids the snapshot's state
   * vector covers and its delete set does not (an item may be partly either: Yjs merges items
   * back after splitting them, so visibility is worked out per character range, not per item).
   * Undefined if a visible character's content is gone.
   */
  private textAtSnapshot(snap: Y.Snapshot): string | undefined {
    let out = '';
    for (let item = this.ytext._start; item !== null; item = item.right as Y.Item | null) {
      if (!item.countable) continue;
      const runs = visibleRuns(item, snap);
      if (runs.length === 0) continue;
      if (!(item.content instanceof Y.ContentString)) return undefined;
      for (const [from, to] of runs) out += item.content.str.slice(from, to);
    }
    return out;
  }

  /**
   * Maps edits in the coordinates of the text at `snap` to edits of the text now, in the order
   * to apply them (each position still valid after the ones before): deletes only of characters
   * that were in the base and are still here, inserts after the base character they followed.
   */
  private mapEdits(snap: Y.Snapshot, edits: BaseEdit[]): { at: number; del: number; ins: string }[] {
    const n = edits.length;
    const insAt = new Array<number>(n).fill(0);
    const dels: [number, number][] = [];
    let ai = 0;
    while (ai < n && edits[ai]!.p === 0) ai++; // inserts at the very start go to index 0
    let di = 0;
    let b = 0; // base characters passed
    let c = 0; // current characters passed
    for (let item = this.ytext._start; item !== null; item = item.right as Y.Item | null) {
      if (!item.countable) continue;
      const alive = !item.deleted;
      // Each run of base characters in this item: base [b, b + len) is now at [at, at + len)
      // when the item is alive, else gone (an insert after it goes where it was).
      for (const [from, to] of visibleRuns(item, snap)) {
        const len = to - from;
        const at = c + (alive ? from : 0);
        const end = b + len;
        for (; ai < n && edits[ai]!.p - 1 < end; ai++) {
          const q = edits[ai]!.p - 1;
          insAt[ai] = alive ? at + (q - b) + 1 : at;
        }
        while (di < n) {
          const e = edits[di]!;
          const eEnd = e.p + e.del;
          if (e.del === 0 || eEnd <= b) {
            di++;
            continue;
          }
          if (e.p >= end) break;
          const s = Math.max(e.p, b);
          const t = Math.min(eEnd, end);
          if (alive && t > s) {
            const last = dels[dels.length - 1];
            if (last && last[1] === at + s - b) last[1] = at + t - b;
            else dels.push([at + s - b, at + t - b]);
          }
          if (eEnd <= end) di++;
          else break;
        }
        b = end;
      }
      if (alive) c += item.length;
    }
    for (; ai < n; ai++) insAt[ai] = c;
    const actions: { at: number; del: number; ins: string; order: number }[] = [];
    for (const [s, t] of dels) actions.push({ at: s, del: t - s, ins: '', order: -1 });
    edits.forEach((e, i) => {
      if (e.ins.length > 0) actions.push({ at: insAt[i]!, del: 0, ins: e.ins, order: i });
    });
    // From the end: positions before each action stay valid. At one position a delete goes
    // first (what follows the insert is removed, never the insert), then the inserts of later
    // edits before earlier ones, so the earlier edit's text ends up first.
    actions.sort((x, y) => (y.at !== x.at ? y.at - x.at : x.del > 0 && y.del === 0 ? -1 : y.del > 0 && x.del === 0 ? 1 : y.order - x.order));
    return actions;
  }

  /**
   * The text this replica inserted at or after its own clock `from` that is still in the doc,
   * in document order: what its edits since a version (a state vector's clock of this client)
   * added (see `createConflicts.ts`).
   */
  ownInsertedSince(from: number): string {
    let out = '';
    for (let item = this.ytext._start; item !== null; item = item.right as Y.Item | null) {
      if (item.deleted || item.id.client !== this.clientId || !(item.content instanceof Y.ContentString)) continue;
      const skip = Math.max(0, from - item.id.clock);
      if (skip < item.length) out += item.content.str.slice(skip);
    }
    return out;
  }

  /**
   * Calls `fn` after every transaction that changes the text (this replica's edits, remote
   * updates, undo), with the change as Yjs delta items (in UTF-16 units of the text before it)
   * and a way to read the text after it. For live editing only (`liveDocs.ts`): an observer
   * makes Yjs build an event for every transaction, so it is attached only while an editor
   * has the file open. Returns the detach function.
   */
  observeText(fn: (delta: readonly TextDelta[], textNow: () => string) => void): () => void {
    const observer = (event: Y.YTextEvent): void => fn(event.delta as TextDelta[], () => this.ytext.toString());
    this.ytext.observe(observer);
    return () => this.ytext.unobserve(observer);
  }

  /** A Yjs relative position (encoded) of UTF-16 offset `offset` in the text: it follows the character through edits. */
  relativePosition(offset: number): Uint8Array {
    const at = Math.max(0, Math.min(offset, this.ytext.length));
    return Y.encodeRelativePosition(Y.createRelativePositionFromTypeIndex(this.ytext, at));
  }

  /** The offset now of a position from {@link relativePosition}; undefined if it is not of this doc (or malformed). */
  absolutePosition(rel: Uint8Array): number | undefined {
    let pos: Y.RelativePosition;
    try {
      pos = Y.decodeRelativePosition(rel);
    } catch (err) {
      log('undecodable relative position: %s', (err as Error).message);
      return undefined;
    }
    // Of this doc's text only: resolving a position that names another root type would create
    // that type in the doc (a peer's bytes must not add types to it).
    if (pos.type !== null || (pos.tname !== null && pos.tname !== CONTENT)) return undefined;
    const abs = Y.createAbsolutePositionFromRelativePosition(pos, this.doc);
    return abs && abs.type === this.ytext ? abs.index : undefined;
  }

  /** This doc's state vector (what it has seen), for catch-up. */
  stateVector(): Uint8Array {
    return Y.encodeStateVector(this.doc);
  }

  /** The whole state as one update (encodeStateAsUpdate), for compaction and first contact. */
  snapshot(): Uint8Array {
    return Y.encodeStateAsUpdate(this.doc);
  }

  /** Frees the Yjs doc; the FileDoc must not be used afterwards. */
  destroy(): void {
    this.doc.destroy();
  }

  /** Runs `edit` as one local transaction and returns its update and undo record. */
  private capture(edit: () => void): { update: Uint8Array; record: UndoRecord } {
    this.capturedUpdate = null;
    this.capturedTr = null;
    this.doc.on('update', this.onLocalUpdate);
    try {
      this.doc.transact(edit, LOCAL);
    } finally {
      this.doc.off('update', this.onLocalUpdate);
    }
    const update = this.capturedUpdate as Uint8Array | null;
    const t = this.capturedTr as Y.Transaction | null;
    this.capturedUpdate = null;
    this.capturedTr = null;
    // Yjs emits 'update' only for a transaction that changed something.
    if (t === null || update === null) throw new CshareError('INTERNAL', `edit of ${this.fileId} produced no update`, { fileId: this.fileId });
    const client = this.doc.clientID;
    const start = t.beforeState.get(client) ?? 0;
    const end = t.afterState.get(client) ?? 0;
    // Yjs sorts and merges the transaction's delete set before the transaction returns.
    const record: UndoRecord = { insertions: end > start ? [[client, start, end - start]] : [], deletions: fromDeleteSet(t.deleteSet) };
    return { update, record };
  }

  /**
   * Integrates remote or stored updates (see {@link APPLY_CLIENT_ID}) and marks the cached
   * text stale if they touched it. The check is a listener around this call rather than a
   * permanent text observer: an observer makes Yjs build an event for every local save too,
   * which measurably slows the save path.
   */
  private integrate(apply: () => void): void {
    const onAfter = (tr: Y.Transaction): void => {
      if ((tr.changed as Map<unknown, unknown>).has(this.ytext)) {
        this.stale = true;
        this.near = undefined;
      }
    };
    this.doc.clientID = APPLY_CLIENT_ID;
    this.doc.on('afterTransaction', onAfter);
    try {
      apply();
    } finally {
      this.doc.off('afterTransaction', onAfter);
      this.doc.clientID = this.clientId;
    }
  }

  /**
   * Validates a stored record's ranges against this doc and builds a Yjs delete set. A range
   * the doc has never seen means the record does not belong to this file's history.
   */
  private toDeleteSet(ranges: unknown, field: string): DeleteSet {
    if (!Array.isArray(ranges)) throw badRecord(this.fileId, `${field} is not an array`);
    const byClient = new Map<number, Array<{ clock: number; len: number }>>();
    for (const r of ranges as unknown[]) {
      if (!Array.isArray(r) || r.length !== 3 || !r.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)) {
        throw badRecord(this.fileId, `${field} holds a malformed range ${JSON.stringify(r)}`);
      }
      const [client, clock, len] = r as IdRange;
      if (len === 0) continue;
      if (clock + len > Y.getState(this.doc.store, client)) {
        throw badRecord(this.fileId, `${field} range ${client}:${clock}+${len} is not in this file's history`);
      }
      let list = byClient.get(client);
      if (!list) byClient.set(client, (list = []));
      list.push({ clock, len });
    }
    const ds = Y.createDeleteSet();
    for (const [client, list] of byClient) {
      list.sort((a, b) => a.clock - b.clock);
      // Yjs expects sorted, non-overlapping runs: merge touching or overlapping ones.
      const merged: Array<{ clock: number; len: number }> = [];
      for (const d of list) {
        const last = merged[merged.length - 1];
        if (last && d.clock <= last.clock + last.len) last.len = Math.max(last.len, d.clock + d.len - last.clock);
        else merged.push({ ...d });
      }
      // DeleteItem is not exported; its instances are plain { clock, len } records.
      ds.clients.set(client, merged as unknown as ReturnType<typeof ds.clients.get> & object);
    }
    return ds;
  }
}

/**
 * The character offsets of `item` visible at `snap`, as sorted `[from, to)` runs: the ids the
 * state vector covers, minus the delete set's ranges.
 */
function visibleRuns(item: Y.Item, snap: Y.Snapshot): [number, number][] {
  const { client, clock } = item.id;
  const limit = Math.min(item.length, (snap.sv.get(client) ?? 0) - clock);
  if (limit <= 0) return [];
  const deleted = snap.ds.clients.get(client);
  if (deleted === undefined || deleted.length === 0) return [[0, limit]];
  const runs: [number, number][] = [];
  let pos = 0;
  // The delete items are sorted by clock and do not overlap: find the first that may touch.
  let lo = 0;
  let hi = deleted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const d = deleted[mid]!;
    if (d.clock + d.len <= clock) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < deleted.length && pos < limit; i++) {
    const d = deleted[i]!;
    const from = d.clock - clock;
    if (from >= limit) break;
    if (from > pos) runs.push([pos, from]);
    pos = Math.max(pos, from + d.len);
  }
  if (pos < limit) runs.push([pos, limit]);
  return runs;
}

/** An edit in the coordinates of a base text: at `p`, delete `del` characters, insert `ins`. */
interface BaseEdit {
  p: number;
  del: number;
  ins: string;
}

/** `diffToOps` ops (each relative to the text after the ones before) in base coordinates. */
function toBaseEdits(ops: readonly TextOp[]): BaseEdit[] {
  let shift = 0;
  const out: BaseEdit[] = [];
  for (const op of ops) {
    out.push({ p: op.pos - shift, del: op.del.length, ins: op.ins });
    shift += op.ins.length - op.del.length;
  }
  return out.sort((x, y) => x.p - y.p);
}

function decodeVersion(version: Uint8Array): Y.Snapshot | undefined {
  try {
    return Y.decodeSnapshot(version);
  } catch (err) {
    log('undecodable version: %s', (err as Error).message);
    return undefined;
  }
}

/** Flattens a (sorted, merged) delete set into JSON-friendly ranges, ordered by client then clock. */
function fromDeleteSet(ds: DeleteSet): IdRange[] {
  const out: IdRange[] = [];
  if (ds.clients.size === 0) return out;
  const clients = ds.clients.size === 1 ? ds.clients.keys() : [...ds.clients.keys()].sort((a, b) => a - b);
  for (const client of clients) {
    for (const d of ds.clients.get(client) ?? []) if (d.len > 0) out.push([client, d.clock, d.len]);
  }
  return out;
}

/** Does offset `i` fall between the halves of a surrogate pair in `s`? */
function splitsPair(s: string, i: number): boolean {
  if (i <= 0 || i >= s.length) return false;
  const hi = s.charCodeAt(i - 1);
  const lo = s.charCodeAt(i);
  return hi >= 0xd800 && hi <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff;
}

function badRecord(fileId: string, detail: string): CshareError {
  return new CshareError('STORE_CORRUPT', `undo record for ${fileId} is invalid: ${detail}`, { fileId });
}
