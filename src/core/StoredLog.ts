/**
 * The logs half of `ReplicaStore` (which extends this class, so that callers see one store):
 * the Yjs updates of the manifest and of each file doc with their snapshots, the op entries
 * (`log`) and the undo and redo stacks, and the folding of long logs into snapshots.
 */
import { Buffer } from 'node:buffer';
import * as Y from 'yjs';
import { ChangeBatch } from './ChangeBatch.js';
import type { OpEntry } from './history.js';
import type { KvStore } from './ports.js';
import { DETACHED_FAMILIES, FAMILY, KEY, byLogOrder, isOwnUpdateKey, parseJson, prefixRange, seqOfKey, type StoredPiece } from './storeKeys.js';

/** Most bytes merged into one manifest snapshot part (see {@link StoredLog.compactManifest}). */
const SNAPSHOT_PART_BYTES = 4 * 1024 * 1024;

/** The logs of a replica's store; see the file comment. */
export abstract class StoredLog {
  protected constructor(protected readonly kv: KvStore) {}

  /** Commits a batch (see `ReplicaStore.commit`). */
  abstract commit(batch: ChangeBatch): Promise<void>;

  /**
   * The manifest as stored: its snapshot parts (with their keys) and the updates logged after
   * them. Every piece is a valid Yjs update on its own, and none is much over 4 MB.
   */
  async manifestState(): Promise<{ parts: StoredPiece[]; updates: StoredPiece[]; count: number }> {
    const parts: StoredPiece[] = [];
    const legacy = await this.kv.get(KEY.manifestSnapshot);
    if (legacy) parts.push({ key: KEY.manifestSnapshot, value: legacy });
    for await (const [key, value] of this.kv.iterate(prefixRange(FAMILY.manifestPart))) parts.push({ key, value });
    const updates: StoredPiece[] = [];
    for await (const [key, value] of this.kv.iterate(prefixRange(FAMILY.manifestUpdate))) updates.push({ key, value });
    updates.sort((a, b) => byLogOrder(a.key, b.key));
    return { parts, updates, count: updates.length };
  }

  /** A file doc's snapshot and the updates logged after it (with their keys). */
  async fileState(fileId: string): Promise<{ snapshot?: Uint8Array; updates: Uint8Array[]; keys: string[] }> {
    const snapshot = await this.kv.get(KEY.fileSnapshot(fileId));
    const logged: StoredPiece[] = [];
    for await (const [key, value] of this.kv.iterate(prefixRange(KEY.fileUpdates(fileId)))) logged.push({ key, value });
    logged.sort((a, b) => byLogOrder(a.key, b.key));
    return { snapshot, updates: logged.map((l) => l.value), keys: logged.map((l) => l.key) };
  }

  /** Does this file have a doc history (a snapshot or an update)? */
  async hasFileLog(fileId: string): Promise<boolean> {
    for await (const _ of this.kv.keys(prefixRange(KEY.fileLog(fileId), { limit: 1 }))) return true;
    return false;
  }

  /** The ids of the files with a doc history, in one pass over the keys (repeated per update). */
  async *fileIdsWithLog(): AsyncIterable<string> {
    for await (const key of this.kv.keys(prefixRange(FAMILY.file))) yield key.slice(FAMILY.file.length, key.indexOf(':', FAMILY.file.length));
  }

  /**
   * Every file doc's stored pieces, snapshot first. Snapshots sort after updates in key order
   * (`:snap` > `:u:`) but must come first; order does not matter to Yjs, it only saves
   * pending-struct work.
   */
  async allFileLogs(): Promise<Map<string, Uint8Array[]>> {
    const files = new Map<string, Uint8Array[]>();
    for await (const [key, value] of this.kv.iterate(prefixRange(FAMILY.file))) {
      const fileId = key.slice(FAMILY.file.length, key.indexOf(':', FAMILY.file.length));
      const list = files.get(fileId) ?? [];
      if (key === KEY.fileSnapshot(fileId)) list.unshift(value);
      else if (key.startsWith(KEY.fileUpdates(fileId))) list.push(value);
      files.set(fileId, list);
    }
    return files;
  }

  /** The manifest updates this replica logged itself (not remote ones) for changes after `since`. */
  async ownManifestUpdatesAfter(since: number): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for await (const [key, value] of this.kv.iterate({ gte: KEY.manifestUpdate(since + 1), lt: prefixRange(FAMILY.manifestUpdate).lt })) if (isOwnUpdateKey(key)) out.push(value);
    return out;
  }

  /** A file's doc updates this replica logged itself for changes after `since` (but those of the changes `skip` names). */
  async ownFileUpdatesAfter(fileId: string, since: number, skip?: (seq: number) => boolean): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    const { lt } = prefixRange(KEY.fileUpdates(fileId));
    for await (const [key, value] of this.kv.iterate({ gte: KEY.fileUpdatesFrom(fileId, since + 1), lt })) if (isOwnUpdateKey(key) && !skip?.(seqOfKey(key))) out.push(value);
    return out;
  }

  async op(seq: number): Promise<OpEntry | undefined> {
    const v = await this.kv.get(KEY.op(seq));
    return v === undefined ? undefined : parseJson<OpEntry>(v, KEY.op(seq));
  }

  /** Op entries, newest first. */
  async *opsNewestFirst(): AsyncIterable<OpEntry> {
    for await (const [key, value] of this.kv.iterate(prefixRange(FAMILY.op, { reverse: true }))) yield parseJson<OpEntry>(value, key);
  }

  /**
   * The op entries of the replicas `ids` after seq `after` (up to `upTo`), oldest first. Other
   * replicas' entries (a join's thousands of creates, each with its text) are skipped without
   * being parsed: the JSON of an entry always holds its `"replica":` marker.
   */
  async *opsOf(ids: readonly string[], range: { after: number; upTo?: number }): AsyncIterable<OpEntry> {
    const markers = ids.map((id) => new TextEncoder().encode(`"replica":${JSON.stringify(id)}`));
    const bounds = range.upTo === undefined ? { lt: prefixRange(FAMILY.op).lt } : { lte: KEY.op(range.upTo) };
    for await (const [key, value] of this.kv.iterate({ gt: KEY.op(Math.max(range.after, 0)), ...bounds })) {
      const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      if (!markers.some((marker) => buf.indexOf(marker) !== -1)) continue;
      const op = parseJson<OpEntry>(value, key);
      if (ids.includes(op.replica)) yield op;
    }
  }

  /** Seqs on the undo (`un`) or redo (`re`) stack, most recent first. */
  async *stack(which: 'un' | 're'): AsyncIterable<number> {
    const family = KEY.stackFamily(which);
    for await (const key of this.kv.keys(prefixRange(family, { reverse: true }))) yield Number(key.slice(family.length));
  }

  /**
   * Adds to `batch` the deletion of this replica's CRDT state and undo stacks (manifest, file
   * docs, text digests): what a first join drops (`Replica.detachLocalFiles`).
   */
  async stageDetach(batch: ChangeBatch): Promise<void> {
    for (const family of DETACHED_FAMILIES) {
      for await (const key of this.kv.keys(prefixRange(family))) batch.dropKey(key);
    }
  }

  /**
   * Folds a file doc's log into `snapshot` (the doc now): the snapshot is written, and the
   * updates of changes `mayDrop` allows are deleted (the others are still to be uploaded).
   */
  async compactFile(fileId: string, snapshot: Uint8Array, mayDrop: (seq: number) => boolean): Promise<void> {
    const { keys } = await this.fileState(fileId);
    const batch = new ChangeBatch();
    batch.putFileSnapshot(fileId, snapshot);
    for (const key of keys) if (mayDrop(seqOfKey(key))) batch.dropKey(key);
    await this.commit(batch);
  }

  /**
   * Folds the manifest's logged updates (those `mayDrop` allows) into snapshot parts: runs
   * of pieces merged (`Y.mergeUpdates`) while their total stays under {@link SNAPSHOT_PART_BYTES}.
   * Not one snapshot of the whole doc: for 100,000 files that is 22 MB, and a first upload
   * sends the stored pieces, each of which must fit in one message.
   */
  async compactManifest(mayDrop: (seq: number) => boolean): Promise<void> {
    const { parts, updates } = await this.manifestState();
    const pieces = [...parts, ...updates.filter((u) => mayDrop(seqOfKey(u.key)))];
    const groups: (typeof pieces)[] = [];
    let bytes = Infinity;
    for (const p of pieces) {
      if (bytes + p.value.byteLength > SNAPSHOT_PART_BYTES) {
        groups.push([]);
        bytes = 0;
      }
      groups.at(-1)!.push(p);
      bytes += p.value.byteLength;
    }
    const batch = new ChangeBatch();
    let n = 0;
    for (const group of groups) {
      const part = n++;
      // A part that is already alone in its group and in place stays as it is.
      if (group.length === 1 && group[0]!.key === KEY.manifestPart(part)) continue;
      for (const p of group) batch.dropKey(p.key);
      batch.putManifestPart(part, group.length === 1 ? group[0]!.value : Y.mergeUpdates(group.map((p) => p.value)));
    }
    // Parts past the new last one were folded into earlier ones (their keys were deleted above).
    await this.commit(batch);
  }
}
