/**
 * The state of one `recordScan` run, shared by its steps (`recordScan.ts` classifies,
 * `recordChanges.ts` records): the batch being filled and when it is committed, the changes
 * reported so far, and what the classification decided of each path (which shared file it
 * holds, which saves wait for content not here yet).
 */
import type { OpEntry, OpKind, RecordedChange } from './history.js';
import type { ManifestEntry } from './ManifestDoc.js';
import type { WorktreeFs } from './ports.js';
import { ChangeBatch } from './ChangeBatch.js';
import type { ReplicaContext } from './ReplicaContext.js';
import { isIgnoreFile, type CachedStat, type ScannedFile } from './Scanner.js';
import { recordSaveOf } from './textSave.js';

/**
 * Flush a batch once it holds this many bytes or changes (one LevelDB write each, which
 * LevelDB copies natively: a first `share --once` of 30,000 files peaked at 459 MB RSS with
 * 16 MB batches, 376 MB with 8 MB, 351 MB with 4 MB; times 84–114 s, within this machine's noise).
 */
export const BATCH_BYTES = 4 * 1024 * 1024;
const BATCH_CHANGES = 2000;

/** What a recording reads of `RecordOptions` (`recordScan.ts`). */
export interface RecordingOptions {
  textLimit?: number;
  settleEmptiedMs?: number;
  overlay?: ReadonlyMap<string, Uint8Array>;
  onRecorded?: (changes: RecordedChange[]) => void;
}

/** A save merged from an older version than the text on disk (see `saveBase.ts`). */
export interface MergedSave {
  path: string;
  seq: number;
  merge: NonNullable<OpEntry['merge']>;
}

/** A live manifest entry and its file id. */
export interface LiveFile {
  fileId: string;
  entry: ManifestEntry;
}

/** One run of `recordScan`: its batch, its results, and the decisions its steps share. */
export class ScanRecording {
  /** Changes whose batch is committed, in order. */
  readonly recorded: RecordedChange[] = [];
  readonly merged: MergedSave[] = [];
  readonly writeBack: string[] = [];
  /** Files a save was recorded into by {@link saveOf} (a merge may have taken them meanwhile). */
  readonly savedInto: string[] = [];
  /** Edits of content not here yet: not recorded, their stat entries left as they are. */
  readonly waiting = new Set<string>();
  /** The shared file each recorded path now holds the content of (for the stat cache). */
  readonly heldAs = new Map<string, string>();
  /**
   * Stat entries put in the changes' own batches ({@link holdStat}): the file's scanned stat
   * with this file id, by path (the id only: the rest is the scan's). The stat cache update
   * after the changes writes only those that differ (a first scan wrote every entry twice:
   * 77,000 of its 154,000 store writes at 38,500 files).
   */
  readonly heldStats = new Map<string, string>();
  /** Live entries never written here (see `materialize` in `recordScan.ts`). */
  readonly unseen: LiveFile[] = [];
  /** The first scan of a worktree is its baseline, not an edit anyone would want to undo. */
  readonly initialImport: boolean;

  private current = new ChangeBatch();
  private inBatch: RecordedChange[] = [];
  private manifestSets: [string, ManifestEntry][] = [];
  private anyOwn = false;

  constructor(
    readonly ctx: ReplicaContext,
    readonly opts: RecordingOptions,
    /** The worktree as the scan read it (with the overlay's saves, if any). */
    readonly fs: WorktreeFs,
    /** The stat cache of the scan's scope, as it was before this run. */
    readonly statCache: Map<string, CachedStat>,
  ) {
    this.initialImport = ctx.manifest.live().size === 0;
  }

  /** The batch being filled: read it anew after every {@link addOp} (which may commit it). */
  get batch(): ChangeBatch {
    return this.current;
  }

  /** Is the save at `path` known only in memory (`RecordOptions.overlay`)? */
  inOverlay(path: string): boolean | undefined {
    return this.opts.overlay?.has(path);
  }

  /** Commits the batch (with the manifest entries it sets), then reports its changes. */
  async flush(): Promise<void> {
    const { ctx } = this;
    if (this.manifestSets.length > 0) {
      const sets = this.manifestSets;
      const update = ctx.manifest.change((set) => {
        for (const [id, e] of sets) set(id, e);
      });
      // The manifest update is logged under the last change of the batch: the batch is atomic.
      ctx.logManifestUpdate(this.current, this.inBatch.at(-1)?.seq ?? ctx.seq, update);
      this.current.putLamport(ctx.lamport);
    }
    await ctx.commit(this.current);
    if (this.inBatch.length > 0) {
      this.recorded.push(...this.inBatch);
      this.opts.onRecorded?.(this.inBatch);
    }
    this.current = new ChangeBatch();
    this.inBatch = [];
    this.manifestSets = [];
  }

  /** Adds a change's op entry (and its manifest entry, if any) to the batch; commits a full batch. */
  async addOp(op: OpEntry, entryUpdate: [string, ManifestEntry] | null, undoable: boolean): Promise<void> {
    const { ctx } = this;
    const batch = this.current;
    batch.putOp(op);
    // An ignore file saved here is what this machine's user accepts from now on.
    if (isIgnoreFile(op.path)) ctx.acceptRules(batch, op.path);
    if (op.from !== undefined && isIgnoreFile(op.from)) ctx.acceptRules(batch, op.from);
    if (undoable) {
      if (!this.anyOwn) {
        // A new change ends the redo chain, as in every editor.
        for await (const seq of ctx.store.stack('re')) batch.dropFromStack('re', seq);
        this.anyOwn = true;
      }
      batch.markUndoable(op.seq);
    }
    if (entryUpdate) this.manifestSets.push(entryUpdate);
    this.inBatch.push({ seq: op.seq, kind: op.kind, path: op.path, from: op.from, inserted: op.inserted, deleted: op.deleted });
    if (batch.bytes >= BATCH_BYTES || this.inBatch.length >= BATCH_CHANGES) await this.flush();
  }

  /**
   * Puts the stat entry of a file a change moves to a path in the change's own batch, not only
   * with the rest of the stat cache after every change is committed: a crash between the two
   * left the entry of a file deleted or moved away here, and the next scan took another file
   * that has the path now (one that had lost it to a file created at once elsewhere) for a
   * file this replica held, found it gone and recorded a delete of it that no user made
   * (convergence fuzz seeds 9000138 and 1177644441).
   */
  holdStat(file: ScannedFile, fileId: string): void {
    // A save known only in memory: the disk holds what the write that displaced it left.
    if (this.inOverlay(file.path)) return;
    this.current.putStat(file.path, { ...file.stat, fileId });
    this.heldStats.set(file.path, fileId);
  }

  /**
   * Was this live entry's file ever on disk here? Every file a scan saw and every file an apply
   * or undo wrote has a stat cache entry, until a scan records it gone; and its content is in the
   * store. An entry whose content is still in transit has neither (its blob may be in the store
   * for another file with the same content).
   */
  async wasOnDisk(fileId: string, entry: ManifestEntry): Promise<boolean> {
    return this.statCache.has(entry.path) && (await this.ctx.hasContent(fileId, entry));
  }

  /** An op entry of this replica's, with nothing inserted or deleted yet. */
  op(seq: number, kind: OpKind, fileId: string, path: string): OpEntry {
    const { ctx } = this;
    return { seq, kind, time: ctx.now(), author: ctx.author, replica: ctx.identity.replicaId, fileId, path, inserted: 0, deleted: 0, inverse: {} };
  }

  /** Records the file at `file.path` as a save of `fileId`; false if that file cannot take it. */
  async saveOf(fileId: string, file: ScannedFile): Promise<boolean> {
    const bytes = readContent(this.fs, file);
    const changes = bytes === undefined ? undefined : await recordSaveOf(this.ctx, { fileId, bytes, textLimit: this.opts.textLimit });
    if (changes === undefined) return false;
    this.savedInto.push(fileId);
    this.heldAs.set(file.path, fileId);
    if (changes.length > 0) {
      this.recorded.push(...changes);
      this.opts.onRecorded?.(changes);
    }
    return true;
  }
}

/**
 * Reads what a scanned file holds now (a symlink's target, never what it points at). The
 * scan only hashed it; recording needs the bytes, which may have changed since.
 */
export function readContent(fs: WorktreeFs, file: ScannedFile): Uint8Array | undefined {
  if (file.kind === 'symlink') {
    const target = fs.readlink(file.path);
    return target === undefined ? undefined : new TextEncoder().encode(target);
  }
  return fs.readFile(file.path);
}
