/**
 * The recording steps of `recordScan`, one change each, once `recordScan.ts` has
 * classified what the scan found: a rename, an edit of a recorded file (a text edit into its
 * doc, a new blob, a mode change), a create, a delete. Each adds its op entry (and manifest
 * entry) to the run's batch ({@link ScanRecording}).
 */
import { isText } from './classify.js';
import { gitBlobId } from './digest.js';
import { createOfBlob, patchFor, type OpEntry } from './history.js';
import { deriveFileId, type ManifestEntry } from './ManifestDoc.js';
import { readContent, type LiveFile, type ScanRecording } from './ScanRecording.js';
import type { ScannedFile } from './Scanner.js';
import { recordTextSave, savedFromFormer } from './textSave.js';

/** Git's id of empty content. */
const EMPTY_BLOB = 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391';
/** A file emptied less than this long ago is read again after {@link SETTLE_WAIT_MS}. */
const SETTLE_MS = 1000;
const SETTLE_WAIT_MS = 100;

/** A recorded file whose content or mode on disk differs from its entry's. */
export interface ModifiedFile extends LiveFile {
  file: ScannedFile;
}

/** Records a live file found at another path: a rename (with its mode there). */
export async function recordRename(rec: ScanRecording, { file, fileId, entry }: ModifiedFile): Promise<void> {
  const { ctx } = rec;
  const seq = ctx.nextSeq();
  const after: ManifestEntry = { ...entry, path: file.path, mode: file.mode, lamport: ctx.nextLamport(), by: ctx.identity.replicaId };
  const op = { ...rec.op(seq, 'rename', fileId, file.path), from: entry.path, inverse: { before: entry, after } };
  rec.heldAs.set(file.path, fileId);
  rec.holdStat(file, fileId);
  rec.batch.dropStat(entry.path);
  await rec.addOp(op, [fileId, after], true);
}

/** Records what changed of a file at its recorded path: its content, then its mode. */
export async function recordModified(rec: ScanRecording, m: ModifiedFile): Promise<void> {
  const { ctx, opts } = rec;
  const { file, fileId } = m;
  rec.heldAs.set(file.path, fileId);
  let entry = m.entry;
  const bytes = await readSettled(rec, m);
  if (bytes === undefined) return; // vanished since the scan: the next scan records the delete
  const { kind, digest } = classifyBytes(bytes, file.kind === 'symlink', opts.textLimit);
  const contentChanged = digest !== ctx.contentDigest(fileId, entry) || kind !== entry.kind;
  if (contentChanged && kind === 'text' && entry.kind === 'text') {
    if (!(await recordTextEdit(rec, { ...m, bytes, digest }))) return;
  } else if (contentChanged) {
    entry = await recordNewContent(rec, { ...m, bytes, kind, digest });
  }
  if (file.mode !== entry.mode) {
    const seq = ctx.nextSeq();
    const after: ManifestEntry = { ...entry, mode: file.mode, lamport: ctx.nextLamport(), by: ctx.identity.replicaId };
    await rec.addOp({ ...rec.op(seq, 'mode', fileId, file.path), inverse: { before: entry, after } }, [fileId, after], true);
  }
}

/** Reads a modified file's bytes, again a moment later if it was just emptied. */
async function readSettled(rec: ScanRecording, { file, fileId, entry }: ModifiedFile): Promise<Uint8Array | undefined> {
  const { ctx, opts } = rec;
  const bytes = readContent(rec.fs, file);
  if (bytes === undefined) return undefined;
  const settle = opts.settleEmptiedMs ?? SETTLE_WAIT_MS;
  if (settle > 0 && bytes.byteLength === 0 && file.kind !== 'symlink' && ctx.contentDigest(fileId, entry) !== EMPTY_BLOB && ctx.now() - file.stat.mtimeMs < SETTLE_MS) {
    // Emptied a moment ago: most likely an in-place save between its truncate and its write.
    // Recorded as is, that is a delete of the whole text and then its insert, which merged
    // with a peer's concurrent edit keeps two copies of the file. Read it again shortly.
    await new Promise((resolve) => setTimeout(resolve, settle));
    return readContent(rec.fs, file);
  }
  return bytes;
}

/**
 * Records one text edit: the saved text goes into the file's doc as minimal Yjs ops (from the
 * version it was made from, see `saveBase.ts`); the manifest entry is left alone. False when
 * the save was another file's (saved from the buffer of the file that had this path before)
 * and recorded as that file's edit instead.
 */
export async function recordTextEdit(rec: ScanRecording, edit: ModifiedFile & { bytes: Uint8Array; digest: string }): Promise<boolean> {
  const { ctx } = rec;
  const { file, fileId, entry, bytes, digest } = edit;
  const seq = ctx.nextSeq();
  const { doc } = await ctx.doc(fileId, entry, rec.batch, seq);
  const saved = new TextDecoder().decode(bytes);
  // Saved from the buffer of a file that had this path before: an edit of that file, which
  // reaches this one as their merge does; the disk then gets this file's text.
  const former = await savedFromFormer(ctx, { fileId, path: file.path, doc, saved });
  if (former !== undefined && (await rec.saveOf(former, file))) {
    if (!rec.writeBack.includes(file.path)) rec.writeBack.push(file.path);
    return false;
  }
  // A save an apply displaced: the apply's write put the doc's text now on disk, and a
  // writer may have read that and saved from it since. Recorded, this save moves the doc
  // on, so that text is noted as a version a later save can be merged from (convergence
  // fuzz seed 4000576: a journal append made on it, taken as made on the text after this
  // save, replaced this save's line).
  if (rec.inOverlay(file.path)) await ctx.noteTextBefore(rec.batch, fileId, entry, doc);
  const save = await recordTextSave(ctx, rec.batch, seq, {
    fileId, path: file.path, doc, saved, savedDigest: digest,
    currentDigest: ctx.contentDigest(fileId, entry), duringApply: rec.inOverlay(file.path),
  });
  const { change } = save;
  ctx.setTextDigest(rec.batch, fileId, save.textDigest);
  // The disk gets the recorded text where it holds another: a merge's, or any text for a
  // save known only in memory (the write that displaced it left its own content there).
  if (save.textDigest !== digest) rec.writeBack.push(file.path);
  if (save.merge) rec.merged.push({ path: file.path, seq, merge: save.merge });
  if (change) {
    ctx.logFileUpdate(rec.batch, fileId, seq, change.update);
    const op: OpEntry = { ...rec.op(seq, 'edit', fileId, file.path), inserted: change.inserted, deleted: change.deleted, ...patchFor(change.ops), inverse: { text: change.record }, ...(save.merge ? { merge: save.merge } : {}) };
    await rec.addOp(op, null, true);
  }
  // else: the doc already had this text (say, written by a merge), or the save was an
  // unchanged stale buffer: only the digest was new.
  return true;
}

/**
 * Records new content that is not a text edit (a kind change, a binary or symlink edit) as a
 * new manifest entry; returns it.
 */
async function recordNewContent(rec: ScanRecording, change: ModifiedFile & { bytes: Uint8Array; kind: ScannedFile['kind']; digest: string }): Promise<ManifestEntry> {
  const { ctx } = rec;
  const { file, fileId, entry, bytes, kind, digest } = change;
  const seq = ctx.nextSeq();
  const op = rec.op(seq, 'edit', fileId, file.path);
  const after: ManifestEntry = { ...entry, kind, digest, size: bytes.byteLength, lamport: ctx.nextLamport(), by: ctx.identity.replicaId };
  // A kind change or a binary/symlink edit: the new content is a blob, and undo restores
  // the previous manifest entry (whose blob stays in the store).
  if (kind === 'text' && !(await ctx.hasHistory(fileId))) after.base = digest;
  else if (kind === 'text') {
    const { doc } = await ctx.doc(fileId, { ...entry, kind: 'text' }, rec.batch, seq);
    const textChange = doc.setText(new TextDecoder().decode(bytes));
    if (textChange) ctx.logFileUpdate(rec.batch, fileId, seq, textChange.update);
    ctx.setTextDigest(rec.batch, fileId, digest);
  }
  rec.batch.putBlob(digest, bytes);
  op.inverse = { before: entry, after };
  await rec.addOp(op, [fileId, after], true);
  return after;
}

/** Records a new file: a manifest entry (with a fresh id if its derived one is taken) and its blob. */
export async function recordCreate(rec: ScanRecording, file: ScannedFile): Promise<void> {
  const { ctx, opts } = rec;
  const bytes = readContent(rec.fs, file);
  if (bytes === undefined) return;
  const { kind, digest } = classifyBytes(bytes, file.kind === 'symlink', opts.textLimit);
  let fileId = deriveFileId(file.path, digest);
  let before = ctx.manifest.get(fileId) ?? null;
  if (before && !before.deleted) {
    // The derived id is taken by a live file that was renamed away: use a fresh one.
    fileId = deriveFileId(file.path, `${digest}\0${ctx.identity.replicaId}\0${ctx.seq}`);
    before = null;
  }
  rec.heldAs.set(file.path, fileId);
  const seq = ctx.nextSeq();
  const after: ManifestEntry = {
    path: file.path, kind, mode: file.mode, digest, size: bytes.byteLength, base: before?.base ?? digest,
    lamport: ctx.nextLamport(), by: ctx.identity.replicaId,
  };
  const op = rec.op(seq, 'create', fileId, file.path);
  rec.batch.putBlob(digest, bytes);
  if (kind === 'text') {
    const text = new TextDecoder().decode(bytes);
    Object.assign(op, createOfBlob(text, digest));
    await bringDocToCreate(rec, { file, fileId, seq, text, digest, after, revived: before !== null });
  }
  op.inverse = { before, after };
  rec.holdStat(file, fileId);
  // The first scan of a worktree is its baseline, not an edit anyone would want to undo.
  await rec.addOp(op, [fileId, after], !rec.initialImport);
}

/** Of a text create whose file id already has a doc history: what that doc gets, and the disk. */
async function bringDocToCreate(
  rec: ScanRecording,
  c: { file: ScannedFile; fileId: string; seq: number; text: string; digest: string; after: ManifestEntry; revived: boolean },
): Promise<void> {
  const { ctx } = rec;
  const { file, fileId, seq, text, digest, after } = c;
  if (c.revived && (await ctx.hasHistory(fileId))) {
    // Revived file with history: bring its doc to the new content.
    const { doc } = await ctx.doc(fileId, after, rec.batch, seq);
    const change = doc.setText(text);
    if (change) ctx.logFileUpdate(rec.batch, fileId, seq, change.update);
    ctx.setTextDigest(rec.batch, fileId, digest);
  } else if (!c.revived && (await ctx.hasHistory(fileId))) {
    // A peer created this file too (same path, same first text: same id and base) and its
    // edits came before its manifest entry (a first join records its own files after the
    // catch-up). This create is that base; the peer's edits were made on it concurrently,
    // so the disk gets the doc's text, as a merge of two concurrent edits would give.
    // Recorded as the base alone, the disk kept it, and the peer's entry, losing to this
    // later create, wrote nothing: its edits stayed off this disk (fuzz seed 31000177).
    const { doc } = await ctx.doc(fileId, after, rec.batch, seq);
    const created = doc.baseVersion(text);
    if (doc.text !== text && doc.textAt(created) === text) {
      // The editor that made the file holds its first text: a save from it is merged from there.
      await ctx.noteVersion(rec.batch, fileId, digest, created, 'save', seq);
      ctx.setTextDigest(rec.batch, fileId, gitBlobId(new TextEncoder().encode(doc.text)), after.base);
      rec.writeBack.push(file.path);
    }
  }
}

/** Records a live file gone from disk as deleted (one never written here is not gone: see `unseen`). */
export async function recordDelete(rec: ScanRecording, { fileId, entry }: LiveFile): Promise<void> {
  const { ctx } = rec;
  // A file whose content has not arrived yet (a joiner that got the manifest entry before
  // the blob) was never written here: its absence is not a delete.
  if (!(await rec.wasOnDisk(fileId, entry))) {
    rec.unseen.push({ fileId, entry });
    return;
  }
  const seq = ctx.nextSeq();
  const op = rec.op(seq, 'delete', fileId, entry.path);
  if (entry.kind === 'text') op.deleted = (await ctx.currentText(fileId, entry)).length;
  const after: ManifestEntry = { ...entry, deleted: true, lamport: ctx.nextLamport(), by: ctx.identity.replicaId };
  // What of the file this delete saw: an edit made elsewhere that it did not see wins over it.
  const seen = entry.kind === 'text' ? await ctx.docStateVector(fileId) : undefined;
  if (seen) after.seen = seen;
  else delete after.seen;
  op.inverse = { before: entry, after };
  rec.batch.dropStat(entry.path);
  await rec.addOp(op, [fileId, after], true);
}

/** Kind and digest of bytes read for recording. */
export function classifyBytes(bytes: Uint8Array, symlink: boolean, textLimit?: number): { kind: ScannedFile['kind']; digest: string } {
  return { kind: symlink ? 'symlink' : isText(bytes, textLimit) ? 'text' : 'binary', digest: gitBlobId(bytes) };
}
