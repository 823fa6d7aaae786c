import { CshareError } from './errors.js';
import { patchFor, type OpEntry, type RecordedChange } from './history.js';
import type { ManifestEntry } from './ManifestDoc.js';
import type { UndoRecord } from './FileDoc.js';
import { ChangeBatch } from './ChangeBatch.js';
import { cacheEntry, type ReplicaContext } from './ReplicaContext.js';
import { gitBlobId } from './digest.js';

/** What an undo or redo did. */
export interface UndoResult extends RecordedChange {
  /** The change that was reverted. */
  reverts: number;
}

const encoder = new TextEncoder();

/**
 * Reverts this replica's most recent change (to `path`, if given) from the undo stack, or
 * re-applies the most recent undo from the redo stack. The revert is itself recorded as a
 * change (kind `undo`/`redo`) whose inverse goes on the other stack, so the stacks survive a
 * restart: they are keys in the store, and text undo records are Yjs id ranges.
 *
 * Text undo is selective: it removes only the characters the change inserted and restores
 * only what it deleted, leaving other replicas' merged edits alone. Manifest-level changes
 * (create, delete, rename, mode, binary content) are reverted only while the file is still as
 * the change left it; otherwise `UNDO_CONFLICT`.
 *
 * The caller records unrecorded local edits first, so no keystroke is overwritten.
 */
export async function undoRedo(ctx: ReplicaContext, which: 'undo' | 'redo', path?: string): Promise<UndoResult> {
  const from = which === 'undo' ? 'un' : 're';
  const to = which === 'undo' ? 're' : 'un';
  const target = await findTarget(ctx, from, path);
  if (!target) {
    const code = which === 'undo' ? 'NOTHING_TO_UNDO' : 'NOTHING_TO_REDO';
    throw new CshareError(code, `nothing to ${which}${path ? ` for ${path}` : ''}`, path ? { path } : {});
  }
  const current = ctx.manifest.get(target.fileId);
  if (!current) throw new CshareError('STORE_CORRUPT', `change ${target.seq} names a file missing from the manifest`, { seq: target.seq });

  const seq = ctx.nextSeq();
  const batch = new ChangeBatch();
  const op: OpEntry = {
    seq, kind: which, time: ctx.now(), author: ctx.author, replica: ctx.identity.replicaId, fileId: target.fileId,
    path: current.path, inserted: 0, deleted: 0, reverts: target.seq, inverse: {},
  };
  const revert: Revert = { ctx, which, from, to, target, current, seq, batch, op };
  const text = target.inverse.text;
  const done = text ? await revertText(revert, text) : await revertManifest(revert);
  await recordRevert(revert, done);
  return { seq, kind: which, path: op.path, from: op.from, inserted: op.inserted, deleted: op.deleted, reverts: target.seq };
}

/**
 * One undo or redo under way. The steps below fill `op` (the change recorded for it) and
 * `batch` (its store writes) as they go, so `recordRevert` commits them together.
 */
interface Revert {
  ctx: ReplicaContext;
  which: 'undo' | 'redo';
  /** The stack the reverted change leaves, and the one this revert goes on. */
  from: 'un' | 're';
  to: 'un' | 're';
  /** The change being reverted. */
  target: OpEntry;
  /** The file's manifest entry now. */
  current: ManifestEntry;
  /** The seq of the change this revert records. */
  seq: number;
  batch: ChangeBatch;
  op: OpEntry;
}

/** The file after a revert, and the digest of its content for the stat cache. */
interface Reverted {
  next: ManifestEntry;
  digest: string;
}

/** Selectively reverts a text change in the file's doc and writes the result. */
async function revertText({ ctx, which, target, current, seq, batch, op }: Revert, record: UndoRecord): Promise<Reverted> {
  if (current.deleted || current.kind !== 'text') {
    throw new CshareError('UNDO_CONFLICT', `cannot ${which} change ${target.seq}: ${current.path} is no longer a text file`, { seq: target.seq });
  }
  const { doc } = await ctx.doc(target.fileId, current, batch, seq);
  const change = doc.undo(record);
  const bytes = encoder.encode(doc.text);
  // Text lives in the doc: the manifest entry stays as it is (see ManifestEntry.digest).
  const next = current;
  const digest = gitBlobId(bytes);
  ctx.setTextDigest(batch, target.fileId, digest);
  if (change) {
    ctx.logFileUpdate(batch, target.fileId, seq, change.update);
    Object.assign(op, { inserted: change.inserted, deleted: change.deleted, ...patchFor(change.ops) });
    op.inverse = { text: change.record };
  } else {
    op.inverse = { text: { insertions: [], deletions: [] } };
  }
  // Open in an editor: the revert reaches its buffer (`liveDocs.ts`), the disk waits for it to close.
  if (!ctx.live.isLive(target.fileId)) writeEntry(ctx, next, bytes);
  return { next, digest };
}

/**
 * Reverts a manifest-level change (create, delete, rename, mode, binary content) by putting
 * back the entry it replaced, but only while the file is still as the change left it.
 */
async function revertManifest(revert: Revert): Promise<Reverted> {
  const { which, target, current, op } = revert;
  const want = target.inverse.before ?? null;
  const was = target.inverse.after ?? null;
  if (was && !sameFile(was, current)) {
    throw new CshareError('UNDO_CONFLICT', `cannot ${which} change ${target.seq}: ${current.path} has changed since (record or revert that first)`, { seq: target.seq });
  }
  const done = !want || want.deleted ? await revertToDeleted(revert) : await revertToEntry(revert, want);
  op.inverse = { before: current, after: done.next };
  return done;
}

/** The change created the file (or the state to go back to is deleted): delete it. */
async function revertToDeleted({ ctx, target, current, op }: Revert): Promise<Reverted> {
  if (!current.deleted) ctx.fs.remove(current.path);
  const next: ManifestEntry = { ...current, deleted: true, lamport: ctx.nextLamport(), by: ctx.identity.replicaId };
  // A delete that saw the whole file: only an edit made elsewhere since brings it back.
  const seen = current.kind === 'text' ? await ctx.docStateVector(target.fileId) : undefined;
  if (seen) next.seen = seen;
  else delete next.seen;
  const digest = current.digest;
  if (current.kind === 'text' && !current.deleted) op.deleted = (await ctx.currentText(target.fileId, current)).length;
  return { next, digest };
}

/** Puts back the entry `want` (path, kind, mode, content), moving the file if it was renamed. */
async function revertToEntry({ ctx, which, target, current, batch, op }: Revert, want: ManifestEntry): Promise<Reverted> {
  const occupant = ctx.manifest.live().get(want.path);
  if (occupant && occupant.fileId !== target.fileId) {
    throw new CshareError('UNDO_CONFLICT', `cannot ${which} change ${target.seq}: ${want.path} is taken by another file`, { seq: target.seq });
  }
  const bytes = want.kind === 'text' ? encoder.encode(await ctx.currentText(target.fileId, want)) : await ctx.blobBytes(want.digest);
  if (!current.deleted && current.path !== want.path) ctx.fs.remove(current.path);
  const next: ManifestEntry = { ...want, lamport: ctx.nextLamport(), by: ctx.identity.replicaId };
  delete next.deleted;
  delete next.seen;
  const digest = gitBlobId(bytes);
  if (want.kind === 'text') ctx.setTextDigest(batch, target.fileId, digest);
  writeEntry(ctx, next, bytes);
  if (want.kind === 'text' && current.deleted) op.inserted = new TextDecoder().decode(bytes).length;
  op.path = want.path;
  if (want.path !== current.path) op.from = current.path;
  return { next, digest };
}

/**
 * Records the revert as one change: the manifest update, the op, the clock, the move from
 * one stack to the other and the stat cache, committed in one batch.
 */
async function recordRevert({ ctx, from, to, target, current, seq, batch, op }: Revert, { next, digest }: Reverted): Promise<void> {
  if (next !== current) ctx.logManifestUpdate(batch, seq, ctx.manifest.change((set) => set(target.fileId, next)));
  batch.putOp(op);
  batch.putLamport(ctx.lamport);
  batch.dropFromStack(from, target.seq);
  batch.pushStack(to, seq);
  if (!next.deleted && !(next === current && ctx.live.isLive(target.fileId))) {
    const st = ctx.fs.lstat(next.path);
    if (st) batch.putStat(next.path, cacheEntry(st, next.kind, digest, target.fileId));
  }
  if (op.from || next.deleted) batch.dropStat(current.path);
  await ctx.commit(batch);
}

async function findTarget(ctx: ReplicaContext, stack: 'un' | 're', path?: string): Promise<OpEntry | undefined> {
  const fileId = path === undefined ? undefined : ctx.manifest.live().get(path)?.fileId;
  for await (const seq of ctx.store.stack(stack)) {
    const op = await ctx.store.op(seq);
    if (!op) throw new CshareError('STORE_CORRUPT', `the ${stack === 'un' ? 'undo' : 'redo'} stack names a missing change ${seq}`, { seq });
    if (path === undefined || op.fileId === fileId || op.path === path || op.from === path) return op;
  }
  return undefined;
}

/** Are two entries the same file state (ignoring who wrote them when)? */
function sameFile(a: ManifestEntry, b: ManifestEntry): boolean {
  return a.path === b.path && !!a.deleted === !!b.deleted && a.digest === b.digest && a.mode === b.mode && a.kind === b.kind;
}

function writeEntry(ctx: ReplicaContext, entry: ManifestEntry, bytes: Uint8Array): void {
  if (entry.kind === 'symlink') ctx.fs.symlink(entry.path, new TextDecoder().decode(bytes));
  else ctx.fs.writeFile(entry.path, bytes, entry.mode === 0o100755 ? 0o755 : 0o644);
}
