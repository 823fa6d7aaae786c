/**
 * Applying another replica's changes (ARCHITECTURE.md "A remote update reaching disk"):
 * integrate them into the manifest and the docs, plan and write what the disk gets
 * (`applyPlan.ts`), and record what happened, in one batch.
 */
import { CshareError } from './errors.js';
import { gitBlobId, gitFileMode } from './digest.js';
import { createOfBlob, patchFor, type OpEntry, type OpKind, type RecordedChange } from './history.js';
import type { ManifestEntry } from './ManifestDoc.js';
import type { ChangeOrigin, ChangeSet } from './exchange.js';
import { keepLastWriter } from './lastWriter.js';
import { logger } from './log.js';
import { ChangeBatch } from './ChangeBatch.js';
import { remoteSub } from './storeKeys.js';
import { cacheEntry, unstattedEntry, type ReplicaContext } from './ReplicaContext.js';
import { isIgnoreFile, ScanScope, SCOPE_MAX_PATHS } from './Scanner.js';
import type { FileStat } from './ports.js';
import { noteUnflushed, type UnflushedFile } from './unflushed.js';
import { diffToOps, opsStats } from './textDiff.js';
import { shownFileAt } from './createConflicts.js';
import { planApply, writeWithIntent, type ApplyPlan, type DiskWrites, type WritePlan } from './applyPlan.js';

const log = logger('apply');
const decoder = new TextDecoder();

/** Manifest updates up to this size are read to scope the scan before an apply. */
const SCOPE_UPDATE_BYTES = 64 * 1024;

/**
 * What the scan before an apply must cover: every path the apply may write or remove, so a
 * local edit there that is not recorded yet is recorded before it is merged with (or lost
 * to) the remote change. That is each entry a manifest update sets (its path now and its new
 * one), each file whose doc gets updates, and each live file whose content is one of the
 * blobs. Undefined (scan everything) for big manifest updates (a catch-up), an update that
 * cannot be read, a change of a rule file (`.gitignore`, `.cshareignore`), or more than
 * {@link SCOPE_MAX_PATHS} paths.
 */
export function applyScope(ctx: ReplicaContext, changes: ChangeSet): ScanScope | undefined {
  if (changes.manifest.reduce((n, u) => n + u.byteLength, 0) > SCOPE_UPDATE_BYTES) return undefined;
  const paths = new Set<string>();
  const live = ctx.manifest.live();
  for (const update of changes.manifest) {
    const touched = ctx.manifest.pathsTouchedBy(update);
    if (!touched) return undefined;
    for (const p of touched) {
      paths.add(p);
      // A live file that the new path needs as a folder may lose to it and go.
      for (let i = p.indexOf('/'); i !== -1; i = p.indexOf('/', i + 1)) if (live.has(p.slice(0, i))) paths.add(p.slice(0, i));
    }
  }
  for (const { fileId } of changes.files) {
    const entry = ctx.manifest.get(fileId);
    if (entry && !entry.deleted) paths.add(entry.path);
  }
  if (changes.blobs.length > 0) {
    const byContent = ctx.manifest.liveByContent();
    for (const { digest } of changes.blobs) for (const p of byContent.get(digest) ?? []) paths.add(p);
  }
  // A peer's rule file changes what every later scan here sees (it can make more paths
  // ignored): a file saved before it came, not recorded yet, is recorded under the rules it
  // was saved under, wherever it is. Left to the next scan, it met the peer's rule first and
  // was never shared (convergence fuzz seed 1657676038: a `*` reached a replica before its
  // watcher had recorded a new file). Rule changes are rare; the whole tree costs ~1 s at
  // 100,000 files.
  for (const p of paths) if (isIgnoreFile(p)) return undefined;
  return paths.size > SCOPE_MAX_PATHS ? undefined : new ScanScope(paths);
}

/**
 * Applies another replica's changes: stores blobs (each checked against its digest: a peer
 * cannot poison one), logs and integrates the manifest and file updates, then brings every
 * affected path on disk to its new state, and records what happened in the history (not on
 * this replica's undo stack).
 *
 * The caller records unrecorded local edits first. A save that lands after that is never
 * overwritten: each write expects what was on disk when it was planned (`FileWrite.expect`),
 * and what a save left there is handed back (`rescued`) to be recorded and merged from the
 * version it was made from; a file that appeared at a free path is left alone (`rescan`).
 *
 * Steps: {@link integrate}, {@link affectedPaths}, `planApply`, `writeWithIntent`, then
 * {@link recordWritten} and one commit.
 */
export async function applyChanges(ctx: ReplicaContext, changes: ChangeSet, origin: ChangeOrigin, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const batch = new ChangeBatch();
  const seq = ctx.nextSeq();
  const got = await integrate(ctx, changes, batch, seq);
  const paths = affectedPaths(ctx, got);
  const live = ctx.manifest.live();
  const ops = new AppliedOps(ctx, batch, seq, origin);
  const stored = await storedContent(ctx, got, paths);
  const plan = await planApply(ctx, {
    batch, paths, live, incoming: got.incoming, stored, adoptRules: opts.adoptRules,
    gone: (path, prevId) => {
      const old = got.before.get(prevId);
      const now = ctx.manifest.get(prevId);
      if (old && now && !now.deleted && now.path !== path) return; // a rename: recorded at its new path
      ops.add('delete', prevId, path, { deleted: old?.kind === 'text' ? (got.textBefore.get(prevId) ?? '').length : 0 });
    },
  });
  await noteReplacedVersions(ctx, batch, seq, plan.replaced);
  const disk = await writeWithIntent(ctx, batch, plan);
  const rescuedOf = rescuedOfOthers(ctx, plan);
  const unflushed: UnflushedFile[] = [];
  for (const p of plan.plans) {
    if (plan.blocked.has(p.path)) continue;
    if (disk.occupied.has(p.path)) continue; // taken meanwhile by a new file: scanned after the apply
    const after = await settleWritten(ctx, { batch, seq, plan, disk }, p);
    if (disk.boot && after?.kind === 'file' && !p.sameContent) unflushed.push({ path: p.path, digest: p.digest, ino: after.ino, mtimeMs: after.mtimeMs });
    recordWritten(got, ops, p);
  }
  recordLiveEdits(ctx, got, plan, ops);
  if (disk.boot && unflushed.length > 0) noteUnflushed(batch, seq, { boot: disk.boot.id, files: unflushed });
  await ctx.commit(batch);
  for (const b of plan.blocked.values()) ctx.blocked.set(b.path, b);
  if (unflushed.length > 0) ctx.onUnflushed?.();
  const mergedAway = [...got.before].flatMap(([fileId, old]) => (ctx.manifest.get(fileId)?.mergedInto !== undefined && !old?.deleted ? [fileId] : []));
  return { recorded: ops.recorded, rescued: plan.rescued, rescuedOf, rescan: [...plan.rescan], fresh: plan.fresh, mergedAway, replaced: plan.replaced };
}

/** What {@link integrate} took in, and what it found before. */
interface Integrated {
  /** The blobs of the change set, checked against their digests. */
  incoming: Map<string, Uint8Array>;
  /** Every manifest entry the updates touched, as it was before them. */
  before: Map<string, ManifestEntry | undefined>;
  /** Every file whose doc got updates, with its text before them. */
  textBefore: Map<string, string>;
  /** The entries that lost to a file-or-folder of their name before the updates. */
  conflictedBefore: ReadonlyMap<string, string>;
}

/**
 * Integrates a change set: blobs checked and staged, manifest updates applied and logged
 * (last writer wins: `keepLastWriter`), file updates applied to their docs and logged.
 */
async function integrate(ctx: ReplicaContext, changes: ChangeSet, batch: ChangeBatch, seq: number): Promise<Integrated> {
  const incoming = new Map<string, Uint8Array>();
  for (const { digest, bytes } of changes.blobs) {
    if (gitBlobId(bytes) !== digest) throw new CshareError('PROTOCOL', `a blob sent as ${digest} has other content; it was refused`, { digest });
    incoming.set(digest, bytes);
    batch.putBlob(digest, bytes);
  }

  // Manifest: note every entry's state before, to know what moved on disk.
  const before = new Map<string, ManifestEntry | undefined>();
  const conflictedBefore = ctx.manifest.conflicted();
  changes.manifest.forEach((update, i) => {
    for (const [fileId, old] of ctx.manifest.applyUpdate(update)) if (!before.has(fileId)) before.set(fileId, old);
    ctx.logManifestUpdate(batch, seq, update, remoteSub(i));
  });
  if (before.size > 0) await keepLastWriter(ctx, batch, before);

  // File docs: integrate, remembering each text as it was. A file may come in several
  // entries (a catch-up sends one per relay seq): its updates are numbered across all of
  // them, or their keys would collide and only the last would be stored.
  const textBefore = new Map<string, string>();
  const logged = new Map<string, number>();
  for (const { fileId, updates } of changes.files) {
    const entry = ctx.manifest.get(fileId);
    const doc = await ctx.docForRemote(fileId, entry, batch, seq);
    if (!textBefore.has(fileId)) {
      textBefore.set(fileId, doc.text);
      // The text on disk before this change is a version an editor may hold and save from,
      // judged by the entry as it was before this change: a file the same change deletes or
      // merges into another was still on disk, and a save found displaced there is merged
      // from that text (convergence fuzz seed 422409893: taken as made on the text after the
      // change, it replaced a line that change brought).
      const shown = before.has(fileId) ? before.get(fileId) : entry;
      if (shown && !shown.deleted && shown.kind === 'text' && (await ctx.noteTextBefore(batch, fileId, shown, doc))) log('noted the version of %s before the change', shown.path);
    }
    for (const u of updates) {
      doc.applyUpdate(u);
      const n = logged.get(fileId) ?? 0;
      logged.set(fileId, n + 1);
      ctx.logFileUpdate(batch, fileId, seq, u, remoteSub(n));
    }
  }
  return { incoming, before, textBefore, conflictedBefore };
}

/** Paths whose content or presence may have changed -> the file that used to be there, if known. */
function affectedPaths(ctx: ReplicaContext, { incoming, before, textBefore, conflictedBefore }: Integrated): Map<string, string | undefined> {
  const paths = new Map<string, string | undefined>();
  for (const [fileId, old] of before) {
    if (old && !old.deleted) paths.set(old.path, fileId);
    const now = ctx.manifest.get(fileId);
    if (now && !now.deleted && !paths.has(now.path)) paths.set(now.path, undefined);
  }
  for (const fileId of textBefore.keys()) {
    const now = ctx.manifest.get(fileId);
    if (now && !now.deleted && !paths.has(now.path)) paths.set(now.path, fileId);
  }
  // An entry that now loses to a file-or-folder of its name goes from this disk, and one that
  // stopped losing is written (see `ManifestDoc.live`), though neither entry changed.
  const conflictedNow = ctx.manifest.conflicted();
  if (conflictedNow !== conflictedBefore) {
    for (const [fileId, path] of conflictedNow) if (!conflictedBefore.has(fileId) && !paths.has(path)) paths.set(path, fileId);
    for (const [fileId, path] of conflictedBefore) if (!conflictedNow.has(fileId) && !paths.has(path)) paths.set(path, undefined);
  }
  const live = ctx.manifest.live();
  if (incoming.size > 0) {
    // A blob may arrive after the manifest entry that needs it: write those files now.
    const byContent = ctx.manifest.liveByContent();
    for (const digest of incoming.keys()) {
      for (const path of byContent.get(digest) ?? []) {
        const { fileId, entry } = live.get(path)!;
        if (paths.has(path) || (entry.kind === 'text' && ctx.loadedDoc(fileId))) continue;
        paths.set(path, fileId);
      }
    }
  }
  return paths;
}

/**
 * What the files to write hold, learnt together: which have a history (their docs' text),
 * and the bytes of the others that did not come with this change set. One pass and one read
 * for all, where asking file by file cost a first join three store round trips a file.
 */
async function storedContent(ctx: ReplicaContext, { incoming }: Integrated, paths: ReadonlyMap<string, string | undefined>): Promise<Map<string, Uint8Array | undefined>> {
  const live = ctx.manifest.live();
  const winners = [...paths.keys()].flatMap((path) => live.get(path) ?? []);
  await ctx.prefetchHistory(winners.filter((w) => w.entry.kind === 'text').map((w) => w.fileId));
  const wanted: string[] = [];
  for (const { fileId, entry } of winners) {
    const digest = entry.kind === 'text' ? entry.base : entry.digest;
    if (incoming.has(digest) || (entry.kind === 'text' && (ctx.loadedDoc(fileId) || (await ctx.hasHistory(fileId))))) continue;
    wanted.push(digest);
  }
  const stored = new Map<string, Uint8Array | undefined>();
  const unique = [...new Set(wanted)];
  (await ctx.store.blobs(unique)).forEach((bytes, i) => stored.set(unique[i]!, bytes));
  return stored;
}

/**
 * A save found at a path whose file the disk did not show (one created at once took the
 * path) was made on the file it showed (the stat cache says which): it is that file's edit
 * (`ApplyResult.rescuedOf`), not an edit of the file that took the path, whose text it would
 * replace (convergence fuzz seeds 28 and 59). Moved from `plan.rescued`.
 */
function rescuedOfOthers(ctx: ReplicaContext, plan: ApplyPlan): ApplyResult['rescuedOf'] {
  const rescuedOf = new Map<string, { fileId: string; bytes: Uint8Array }>();
  for (const [path, bytes] of plan.rescued) {
    const ours = plan.seen.get(path);
    const winner = plan.input.live.get(path);
    if (!ours || !winner || ours.fileId === winner.fileId) continue;
    // An entry that does not say (an older store): the other file whose recorded text it saw.
    const fileId = ours.fileId ?? (ctx.contentDigest(winner.fileId, winner.entry) === ours.digest ? undefined : shownFileAt(ctx, path, ours.digest, winner.fileId));
    if (fileId === undefined) continue;
    rescuedOf.set(path, { fileId, bytes });
    plan.rescued.delete(path);
  }
  return rescuedOf;
}

/**
 * Finishes a planned path on disk (a link made, a mode set) and in the store (its version,
 * its stat entry); returns the stat the stat entry took.
 */
async function settleWritten(
  ctx: ReplicaContext,
  { batch, seq, plan, disk }: { batch: ChangeBatch; seq: number; plan: ApplyPlan; disk: DiskWrites },
  { path, fileId, entry, bytes, digest, st, sameContent, wantMode }: WritePlan,
): Promise<FileStat | undefined> {
  ctx.blocked.delete(path);
  if (!sameContent && entry.kind === 'symlink') ctx.fs.symlink(path, decoder.decode(bytes));
  else if (sameContent && entry.kind !== 'symlink' && st && (gitFileMode(st.mode) === 0o100755 ? 0o755 : 0o644) !== wantMode) ctx.fs.chmod(path, wantMode);
  if (entry.kind === 'text') {
    const doc = ctx.loadedDoc(fileId);
    if (doc && !sameContent) await ctx.noteVersion(batch, fileId, digest, doc.version(), 'apply', seq);
  }
  // Of a file written here, the stat taken as it was put in place; of one left as it was, the
  // stat taken before its content was read: a later lstat could see a save made since and
  // vouch for it with this content, and that save would never be recorded (convergence fuzz
  // seed 150: a save between the read and that lstat was never shared). A link just made is
  // looked at (no save lands in a link).
  const after = disk.written.has(path) ? disk.written.get(path) : entry.kind === 'symlink' && !sameContent ? ctx.fs.lstat(path) : st;
  if (after) batch.putStat(path, cacheEntry(after, entry.kind, digest, fileId));
  else if (disk.written.has(path)) {
    batch.putStat(path, unstattedEntry(entry.kind, digest, fileId)); // changed at once: the next scan reads it
    plan.rescan.add(path);
  }
  return after;
}

/**
 * Notes, as a version of each file an apply is about to write another file over (one created
 * at once took its path), the text on disk it replaces: a late save into the replaced file is
 * made from that text (`Replica.recordLateSave`). Without it, a file that got no update in this
 * change had no version to merge the save from, and the save was diffed against the file's
 * text now, deleting its own line where that text differed (convergence fuzz seed 501230963).
 */
async function noteReplacedVersions(ctx: ReplicaContext, batch: ChangeBatch, seq: number, replaced: ApplyPlan['replaced']): Promise<void> {
  for (const { path, digest, fileId } of replaced) {
    const entry = ctx.manifest.get(fileId);
    if (entry?.kind !== 'text' || !(await ctx.hasContent(fileId, entry))) continue;
    const { doc } = await ctx.doc(fileId, entry, batch, seq);
    if (await ctx.noteTextShown(batch, fileId, digest, doc)) log('noted the version of %s that a file created at once replaces at %s', fileId, path);
  }
}

/** Records in the history what a planned path shows of the change: a create, rename, edit or mode change. */
function recordWritten({ before, incoming }: Integrated, ops: AppliedOps, { path, fileId, entry, bytes, digest, onDisk, sameContent }: WritePlan): void {
  // An entry the manifest updates did not touch is as it was (only its doc changed).
  const old = before.has(fileId) ? before.get(fileId) : entry;
  let kind: OpKind;
  // A file whose content arrives after its entry is created when it is first written.
  if (!old || old.deleted || (onDisk === undefined && !before.has(fileId))) kind = 'create';
  else if (old.path !== path) kind = 'rename';
  else if (!sameContent) kind = 'edit';
  else if (old.mode !== entry.mode) kind = 'mode';
  else return; // nothing visible changed
  const extra: Partial<OpEntry> = {};
  if (kind === 'rename') extra.from = old!.path;
  if (entry.kind === 'text' && !sameContent && kind !== 'rename') {
    if (kind === 'create' && onDisk === undefined && incoming.has(digest)) {
      // Its text is a blob stored with this change: not copied into the history as well.
      Object.assign(extra, createOfBlob(decoder.decode(bytes), digest));
    } else {
      const textOps = diffToOps(onDisk ? decoder.decode(onDisk) : '', decoder.decode(bytes));
      Object.assign(extra, opsStats(textOps), patchFor(textOps));
    }
  }
  ops.add(kind, fileId, path, extra);
}

/**
 * Records in the history the edits of files open in an editor here, which the plan left off
 * the disk (`planWinner`): what the doc's text became, as for a file written.
 */
function recordLiveEdits(ctx: ReplicaContext, { textBefore }: Integrated, plan: ApplyPlan, ops: AppliedOps): void {
  for (const [fileId, before] of textBefore) {
    if (!ctx.live.isLive(fileId) || plan.plans.some((p) => p.fileId === fileId)) continue;
    const entry = ctx.manifest.get(fileId);
    const text = ctx.loadedDoc(fileId)?.text;
    if (!entry || entry.deleted || text === undefined || text === before) continue;
    const textOps = diffToOps(before, text);
    ops.add('edit', fileId, entry.path, { ...opsStats(textOps), ...patchFor(textOps) });
  }
}

/** The history entries of one apply, the author's (not on this replica's undo stack). */
class AppliedOps {
  readonly recorded: RecordedChange[] = [];
  private seqUsed = false;

  constructor(
    private readonly ctx: ReplicaContext,
    private readonly batch: ChangeBatch,
    /** The seq the updates were logged under: the first op takes it, later ones take new seqs. */
    private readonly seq: number,
    private readonly origin: ChangeOrigin,
  ) {}

  /** Adds an op entry (none when the author's history travels beside its changes). */
  add(kind: OpKind, fileId: string, path: string, extra: Partial<OpEntry>): void {
    const { ctx, origin } = this;
    const seq = this.nextSeq();
    const op: OpEntry = {
      seq, kind, time: ctx.now(), author: origin.author, replica: origin.replica, fileId, path,
      inserted: 0, deleted: 0, inverse: {}, ...extra,
    };
    if (!origin.carried) this.batch.putOp(op);
    this.recorded.push({ seq, kind, path, from: op.from, inserted: op.inserted, deleted: op.deleted });
  }

  private nextSeq(): number {
    if (this.seqUsed) return this.ctx.nextSeq();
    this.seqUsed = true;
    return this.seq;
  }
}

/** Options for {@link applyChanges}. */
export interface ApplyOptions {
  /**
   * The rule files this apply creates are the user's own (a first join takes the share as it
   * is). Otherwise a peer's new `.gitignore`/`.cshareignore` is a change of none, and can only
   * make more of this machine's files ignored (see `ReplicaContext.noteRuleBaseline`).
   */
  adoptRules?: boolean;
}

/** What {@link applyChanges} did, and what it found that must be recorded next. */
export interface ApplyResult {
  recorded: RecordedChange[];
  /** Saves found at paths the apply wrote (landed after the scan before it): record from these bytes. */
  rescued: Map<string, Uint8Array>;
  /** Such saves at paths that now show another file: edits of the file they were made on. */
  rescuedOf: Map<string, { fileId: string; bytes: Uint8Array }>;
  /** Paths where a file appeared or stayed against the apply: scan them. */
  rescan: string[];
  /**
   * Of those, paths where a file of the user's stands that this replica never wrote or
   * scanned, against a file a peer put there: each is a new file, not an edit of the peer's
   * (`RecordOptions.fresh`), and the two claims on the path resolve as concurrent creates do.
   */
  fresh: ReadonlySet<string>;
  /** Files this apply saw merged into another created at once (see `createConflicts.ts`). */
  mergedAway: string[];
  /**
   * Files the apply wrote over the content of another shared file (one created at once took
   * the path): the path, the git blob id it replaced, and that file. A late save into the
   * replaced file is that file's edit.
   */
  replaced: { path: string; digest: string; fileId: string }[];
}
