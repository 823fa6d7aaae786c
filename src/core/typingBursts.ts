/**
 * Typing bursts: the edits an editor sends as they are typed (`liveDocs.ts`), grouped in the
 * history the way a person thinks of them. Consecutive edits of one open document within
 * {@link BURST_GAP_MS} of each other, and within {@link BURST_MAX_MS} of the burst's first,
 * are one op entry in `cshare log` and one step of `cshare undo`; each edit is still its own
 * change in the doc's log (its own seq and Yjs update), uploaded as it is recorded.
 *
 * The burst's entry moves to the seq of its latest edit (the one before is dropped, in the
 * same batch), so the log shows it once, where the typing ended. While a burst is open its
 * entry is held back from the history uploaded for other replicas' logs (`LiveDocs.openBursts`);
 * when it ends ({@link sealBurst}) the entry moves once more, to a fresh seq, so that the next
 * upload carries it even if one ran meanwhile.
 */
import { ChangeBatch } from './ChangeBatch.js';
import { gitBlobId } from './digest.js';
import type { IdRange, TextOp, UndoRecord } from './FileDoc.js';
import { MAX_PATCH_CHARS, patchFor, type OpEntry } from './history.js';
import type { ReplicaContext } from './ReplicaContext.js';
import type { TextEditPlan } from './textEdits.js';

/** Edits further apart than this start a new burst. */
export const BURST_GAP_MS = 1000;
/** A burst ends this long after its first edit, however fast the typing goes on. */
export const BURST_MAX_MS = 10_000;

/** A burst in progress: its op entry as stored now, and when it began and last grew. */
export interface Burst {
  op: OpEntry;
  firstAt: number;
  lastAt: number;
}

/** What {@link recordBurstEdit} recorded: the change's seq, its updates (in log order), and the burst now. */
export interface BurstEdit {
  seq: number;
  fileId: string;
  /** The Yjs updates logged under `seq`: a base insert first when this was the file's first update here. */
  updates: Uint8Array[];
  burst: Burst;
}

/**
 * Records a planned edit (`planTextEdit`) as one change of this replica's, like
 * `recordTextEditPlan`, joining `burst` when it is recent enough: then the burst's entry is
 * replaced by one at this change's seq that covers both (counts, patch, undo record).
 * Undefined when the edits change nothing.
 */
export async function recordBurstEdit(ctx: ReplicaContext, plan: TextEditPlan, burst: Burst | undefined): Promise<BurstEdit | undefined> {
  const { request, fileId, entry, doc, ops } = plan;
  if (ops.length === 0) return undefined;
  const batch = new ChangeBatch();
  await ctx.noteTextBefore(batch, fileId, entry, doc);
  const base = ctx.pendingBase(fileId);
  const change = doc.applyOps(ops);
  if (!change) return undefined;
  const seq = ctx.nextSeq();
  ctx.logFileUpdate(batch, fileId, seq, change.update);
  ctx.setTextDigest(batch, fileId, gitBlobId(new TextEncoder().encode(doc.text)));
  const now = ctx.now();
  const joins = burst && burst.op.fileId === fileId && now - burst.lastAt <= BURST_GAP_MS && now - burst.firstAt <= BURST_MAX_MS ? burst : undefined;
  const own: OpEntry = {
    seq, kind: 'edit', time: now, author: ctx.author, replica: ctx.identity.replicaId, fileId, path: request.path,
    inserted: change.inserted, deleted: change.deleted, ...patchFor(change.ops), inverse: { text: change.record }, origin: request.origin,
  };
  const op = joins ? joined(joins.op, own) : own;
  if (joins) {
    batch.dropOp(joins.op.seq);
    batch.dropFromStack('un', joins.op.seq);
  }
  batch.putOp(op);
  // A new change ends the redo chain, as in every editor.
  for await (const undone of ctx.store.stack('re')) batch.dropFromStack('re', undone);
  batch.markUndoable(seq);
  await ctx.commit(batch);
  return { seq, fileId, updates: base ? [base, change.update] : [change.update], burst: { op, firstAt: joins?.firstAt ?? now, lastAt: now } };
}

/**
 * Ends a burst: its entry moves to a fresh seq (see the file comment), still on top of the
 * undo stack. Resolves with the entry's new seq.
 */
export async function sealBurst(ctx: ReplicaContext, burst: Burst): Promise<number> {
  const batch = new ChangeBatch();
  const seq = ctx.nextSeq();
  batch.dropOp(burst.op.seq);
  batch.dropFromStack('un', burst.op.seq);
  batch.putOp({ ...burst.op, seq });
  batch.markUndoable(seq);
  await ctx.commit(batch);
  return seq;
}

/** One entry for a burst and the edit that continues it. */
function joined(a: OpEntry, b: OpEntry): OpEntry {
  const patch = a.patch && b.patch ? joinPatches(a.patch, b.patch) : undefined;
  const chars = patch?.reduce((n, op) => n + op.del.length + op.ins.length, 0) ?? Infinity;
  return {
    ...b,
    inserted: a.inserted + b.inserted,
    deleted: a.deleted + b.deleted,
    ...(patch && chars <= MAX_PATCH_CHARS ? { patch } : { patch: undefined, patchTruncated: true }),
    inverse: { text: joinRecords(a.inverse.text, b.inverse.text) },
  };
}

/**
 * The ops of two edits in a row, each sequence applied in the text the one before left;
 * typing at the end of the last insert, or deleting back into it, extends that insert, so a
 * burst's patch stays about as long as what it typed.
 */
function joinPatches(a: readonly TextOp[], b: readonly TextOp[]): TextOp[] {
  const out = a.map((op) => ({ ...op }));
  for (const op of b) {
    const last = out[out.length - 1];
    if (last && last.del === '' && op.del === '' && op.pos === last.pos + last.ins.length) last.ins += op.ins;
    else if (last && last.ins.length > 0 && op.ins === '' && op.pos + op.del.length === last.pos + last.ins.length && last.ins.endsWith(op.del)) {
      last.ins = last.ins.slice(0, last.ins.length - op.del.length);
      if (last.ins === '' && last.del === '') out.pop();
    } else out.push({ ...op });
  }
  return out;
}

/** The undo record of both changes: what either inserted, what either deleted (ranges merged). */
function joinRecords(a: UndoRecord | undefined, b: UndoRecord | undefined): UndoRecord {
  return { insertions: mergeRanges([...(a?.insertions ?? []), ...(b?.insertions ?? [])]), deletions: mergeRanges([...(a?.deletions ?? []), ...(b?.deletions ?? [])]) };
}

/** Id ranges sorted by client and clock, touching or overlapping ones merged: typing's one-character inserts become one range. */
function mergeRanges(ranges: IdRange[]): IdRange[] {
  const sorted = [...ranges].sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const out: IdRange[] = [];
  for (const [client, clock, len] of sorted) {
    const last = out[out.length - 1];
    if (last && last[0] === client && clock <= last[1] + last[2]) last[2] = Math.max(last[2], clock + len - last[1]);
    else out.push([client, clock, len]);
  }
  return out;
}
