import { counted } from './display.js';
import { randomBytes, randomInt } from 'node:crypto';
import { gitAuthorName } from './gitConfigFiles.js';
import { patchFor, type OpEntry, type RecordedChange } from './history.js';
import type { Notices } from './notices.js';
import { recordSaveOf, writeBack } from './textSave.js';
import { mergeLostCreates } from './createConflicts.js';
import { restoreFile } from './restore.js';
import type { BlobPackStore, KvStore, WorktreeFs } from './ports.js';
import { pendingChanges, statusChanges } from './pending.js';
import { isOnDisk, recordScan, type RecordOptions, type ScanReport } from './recordScan.js';
import { ReplicaContext } from './ReplicaContext.js';
import { ChangeBatch } from './ChangeBatch.js';
import { ReplicaStore, type ReplicaIdentity } from './ReplicaStore.js';
import { scanWorktree, ScanScope, type NestedRepo, type ScanResult } from './Scanner.js';
import { StatusViewBuilder, type StatusView } from './statusView.js';
import { undoRedo, type UndoResult } from './undoRedo.js';
import { fileHistory } from './fileHistory.js';
import { collectChanges, collectOutgoing, lackingBlobs, missingBlobs, type ChangeOrigin, type ChangeSet, type OutgoingChanges } from './exchange.js';
import { applyChanges, applyScope, type ApplyOptions, type ApplyResult } from './apply.js';
import { recoverInterruptedApply, recoverUnflushed } from './applyRecovery.js';
import { CshareError } from './errors.js';
import { FsJournal } from './FsJournal.js';
import type { RefusedEntry } from './ManifestDoc.js';
import type { BlockedPath } from './obstacles.js';
import { logger } from './log.js';
import { readUnflushed } from './unflushed.js';
import { ownHistory, recordCarried, type HistoryEntry } from './carriedHistory.js';
import { planTextEdit, recordTextEditPlan, type RecordedTextEdit, type TextEditRequest } from './textEdits.js';
import { localRefused, peerRefused, RefusedPaths, type RefusedCode, type RefusedPath } from './refused.js';
import { LiveDocs, type LiveDoc, type LiveUpload, type OpenLiveOptions } from './liveDocs.js';

const log = logger('replica');

/** How long applies must pause before the files they wrote unflushed are flushed. */
const FLUSH_IDLE_MS = 2000;

/** Options for {@link Replica.open}. */
export interface ReplicaOptions {
  fs: WorktreeFs;
  kv: KvStore;
  /** Where blob bytes go (the caller opens and closes it); without it, into `kv`. */
  packs?: BlobPackStore;
  /** Environment for the author name and global git config (defaults to none). */
  env?: Record<string, string | undefined>;
  home?: string;
  textLimit?: number;
  now?: () => number;
  /**
   * How long a scan waits before reading again a file it finds emptied in the last second
   * (an in-place save caught between truncate and write); 0 turns the wait off (tests on a
   * virtual clock). Default 100 ms.
   */
  settleEmptiedMs?: number;
  /**
   * Where the worktree root is (its directory's device and inode). A store found at another
   * root than the one it recorded was copied with its worktree (`cp -a`): the copy gets a
   * replica id and Yjs client id of its own, or both copies would make different changes
   * under one id and never converge.
   */
  location?: { dev: number; ino: number };
  /**
   * Flush the files applies wrote unflushed once they pause for {@link FLUSH_IDLE_MS}, and the
   * ones a process before left noted (a long-running `share`/`join`). Default false: the notes
   * stay for the next such process, or are checked after a reboot.
   */
  flushWrites?: boolean;
}

/** What `cshare status` reports while no sync process runs. */
export interface ReplicaStatus {
  root: string;
  replica: { id: string; name: string };
  files: number;
  changed: { path: string; change: 'created' | 'modified' | 'deleted' | 'renamed'; from?: string }[];
  storeBytes: number;
  sharing: 'off';
  /** Paths that are not shared or not written, and why (see `refused.ts`). */
  refused: RefusedPath[];
  /** The git repositories inside the tree and whether their files are shared (`nestedRepos.ts`). */
  nested: NestedRepo[];
}

/**
 * One worktree's local engine: scan and record changes, list files, show history, undo and
 * redo. It works only through its ports (a {@link KvStore} and a {@link WorktreeFs}), so the
 * same code runs on LevelDB and disk in the CLI and on the memory twins in tests.
 */
export class Replica {
  private tail: Promise<unknown> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly refused = new RefusedPaths();
  /**
   * Files whose content applies replaced at a path with another file's (one created at once
   * took the path), by path and the git blob id replaced: a late save into what was replaced
   * (`WorktreeFs.onLateSave`) is that file's edit. Bounded: the last {@link REPLACED_KEPT}.
   */
  private readonly replacedAt = new Map<string, string>();
  /**
   * Told once about each path that becomes refused (see {@link refusedPaths}): a running
   * `share`/`join` reports it. Called after the scan or apply that found it.
   */
  onRefused?: (refused: RefusedPath) => void;
  /**
   * Told each edit from an editor (`openLive`) once committed, with its updates: a running
   * `share`/`join` uploads it at once, without a scan or the watcher's wait.
   */
  onLiveUpload?: (upload: LiveUpload) => void;
  /** Told when changes recorded here wait to go up without a watcher event (a typing burst ended, a delayed scan). */
  onPushDue?: () => void;
  /** The text files open in editors (see `liveDocs.ts`). */
  private readonly live: LiveDocs;
  /** Live edits the relay stored, by file (see {@link liveUploaded}). */
  private readonly sentLive = new Map<string, Set<number>>();

  private constructor(
    private ctx: ReplicaContext,
    private readonly opts: ReplicaOptions,
    private readonly journal: FsJournal,
  ) {
    this.live = new LiveDocs({
      ctx: () => this.ctx,
      exclusive: (fn) => this.exclusive(fn),
      reload: () => this.reload(),
      writeBack: (paths, expect) => this.settleWrites(paths, undefined, {}, expect),
      uploaded: (upload) => this.onLiveUpload?.(upload),
      pushDue: () => this.onPushDue?.(),
      rescan: (paths, ms) => this.rescanLater(paths, ms),
      textLimit: opts.textLimit,
    });
    ctx.live = this.live;
  }

  /** Opens (initialising on first use) the replica whose store is `opts.kv`. */
  static async open(opts: ReplicaOptions): Promise<Replica> {
    const store = new ReplicaStore(opts.kv, opts.packs);
    const author = gitAuthorName(opts.fs, opts.env ?? {}, opts.home);
    let identity = await store.identity();
    let copiedFrom: string | undefined;
    if (!identity) {
      // Yjs client ids are 32-bit; a random one per replica, kept forever, so this replica's
      // clocks continue across restarts instead of colliding with its own earlier ops.
      identity = { replicaId: randomBytes(8).toString('hex'), clientId: randomInt(1, 0xfffffff0), name: author };
      await store.putIdentity(identity);
    }
    if (opts.location) {
      const was = await store.location();
      if (was && (was.dev !== opts.location.dev || was.ino !== opts.location.ino)) {
        // A copy (or a move to another file system, where a new id does no harm).
        copiedFrom = identity.replicaId;
        identity = { replicaId: randomBytes(8).toString('hex'), clientId: randomInt(1, 0xfffffff0), name: identity.name, previous: [...(identity.previous ?? []), identity.replicaId] };
        await store.moveTo(identity, opts.location);
      } else if (!was) await store.putLocation(opts.location);
    }
    const journal = new FsJournal(opts.fs);
    const ctx = await ReplicaContext.load({ fs: journal, store, identity, author, now: opts.now ?? Date.now });
    // Before anything scans: a process killed in the middle of applying remote changes left
    // files on disk that its store does not describe.
    const restored = await recoverInterruptedApply(ctx);
    if (restored.length > 0) log('put back the paths of an interrupted apply (%d): %s', restored.length, restored.slice(0, 5).join(', '));
    const rewritten = await recoverUnflushed(ctx);
    if (rewritten.length > 0) log('wrote again the files a crash tore (%d): %s', rewritten.length, rewritten.slice(0, 5).join(', '));
    const replica = new Replica(ctx, opts, journal);
    // Files a process before left open in an editor get the merged text it kept off the disk.
    await replica.exclusive(() => replica.live.recover());
    if (copiedFrom) {
      log('store copied from replica %s: this copy is replica %s', copiedFrom, identity.replicaId);
      ctx.notices.add({ kind: 'kept', path: '', message: `this worktree is a copy of another one (replica ${copiedFrom}): it now has its own replica id ${identity.replicaId}, so both can sync` });
    }
    opts.fs.onLateSave?.((rel, bytes, replaced) => replica.recordLateSave(rel, bytes, replaced));
    if (opts.flushWrites) {
      ctx.onUnflushed = () => replica.scheduleFlush();
      // Notes of this boot left by a process that ended before it flushed.
      if ((await readUnflushed(ctx)).length > 0) replica.scheduleFlush();
    }
    return replica;
  }

  /**
   * Flushes the files that applies wrote unflushed (`unflushed.ts`) and drops their notes;
   * resolves with how many files were flushed. Runs by itself once applies have paused for
   * {@link FLUSH_IDLE_MS}.
   */
  async flushWrites(): Promise<number> {
    const notes = await this.exclusive(() => readUnflushed(this.ctx));
    if (notes.length === 0 || this.closed) return 0;
    const paths = [...new Set(notes.flatMap(({ note }) => note?.files.map((f) => f.path) ?? []))];
    await this.ctx.fs.flushFiles?.(paths);
    // A file written again meanwhile has a note of its own, which stays.
    await this.exclusive(async () => {
      if (!this.closed) await this.ctx.store.dropKeys(notes.map(({ key }) => key));
    });
    return paths.length;
  }

  private scheduleFlush(): void {
    if (this.closed) return;
    if (this.flushTimer) {
      this.flushTimer.refresh();
      return;
    }
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flushWrites().catch((err: unknown) => log('could not flush written files (checked after a reboot instead): %s', err instanceof Error ? err.message : String(err)));
    }, FLUSH_IDLE_MS);
    this.flushTimer.unref();
  }

  get identity(): ReplicaIdentity {
    return this.ctx.identity;
  }

  get root(): string {
    return this.ctx.fs.root;
  }

  /**
   * What would be shared, using and refreshing the stat cache. Not interleaved with a scan or
   * an apply (a running share answers `cshare files` while its watcher records and remote
   * changes are written): the list is of one moment, never of a file half written.
   */
  async files(opts: { includeExcluded?: boolean; signal?: AbortSignal } = {}): Promise<ScanResult> {
    return this.exclusive(() => this.filesNow(opts));
  }

  private async filesNow(opts: { includeExcluded?: boolean; signal?: AbortSignal }): Promise<ScanResult> {
    const statCache = await this.ctx.store.statCache();
    const result = scanWorktree({ ...this.scanOpts(), statCache, includeExcluded: opts.includeExcluded, signal: opts.signal, ...this.ctx.scanPolicy(statCache) });
    const batch = new ChangeBatch();
    for (const f of result.files) {
      const c = statCache.get(f.path);
      if (!c || c.digest !== f.digest || c.mtimeMs !== f.stat.mtimeMs || c.ino !== f.stat.ino || c.size !== f.stat.size || c.ctimeMs !== f.stat.ctimeMs) {
        // Still the content of the file the entry said (a new digest is recorded by the next scan).
        const fileId = c?.fileId ?? this.ctx.manifest.live().get(f.path)?.fileId;
        batch.putStat(f.path, fileId === undefined ? f.stat : { ...f.stat, fileId });
      }
    }
    await this.ctx.store.commit(batch);
    return result;
  }

  /** Records every change since the last scan (of `scope` only, when given). */
  async scan(opts: Pick<RecordOptions, 'signal' | 'onRecorded' | 'scope'> = {}): Promise<ScanReport> {
    return this.exclusive(() => this.scanNow(opts));
  }

  private async scanNow(opts: Pick<RecordOptions, 'signal' | 'onRecorded' | 'scope' | 'overlay' | 'fresh'> = {}): Promise<ScanReport> {
    try {
      const report = await recordScan(this.ctx, { ...this.scanOpts(), settleEmptiedMs: this.opts.settleEmptiedMs, ...opts });
      await this.settleWrites(report.writeBack, report, opts);
      for (const m of report.merged) {
        this.ctx.notices.add({ kind: 'merged', path: m.path, seq: m.seq, baseSeq: m.merge.baseSeq, message: mergeMessage(m.path, m.merge) });
      }
      this.refused.scanned(report.errors, opts.scope);
      this.announceRefused();
      return report;
    } catch (err) {
      // A batch that did not commit (disk full) must not stay applied in memory: the next
      // scan would not see its changes as pending, and they would never be stored.
      await this.reload();
      throw err;
    }
  }

  /**
   * Records edits an editor made to the text file at `request.path` (positions in UTF-16 code
   * units of its current text, {@link textOf}; see `textEdits.ts`) as one change of this
   * replica's, without a scan; then the disk gets the text by a guarded write, and a save that
   * landed there meanwhile is recorded and merged, not overwritten. Resolves with the change
   * (undefined: the edits changed nothing). A request that cannot be recorded (`NOT_FOUND`,
   * `USAGE`, `TOO_LARGE`) is refused before anything changes.
   */
  async recordTextEdit(request: TextEditRequest): Promise<RecordedTextEdit | undefined> {
    return this.exclusive(async () => {
      const plan = await planTextEdit(this.ctx, request, { textLimit: this.opts.textLimit });
      let recorded: RecordedTextEdit | undefined;
      try {
        recorded = await recordTextEditPlan(this.ctx, plan);
      } catch (err) {
        // Not committed (disk full): the doc must not keep the edits in memory only.
        await this.reload();
        throw err;
      }
      if (recorded) await this.settleWrites([request.path]);
      return recorded;
    });
  }

  /**
   * Opens the file at `opts.path` for an editor (see `liveDocs.ts` and EDITOR-API.md): `live`
   * if it is a shared text file here, else `waiting` until it is. While it is open its edits
   * come through the returned {@link LiveDoc}, every other change of it goes to `opts.listener`,
   * and cshare does not write it on disk until it is closed. `BAD_PATH` for an unsafe path,
   * `USAGE` for a binary file or a symlink.
   */
  async openLive(opts: OpenLiveOptions): Promise<LiveDoc> {
    if (this.closed) throw new CshareError('USAGE', 'the replica is closed');
    return this.exclusive(() => this.live.open(opts));
  }

  /** Is the file at `path` open in an editor here (its disk not written until it is closed)? */
  isOpenInEditor(path: string): boolean {
    return this.live.isOpenAt(path);
  }

  /** The files open in editors now, and those a process before left open: what an upload sends first. */
  liveFileIds(): Set<string> {
    return this.live.priorityFileIds();
  }

  /** Scans `paths` again in `ms` (a disk change of a file open in an editor), and has it uploaded. */
  private rescanLater(paths: string[], ms: number): void {
    setTimeout(() => {
      if (this.closed) return;
      this.scan({ scope: new ScanScope(paths) })
        .then(() => this.onPushDue?.())
        .catch((err: unknown) => log('could not scan %s again: %s', paths.join(', '), err instanceof Error ? err.message : String(err)));
    }, ms + 10).unref();
  }

  /** The text the replica has recorded for the shared text file at `path` (what edits are positioned in). */
  async textOf(path: string): Promise<string> {
    return this.exclusive(async () => {
      const live = this.ctx.manifest.live().get(path);
      if (!live || live.entry.kind !== 'text' || !(await this.ctx.hasContent(live.fileId, live.entry))) throw new CshareError('NOT_FOUND', `${path} is not a shared text file here`, { path });
      return this.ctx.currentText(live.fileId, live.entry);
    });
  }

  /** History, newest first, optionally for one path (following renames) and limited. */
  async log(opts: { path?: string; limit?: number; patches?: boolean } = {}): Promise<OpEntry[]> {
    const out: OpEntry[] = [];
    const limit = opts.limit ?? Infinity;
    let fileId: string | undefined;
    if (opts.path !== undefined) {
      fileId = this.ctx.manifest.live().get(opts.path)?.fileId;
      if (!fileId) {
        for (const [id, e] of this.ctx.manifest.all()) if (e.path === opts.path) fileId = id;
      }
    }
    for await (const op of this.ctx.store.opsNewestFirst()) {
      if (out.length >= limit) break;
      if (opts.path === undefined || op.fileId === fileId || op.path === opts.path || op.from === opts.path) out.push(op);
    }
    if (opts.patches) for (const op of out) await this.resolvePatch(op);
    return out;
  }

  /** Fills in the patch of a create kept as a reference to its blob ({@link OpEntry.patchBlob}). */
  private async resolvePatch(op: OpEntry): Promise<void> {
    if (op.patch || op.patchTruncated || !op.patchBlob) return;
    const bytes = await this.ctx.store.blob(op.patchBlob);
    if (bytes === undefined) {
      op.patchTruncated = true;
      return;
    }
    Object.assign(op, patchFor([{ pos: 0, del: '', ins: new TextDecoder().decode(bytes) }]));
  }

  /**
   * Reverts this replica's last change (to `path`); local edits are recorded first. An aborted
   * `signal` stops it during that scan (each batch it recorded stays recorded, as a scan's
   * does) or before the revert, which is one change: nothing of it is made.
   */
  async undo(opts: { path?: string; signal?: AbortSignal } = {}): Promise<UndoResult> {
    return this.exclusive(async () => {
      // A typing burst still growing is one change: it ends here, and is undone whole.
      await this.live.sealAll();
      await this.scanNow({ signal: opts.signal });
      opts.signal?.throwIfAborted();
      // A file a peer deleted since this replica's last change to it: undo brings it back.
      if (opts.path !== undefined && !this.ctx.manifest.live().has(opts.path) && (await this.deletedByPeer(opts.path))) return restoreFile(this.ctx, { path: opts.path });
      return undoRedo(this.ctx, 'undo', opts.path);
    });
  }

  /** Is the latest change of `path` a delete by another replica? */
  private async deletedByPeer(path: string): Promise<boolean> {
    for await (const op of this.ctx.store.opsNewestFirst()) {
      if (op.path !== path && op.from !== path) continue;
      return op.kind === 'delete' && op.replica !== this.ctx.identity.replicaId;
    }
    return false;
  }

  /**
   * Brings back a deleted file (the latest delete of `path`, or change `change`), whoever
   * deleted it; recorded as this replica's change, so it returns everywhere.
   */
  async restore(opts: { path: string; change?: number }): Promise<UndoResult> {
    return this.exclusive(async () => {
      await this.scanNow();
      return restoreFile(this.ctx, opts);
    });
  }

  /** Re-applies the last undone change (to `path`); `signal` as for {@link undo}. */
  async redo(opts: { path?: string; signal?: AbortSignal } = {}): Promise<UndoResult> {
    return this.exclusive(async () => {
      await this.live.sealAll();
      await this.scanNow({ signal: opts.signal });
      opts.signal?.throwIfAborted();
      return undoRedo(this.ctx, 'redo', opts.path);
    });
  }

  /** Every update of a text file's history, for another replica to merge. */
  async fileHistory(path: string): Promise<{ fileId: string; updates: Uint8Array[] }> {
    return fileHistory(this.ctx, path);
  }

  /** This replica's own changes after `since` (-1: the whole state), for another replica or the relay. */
  async changesSince(since: number): Promise<{ changes: ChangeSet; upTo: number }> {
    return this.exclusive(() => collectChanges(this.ctx, since));
  }

  /**
   * As {@link changesSince}, with blobs by reference (read each with {@link blob} when it is
   * sent), without the live edits already uploaded ({@link liveUploaded}).
   */
  async outgoingSince(since: number): Promise<{ changes: OutgoingChanges; upTo: number }> {
    const sent = this.sentLive;
    return this.exclusive(() => collectOutgoing(this.ctx, since, sent.size > 0 ? (fileId, seq) => sent.get(fileId)?.has(seq) === true : undefined));
  }

  /**
   * The relay stored live edit `seq` of `fileId` (uploaded by itself, see {@link onLiveUpload}):
   * the next upload leaves it out. Forgotten once an upload is acknowledged past it ({@link holdLogAfter}).
   */
  liveUploaded(fileId: string, seq: number): void {
    let seqs = this.sentLive.get(fileId);
    if (!seqs) this.sentLive.set(fileId, (seqs = new Set()));
    seqs.add(seq);
  }

  /**
   * Applies another replica's changes to the store and the disk; local edits not yet recorded
   * are recorded first (unless `scanFirst` is false), so none is overwritten. `adoptRules`: see
   * `ApplyOptions`. An aborted `signal` (Ctrl-C) rejects with its reason and applies nothing:
   * it stops the scan, or the apply before it writes, or at its next write to the disk, after
   * which what was written is put back as after any failed apply (the changes come again
   * with the next catch-up).
   */
  async applyChanges(changes: ChangeSet, origin: ChangeOrigin, opts: { scanFirst?: boolean; signal?: AbortSignal } & ApplyOptions = {}): Promise<RecordedChange[]> {
    return this.exclusive(() => this.applyNow(changes, origin, opts));
  }

  private async applyNow(changes: ChangeSet, origin: ChangeOrigin, opts: { scanFirst?: boolean; signal?: AbortSignal } & ApplyOptions): Promise<RecordedChange[]> {
    const { signal } = opts;
    signal?.throwIfAborted();
    // Local edits the apply could overwrite are recorded first; the scan covers the paths it
    // may touch (the whole tree at 100,000 files took ~1 s and ~100 MB for every remote save).
    if (opts.scanFirst !== false) await this.scanNow({ scope: applyScope(this.ctx, changes), signal });
    signal?.throwIfAborted();
    // All or nothing: a failure half way (disk full, an unwritable file, a refused path, an
    // abort) restores the files already written and drops what was merged in memory, so the
    // store, the disk and this object agree again and the same changes can be applied later.
    this.journal.begin({ signal });
    let result: ApplyResult;
    try {
      result = await applyChanges(this.ctx, changes, origin, { adoptRules: opts.adoptRules });
      this.journal.end();
      this.announceRefused();
    } catch (err) {
      const notRestored = this.journal.rollback();
      await this.reload();
      // Stopped, not failed: said as the stop, unless a file could not be put back.
      if (signal?.aborted && err === signal.reason && notRestored.length === 0) throw err;
      throw applyFailed(err, origin, notRestored);
    }
    for (const { path, digest, fileId } of result.replaced) this.replacedAt.set(`${path}\0${digest}`, fileId);
    while (this.replacedAt.size > REPLACED_KEPT) this.replacedAt.delete(this.replacedAt.keys().next().value!);
    // Saves that landed while the change was being written: recorded now, merged, written back
    // (one made on a file that another took the path of, as that file's edit).
    for (const [path, { fileId, bytes }] of result.rescuedOf) {
      if ((await recordSaveOf(this.ctx, { fileId, bytes, textLimit: this.opts.textLimit })) === undefined) result.rescued.set(path, bytes);
    }
    if (result.rescued.size > 0 || result.rescan.length > 0) {
      await this.scanNow({ scope: new ScanScope([...result.rescued.keys(), ...result.rescan]), overlay: result.rescued, fresh: result.fresh });
    }
    // A file this replica created that lost its path to one a peer created at once.
    const merged = await mergeLostCreates(this.ctx, [...result.mergedAway, ...[...result.rescuedOf.values()].map((r) => r.fileId)]);
    if (merged.length > 0) await this.settleWrites(merged);
    return result.recorded;
  }

  /**
   * Writes the recorded content of `paths` where the disk holds something else (a merged
   * save's text). A save that lands on that write is recorded from what it left, and so on: a
   * few rounds at most, each needing a new save to land in the microseconds of a write.
   */
  private async settleWrites(paths: string[], report?: ScanReport, opts: Pick<RecordOptions, 'signal' | 'onRecorded'> = {}, expect?: ReadonlyMap<string, string>): Promise<void> {
    let pending = paths;
    for (let round = 0; pending.length > 0 && round < WRITE_BACK_ROUNDS; round++) {
      const { displaced, occupied } = await writeBack(this.ctx, pending, round === 0 ? { expect } : {});
      if (displaced.size === 0 && occupied.length === 0) break;
      const next = await recordScan(this.ctx, { ...this.scanOpts(), settleEmptiedMs: this.opts.settleEmptiedMs, signal: opts.signal, onRecorded: opts.onRecorded, scope: new ScanScope([...displaced.keys(), ...occupied]), overlay: displaced });
      report?.recorded.push(...next.recorded);
      report?.merged.push(...next.merged);
      pending = next.writeBack;
    }
  }

  /**
   * Records a save that reached a file after a write of this replica had replaced it (see
   * `WorktreeFs.onLateSave`): merged from the version it was made from, like any save.
   */
  private recordLateSave(rel: string, bytes: Uint8Array, replaced: string): void {
    if (this.closed) return;
    this.exclusive(async () => {
      // Made on a file that another one replaced at this path (created at once, it won): an
      // edit of that file, which reaches the winner with their merge (convergence fuzz seeds
      // 346 and 3125).
      const was = this.replacedAt.get(`${rel}\0${replaced}`);
      if (was !== undefined && this.ctx.manifest.live().get(rel)?.fileId !== was && (await recordSaveOf(this.ctx, { fileId: was, bytes, textLimit: this.opts.textLimit })) !== undefined) {
        const merged = await mergeLostCreates(this.ctx, [was]);
        if (merged.length > 0) await this.settleWrites(merged);
        return;
      }
      await this.scanNow({ scope: new ScanScope([rel]), overlay: new Map([[rel, bytes]]) });
    }).catch((err: unknown) => {
      log('could not record a late save of %s: %s', rel, err instanceof Error ? err.message : String(err));
    });
  }

  /** What this replica did that its user should hear about since the last call (see `notices.ts`). */
  drainNotices(): ReturnType<Notices['drain']> {
    return this.ctx.notices.drain();
  }

  /**
   * The history entries of this replica's own changes after seq `since` up to `upTo`, for
   * other replicas' logs (see `carriedHistory.ts`).
   */
  ownHistory(since: number, upTo: number): AsyncIterable<HistoryEntry> {
    // A typing burst still growing goes up when it ends, as one entry (`typingBursts.ts`).
    const open = this.live.openBursts();
    if (open.size === 0) return ownHistory(this.ctx, since, upTo);
    const all = ownHistory(this.ctx, since, upTo);
    return (async function* () {
      for await (const entry of all) if (!open.has(entry.seq)) yield entry;
    })();
  }

  /** Records another replica's history entries in this log, each once; returns how many were new. */
  async recordHistory(entries: readonly HistoryEntry[], by: string): Promise<number> {
    return this.exclusive(() => recordCarried(this.ctx, entries, by));
  }

  /** A small JSON value kept in the store (sync state and the like). */
  async getMeta<T>(name: string): Promise<T | undefined> {
    return this.ctx.store.meta<T>(name);
  }

  async putMeta(name: string, value: unknown): Promise<void> {
    await this.ctx.store.putMeta(name, value);
  }

  /** Blobs that live files need and the store lacks. */
  async missingBlobs(): Promise<string[]> {
    return missingBlobs(this.ctx);
  }

  /** A blob's bytes, if the store has it. */
  async blob(digest: string): Promise<Uint8Array | undefined> {
    return this.ctx.store.blob(digest);
  }

  /** Live files whose last modification on disk (per the stat cache) is within `ms`. */
  async recentFileIds(ms: number): Promise<Set<string>> {
    const since = (this.opts.now ?? Date.now)() - ms;
    // The stat cache streamed, keeping only recent paths: a map of all of it was ~100,000
    // objects on the heap at the sharer's peak, just after its first scan.
    const recent = new Set<string>();
    for await (const [path, st] of this.ctx.store.statEntries()) if (st.mtimeMs >= since) recent.add(path);
    const out = new Set<string>();
    if (recent.size === 0) return out;
    for (const [path, { fileId }] of this.ctx.manifest.live()) if (recent.has(path)) out.add(fileId);
    return out;
  }

  /** Is this blob in the store? */
  async hasBlob(digest: string): Promise<boolean> {
    return (await lackingBlobs(this.ctx, [digest])).length === 0;
  }

  /** The ones of `digests` the store lacks. */
  async lackingBlobs(digests: string[]): Promise<string[]> {
    return lackingBlobs(this.ctx, digests);
  }

  /**
   * Before a first join: records what is on disk (so every local version stays in history:
   * the op log and the blobs), then drops the local CRDT state (manifest, file docs, undo
   * stacks) without touching the disk, so the shared worktree's entries decide what each path
   * holds. Files equal to the shared version are left as they are by the join; files that
   * exist only here are recorded again by the next scan, as new.
   *
   * Dropped, not tombstoned: a tombstone is a Yjs struct of this replica's client that is never
   * uploaded (the join starts uploading after it), and every later update of this client
   * would depend on it, so no other replica could ever integrate any of them.
   */
  async detachLocalFiles(): Promise<number> {
    return this.exclusive(() => this.detachNow());
  }

  private async detachNow(): Promise<number> {
    await this.scanNow();
    // The caller takes `seq` as the last change never to upload: it must not be handed out again.
    await this.ctx.persistSeq();
    const detached = this.ctx.manifest.live().size;
    if (this.ctx.manifest.all().next().done) return 0;
    const batch = new ChangeBatch();
    await this.ctx.store.stageDetach(batch);
    // The stat cache keeps its digests: they describe the disk, which has not changed.
    await this.ctx.commit(batch);
    await this.reload();
    return detached;
  }

  /** How many of this replica's own changes come after `seq` (not yet acknowledged). */
  async ownChangesAfter(seq: number): Promise<number> {
    // A typing burst still growing is not counted: its edits went up as they were typed, and
    // its entry goes up when it ends (`onPushDue`). Counted, every edit of a peer applied while
    // this side types made a push, with a scan of the whole tree.
    const open = this.live.openBursts();
    let n = 0;
    for await (const op of this.ctx.store.opsNewestFirst()) {
      if (op.seq <= seq) break;
      if (op.replica === this.ctx.identity.replicaId && !open.has(op.seq)) n++;
    }
    return n;
  }

  /**
   * Manifest entries from peers that are never written because their path is unsafe or the
   * entry malformed (see `ManifestDoc.refused`).
   */
  refusedEntries(): readonly RefusedEntry[] {
    return this.ctx.manifest.refused();
  }

  /**
   * Every path not shared or not written, and why: what this replica's last scans refused,
   * what the relay refused, and peers' entries never written here.
   */
  refusedPaths(): RefusedPath[] {
    return this.refused.all(this.ctx.manifest.refused());
  }

  /** The relay refused to store `path` (it is not shared); reported through {@link onRefused}. */
  refusedByRelay(path: string, reason: string, code: RefusedCode): void {
    this.refused.refusedByRelay(path, reason, code);
    this.announceRefused();
  }

  private announceRefused(): void {
    const on = this.onRefused;
    if (on) this.refused.announce(this.refusedPaths(), on);
  }

  /**
   * Paths remote changes could not be written to on this disk (a parent that is a symlink or a
   * file, a folder or FIFO in the way, a link target that leads out): left alone, and written
   * once a scan finds them free. Sync reports each one.
   */
  blockedPaths(): readonly BlockedPath[] {
    const live = this.ctx.manifest.live();
    return [...this.ctx.blocked.values()].filter((b) => live.get(b.path)?.fileId === b.fileId);
  }

  /** How many files are shared (live manifest entries). */
  fileCount(): number {
    return this.ctx.manifest.live().size;
  }

  /**
   * The live shared files, each with the digest of its recorded content: what the share holds,
   * whatever this disk's rules say (a secret or an ignored file another side shares included).
   */
  sharedFiles(): { path: string; digest: string }[] {
    return [...this.ctx.manifest.live()].map(([path, { fileId, entry }]) => ({ path, digest: this.ctx.contentDigest(fileId, entry) }));
  }

  /** Seq of this replica's latest change. */
  get seq(): number {
    return this.ctx.seq;
  }

  /** Keeps logged updates after `seq` through compaction (what is not yet uploaded), in this process. */
  keepLogAfter(seq: number): void {
    this.ctx.counters.keepLogAfter = seq;
  }

  /**
   * As {@link keepLogAfter}, and remembered in the store: a later process compacts nothing the
   * relay has not acknowledged, even in the scans it makes before it is back online.
   */
  async holdLogAfter(seq: number): Promise<void> {
    this.ctx.counters.keepLogAfter = seq;
    for (const [fileId, seqs] of this.sentLive) {
      for (const s of seqs) if (s <= seq) seqs.delete(s);
      if (seqs.size === 0) this.sentLive.delete(fileId);
    }
    await this.ctx.store.putKeepLogAfter(seq);
  }

  /**
   * Offline status: what is tracked and what changed since the last scan (not recorded). It
   * reads the whole tree; an aborted `signal` stops that (it changes nothing).
   */
  async status(opts: { signal?: AbortSignal } = {}): Promise<ReplicaStatus> {
    const statCache = await this.ctx.store.statCache();
    const scan = scanWorktree({ ...this.scanOpts(), statCache, signal: opts.signal, ...this.ctx.scanPolicy(statCache) });
    const pending = pendingChanges(this.ctx.recorded(), scan, undefined, (path) => isOnDisk(this.ctx, path));
    // A file open in an editor whose disk holds a text that is no edit (see `liveDocs.ts`) is not changed.
    pending.modified = pending.modified.filter((m) => !this.live.accepts(m.fileId, m.file.digest));
    return {
      root: this.root,
      replica: { id: this.ctx.identity.replicaId, name: this.ctx.author },
      files: this.ctx.manifest.live().size,
      changed: statusChanges(pending),
      storeBytes: await this.ctx.store.size(),
      sharing: 'off',
      // What the disk holds now, and what the relay and peers' changes brought.
      refused: [
        ...localRefused([...scan.errors, ...pending.refused]),
        ...this.refused.all(this.ctx.manifest.refused()).filter((r) => r.source !== 'local'),
      ],
      nested: scan.nested,
    };
  }

  /** What `status` needs without this replica loaded (see `statusView.ts`): its committed state. */
  async statusView(): Promise<StatusView> {
    const view = new StatusViewBuilder(this.ctx.identity.replicaId, peerRefused(this.ctx.manifest.refused()), [...this.ctx.ruleBaselines]);
    for (const [path, { fileId, entry }] of this.ctx.manifest.live()) view.addFile(path, fileId, entry.kind, entry.mode, this.ctx.contentDigest(fileId, entry));
    for await (const [path, stat] of this.ctx.store.statEntries()) view.addStat(path, stat);
    return view.build();
  }

  /** Frees memory; the caller closes the store. */
  close(): void {
    this.closed = true;
    clearTimeout(this.flushTimer);
    this.live.dispose();
    this.ctx.destroy();
  }

  /**
   * Runs `fn` after every change-making call before it: scans (the watcher's, a session's),
   * applies, undo/redo and the collection of outgoing changes never interleave. Otherwise a
   * collection could count a change seq that a concurrent scan had taken but not yet
   * committed, acknowledge past it and never upload that change (found by the chaos run: the
   * gap then held back every later manifest change of this replica on every peer).
   */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const settled = async (): Promise<T> => {
      try {
        return await fn();
      } finally {
        // Editors hear of renames, deletes and arrivals before the lock goes (see `liveDocs.ts`).
        await this.live.settle().catch((err: unknown) => log('could not settle the files open in editors: %s', err instanceof Error ? err.message : String(err)));
      }
    };
    const run = this.tail.then(settled, settled);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Rebuilds the in-memory state from the store (after a change that did not commit). */
  private async reload(): Promise<void> {
    const old = this.ctx;
    const ctx = await ReplicaContext.load({ fs: old.fs, store: old.store, identity: old.identity, author: old.author, now: old.now });
    ctx.counters.keepLogAfter = old.counters.keepLogAfter;
    ctx.onUnflushed = old.onUnflushed;
    ctx.notices = old.notices;
    ctx.live = old.live;
    ctx.blocked = old.blocked;
    old.destroy();
    this.ctx = ctx;
    await this.live.rebind();
  }

  private scanOpts() {
    return { fs: this.ctx.fs, textLimit: this.opts.textLimit, home: this.opts.home, env: this.opts.env };
  }
}

/** Rounds of writing back merged saves and recording saves that landed on those writes. */
const WRITE_BACK_ROUNDS = 5;

/** Paths whose replaced file a replica remembers for late saves (see `Replica.replacedAt`). */
const REPLACED_KEPT = 1000;

function mergeMessage(path: string, merge: NonNullable<OpEntry['merge']>): string {
  const why = merge.reason === 'unchanged' ? 'an unchanged buffer of an older version: nothing was reverted' : merge.reason === 'during-apply' ? "it landed while a peer's change was being written" : 'made from an older version (an editor that had not reloaded)';
  return `merged a save of ${path} with the changes made since its base (change ${merge.baseSeq}): ${why}`;
}

/** The error of an apply that was rolled back: what failed, and that nothing was applied. */
function applyFailed(err: unknown, origin: ChangeOrigin, notRestored: string[]): CshareError {
  const cause = err instanceof Error ? err : new Error(String(err));
  const errno = typeof (err as { code?: unknown })?.code === 'string' && /^E[A-Z]+$/.test((err as { code: string }).code) ? (err as { code: string }).code : undefined;
  const code = err instanceof CshareError ? err.code : errno ? 'IO' : 'INTERNAL';
  const data: Record<string, unknown> = { ...(err instanceof CshareError ? err.data : {}), ...(errno ? { errno } : {}) };
  let message = `could not apply the changes of ${origin.author}: ${cause.message}; nothing of them was applied (they are applied again on the next catch-up)`;
  if (notRestored.length > 0) {
    data.notRestored = notRestored.slice(0, 100);
    message += `; ${counted(notRestored.length, 'file')} could not be put back as ${notRestored.length === 1 ? 'it was' : 'they were'}: ${notRestored.slice(0, 3).join(', ')}`;
  }
  return new CshareError(code, message, data, { cause: err });
}


