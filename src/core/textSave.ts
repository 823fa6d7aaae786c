/**
 * Recording a save of a text file, and writing back the merged text when the save was merged.
 *
 * A save goes into the file's doc as an edit of the version it was made from (`saveBase.ts`):
 * the text now for most saves, an older version for an editor's stale buffer or a save that
 * landed while a remote change was being written. Merged from an older version, the doc then
 * holds more than the disk (the collaborator's change the save did not have), and the merged
 * text is written back, guarded like every write (`FileWrite.expect`), so a save that lands
 * meanwhile is recorded too, never overwritten.
 */
import { gitBlobId } from './digest.js';
import { logger } from './log.js';
import { writeGuarded } from './FsJournal.js';
import type { OwnChange, FileDoc } from './FileDoc.js';
import { patchFor, type OpEntry, type RecordedChange } from './history.js';
import { isText } from './classify.js';
import type { FileStat, FileWrite } from './ports.js';
import { cacheEntry, unstattedEntry, type ReplicaContext } from './ReplicaContext.js';
import { ChangeBatch } from './ChangeBatch.js';
import { chooseSaveBase, closerDistance, nearestDistance } from './saveBase.js';

const utf8 = new TextEncoder();
const log = logger('save');

/** What {@link recordTextSave} did. */
export interface TextSave {
  change: OwnChange | null;
  /** Set when the save was merged from an older version (for the op entry). */
  merge?: NonNullable<OpEntry['merge']>;
  /** Digest of the doc's text now (what the disk must get, if it does not hold it). */
  textDigest: string;
}

/**
 * Applies the save `saved` (git blob id `savedDigest`) of the file at `path` to its doc, from
 * the version it was most likely made from, and notes the versions now on disk here.
 * `duringApply`: the save was found displaced by a remote change's write.
 */
export async function recordTextSave(
  ctx: ReplicaContext,
  batch: ChangeBatch,
  seq: number,
  opts: { fileId: string; path: string; doc: FileDoc; saved: string; savedDigest: string; currentDigest: string; duringApply?: boolean },
): Promise<TextSave> {
  const { fileId, doc, saved, savedDigest } = opts;
  const versions = await ctx.versions(fileId);
  // A save an apply displaced was on disk before that write: what became of the written file
  // says nothing of it (convergence story 06b7cee trial 27: a displaced save equal to one
  // recorded already, taken as brought back on purpose because a poll had read the write).
  const lastWrite = opts.duringApply ? undefined : ctx.fs.lastWrite?.(opts.path);
  const choice = chooseSaveBase({ doc, versions, currentDigest: opts.currentDigest, saved, savedDigest, lastWrite });
  log('save of %s (%d chars, ends %o, %s, now %s): from %s (%s) of versions %s, last write %o', opts.path, saved.length, saved.slice(-12), savedDigest.slice(0, 8), opts.currentDigest.slice(0, 8), choice.base ? `change ${choice.base.seq} (${choice.base.origin})` : 'the text now', choice.reason, versions.map((v) => `${v.origin}:${v.digest.slice(0, 8)}`).join(','), lastWrite);
  let change: OwnChange | null | undefined;
  let merge: TextSave['merge'];
  if (choice.base) {
    change = doc.applyFromBase(choice.base.version, saved);
    if (change !== undefined) merge = { baseSeq: choice.base.seq, baseTime: choice.base.at, reason: opts.duringApply ? 'during-apply' : choice.reason === 'unchanged' ? 'unchanged' : 'closest' };
  }
  // Undefined (not null: a save that changed nothing of its base): no base could be used.
  if (change === undefined) change = doc.setText(saved);
  const textDigest = gitBlobId(utf8.encode(doc.text));
  // A merged save leaves the disk (and the editor that saved it) with a text the doc does not
  // show now: a later save from that buffer is made from it. (The text of an ordinary save is
  // noted only when a peer's change replaces it, in `applyChanges`: a typing session's saves
  // cost nothing here.)
  if (textDigest !== savedDigest && change?.savedVersion) await ctx.noteVersion(batch, fileId, savedDigest, change.savedVersion, 'save', seq);
  // A save found while a change was being written was in the file the write replaced, where a
  // writer that had it open may still add to it: that late save is made from this text
  // (convergence fuzz seed 285: merged from the text now, it undid the change).
  else if (opts.duringApply && change && textDigest === savedDigest) await ctx.noteVersion(batch, fileId, savedDigest, doc.version(), 'save', seq);
  return { change, merge, textDigest };
}

/**
 * Records `bytes`, a save made on the text file `fileId` that is no longer on disk here (it
 * was found where an apply wrote another file in its place: one created at once took its path),
 * as an edit of that file, merged from the version it was made from. Its text reaches the file
 * that took the path when that file is merged with it (`createConflicts.ts`). Resolves with
 * the change recorded (none: the file already had that text), or undefined (and records
 * nothing) when the file has no text here to take the save or the save is not text.
 */
export async function recordSaveOf(ctx: ReplicaContext, opts: { fileId: string; bytes: Uint8Array; textLimit?: number }): Promise<RecordedChange[] | undefined> {
  const { fileId, bytes } = opts;
  const entry = ctx.manifest.get(fileId);
  // A file deleted elsewhere (not merged into another) has nothing to take the save to.
  if (entry?.kind !== 'text' || (entry.deleted && entry.mergedInto === undefined) || !isText(bytes, opts.textLimit) || !(await ctx.hasContent(fileId, entry))) return undefined;
  const batch = new ChangeBatch();
  const seq = ctx.nextSeq();
  const { doc } = await ctx.doc(fileId, entry, batch, seq);
  // The doc's text, not the recorded digest: this file is not on disk here any more, and what
  // was last recorded of it can be behind its doc (edits that arrived after it lost the path).
  // Taken for the text now, that older version was no base, and the save was diffed against
  // the doc: it deleted what arrived since (convergence fuzz seed 3000126).
  const currentDigest = gitBlobId(utf8.encode(doc.text));
  const save = await recordTextSave(ctx, batch, seq, { fileId, path: entry.path, doc, saved: new TextDecoder().decode(bytes), savedDigest: gitBlobId(bytes), currentDigest, duringApply: true });
  ctx.setTextDigest(batch, fileId, save.textDigest);
  const { change } = save;
  const recorded: RecordedChange[] = [];
  if (change) {
    ctx.logFileUpdate(batch, fileId, seq, change.update);
    const op: OpEntry = {
      seq, kind: 'edit', time: ctx.now(), author: ctx.author, replica: ctx.identity.replicaId, fileId, path: entry.path,
      inserted: change.inserted, deleted: change.deleted, ...patchFor(change.ops), inverse: { text: change.record }, ...(save.merge ? { merge: save.merge } : {}),
    };
    batch.putOp(op);
    batch.markUndoable(seq);
    recorded.push({ seq, kind: 'edit', path: entry.path, inserted: change.inserted, deleted: change.deleted });
  }
  await ctx.commit(batch);
  log('recorded a save of %s found where another file took its path (%s)', entry.path, change ? `${change.inserted}+ ${change.deleted}-` : 'nothing new');
  return recorded;
}

/**
 * The file other than `fileId` that a save of the text file at `path` was made from, if one
 * was: a file that showed at this path before it changed hands (it lost the path to a file
 * created at once elsewhere, or was merged into this one) and that the save is closer to, by
 * the versions this replica had on disk of it or its text, than to any version of `fileId` or its text now.
 * An editor that loaded that file and saved after the path changed hands saves its buffer:
 * taken as an edit of `fileId`, it deleted what `fileId` has and the buffer had not
 * (convergence fuzz seed 275384664: a journal's first lines, from the file that kept the path).
 */
export async function savedFromFormer(ctx: ReplicaContext, opts: { fileId: string; path: string; doc: FileDoc; saved: string }): Promise<string | undefined> {
  const former = ctx.manifest.formerAt(opts.path).filter((id) => id !== opts.fileId);
  if (former.length === 0) return undefined;
  let best: string | undefined;
  let bestDistance = nearestDistance(opts.doc, await ctx.versions(opts.fileId), opts.saved);
  for (const id of former) {
    const entry = ctx.manifest.get(id);
    if (entry?.kind !== 'text' || !(await ctx.hasContent(id, entry))) continue;
    // Its versions on disk here, and its text now (a file written once, by the apply that
    // brought it, has no version noted: its doc was not loaded).
    const { doc } = await ctx.doc(id, entry, new ChangeBatch(), ctx.seq);
    const d = nearestDistance(doc, await ctx.versions(id), opts.saved);
    if (closerDistance(d, bestDistance)) {
      best = id;
      bestDistance = d;
    }
  }
  if (best !== undefined) log('save of %s is closest to what %s had there', opts.path, best.slice(0, 8));
  return best;
}

/** What {@link writeBack} found at the paths it wrote. */
export interface WriteBackResult {
  /** Saves that were at a path when it was written: recorded next from these bytes. */
  displaced: Map<string, Uint8Array>;
  /** Paths taken meanwhile (a file created there): left alone, scanned next. */
  occupied: string[];
}

/** Options of {@link writeBack}. */
export interface WriteBackOptions {
  /** What the disk is expected to hold at a path, where it is not what the stat cache says (a text an editor saved). */
  expect?: ReadonlyMap<string, string>;
}

/**
 * Writes the recorded content of each of `paths` where the disk holds something else (the
 * merged text of a save merged from an older version), expecting what the stat cache says is
 * there, and notes what was written.
 */
export async function writeBack(ctx: ReplicaContext, paths: readonly string[], opts: WriteBackOptions = {}): Promise<WriteBackResult> {
  const result: WriteBackResult = { displaced: new Map(), occupied: [] };
  if (paths.length === 0) return result;
  const cached = await ctx.store.statsAt(paths);
  const live = ctx.manifest.live();
  const writes: FileWrite[] = [];
  const items: { path: string; fileId: string; kind: 'text' | 'binary'; digest: string }[] = [];
  for (const path of paths) {
    const w = live.get(path);
    if (!w || w.entry.kind === 'symlink') continue;
    // Open in an editor: the disk waits for the editor to close it (see `liveDocs.ts`).
    if (w.entry.kind === 'text' && ctx.live.isLive(w.fileId)) continue;
    const bytes = w.entry.kind === 'text' ? utf8.encode(await ctx.currentText(w.fileId, w.entry)) : await ctx.blobBytes(w.entry.digest);
    const digest = gitBlobId(bytes);
    const seen = opts.expect?.get(path) ?? cached.get(path)?.digest;
    if (seen === digest) continue;
    writes.push({ rel: path, data: bytes, mode: w.entry.mode === 0o100755 ? 0o755 : 0o644, expect: seen ?? null });
    items.push({ path, fileId: w.fileId, kind: w.entry.kind, digest });
  }
  if (writes.length === 0) return result;
  const stats = new Map<string, FileStat | undefined>();
  for (const s of await writeGuarded(ctx.fs, writes, { flush: true })) {
    if (s.displaced) result.displaced.set(s.rel, s.displaced);
    if (s.occupied) result.occupied.push(s.rel);
    else stats.set(s.rel, s.stat);
  }
  const batch = new ChangeBatch();
  for (const item of items) {
    if (!stats.has(item.path)) continue;
    // The stat taken as it was put in place (see `settleWritten` in `apply.ts`); none: changed at once, and
    // the watcher's scan of it records that save.
    const st = stats.get(item.path);
    if (st) batch.putStat(item.path, cacheEntry(st, item.kind, item.digest, item.fileId));
    else {
      batch.putStat(item.path, unstattedEntry(item.kind, item.digest, item.fileId));
      result.occupied.push(item.path);
    }
    const doc = item.kind === 'text' ? ctx.loadedDoc(item.fileId) : undefined;
    if (doc) await ctx.noteVersion(batch, item.fileId, item.digest, doc.version(), 'apply', ctx.seq);
  }
  await ctx.commit(batch);
  return result;
}
