import { isText } from './classify.js';
import { gitBlobId } from './digest.js';
import { CshareError } from './errors.js';
import { createOfBlob, patchFor, type OpEntry, type OpKind } from './history.js';
import { logger } from './log.js';
import { linkObstacle } from './obstacles.js';
import { deriveFileId, type ManifestEntry } from './ManifestDoc.js';
import { ChangeBatch, seqKey } from './ReplicaStore.js';
import { cacheEntry, type ReplicaContext } from './ReplicaContext.js';
import { pendingChanges } from './pending.js';
import { isCshareAsideName } from './paths.js';
import { isIgnoreFile, scanWorktree, type ScannedFile, type ScanResult, type ScanScope } from './Scanner.js';
import { OverlayFs } from './OverlayFs.js';
import type { WorktreeFs } from './ports.js';
import { recordSaveOf, recordTextSave, savedFromFormer } from './textSave.js';
import { mergeLostCreates, shownFileAt } from './createConflicts.js';

const log = logger('record');

/** A file moved aside this long ago is a leftover of a process that ended before removing it. */
const ASIDE_LEFTOVER_MS = 60_000;

/** Git's id of empty content. */
const EMPTY_BLOB = 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391';
/** A file emptied less than this long ago is read again after {@link SETTLE_WAIT_MS}. */
const SETTLE_MS = 1000;
const SETTLE_WAIT_MS = 100;

/**
 * Flush a batch once it holds this many bytes or changes (one LevelDB write each, which
 * LevelDB copies natively: a first `share --once` of 30,000 files peaked at 459 MB RSS with
 * 16 MB batches, 376 MB with 8 MB, 351 MB with 4 MB; times 84–114 s, within this machine's noise).
 */
const BATCH_BYTES = 4 * 1024 * 1024;
const BATCH_CHANGES = 2000;
/** Stat cache entries written in one batch. */
const BATCH_STATS = 5000;

/** What one recorded change looks like to a caller. */
export interface RecordedChange {
  seq: number;
  kind: OpKind;
  path: string;
  from?: string;
  inserted: number;
  deleted: number;
}

/** What {@link recordScan} did. */
export interface ScanReport {
  recorded: RecordedChange[];
  files: number;
  counts: ScanResult['counts'];
  errors: ScanResult['errors'];
  /** Saves merged from an older version than the text on disk (see `saveBase.ts`). */
  merged: { path: string; seq: number; merge: NonNullable<OpEntry['merge']> }[];
  /** Paths whose recorded content is now other than what the disk holds: to write back. */
  writeBack: string[];
}

/** Options for {@link recordScan}. */
export interface RecordOptions {
  textLimit?: number;
  home?: string;
  env?: Record<string, string | undefined>;
  signal?: AbortSignal;
  /** Called after each batch has been committed, with the changes it holds. */
  onRecorded?: (changes: RecordedChange[]) => void;
  /** See `ReplicaOptions.settleEmptiedMs` (default {@link SETTLE_WAIT_MS}; 0: off). */
  settleEmptiedMs?: number;
  /** Scan and record only these paths (see {@link ScanScope}); default: the whole worktree. */
  scope?: ScanScope;
  /**
   * Saves known only in memory, by path (`WriteSurprise.displaced`): recorded as though they
   * were on disk (see `OverlayFs`), as saves made while a write was under way.
   */
  overlay?: ReadonlyMap<string, Uint8Array>;
  /**
   * Paths whose file is new, though a live entry has the path (`ApplyResult.fresh`): recorded
   * as creates (or the new half of a rename), never as an edit of that entry.
   */
  fresh?: ReadonlySet<string>;
}

/**
 * Records every change since the last scan: text edits as minimal Yjs ops on the file's doc,
 * binaries by digest, and creates, deletes, renames and mode changes in the manifest.
 * Changes are grouped into LevelDB batches; a change is reported (`onRecorded`) only after
 * its batch is on disk, so `kill -9` never loses a change that was reported.
 */
export async function recordScan(ctx: ReplicaContext, opts: RecordOptions): Promise<ScanReport> {
  const { scope } = opts;
  // A scoped scan reads the stat cache of its scope only (what it compares, and what it
  // brings up to date below): not 100,000 entries for one save.
  const statCache = scope ? await ctx.store.statCacheOf(scope.list()) : await ctx.store.statCache();
  const overlay = opts.overlay;
  const fs = overlay && overlay.size > 0 ? new OverlayFs(ctx.fs, overlay) : ctx.fs;
  const scan = scanWorktree({ fs, statCache, textLimit: opts.textLimit, home: opts.home, env: opts.env, signal: opts.signal, scope, ...ctx.scanPolicy(statCache) });
  // Recording holds the replica (no write of this process is under way): a temp file is a
  // leftover of a process killed mid-write, never shared, and removed here.
  for (const path of scan.leftovers) {
    // A file moved aside by a write of this process is its own for a moment (see `NodeFs`).
    if (isCshareAsideName(path.slice(path.lastIndexOf('/') + 1)) && ctx.now() - (ctx.fs.lstat(path)?.mtimeMs ?? 0) < ASIDE_LEFTOVER_MS) continue;
    try {
      ctx.fs.remove(path);
    } catch (err) {
      scan.errors.push({ path, message: `could not remove a leftover temp file: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
  const pending = pendingChanges(ctx.recorded(), scan, scope, (path) => isOnDisk(ctx, path), opts.fresh);
  // A file gone from the scope, or a new one holding what a file outside it holds, may be
  // half of a move whose other half the scope does not cover: the whole tree is scanned, so
  // a move stays a rename (the file keeps its history, and a remote edit of it follows it).
  // An entry whose file was never written here (its content still on the way) is not gone.
  if (scope && (pending.deletes.some((d) => statCache.has(d.entry.path)) || mayBeMovedIn(ctx, pending.creates, scope))) {
    log('scoped scan found a file gone or a copy of one outside its scope; scanning the whole tree');
    return recordScan(ctx, { ...opts, scope: undefined });
  }
  const initialImport = ctx.manifest.live().size === 0;
  const recorded: RecordedChange[] = [];
  const merged: ScanReport['merged'] = [];
  const writeBack: string[] = [];

  let batch = new ChangeBatch();
  let inBatch: RecordedChange[] = [];
  let manifestSets: [string, ManifestEntry][] = [];
  let anyOwn = false;

  const flush = async () => {
    if (manifestSets.length > 0) {
      const sets = manifestSets;
      const update = ctx.manifest.change((set) => {
        for (const [id, e] of sets) set(id, e);
      });
      // The manifest update is logged under the last change of the batch: the batch is atomic.
      ctx.logManifestUpdate(batch, inBatch.at(-1)?.seq ?? ctx.seq, update);
      batch.putJson('meta:lamport', ctx.lamport);
    }
    await ctx.commit(batch);
    if (inBatch.length > 0) {
      recorded.push(...inBatch);
      opts.onRecorded?.(inBatch);
    }
    batch = new ChangeBatch();
    inBatch = [];
    manifestSets = [];
  };

  const addOp = async (op: OpEntry, entryUpdate: [string, ManifestEntry] | null, undoable: boolean) => {
    batch.putJson(`o:${seqKey(op.seq)}`, op);
    // An ignore file saved here is what this machine's user accepts from now on.
    if (isIgnoreFile(op.path)) ctx.acceptRules(batch, op.path);
    if (op.from !== undefined && isIgnoreFile(op.from)) ctx.acceptRules(batch, op.from);
    if (undoable) {
      if (!anyOwn) {
        // A new change ends the redo chain, as in every editor.
        for await (const seq of ctx.store.stack('re')) batch.del(`re:${seqKey(seq)}`);
        anyOwn = true;
      }
      batch.put(`un:${seqKey(op.seq)}`, new Uint8Array());
    }
    if (entryUpdate) manifestSets.push(entryUpdate);
    inBatch.push({ seq: op.seq, kind: op.kind, path: op.path, from: op.from, inserted: op.inserted, deleted: op.deleted });
    if (batch.bytes >= BATCH_BYTES || inBatch.length >= BATCH_CHANGES) await flush();
  };

  // A change that moves a file to or from a path updates that path's stat cache entry in its
  // own batch, not only with the rest of the stat cache after every change is committed: a
  // crash between the two left the entry of a file deleted or moved away here, and the next
  // scan took another file that has the path now (one that had lost it to a file created at
  // once elsewhere) for a file this replica held, found it gone and recorded a delete of it
  // that no user made (convergence fuzz seeds 9000138 and 1177644441).
  const holdStat = (file: ScannedFile, fileId: string) => {
    // A save known only in memory: the disk holds what the write that displaced it left.
    if (!overlay?.has(file.path)) batch.putJson(`s:${file.path}`, { ...file.stat, fileId });
  };

  const base = (seq: number, kind: OpKind, fileId: string, path: string): OpEntry => ({
    seq, kind, time: ctx.now(), author: ctx.author, replica: ctx.identity.replicaId, fileId, path, inserted: 0, deleted: 0, inverse: {},
  });

  // A file at the path of an entry whose content has not arrived yet is not an edit of that
  // entry (there is nothing to edit: no text to diff against). If it is still what this
  // replica last wrote or scanned there (the stat cache's digest), it is the entry's previous
  // content waiting to be replaced, not a change: recorded as new, it would win over the
  // remote edit and bring the old content back everywhere. Otherwise it is the user's own
  // file, recorded as new, and the two entries' claim on the path resolves as concurrent
  // creates do.
  // Nor is a file this replica never held as the entry (no stat cache entry: it never wrote
  // nor recorded that path) an edit of it: an apply found it there, not shared from here
  // (made while a first join's catch-up ran, or ignored until a rule went), and left it.
  // Recorded as an edit, it would replace the peer's text everywhere; recorded as new, the
  // two are merged as concurrent creates are (`createConflicts.ts`), both texts kept.
  // And a file the disk shows as another shared file than the one now at its path (one that
  // lost the path to this entry, created at once elsewhere, not yet replaced here: the stat
  // cache says whose content it is) is still that file: unchanged, it waits to be replaced; a
  // save of it is an edit of it, which reaches this entry with their merge (convergence fuzz
  // seeds 40 and 97: recorded as new, it made a third file at the path, merged twice).
  const savedInto: string[] = [];
  /** Edits of content not here yet: not recorded, their stat entries left as they are. */
  const waiting = new Set<string>();
  /** The shared file each recorded path now holds the content of (for the stat cache). */
  const heldAs = new Map<string, string>();
  /** Records the file at `path` as a save of `fileId`; false if that file cannot take it. */
  const saveOf = async (fileId: string, file: ScannedFile): Promise<boolean> => {
    const bytes = readContent(fs, file);
    const changes = bytes === undefined ? undefined : await recordSaveOf(ctx, { fileId, bytes, textLimit: opts.textLimit });
    if (changes === undefined) return false;
    savedInto.push(fileId);
    heldAs.set(file.path, fileId);
    if (changes.length > 0) {
      recorded.push(...changes);
      opts.onRecorded?.(changes);
    }
    return true;
  };
  for (const m of [...pending.modified]) {
    const cached = statCache.get(m.file.path);
    // A file id the manifest does not know (a file recorded here before a first join, whose
    // record the join set aside) says nothing of a shared file: what the disk holds was never
    // shared, and is new (convergence fuzz seed 857023539: taken for a loser waiting to be
    // replaced, the user's file stayed unrecorded for good).
    const held = cached?.fileId !== undefined && ctx.manifest.get(cached.fileId) !== undefined ? cached.fileId : undefined;
    const stranger = cached?.fileId !== undefined && held === undefined;
    if (held !== undefined && held !== m.fileId) {
      pending.modified.splice(pending.modified.indexOf(m), 1);
      if (cached!.digest !== m.file.digest && !(await saveOf(held, m.file))) pending.creates.push(m.file);
      continue;
    }
    // What an interrupted apply wrote of this file, edited since (see below): an edit of it.
    const interrupted = ctx.interrupted.get(m.file.path)?.fileId === m.fileId;
    if (await ctx.hasContent(m.fileId, m.entry)) {
      if (interrupted) ctx.dropInterrupted(batch, m.file.path);
      if ((statCache.has(m.file.path) && !stranger) || interrupted) continue;
      log('%s was never held here as the shared file: recorded as a new file at its path', m.file.path);
      pending.modified.splice(pending.modified.indexOf(m), 1);
      pending.creates.push(m.file);
      continue;
    }
    pending.modified.splice(pending.modified.indexOf(m), 1);
    const seen = statCache.get(m.file.path)?.digest;
    if (seen === m.file.digest) continue;
    // This replica wrote the entry's content here (the stat cache says so) and the file holds
    // something else now: an edit of that content, made before its store caught up (a crash
    // lost the content with the apply's commit, fresh seed 31001098). It is recorded once the
    // content arrives: that apply finds a save where it writes, and merges it (`exchange.ts`).
    // Until then its stat entry stays as it is, still saying what was written: updated to the
    // save, it would tell that apply the disk held nothing of the user's.
    // (Not a save known only in memory, displaced by a write: it is recorded now, as new.)
    if ((held === m.fileId || interrupted) && !overlay?.has(m.file.path)) {
      log('%s holds an edit of content not here yet: recorded when it arrives', m.file.path);
      waiting.add(m.file.path);
      continue;
    }
    // As above, for a stat cache entry that does not say whose content it is (an older store):
    // the file at this path whose recorded text is what the stat cache saw.
    const shown = seen === undefined ? undefined : shownFileAt(ctx, m.file.path, seen, m.fileId);
    if (shown === undefined || !(await saveOf(shown, m.file))) pending.creates.push(m.file);
  }
  // A file at a path an interrupted apply was writing another to (one the store lost), edited
  // since: an edit of that file, which waits for its entry to be here again (the catch-up
  // brings it; its apply takes the file for a save of it). Recorded as new, it was merged with
  // that file as a concurrent create, and the text they share came out twice (fresh seed
  // 31000852).
  for (const file of [...pending.creates]) {
    const w = ctx.interrupted.get(file.path);
    if (!w || overlay?.has(file.path)) continue;
    if (ctx.manifest.get(w.fileId) !== undefined) {
      ctx.dropInterrupted(batch, file.path);
      continue;
    }
    log('%s holds an edit of a file an interrupted apply wrote there: recorded when that file is here again', file.path);
    pending.creates.splice(pending.creates.indexOf(file), 1);
    waiting.add(file.path);
  }
  // Live entries never written here (see `materialize`).
  const unseen: { fileId: string; entry: ManifestEntry }[] = [];
  // Nor is a new file with the digest of an entry that was never on disk here a rename of it
  // (a new empty file would otherwise take over any empty file still in transit).
  for (const r of [...pending.renames]) {
    if (await wasOnDisk(ctx, statCache, r.fileId, r.entry)) continue;
    pending.renames.splice(pending.renames.indexOf(r), 1);
    pending.creates.push(r.file);
    unseen.push(r);
  }

  for (const { file, fileId, entry } of pending.renames) {
    opts.signal?.throwIfAborted();
    const seq = ctx.nextSeq();
    const after: ManifestEntry = { ...entry, path: file.path, mode: file.mode, lamport: ctx.nextLamport(), by: ctx.identity.replicaId };
    const op = { ...base(seq, 'rename', fileId, file.path), from: entry.path, inverse: { before: entry, after } };
    heldAs.set(file.path, fileId);
    holdStat(file, fileId);
    batch.del(`s:${entry.path}`);
    await addOp(op, [fileId, after], true);
  }

  for (const m of pending.modified) {
    opts.signal?.throwIfAborted();
    const { file, fileId } = m;
    heldAs.set(file.path, fileId);
    let entry = m.entry;
    let bytes = readContent(fs, file);
    if (bytes === undefined) continue; // vanished since the scan: the next scan records the delete
    const settle = opts.settleEmptiedMs ?? SETTLE_WAIT_MS;
    if (settle > 0 && bytes.byteLength === 0 && file.kind !== 'symlink' && ctx.contentDigest(fileId, entry) !== EMPTY_BLOB && ctx.now() - file.stat.mtimeMs < SETTLE_MS) {
      // Emptied a moment ago: most likely an in-place save between its truncate and its write.
      // Recorded as is, that is a delete of the whole text and then its insert, which merged
      // with a peer's concurrent edit keeps two copies of the file. Read it again shortly.
      await new Promise((resolve) => setTimeout(resolve, settle));
      bytes = readContent(fs, file);
      if (bytes === undefined) continue;
    }
    const { kind, digest } = classifyBytes(bytes, file.kind === 'symlink', opts.textLimit);
    const contentChanged = digest !== ctx.contentDigest(fileId, entry) || kind !== entry.kind;
    if (contentChanged && kind === 'text' && entry.kind === 'text') {
      // A text edit goes to the file's doc only; the manifest entry is left alone.
      const seq = ctx.nextSeq();
      const { doc } = await ctx.doc(fileId, entry, batch, seq);
      const saved = new TextDecoder().decode(bytes);
      // Saved from the buffer of a file that had this path before: an edit of that file, which
      // reaches this one as their merge does; the disk then gets this file's text.
      const former = await savedFromFormer(ctx, { fileId, path: file.path, doc, saved });
      if (former !== undefined && (await saveOf(former, file))) {
        if (!writeBack.includes(file.path)) writeBack.push(file.path);
        continue;
      }
      // A save an apply displaced: the apply's write put the doc's text now on disk, and a
      // writer may have read that and saved from it since. Recorded, this save moves the doc
      // on, so that text is noted as a version a later save can be merged from (convergence
      // fuzz seed 4000576: a journal append made on it, taken as made on the text after this
      // save, replaced this save's line).
      if (overlay?.has(file.path)) await ctx.noteTextBefore(batch, fileId, entry, doc);
      const save = await recordTextSave(ctx, batch, seq, {
        fileId, path: file.path, doc, saved, savedDigest: digest,
        currentDigest: ctx.contentDigest(fileId, entry), duringApply: overlay?.has(file.path),
      });
      const { change } = save;
      ctx.setTextDigest(batch, fileId, save.textDigest);
      // The disk gets the recorded text where it holds another: a merge's, or any text for a
      // save known only in memory (the write that displaced it left its own content there).
      if (save.textDigest !== digest) writeBack.push(file.path);
      if (save.merge) merged.push({ path: file.path, seq, merge: save.merge });
      if (change) {
        ctx.logFileUpdate(batch, fileId, seq, change.update);
        const op: OpEntry = { ...base(seq, 'edit', fileId, file.path), inserted: change.inserted, deleted: change.deleted, ...patchFor(change.ops), inverse: { text: change.record }, ...(save.merge ? { merge: save.merge } : {}) };
        await addOp(op, null, true);
      }
      // else: the doc already had this text (say, written by a merge), or the save was an
      // unchanged stale buffer: only the digest was new.
    } else if (contentChanged) {
      const seq = ctx.nextSeq();
      const op = base(seq, 'edit', fileId, file.path);
      const after: ManifestEntry = { ...entry, kind, digest, size: bytes.byteLength, lamport: ctx.nextLamport(), by: ctx.identity.replicaId };
      // A kind change or a binary/symlink edit: the new content is a blob, and undo restores
      // the previous manifest entry (whose blob stays in the store).
      if (kind === 'text' && !(await ctx.hasHistory(fileId))) after.base = digest;
      else if (kind === 'text') {
        const { doc } = await ctx.doc(fileId, { ...entry, kind: 'text' }, batch, seq);
        const change = doc.setText(new TextDecoder().decode(bytes));
        if (change) ctx.logFileUpdate(batch, fileId, seq, change.update);
        ctx.setTextDigest(batch, fileId, digest);
      }
      batch.putBlob(digest, bytes);
      op.inverse = { before: entry, after };
      await addOp(op, [fileId, after], true);
      entry = after;
    }
    if (file.mode !== entry.mode) {
      const seq = ctx.nextSeq();
      const after: ManifestEntry = { ...entry, mode: file.mode, lamport: ctx.nextLamport(), by: ctx.identity.replicaId };
      await addOp({ ...base(seq, 'mode', fileId, file.path), inverse: { before: entry, after } }, [fileId, after], true);
    }
  }

  for (const file of pending.creates) {
    opts.signal?.throwIfAborted();
    const bytes = readContent(fs, file);
    if (bytes === undefined) continue;
    const { kind, digest } = classifyBytes(bytes, file.kind === 'symlink', opts.textLimit);
    let fileId = deriveFileId(file.path, digest);
    let before = ctx.manifest.get(fileId) ?? null;
    if (before && !before.deleted) {
      // The derived id is taken by a live file that was renamed away: use a fresh one.
      fileId = deriveFileId(file.path, `${digest}\0${ctx.identity.replicaId}\0${ctx.seq}`);
      before = null;
    }
    heldAs.set(file.path, fileId);
    const seq = ctx.nextSeq();
    const after: ManifestEntry = {
      path: file.path, kind, mode: file.mode, digest, size: bytes.byteLength, base: before?.base ?? digest,
      lamport: ctx.nextLamport(), by: ctx.identity.replicaId,
    };
    const op = base(seq, 'create', fileId, file.path);
    batch.putBlob(digest, bytes);
    if (kind === 'text') {
      const text = new TextDecoder().decode(bytes);
      Object.assign(op, createOfBlob(text, digest));
      if (before && (await ctx.hasHistory(fileId))) {
        // Revived file with history: bring its doc to the new content.
        const { doc } = await ctx.doc(fileId, after, batch, seq);
        const change = doc.setText(text);
        if (change) ctx.logFileUpdate(batch, fileId, seq, change.update);
        ctx.setTextDigest(batch, fileId, digest);
      } else if (!before && (await ctx.hasHistory(fileId))) {
        // A peer created this file too (same path, same first text: same id and base) and its
        // edits came before its manifest entry (a first join records its own files after the
        // catch-up). This create is that base; the peer's edits were made on it concurrently,
        // so the disk gets the doc's text, as a merge of two concurrent edits would give.
        // Recorded as the base alone, the disk kept it, and the peer's entry, losing to this
        // later create, wrote nothing: its edits stayed off this disk (fuzz seed 31000177).
        const { doc } = await ctx.doc(fileId, after, batch, seq);
        const created = doc.baseVersion(text);
        if (doc.text !== text && doc.textAt(created) === text) {
          // The editor that made the file holds its first text: a save from it is merged from there.
          await ctx.noteVersion(batch, fileId, digest, created, 'save', seq);
          ctx.setTextDigest(batch, fileId, gitBlobId(new TextEncoder().encode(doc.text)), after.base);
          writeBack.push(file.path);
        }
      }
    }
    op.inverse = { before, after };
    holdStat(file, fileId);
    // The first scan of a worktree is its baseline, not an edit anyone would want to undo.
    await addOp(op, [fileId, after], !initialImport);
  }

  for (const { fileId, entry } of pending.deletes) {
    opts.signal?.throwIfAborted();
    // A file whose content has not arrived yet (a joiner that got the manifest entry before
    // the blob) was never written here: its absence is not a delete.
    if (!(await wasOnDisk(ctx, statCache, fileId, entry))) {
      unseen.push({ fileId, entry });
      continue;
    }
    const seq = ctx.nextSeq();
    const op = base(seq, 'delete', fileId, entry.path);
    if (entry.kind === 'text') op.deleted = (await ctx.currentText(fileId, entry)).length;
    const after: ManifestEntry = { ...entry, deleted: true, lamport: ctx.nextLamport(), by: ctx.identity.replicaId };
    // What of the file this delete saw: an edit made elsewhere that it did not see wins over it.
    const seen = entry.kind === 'text' ? await ctx.docStateVector(fileId) : undefined;
    if (seen) after.seen = seen;
    else delete after.seen;
    op.inverse = { before: entry, after };
    batch.del(`s:${entry.path}`);
    await addOp(op, [fileId, after], true);
  }

  await flush();
  // The stat cache maps a stat to the digest of the content the scan saw with that stat; it is
  // right whatever was recorded (a file changed since has another stat and is hashed again),
  // so it is brought up to date wholesale after the changes, in batches of its own: one batch
  // of 100,000 entries took ~350 MB of heap at the end of a first scan.
  const scanned = new Set<string>();
  const live = ctx.manifest.live();
  let stats = new ChangeBatch();
  const full = () => stats.ops.length >= BATCH_STATS || stats.bytes >= BATCH_BYTES;
  const commitStats = async () => {
    await ctx.commit(stats);
    stats = new ChangeBatch();
  };
  for (const file of scan.files) {
    scanned.add(file.path);
    // A save known only in memory: the disk holds what the write that displaced it left.
    if (overlay?.has(file.path) || waiting.has(file.path)) continue;
    const cached = statCache.get(file.path);
    // Whose content it is: what this scan recorded it as, else what the entry said, else the file at its path.
    const fileId = heldAs.get(file.path) ?? cached?.fileId ?? live.get(file.path)?.fileId;
    const stat = fileId === undefined ? file.stat : { ...file.stat, fileId };
    if (!cached || !sameStat(cached, stat)) stats.putJson(`s:${file.path}`, stat);
    if (full()) await commitStats();
  }
  // A file the scan could not read is neither changed nor gone: its entry stays (without it, the
  // file would no longer count as this replica's, and its next save as an edit of it).
  const unreadable = new Set(scan.errors.map((e) => e.path));
  // Nor is a file the scan missed and that is there again (no delete recorded: a writer such as
  // `git checkout` replaced it as the scan passed): without its entry, its next save counted as
  // a file this replica never held, recorded as new, and split its history from the shared one.
  for (const path of statCache.keys()) {
    if (scanned.has(path) || unreadable.has(path) || (live.has(path) && isOnDisk(ctx, path))) continue;
    stats.del(`s:${path}`);
    if (full()) await commitStats();
  }
  await commitStats();
  if (unseen.length > 0) {
    const late = new ChangeBatch();
    for (const { fileId, entry } of unseen) await materialize(ctx, late, statCache, fileId, entry);
    await ctx.commit(late);
  }
  // Saves recorded into a file merged away meanwhile: what the merge missed goes to the winner.
  if (savedInto.length > 0) writeBack.push(...(await mergeLostCreates(ctx, savedInto)));
  await ctx.compact();
  // A save known only in memory is not on disk (the write that displaced it left its own
  // content there): the disk gets what is recorded now (`writeBack` skips what already has it).
  for (const path of overlay?.keys() ?? []) if (!writeBack.includes(path) && !waiting.has(path)) writeBack.push(path);
  log('recorded %d changes (%d files)%s', recorded.length, scan.files.length, scope ? ` in scope ${JSON.stringify(scope.list().slice(0, 5))}` : '');
  return { recorded, files: scan.files.length, counts: scan.counts, errors: [...scan.errors, ...pending.refused], merged, writeBack };
}

/** Is there a file (or symlink) at `path`, shared or not? */
export function isOnDisk(ctx: ReplicaContext, path: string): boolean {
  const st = ctx.fs.lstat(path);
  return st?.kind === 'file' || st?.kind === 'symlink';
}

/** Does a recorded live file outside `scope` hold the content of one of `creates`? */
function mayBeMovedIn(ctx: ReplicaContext, creates: readonly ScannedFile[], scope: ScanScope): boolean {
  if (creates.length === 0) return false;
  const digests = new Set(creates.map((f) => f.digest));
  for (const [path, { fileId, entry }] of ctx.manifest.live()) {
    if (!scope.covers(path) && digests.has(ctx.contentDigest(fileId, entry))) return true;
  }
  return false;
}

/**
 * Was this live entry's file ever on disk here? Every file a scan saw and every file an apply
 * or undo wrote has a stat cache entry, until a scan records it gone; and its content is in the
 * store. An entry whose content is still in transit has neither (its blob may be in the store
 * for another file with the same content).
 */
async function wasOnDisk(ctx: ReplicaContext, statCache: Map<string, unknown>, fileId: string, entry: ManifestEntry): Promise<boolean> {
  return statCache.has(entry.path) && (await ctx.hasContent(fileId, entry));
}

/**
 * Writes a live entry that was never on disk here once its content is in the store after all:
 * it came with another file of the same content (a local file, often an empty one), so no
 * blob will arrive to make the apply write it.
 */
async function materialize(ctx: ReplicaContext, batch: ChangeBatch, statCache: Map<string, unknown>, fileId: string, entry: ManifestEntry): Promise<void> {
  // A path under a link or a file stays as it is (see `obstacles.ts`); so does anything there.
  if (!(await ctx.hasContent(fileId, entry)) || ctx.fs.parentProblem?.(entry.path) || ctx.fs.lstat(entry.path)) return;
  const bytes = entry.kind === 'text' ? new TextEncoder().encode(await ctx.currentText(fileId, entry)) : await ctx.blobBytes(entry.digest);
  const target = entry.kind === 'symlink' ? new TextDecoder().decode(bytes) : undefined;
  if (target !== undefined && linkObstacle(ctx.fs, entry.path, target) !== undefined) return;
  try {
    if (target !== undefined) ctx.fs.symlink(entry.path, target);
    else ctx.fs.writeFile(entry.path, bytes, entry.mode === 0o100755 ? 0o755 : 0o644);
  } catch (err) {
    // Something took the path (or a parent) since the checks above: a late write is not worth
    // failing the scan for; the path stays left alone, and the next scan tries again.
    if (!(err instanceof CshareError && (err.code === 'BAD_PATH' || err.code === 'IO'))) throw err;
    log('could not write %s yet: %s', entry.path, err.message);
    ctx.blocked.set(entry.path, { path: entry.path, fileId, reason: err.message });
    return;
  }
  ctx.blocked.delete(entry.path);
  const digest = gitBlobId(bytes);
  if (entry.kind === 'text') ctx.setTextDigest(batch, fileId, digest);
  const st = ctx.fs.lstat(entry.path);
  if (st) {
    batch.putJson(`s:${entry.path}`, cacheEntry(st, entry.kind, digest, fileId));
    statCache.set(entry.path, true);
  }
}

function sameStat(a: ScannedFile['stat'], b: ScannedFile['stat']): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino && a.mode === b.mode && a.digest === b.digest && a.fileId === b.fileId;
}

/**
 * Reads what a scanned file holds now (a symlink's target, never what it points at). The
 * scan only hashed it; recording needs the bytes, which may have changed since.
 */
function readContent(fs: WorktreeFs, file: ScannedFile): Uint8Array | undefined {
  if (file.kind === 'symlink') {
    const target = fs.readlink(file.path);
    return target === undefined ? undefined : new TextEncoder().encode(target);
  }
  return fs.readFile(file.path);
}

/** Kind and digest of bytes read for recording. */
export function classifyBytes(bytes: Uint8Array, symlink: boolean, textLimit?: number): { kind: ScannedFile['kind']; digest: string } {
  return { kind: symlink ? 'symlink' : isText(bytes, textLimit) ? 'text' : 'binary', digest: gitBlobId(bytes) };
}

/** Thrown when a path given on the command line is not a shared file. */
export function notTracked(path: string): CshareError {
  return new CshareError('NOT_FOUND', `${path} is not a shared file (see cshare files)`, { path });
}
