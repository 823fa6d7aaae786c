/**
 * The writes of one or more changes, committed as one store batch (`ReplicaStore.commit`).
 * Nothing is reported as recorded until that commit has resolved. Each kind of write has its
 * named method: the key it goes under is this file's and `storeKeys.ts`'s business only.
 */
import type { OpEntry } from './history.js';
import type { KvBatchOp } from './ports.js';
import type { CachedStat } from './scanFiles.js';
import { KEY, jsonBytes, textBytes } from './storeKeys.js';

const EMPTY = new Uint8Array();

/**
 * A file an interrupted apply wrote at a path the store lost the entry of, edited since
 * (`ri:<path>`): its id and the git blob id of what it wrote.
 */
export interface InterruptedWrite {
  fileId: string;
  digest: string;
}

/** The writes of one or more changes; see the file comment. */
export class ChangeBatch {
  readonly ops: KvBatchOp[] = [];
  /** Blobs to store, by digest (see `ReplicaStore.commit`). */
  readonly blobs = new Map<string, Uint8Array>();
  /** Bytes of keys and values so far (a scan commits a batch once it is big). */
  bytes = 0;

  /** Is there nothing to commit? */
  get empty(): boolean {
    return this.ops.length === 0 && this.blobs.size === 0;
  }

  /** A raw write under `key`: callers use the named methods below. */
  private put(key: string, value: Uint8Array): void {
    this.ops.push({ type: 'put', key, value });
    this.bytes += key.length + value.byteLength;
  }

  /** As {@link put}, of a JSON value. */
  private putJson(key: string, value: unknown): void {
    this.put(key, jsonBytes(value));
  }

  /** Part `n` of the manifest (`m:<n>`), as compaction folds the parts together. */
  putManifestPart(n: number, update: Uint8Array): void {
    this.put(KEY.manifestPart(n), update);
  }

  /** Deletes a key the store handed out (an update folded into a snapshot, a note read back). */
  dropKey(key: string): void {
    this.ops.push({ type: 'del', key });
  }

  /** Stores a blob: file content under its git blob id. */
  putBlob(digest: string, bytes: Uint8Array): void {
    if (this.blobs.has(digest)) return;
    this.blobs.set(digest, bytes);
    this.bytes += digest.length + bytes.byteLength;
  }

  /** The op entry of a change (`o:<seq>`): what `log` shows and `undo` reverts. */
  putOp(op: OpEntry): void {
    this.putJson(KEY.op(op.seq), op);
  }

  /** Puts change `seq` on the undo stack (this replica's own changes). */
  markUndoable(seq: number): void {
    this.put(KEY.stack('un', seq), EMPTY);
  }

  /** Puts change `seq` on the undo (`un`) or the redo (`re`) stack. */
  pushStack(which: 'un' | 're', seq: number): void {
    this.put(KEY.stack(which, seq), EMPTY);
  }

  /** Takes change `seq` off the undo (`un`) or the redo (`re`) stack. */
  dropFromStack(which: 'un' | 're', seq: number): void {
    this.dropKey(KEY.stack(which, seq));
  }

  /** The stat cache entry of `path`. */
  putStat(path: string, stat: CachedStat): void {
    this.putJson(KEY.stat(path), stat);
  }

  /** Forgets the stat cache entry of `path` (nothing of this replica's is there any more). */
  dropStat(path: string): void {
    this.dropKey(KEY.stat(path));
  }

  /** The last seq handed out (`ReplicaContext.commit` writes it with every batch). */
  putSeq(seq: number): void {
    this.putJson(KEY.seq, seq);
  }

  /** The Lamport clock, after a change that moved it. */
  putLamport(lamport: number): void {
    this.putJson(KEY.lamport, lamport);
  }

  /** A manifest Yjs update logged under change `seq` (`sub`: which of a change's remote updates). */
  putManifestUpdate(seq: number, update: Uint8Array, sub?: string): void {
    this.put(KEY.manifestUpdate(seq, sub), update);
  }

  /** A file doc Yjs update logged under change `seq` (`sub` tells several of one change apart). */
  putFileUpdate(fileId: string, seq: number, sub: string, update: Uint8Array): void {
    this.put(KEY.fileUpdate(fileId, seq, sub), update);
  }

  /** A file doc snapshot, which the updates logged before it were folded into. */
  putFileSnapshot(fileId: string, snapshot: Uint8Array): void {
    this.put(KEY.fileSnapshot(fileId), snapshot);
  }

  /** The git blob id of a text file's recorded text. */
  putTextDigest(fileId: string, digest: string): void {
    this.put(KEY.textDigest(fileId), textBytes(digest));
  }

  /** The recent on-disk versions of a text file (`ReplicaContext.noteVersion`'s list). */
  putVersions(fileId: string, versions: readonly object[]): void {
    this.putJson(KEY.versions(fileId), versions);
  }

  /** A rule file's text as this machine's user accepted it. */
  putRuleBaseline(path: string, text: string): void {
    this.put(KEY.ruleBaseline(path), textBytes(text));
  }

  dropRuleBaseline(path: string): void {
    this.dropKey(KEY.ruleBaseline(path));
  }

  /** What an interrupted apply wrote at `path`, edited since (see `recoverInterruptedApply`). */
  putInterrupted(path: string, write: InterruptedWrite): void {
    this.putJson(KEY.interrupted(path), write);
  }

  dropInterrupted(path: string): void {
    this.dropKey(KEY.interrupted(path));
  }

  /** The highest seq of author `by`'s history entries recorded here (`carriedHistory.ts`). */
  putHistorySeen(by: string, seq: number): void {
    this.putJson(KEY.historySeen(by), seq);
  }

  /** What this replica merged of a lost create into the file that won its path (`createConflicts.ts`). */
  putPriorMerge(fileId: string, merge: { into: string; text: string }): void {
    this.putJson(KEY.priorMerge(fileId), merge);
  }

  /** How far this replica's own edits of a merged-away file were forwarded (its clock). */
  putForwarded(fileId: string, clock: number): void {
    this.putJson(KEY.forwarded(fileId), clock);
  }

  /** A forward of edits waiting for its target's content. */
  markForwardWaiting(fileId: string): void {
    this.put(KEY.forwardWaiting(fileId), EMPTY);
  }

  dropForwardWaiting(fileId: string): void {
    this.dropKey(KEY.forwardWaiting(fileId));
  }

  /** The note of files an apply wrote without a flush (`unflushed.ts`). */
  putUnflushed(seq: number, note: object): void {
    this.putJson(KEY.unflushed(seq), note);
  }

  /**
   * A text file open in an editor (`liveDocs.ts`): its disk may be behind its doc, holding one
   * of `accepted` (digests of texts that are no edit), until the last editor closes it.
   */
  putLiveNote(fileId: string, note: { accepted: string[] }): void {
    this.putJson(KEY.liveNote(fileId), note);
  }

  dropLiveNote(fileId: string): void {
    this.dropKey(KEY.liveNote(fileId));
  }

  /** Drops the op entry of change `seq` (a typing burst's entry moves to its latest change: `typingBursts.ts`). */
  dropOp(seq: number): void {
    this.dropKey(KEY.op(seq));
  }

  /** Drops the note of an apply's disk writes in progress: the apply is committed with this batch. */
  dropApplying(): void {
    this.dropKey(KEY.applying);
  }
}
