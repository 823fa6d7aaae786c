/**
 * The plan of an apply, and its writes (ARCHITECTURE.md "A remote update reaching disk",
 * steps 5 and 6): for every path whose content or presence may change, in path order, what
 * the disk gets, weighed against what it holds and what the scan before the apply saw there;
 * then the intent noted, the removals and the guarded writes.
 */
import { gitBlobId } from './digest.js';
import { removeChecked, writeGuarded } from './FsJournal.js';
import { contentOf, readCurrent } from './fileContent.js';
import { logger } from './log.js';
import type { ManifestEntry } from './ManifestDoc.js';
import { inTheWay, linkObstacle, parentObstacle, type BlockedPath } from './obstacles.js';
import type { BootInfo, FileStat, FileWrite, PathObstacle } from './ports.js';
import type { ReplicaContext } from './ReplicaContext.js';
import type { ChangeBatch } from './ChangeBatch.js';
import { noteApplyIntent, type ApplyTarget } from './applyRecovery.js';
import { isIgnoreFile, type CachedStat } from './Scanner.js';

const log = logger('apply');
const decoder = new TextDecoder();

/** A live file: the winner of its path. */
interface LiveFile {
  fileId: string;
  entry: ManifestEntry;
}

/** A path whose content or mode `applyChanges` brings to the manifest's state. */
export interface WritePlan {
  path: string;
  fileId: string;
  entry: ManifestEntry;
  bytes: Uint8Array;
  digest: string;
  st: FileStat | undefined;
  onDisk: Uint8Array | undefined;
  sameContent: boolean;
  wantMode: number;
}

/** What planning an apply needs. */
export interface PlanInput {
  batch: ChangeBatch;
  /** Paths whose content or presence may change -> the file that used to be there, if known. */
  paths: ReadonlyMap<string, string | undefined>;
  live: ReadonlyMap<string, LiveFile>;
  /** The blobs that came with the change set, checked. */
  incoming: ReadonlyMap<string, Uint8Array>;
  /** Blobs read from the store for the files to write (see `contentOf`). */
  stored: ReadonlyMap<string, Uint8Array | undefined>;
  adoptRules?: boolean;
  /** Records that `prevId`, the file at `path` before, is gone from it. */
  gone: (path: string, prevId: string) => void;
}

/** The disk at one planned path, as planning found it. */
interface DiskAt {
  path: string;
  winner: LiveFile | undefined;
  parent: { blocked?: string; absent?: boolean };
  st: FileStat | undefined;
  onDisk: Uint8Array | undefined;
  diskDigest: string | undefined;
  /** What the scan before the apply saw there (its stat cache entry). */
  ours: CachedStat | undefined;
}

/** An apply's plan: what it writes and removes, and what it found in its way. */
export class ApplyPlan {
  readonly plans: WritePlan[] = [];
  readonly writes: FileWrite[] = [];
  readonly removals: { path: string; expect?: string }[] = [];
  readonly removing = new Set<string>();
  readonly parentsSeen = new Map<string, PathObstacle | undefined>();
  readonly blocked = new Map<string, BlockedPath>();
  /** Saves found where the apply writes, landed after the scan before it: recorded after it. */
  readonly rescued = new Map<string, Uint8Array>();
  readonly rescan = new Set<string>();
  readonly fresh = new Set<string>();
  readonly replaced: { path: string; digest: string; fileId: string }[] = [];

  constructor(
    readonly input: PlanInput,
    /** What the scan before this apply saw at each planned path (the stat cache). */
    readonly seen: ReadonlyMap<string, CachedStat>,
  ) {}

  /** Leaves `path` as it is: the disk cannot take `fileId` there. */
  block(path: string, fileId: string, reason: string): void {
    this.blocked.set(path, { path, fileId, reason });
    this.input.batch.dropStat(path);
  }

  /** Plans the removal of what `path` holds (expected unchanged, if a regular file). */
  remove(path: string, expect: string | undefined): void {
    this.removals.push({ path, expect });
    this.removing.add(path);
  }

  /** The paths this apply changes, and what each gets (null: removed): its intent. */
  targets(): ApplyTarget[] {
    return [
      ...this.removals.map(({ path }) => ({ path, digest: null })),
      ...this.plans.filter((p) => !p.sameContent).map((p) => ({ path: p.path, digest: p.digest, fileId: p.fileId })),
    ];
  }
}

/**
 * Plans an apply: deletions first, in path order; files to write are gathered and written as
 * one batch. What the scan before this apply saw at each path (the stat cache): a file there
 * that it did not see was never shared from here (ignored, a secret, made meanwhile) and is
 * neither overwritten nor removed; one that differs from what it saw is a save made since,
 * recorded after the apply (`rescued`) and merged, never lost. A path this disk cannot take
 * (see `obstacles.ts`) is left alone, not failed: in path order, a parent's removal is known
 * before its children are planned.
 */
export async function planApply(ctx: ReplicaContext, input: PlanInput): Promise<ApplyPlan> {
  const sorted = [...input.paths].sort(([a], [b]) => (a < b ? -1 : 1));
  const plan = new ApplyPlan(input, await ctx.store.statsAt(sorted.map(([p]) => p)));
  for (const [path, prevId] of sorted) {
    const disk = diskAt(ctx, plan, path);
    if (!disk.winner) planGone(ctx, plan, disk, prevId);
    else await planWinner(ctx, plan, disk, disk.winner);
  }
  return plan;
}

/** What the disk holds at `path` (a save made since the scan is rescued here). */
function diskAt(ctx: ReplicaContext, plan: ApplyPlan, path: string): DiskAt {
  const winner = plan.input.live.get(path);
  const parent = parentObstacle(ctx.fs, path, plan.removing, plan.parentsSeen);
  // Under a link or a file nothing is read (it may lead out of the worktree); a folder,
  // FIFO, socket or device is never read either (a FIFO would block for ever).
  const st = parent.blocked !== undefined || parent.absent ? undefined : ctx.fs.lstat(path);
  const readable = st?.kind === 'file' || st?.kind === 'symlink';
  const onDisk = readable ? readCurrent(ctx, path, st.kind === 'symlink') : undefined;
  const diskDigest = onDisk && gitBlobId(onDisk);
  const ours = plan.seen.get(path);
  if (st?.kind === 'file' && onDisk && ours && diskDigest !== ours.digest) {
    log('%s holds a save made since the scan (%d bytes): recorded after the apply', path, onDisk.byteLength);
    plan.rescued.set(path, onDisk);
  }
  return { path, winner, parent, st, onDisk, diskDigest, ours };
}

/**
 * An ignore file a peer changes or removes: the text the user accepted is kept (see
 * `ReplicaContext.ruleBaselines`), so the change can make more paths ignored here, not fewer.
 * One a peer adds where this disk has none: what the user accepted is no file at all, or a
 * `!*` in a new `.cshareignore` would send out every file `.gitignore` keeps here.
 */
function noteRules(ctx: ReplicaContext, plan: ApplyPlan, d: DiskAt): void {
  if (!isIgnoreFile(d.path)) return;
  if (d.onDisk && d.ours && d.st?.kind === 'file') ctx.noteRuleBaseline(plan.input.batch, d.path, decoder.decode(d.onDisk));
  else if (d.winner && d.st === undefined && d.parent.blocked === undefined && !plan.input.adoptRules) ctx.noteRuleBaseline(plan.input.batch, d.path, '');
}

/** A path no live file wins any more: what the scan saw there goes, anything else stays. */
function planGone(ctx: ReplicaContext, plan: ApplyPlan, d: DiskAt, prevId: string | undefined): void {
  const { path, st, ours } = d;
  noteRules(ctx, plan, d);
  const readable = st?.kind === 'file' || st?.kind === 'symlink';
  if (readable && ours) plan.remove(path, st.kind === 'file' ? d.diskDigest : undefined);
  else if (readable) keep(ctx, path, 'is not shared from this machine; the removal by a peer does not touch it');
  if (ours) plan.input.batch.dropStat(path);
  if (prevId) plan.input.gone(path, prevId);
}

/** A path a live file wins: its content is written there, unless something is in the way. */
async function planWinner(ctx: ReplicaContext, plan: ApplyPlan, d: DiskAt, { fileId, entry }: LiveFile): Promise<void> {
  const { path, st, onDisk, diskDigest, ours } = d;
  const { batch } = plan.input;
  if (d.parent.blocked !== undefined) {
    plan.block(path, fileId, d.parent.blocked);
    return;
  }
  const content = await contentOf(ctx, fileId, entry, plan.input.incoming, plan.input.stored);
  if (content === undefined) return; // content not here yet: a later change set brings it
  const { bytes, digest } = content;
  // The recorded text follows the doc whatever the disk gets (kept, blocked, taken meanwhile):
  // a scan compares the disk with it, and a stale digest would hide an edit there.
  if (entry.kind === 'text') ctx.setTextDigest(batch, fileId, digest, entry.base);
  const sameContent = diskDigest === digest;
  // Open in an editor here (`liveDocs.ts`): the change went to the editor's buffer, and the
  // disk keeps what it holds until the editor closes the file (then `LiveDocs` writes the
  // merged text, guarded). Not where the file is not on disk yet (a rename): written there.
  if (!sameContent && entry.kind === 'text' && st?.kind === 'file' && ours !== undefined && ctx.live.isLive(fileId)) {
    log('%s is open in an editor: its disk write waits for the editor to close it', path);
    return;
  }
  if (!sameContent) noteRules(ctx, plan, d);
  const readable = st?.kind === 'file' || st?.kind === 'symlink';
  if (readable && !ours && !sameContent) {
    if (st.kind === 'file' && onDisk && ctx.interrupted.get(path)?.fileId === fileId) {
      // What an interrupted apply wrote of this file, edited since: a save of it, recorded
      // after this write as one made during it.
      log('%s holds an edit of what an interrupted apply wrote there: recorded after the apply', path);
      plan.rescued.set(path, onDisk);
      ctx.dropInterrupted(batch, path);
    } else {
      keep(ctx, path, `is not shared from this machine (ignored, a secret, or new); the peer's version was not written over it`);
      // A new file of the user's (not an ignored one, which no scan lists) claims the path as
      // a concurrent create does.
      plan.fresh.add(path);
      plan.rescan.add(path);
      return;
    }
  }
  const badLink = entry.kind === 'symlink' && !sameContent ? linkObstacle(ctx.fs, path, decoder.decode(bytes)) : undefined;
  if (badLink !== undefined) {
    // What the path held (recorded by the scan before this apply) goes: kept, it would be
    // recorded as an edit that undoes this change everywhere.
    plan.block(path, fileId, badLink);
    if (readable) plan.remove(path, st.kind === 'file' ? diskDigest : undefined);
    return;
  }
  const wantMode = entry.mode === 0o100755 ? 0o755 : 0o644;
  // A regular file must still hold what was read just now; a free path must still be free.
  if (!sameContent && entry.kind !== 'symlink') {
    plan.writes.push({ rel: path, data: bytes, mode: wantMode, expect: st === undefined ? null : st.kind === 'file' ? diskDigest : undefined });
    if (st?.kind === 'file' && diskDigest && ours?.fileId !== undefined && ours.fileId !== fileId) plan.replaced.push({ path, digest: diskDigest, fileId: ours.fileId });
  }
  plan.plans.push({ path, fileId, entry, bytes, digest, st, onDisk, sameContent, wantMode });
}

/** Notes a path an apply left as it was, for the user (see `notices.ts`). */
function keep(ctx: ReplicaContext, path: string, why: string): void {
  ctx.notices.add({ kind: 'kept', path, message: `kept your ${path}: it ${why}` });
}

/** What {@link writeWithIntent} did to the disk. */
export interface DiskWrites {
  /** The boot the files were written in without a flush (undefined: flushed). */
  boot: BootInfo | undefined;
  /** Paths a new file took meanwhile: not written. */
  occupied: Set<string>;
  /** Paths written, with the stat taken as each was put in place (undefined: changed at once). */
  written: Map<string, FileStat | undefined>;
}

/**
 * Carries out the plan: its intent noted first (`noteApplyIntent`), then the removals, then
 * the guarded writes, while the incoming blobs go to the packs. A save found in the way is
 * rescued; a path taken meanwhile is left and scanned.
 */
export async function writeWithIntent(ctx: ReplicaContext, batch: ChangeBatch, plan: ApplyPlan): Promise<DiskWrites> {
  const targets = plan.targets();
  // The incoming blobs go to the packs (and are flushed) while the files are written and
  // flushed, instead of after them.
  const staged = ctx.store.stageBlobs(batch);
  staged.catch(() => undefined); // awaited below; not unhandled if the writes fail first
  // Where the machine's boot is known, the files are not flushed one by one (~15% of a
  // 10,000-file join): the apply notes them, and a crash that tears one is caught after the
  // reboot (see `unflushed.ts`).
  const boot = ctx.fs.writeFiles && ctx.fs.flushFiles ? ctx.fs.boot?.() : undefined;
  await noteApplyIntent(ctx, batch, targets, boot);
  for (const { path, expect } of plan.removals) {
    // A save that landed since the scan wins over the peer's delete: the file stays.
    const kept = expect === undefined ? (ctx.fs.remove(path), undefined) : ctx.fs.removeIfUnchanged ? ctx.fs.removeIfUnchanged(path, expect) : removeChecked(ctx.fs, path, expect);
    if (kept !== undefined) {
      plan.rescued.delete(path);
      plan.rescan.add(path);
    }
  }
  // A folder the removals did not empty, or a FIFO, stays where a file was to go.
  for (const p of plan.plans) {
    const why = p.st?.kind === 'dir' || p.st?.kind === 'other' ? inTheWay(p.path, ctx.fs.lstat(p.path)) : undefined;
    if (why !== undefined) plan.block(p.path, p.fileId, why);
  }
  const disk = await writeFiles(ctx, plan, boot);
  await staged;
  return disk;
}

/** Writes the planned files that nothing blocks, each against what it expects to replace. */
async function writeFiles(ctx: ReplicaContext, plan: ApplyPlan, boot: BootInfo | undefined): Promise<DiskWrites> {
  const toWrite = plan.blocked.size > 0 ? plan.writes.filter((w) => !plan.blocked.has(w.rel)) : plan.writes;
  const freePaths = new Set(toWrite.filter((w) => w.expect === null).map((w) => w.rel));
  const occupied = new Set<string>();
  const written = new Map<string, FileStat | undefined>();
  for (const s of await writeGuarded(ctx.fs, toWrite, { flush: boot === undefined })) {
    if (toWrite.length <= 16) log('wrote %s: %s', s.rel, s.displaced ? `a save was there (${s.displaced.byteLength} bytes)` : s.occupied ? 'taken meanwhile, not written' : s.stat ? 'as planned' : 'changed at once');
    if (s.displaced) plan.rescued.set(s.rel, s.displaced);
    if (s.occupied) {
      occupied.add(s.rel);
      plan.rescued.delete(s.rel);
      plan.rescan.add(s.rel);
      if (freePaths.has(s.rel)) plan.fresh.add(s.rel); // a file made at the free path meanwhile
    } else written.set(s.rel, s.stat);
  }
  return { boot, occupied, written };
}
