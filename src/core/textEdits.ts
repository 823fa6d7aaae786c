/**
 * Edits of one text file recorded as they were made, without a disk scan: what an editor
 * integration hands the replica (`Replica.recordTextEdit`) instead of saving and letting the
 * watcher find the save. The edits go into the file's doc exactly where they were typed (a
 * diff of a save cannot tell which of two equal characters was typed, and under concurrency
 * that choice decides how edits interleave), and into the history as one change of this
 * replica's, undoable like any other. The disk then gets the text by a guarded write
 * (`writeBack`): a save that reached the file meanwhile is handed back, recorded and merged,
 * never overwritten.
 *
 * Positions are UTF-16 code units (JavaScript string offsets) of the file's current text as
 * the replica has recorded it (`Replica.textOf`), as in CodeMirror and Monaco; LSP-style line
 * and character positions are the caller's to convert.
 */
import { CshareError } from './errors.js';
import { ChangeBatch } from './ChangeBatch.js';
import { gitBlobId } from './digest.js';
import type { FileDoc, TextOp } from './FileDoc.js';
import { patchFor, type OpEntry, type RecordedChange } from './history.js';
import type { ManifestEntry } from './ManifestDoc.js';
import type { ReplicaContext } from './ReplicaContext.js';
import { DEFAULT_TEXT_LIMIT } from './classify.js';

/** Replace the text from `from` up to (not including) `to` with `insert`; `from === to` inserts. */
export interface TextEdit {
  from: number;
  to: number;
  insert: string;
}

/** What `Replica.recordTextEdit` takes. */
export interface TextEditRequest {
  /** A shared text file, relative to the worktree root. */
  path: string;
  /**
   * Edits of the file's current text, all in its positions (not each in the text the one
   * before left), in any order; no two may overlap or start at one position.
   */
  edits: readonly TextEdit[];
  /** Who made them (an editor session, say `vscode:1234`): kept in the op entry. */
  origin: string;
}

/** A recorded text edit: the change, and who made it. */
export interface RecordedTextEdit extends RecordedChange {
  origin: string;
}

/** Longest origin kept. */
export const MAX_ORIGIN_CHARS = 256;

/** The checked edits of one file, ready to record (nothing has changed yet). */
export interface TextEditPlan {
  request: TextEditRequest;
  fileId: string;
  entry: ManifestEntry;
  doc: FileDoc;
  /** The edits as ops applied one after the other (each in the text the one before left). */
  ops: TextOp[];
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function refuse(message: string, data: Record<string, unknown>): CshareError {
  return new CshareError('USAGE', message, data);
}

/**
 * Checks a request against the file and its text and plans it; throws (`NOT_FOUND`: no shared
 * file at the path, or its content has not arrived; `USAGE`: not a text file, or an edit out
 * of range, overlapping another, splitting a character or putting a NUL in; `TOO_LARGE`: the
 * text would stop being text) and changes nothing when the request cannot be recorded.
 */
export async function planTextEdit(ctx: ReplicaContext, request: TextEditRequest, opts: { textLimit?: number } = {}): Promise<TextEditPlan> {
  const { path, origin } = request;
  if (typeof origin !== 'string' || origin === '' || origin.length > MAX_ORIGIN_CHARS) throw refuse(`the origin of an edit must be a name of 1 to ${MAX_ORIGIN_CHARS} characters`, { path });
  if (!Array.isArray(request.edits)) throw refuse('edits must be a list of {from, to, insert}', { path });
  const live = typeof path === 'string' ? ctx.manifest.live().get(path) : undefined;
  if (!live) throw new CshareError('NOT_FOUND', `${String(path)} is not a shared file`, { path });
  const { fileId, entry } = live;
  if (entry.kind !== 'text') throw refuse(`${path} is a ${entry.kind === 'binary' ? 'binary file' : 'symlink'}: only a text file takes edits`, { path, kind: entry.kind });
  if (!(await ctx.hasContent(fileId, entry))) throw new CshareError('NOT_FOUND', `the content of ${path} has not arrived here yet`, { path });
  // Loaded (or made from its base) in memory only: nothing is stored unless the edits are.
  const { doc } = await ctx.doc(fileId, entry, new ChangeBatch(), ctx.seq);
  const ops = toOps(path, doc.text, request.edits);
  const length = doc.text.length + ops.reduce((n, op) => n + op.ins.length - op.del.length, 0);
  // A UTF-16 unit is at most 3 UTF-8 bytes; checked exactly only near the limit.
  const limit = opts.textLimit ?? DEFAULT_TEXT_LIMIT;
  if (length * 3 > limit && new TextEncoder().encode(applied(doc.text, ops)).byteLength > limit) throw new CshareError('TOO_LARGE', `${path} would be over ${limit} bytes: no longer a text file cshare merges`, { path, limit });
  return { request, fileId, entry, doc, ops };
}

/** The edits as ops in application order; throws `USAGE` for an edit the text cannot take. */
function toOps(path: string, text: string, edits: readonly TextEdit[]): TextOp[] {
  const sorted = edits.map((e, i) => ({ ...checkEdit(path, text, e, i), i })).sort((a, b) => a.from - b.from || a.i - b.i);
  const ops: TextOp[] = [];
  let shift = 0;
  for (let k = 0; k < sorted.length; k++) {
    const e = sorted[k]!;
    const before = sorted[k - 1];
    if (before && (e.from < before.to || e.from === before.from)) throw refuse(`edits ${before.i} and ${e.i} of ${path} overlap (or start at one position)`, { path, edits: [before.i, e.i] });
    if (e.from === e.to && e.insert === '') continue;
    ops.push({ pos: e.from + shift, del: text.slice(e.from, e.to), ins: e.insert });
    shift += e.insert.length - (e.to - e.from);
  }
  return ops;
}

function checkEdit(path: string, text: string, edit: TextEdit, i: number): TextEdit {
  const { from, to, insert } = (edit ?? {}) as Partial<TextEdit>;
  if (!Number.isInteger(from) || !Number.isInteger(to) || typeof insert !== 'string') throw refuse(`edit ${i} of ${path} must be {from, to, insert} with whole numbers`, { path, edit: i });
  if (from! < 0 || from! > to! || to! > text.length) throw refuse(`edit ${i} of ${path} is out of range: ${from}..${to} of a text of ${text.length}`, { path, edit: i, length: text.length });
  if (splitsPair(text, from!) || splitsPair(text, to!)) throw refuse(`edit ${i} of ${path} splits a character (a surrogate pair)`, { path, edit: i });
  if (LONE_SURROGATE.test(insert) || insert.includes('\0')) throw refuse(`edit ${i} of ${path} inserts a NUL or half a character: a text file cannot hold it`, { path, edit: i });
  return { from: from!, to: to!, insert };
}

/** Does offset `i` fall between the halves of a surrogate pair in `s`? */
function splitsPair(s: string, i: number): boolean {
  if (i <= 0 || i >= s.length) return false;
  const hi = s.charCodeAt(i - 1);
  const lo = s.charCodeAt(i);
  return hi >= 0xd800 && hi <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff;
}

function applied(text: string, ops: readonly TextOp[]): string {
  let out = text;
  for (const op of ops) out = out.slice(0, op.pos) + op.ins + out.slice(op.pos + op.del.length);
  return out;
}

/**
 * Records a planned edit as one change of this replica's: into the doc and its log, the op
 * entry (with its origin) on the undo stack, the redo stack ended, as a save would be. The
 * text before is noted as a version on disk here first: a save made from it meanwhile is
 * merged from there when the write hands it back. Undefined when the edits change nothing.
 */
export async function recordTextEditPlan(ctx: ReplicaContext, plan: TextEditPlan): Promise<RecordedTextEdit | undefined> {
  const { request, fileId, entry, doc, ops } = plan;
  if (ops.length === 0) return undefined;
  const batch = new ChangeBatch();
  await ctx.noteTextBefore(batch, fileId, entry, doc);
  const change = doc.applyOps(ops);
  if (!change) return undefined;
  const seq = ctx.nextSeq();
  ctx.logFileUpdate(batch, fileId, seq, change.update);
  ctx.setTextDigest(batch, fileId, gitBlobId(new TextEncoder().encode(doc.text)));
  const op: OpEntry = {
    seq, kind: 'edit', time: ctx.now(), author: ctx.author, replica: ctx.identity.replicaId, fileId, path: request.path,
    inserted: change.inserted, deleted: change.deleted, ...patchFor(change.ops), inverse: { text: change.record }, origin: request.origin,
  };
  batch.putOp(op);
  // A new change ends the redo chain, as in every editor.
  for await (const undone of ctx.store.stack('re')) batch.dropFromStack('re', undone);
  batch.markUndoable(seq);
  await ctx.commit(batch);
  return { seq, kind: 'edit', path: request.path, inserted: change.inserted, deleted: change.deleted, origin: request.origin };
}
