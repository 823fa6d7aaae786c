import { CshareError } from './errors.js';
import type { RecordedChange } from './history.js';
import { gitBlobId } from './digest.js';
import { logger } from './log.js';
import { linkObstacle } from './obstacles.js';
import type { ManifestEntry } from './ManifestDoc.js';
import { ChangeBatch } from './ChangeBatch.js';
import { cacheEntry, type ReplicaContext } from './ReplicaContext.js';
import { pendingChanges, type PendingChanges } from './pending.js';
import { isCshareAsideName } from './paths.js';
import { scanWorktree, type ScannedFile, type ScanResult, type ScanScope } from './Scanner.js';
import { OverlayFs } from './OverlayFs.js';
import { mergeLostCreates, shownFileAt } from './createConflicts.js';
import { BATCH_BYTES, ScanRecording, type MergedSave } from './ScanRecording.js';
import { recordCreate, recordDelete, recordModified, recordRename, type ModifiedFile } from './recordChanges.js';

const log = logger('record');

/** A file moved aside this long ago is a leftover of a process that ended before removing it. */
const ASIDE_LEFTOVER_MS = 60_000;

/** Stat cache entries written in one batch. */
const BATCH_STATS = 5000;

/** Creates in one scan from which the ids with a doc history are learnt in one pass. */
const PREFETCH_CREATES = 64;

/** What {@link recordScan} did. */
export interface ScanReport {
  recorded: RecordedChange[];
  files: number;
  counts: ScanResult['counts'];
  errors: ScanResult['errors'];
  /** Saves merged from an older version than the text on disk (see `saveBase.ts`). */
  merged: MergedSave[];
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
  /** See `ReplicaOptions.settleEmptiedMs` (default 100 ms, `SETTLE_WAIT_MS` in `recordChanges.ts`; 0: off). */
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
 *
 * Steps: scan, remove leftovers, compare with the manifest (`pendingChanges`), classify what
 * the comparison cannot tell alone ({@link classifyPending}), record renames, edits, creates
 * and deletes (`recordChanges.ts`), then bring the stat cache up to date ({@link updateStatCache})
 * and settle what waits (late writes, merges, write-backs).
 */
export async function recordScan(ctx: ReplicaContext, opts: RecordOptions): Promise<ScanReport> {
  const { scope } = opts;
  // A scoped scan reads the stat cache of its scope only (what it compares, and what it
  // brings up to date below): not 100,000 entries for one save.
  const statCache = scope ? await ctx.store.statCacheOf(scope.list()) : await ctx.store.statCache();
  const overlay = opts.overlay;
  const fs = overlay && overlay.size > 0 ? new OverlayFs(ctx.fs, overlay) : ctx.fs;
  const scan = scanWorktree({ fs, statCache, textLimit: opts.textLimit, home: opts.home, env: opts.env, signal: opts.signal, scope, ...ctx.scanPolicy(statCache) });
  removeLeftovers(ctx, scan);
  const pending = pendingChanges(ctx.recorded(), scan, scope, (path) => isOnDisk(ctx, path), opts.fresh);
  // A file gone from the scope, or a new one holding what a file outside it holds, may be
  // half of a move whose other half the scope does not cover: the whole tree is scanned, so
  // a move stays a rename (the file keeps its history, and a remote edit of it follows it).
  // An entry whose file was never written here (its content still on the way) is not gone.
  if (scope && (pending.deletes.some((d) => statCache.has(d.entry.path)) || mayBeMovedIn(ctx, pending.creates, scope))) {
    log('scoped scan found a file gone or a copy of one outside its scope; scanning the whole tree');
    return recordScan(ctx, { ...opts, scope: undefined });
  }
  const rec = new ScanRecording(ctx, opts, fs, statCache);
  await classifyPending(rec, pending);
  for (const r of pending.renames) {
    opts.signal?.throwIfAborted();
    await recordRename(rec, r);
  }
  for (const m of pending.modified) {
    opts.signal?.throwIfAborted();
    await recordModified(rec, m);
  }
  // Many creates (a first scan, a big checkout of new files): which ids have a history, at once.
  if (pending.creates.length >= PREFETCH_CREATES && pending.creates.length * 8 >= ctx.manifest.live().size) await ctx.prefetchAllHistory();
  for (const file of pending.creates) {
    opts.signal?.throwIfAborted();
    await recordCreate(rec, file);
  }
  for (const d of pending.deletes) {
    opts.signal?.throwIfAborted();
    await recordDelete(rec, d);
  }
  await rec.flush();
  await updateStatCache(rec, scan);
  const { unseen, savedInto, writeBack, waiting, recorded } = rec;
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
  return { recorded, files: scan.files.length, counts: scan.counts, errors: [...scan.errors, ...pending.refused], merged: rec.merged, writeBack };
}

/**
 * Recording holds the replica (no write of this process is under way): a temp file is a
 * leftover of a process killed mid-write, never shared, and removed here.
 */
function removeLeftovers(ctx: ReplicaContext, scan: ScanResult): void {
  for (const path of scan.leftovers) {
    // A file moved aside by a write of this process is its own for a moment (see `NodeFs`).
    if (isCshareAsideName(path.slice(path.lastIndexOf('/') + 1)) && ctx.now() - (ctx.fs.lstat(path)?.mtimeMs ?? 0) < ASIDE_LEFTOVER_MS) continue;
    try {
      ctx.fs.remove(path);
    } catch (err) {
      scan.errors.push({ path, message: `could not remove a leftover temp file: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
}

/**
 * What the comparison with the manifest cannot tell alone, decided against the stat cache
 * (whose content each path held): a modified file that is another file's save, a new file,
 * or an edit waiting for content not here yet; a create that waits for its file to be here
 * again; a rename of a file never on disk here, which is a create. Moves items between the
 * lists of `pending`, in place.
 */
async function classifyPending(rec: ScanRecording, pending: PendingChanges<ManifestEntry>): Promise<void> {
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
  for (const m of [...pending.modified]) {
    const verdict = await classifyModified(rec, m);
    if (verdict === 'edit') continue;
    pending.modified.splice(pending.modified.indexOf(m), 1);
    if (verdict === 'create') pending.creates.push(m.file);
  }
  holdInterruptedCreates(rec, pending);
  // Nor is a new file with the digest of an entry that was never on disk here a rename of it
  // (a new empty file would otherwise take over any empty file still in transit).
  for (const r of [...pending.renames]) {
    if (await rec.wasOnDisk(r.fileId, r.entry)) continue;
    pending.renames.splice(pending.renames.indexOf(r), 1);
    pending.creates.push(r.file);
    rec.unseen.push(r);
  }
}

/**
 * What a modified file is (see {@link classifyPending}): an edit of its entry, a file to
 * record as new, or `done` (recorded as another file's save, unchanged, or waiting).
 */
async function classifyModified(rec: ScanRecording, m: ModifiedFile): Promise<'edit' | 'create' | 'done'> {
  const { ctx, statCache } = rec;
  // A file open in an editor holds what it held when it opened, or a text its editor saved
  // since (behind the doc, which the editor's edits and the remote ones went into): no edit.
  // Anything else (a `git checkout` under the editor) is, once its editor had a moment to
  // say it saved it (a save reaches the watcher before the editor's `didSave` may).
  if (ctx.live.isLive(m.fileId)) {
    const verdict = ctx.live.diskChange(m.fileId, m.file.path, m.file.digest);
    if (verdict === 'wait') rec.waiting.add(m.file.path);
    if (verdict !== 'record') return 'done';
  }
  const cached = statCache.get(m.file.path);
  // A file id the manifest does not know (a file recorded here before a first join, whose
  // record the join set aside) says nothing of a shared file: what the disk holds was never
  // shared, and is new (convergence fuzz seed 857023539: taken for a loser waiting to be
  // replaced, the user's file stayed unrecorded for good).
  const held = cached?.fileId !== undefined && ctx.manifest.get(cached.fileId) !== undefined ? cached.fileId : undefined;
  const stranger = cached?.fileId !== undefined && held === undefined;
  if (held !== undefined && held !== m.fileId) {
    return cached!.digest !== m.file.digest && !(await rec.saveOf(held, m.file)) ? 'create' : 'done';
  }
  // What an interrupted apply wrote of this file, edited since (see below): an edit of it.
  const interrupted = ctx.interrupted.get(m.file.path)?.fileId === m.fileId;
  if (await ctx.hasContent(m.fileId, m.entry)) {
    if (interrupted) ctx.dropInterrupted(rec.batch, m.file.path);
    if ((statCache.has(m.file.path) && !stranger) || interrupted) return 'edit';
    log('%s was never held here as the shared file: recorded as a new file at its path', m.file.path);
    return 'create';
  }
  const seen = statCache.get(m.file.path)?.digest;
  if (seen === m.file.digest) return 'done';
  // This replica wrote the entry's content here (the stat cache says so) and the file holds
  // something else now: an edit of that content, made before its store caught up (a crash
  // lost the content with the apply's commit, fresh seed 31001098). It is recorded once the
  // content arrives: that apply finds a save where it writes, and merges it (`apply.ts`).
  // Until then its stat entry stays as it is, still saying what was written: updated to the
  // save, it would tell that apply the disk held nothing of the user's.
  // (Not a save known only in memory, displaced by a write: it is recorded now, as new.)
  if ((held === m.fileId || interrupted) && !rec.inOverlay(m.file.path)) {
    log('%s holds an edit of content not here yet: recorded when it arrives', m.file.path);
    rec.waiting.add(m.file.path);
    return 'done';
  }
  // As above, for a stat cache entry that does not say whose content it is (an older store):
  // the file at this path whose recorded text is what the stat cache saw.
  const shown = seen === undefined ? undefined : shownFileAt(ctx, m.file.path, seen, m.fileId);
  return shown === undefined || !(await rec.saveOf(shown, m.file)) ? 'create' : 'done';
}

/**
 * A file at a path an interrupted apply was writing another to (one the store lost), edited
 * since: an edit of that file, which waits for its entry to be here again (the catch-up
 * brings it; its apply takes the file for a save of it). Recorded as new, it was merged with
 * that file as a concurrent create, and the text they share came out twice (fresh seed
 * 31000852).
 */
function holdInterruptedCreates(rec: ScanRecording, pending: PendingChanges<ManifestEntry>): void {
  const { ctx } = rec;
  for (const file of [...pending.creates]) {
    const w = ctx.interrupted.get(file.path);
    if (!w || rec.inOverlay(file.path)) continue;
    if (ctx.manifest.get(w.fileId) !== undefined) {
      ctx.dropInterrupted(rec.batch, file.path);
      continue;
    }
    log('%s holds an edit of a file an interrupted apply wrote there: recorded when that file is here again', file.path);
    pending.creates.splice(pending.creates.indexOf(file), 1);
    rec.waiting.add(file.path);
  }
}

/**
 * The stat cache maps a stat to the digest of the content the scan saw with that stat; it is
 * right whatever was recorded (a file changed since has another stat and is hashed again),
 * so it is brought up to date wholesale after the changes, in batches of its own: one batch
 * of 100,000 entries took ~350 MB of heap at the end of a first scan.
 */
async function updateStatCache(rec: ScanRecording, scan: ScanResult): Promise<void> {
  const { ctx, statCache } = rec;
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
    if (rec.inOverlay(file.path) || rec.waiting.has(file.path)) continue;
    const cached = statCache.get(file.path);
    // Whose content it is: what this scan recorded it as, else what the entry said, else the file at its path.
    const fileId = rec.heldAs.get(file.path) ?? cached?.fileId ?? live.get(file.path)?.fileId;
    // This run's changes already put the scanned stat with this id there (committed with them).
    if (fileId !== undefined && rec.heldStats.get(file.path) === fileId) continue;
    const stat = fileId === undefined ? file.stat : { ...file.stat, fileId };
    if (!cached || !sameStat(cached, stat)) stats.putStat(file.path, stat);
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
    stats.dropStat(path);
    if (full()) await commitStats();
  }
  await commitStats();
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
    batch.putStat(entry.path, cacheEntry(st, entry.kind, digest, fileId));
    statCache.set(entry.path, true);
  }
}

function sameStat(a: ScannedFile['stat'], b: ScannedFile['stat']): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino && a.mode === b.mode && a.digest === b.digest && a.fileId === b.fileId;
}
