import * as Y from 'yjs';
import { CshareError } from './errors.js';
import { FileDoc } from './FileDoc.js';
import { ManifestDoc, type ManifestEntry } from './ManifestDoc.js';
import type { BlockedPath } from './obstacles.js';
import type { FileStat, WorktreeFs } from './ports.js';
import { ChangeBatch, ReplicaStore, seqKey, type ReplicaIdentity } from './ReplicaStore.js';
import type { RecordedFiles } from './pending.js';
import type { CachedStat, FileKind } from './Scanner.js';

/** Updates a file doc may log before they are folded into a snapshot. */
export const COMPACT_AFTER = 256;
/** Most bytes merged into one manifest snapshot part (see `ReplicaContext.compactManifest`). */
const SNAPSHOT_PART_BYTES = 4 * 1024 * 1024;

const utf8 = new TextDecoder('utf-8');

/** A loaded file doc and how many updates it has logged since its snapshot. */
interface LoadedDoc {
  doc: FileDoc;
  logged: number;
}

/**
 * The state a replica's operations share: its ports, identity, manifest, loaded docs and
 * counters. Loaded once per process; file docs are loaded lazily and only for files that are
 * edited or asked for (building a Y.Doc per file for a big tree is far too slow).
 */
/** Below this many files an apply asks about history file by file. */
const PREFETCH_HISTORY_MIN = 64;

export class ReplicaContext {
  private readonly docs = new Map<string, LoadedDoc>();
  /**
   * Files known to have (or not) a doc history in the store: asked once per file, then kept
   * up to date by `logFileUpdate` (histories are never dropped while a context lives).
   */
  private readonly historyKnown = new Map<string, boolean>();
  private manifestLogged: number;
  /**
   * Digest of the text last recorded or written for each text file that has a doc history
   * (`d:<fileId>` in the store; local, not part of the CRDT). A file without one still has
   * its base content.
   */
  private readonly textDigests: Map<string, string>;
  /**
   * Compaction keeps logged updates of changes after this seq: they are what a sync session
   * still has to upload (its acknowledged position). Infinity while not sharing.
   */
  keepLogAfter = Infinity;
  /** Called after an apply committed files it wrote unflushed (see `unflushed.ts`). */
  onUnflushed: (() => void) | undefined;
  /**
   * Paths applies left alone on this disk, and why (see `obstacles.ts`), until one is written:
   * in memory only, since every one of them is tried again by the next scan that finds it free.
   */
  blocked = new Map<string, BlockedPath>();

  constructor(
    readonly fs: WorktreeFs,
    readonly store: ReplicaStore,
    readonly identity: ReplicaIdentity,
    readonly manifest: ManifestDoc,
    manifestLogged: number,
    public seq: number,
    public lamport: number,
    readonly author: string,
    readonly now: () => number,
    textDigests: Map<string, string>,
  ) {
    this.manifestLogged = manifestLogged;
    this.textDigests = textDigests;
  }

  /** Loads everything but the file docs. */
  static async load(opts: { fs: WorktreeFs; store: ReplicaStore; identity: ReplicaIdentity; author: string; now: () => number }): Promise<ReplicaContext> {
    const { parts, updates, count } = await opts.store.manifestState();
    let manifest: ManifestDoc;
    try {
      manifest = ManifestDoc.load(opts.identity.clientId, undefined, [...parts, ...updates].map((u) => u.value));
    } catch (err) {
      throw new CshareError('STORE_CORRUPT', 'the manifest in .cshare is damaged; move .cshare aside to rebuild history', {}, { cause: err });
    }
    const seq = Math.max(await opts.store.lastSeq(), (await opts.store.getJson<number>('meta:seq')) ?? 0);
    const lamport = Math.max(manifest.maxLamport(), (await opts.store.getJson<number>('meta:lamport')) ?? 0);
    const textDigests = new Map<string, string>();
    for await (const [key, value] of opts.store.kv.iterate({ gt: 'd:', lt: 'd;' })) textDigests.set(key.slice(2), new TextDecoder().decode(value));
    const ctx = new ReplicaContext(opts.fs, opts.store, opts.identity, manifest, count, seq, lamport, opts.author, opts.now, textDigests);
    ctx.keepLogAfter = (await opts.store.getJson<number>('meta:keepLogAfter')) ?? Infinity;
    return ctx;
  }

  /** The digest of a file's recorded content: for text, of its doc's text (or base). */
  contentDigest(fileId: string, entry: ManifestEntry): string {
    return entry.kind === 'text' ? (this.textDigests.get(fileId) ?? entry.base) : entry.digest;
  }

  /** The live files and their recorded content, as `pendingChanges` compares them with a scan. */
  recorded(): RecordedFiles<ManifestEntry> {
    return { live: () => this.manifest.live(), contentDigest: (fileId, entry) => this.contentDigest(fileId, entry) };
  }

  /**
   * Notes (with the caller's batch) the digest of a text file's recorded text. Given the
   * file's `base`, a digest equal to it is not written where none is noted (the base is what
   * a file without one holds): a join wrote one for each of its files.
   */
  setTextDigest(batch: ChangeBatch, fileId: string, digest: string, base?: string): void {
    if (digest === base && !this.textDigests.has(fileId)) return;
    batch.put(`d:${fileId}`, new TextEncoder().encode(digest));
    this.textDigests.set(fileId, digest);
  }

  nextSeq(): number {
    return ++this.seq;
  }

  /**
   * Commits a batch together with the seq counter. Seqs are never reused: a change may use a
   * seq without writing an op entry (say, remote updates that changed nothing visible), and
   * upload marks and update keys depend on every seq being new.
   */
  async commit(batch: ChangeBatch): Promise<void> {
    if (batch.empty) return;
    batch.putJson('meta:seq', this.seq);
    await this.store.commit(batch);
  }

  nextLamport(): number {
    return ++this.lamport;
  }

  /** The text of a blob, or a `STORE_CORRUPT` error if the store lost it. */
  async blobText(digest: string): Promise<string> {
    return utf8.decode(await this.blobBytes(digest));
  }

  async blobBytes(digest: string): Promise<Uint8Array> {
    const bytes = await this.store.blob(digest);
    if (bytes === undefined) throw new CshareError('STORE_CORRUPT', `blob ${digest} is missing from .cshare`, { digest });
    return bytes;
  }

  /**
   * The doc of a text file, loading it from its logged updates, or creating it from its base
   * (a deterministic insert, see {@link FileDoc.create}) when it has no history yet. A freshly
   * created base update is written with the caller's batch.
   */
  async doc(fileId: string, entry: ManifestEntry, batch: ChangeBatch, seq: number): Promise<{ doc: FileDoc; baseUpdate: Uint8Array | null }> {
    const loaded = this.docs.get(fileId);
    if (loaded) return { doc: loaded.doc, baseUpdate: null };
    const state = await this.store.fileState(fileId);
    if (state.snapshot || state.updates.length > 0) {
      let doc: FileDoc;
      try {
        doc = FileDoc.load({ fileId, clientId: this.identity.clientId, snapshot: state.snapshot, updates: state.updates });
      } catch (err) {
        throw new CshareError('STORE_CORRUPT', `the history of ${entry.path} in .cshare is damaged`, { fileId }, { cause: err });
      }
      this.docs.set(fileId, { doc, logged: state.updates.length });
      return { doc, baseUpdate: null };
    }
    const { doc, baseUpdate } = FileDoc.create({ fileId, clientId: this.identity.clientId, baseText: await this.blobText(entry.base) });
    this.docs.set(fileId, { doc, logged: 0 });
    if (baseUpdate) this.logFileUpdate(batch, fileId, seq, baseUpdate, 'base');
    return { doc, baseUpdate };
  }

  /**
   * The doc to merge remote updates of a file into. Without local history it starts from the
   * base blob when there is one (the deterministic base makes that equal to the sender's), or
   * empty: the sender's updates carry the base insert.
   */
  async docForRemote(fileId: string, entry: ManifestEntry | undefined, batch: ChangeBatch, seq: number): Promise<FileDoc> {
    if (this.docs.has(fileId) || (await this.hasHistory(fileId))) return (await this.doc(fileId, entry ?? unknownEntry(fileId), batch, seq)).doc;
    if (entry && entry.kind === 'text' && (await this.store.blob(entry.base)) !== undefined) return (await this.doc(fileId, entry, batch, seq)).doc;
    const doc = FileDoc.load({ fileId, clientId: this.identity.clientId, updates: [] });
    this.docs.set(fileId, { doc, logged: 0 });
    return doc;
  }

  /** The loaded doc of a file, if any (no I/O). */
  loadedDoc(fileId: string): FileDoc | undefined {
    return this.docs.get(fileId)?.doc;
  }

  /** Does this file have a doc history in the store or in memory? */
  /**
   * Learns at once which of `fileIds` have history, for an apply about to ask about many: one
   * pass over the keys of every file's history instead of an iterator per file (a first join
   * asked 10,000 times).
   */
  async prefetchHistory(fileIds: Iterable<string>): Promise<void> {
    const unknown = new Set<string>();
    for (const id of fileIds) if (!this.docs.has(id) && !this.historyKnown.has(id)) unknown.add(id);
    if (unknown.size < PREFETCH_HISTORY_MIN) return;
    const found = new Set<string>();
    for await (const key of this.store.kv.keys({ gt: 'f:', lt: 'f;' })) {
      const id = key.slice(2, key.indexOf(':', 2));
      if (unknown.has(id)) found.add(id);
    }
    for (const id of unknown) this.historyKnown.set(id, found.has(id));
  }

  async hasHistory(fileId: string): Promise<boolean> {
    if (this.docs.has(fileId)) return true;
    const known = this.historyKnown.get(fileId);
    if (known !== undefined) return known;
    let found = false;
    for await (const _ of this.store.kv.iterate({ gt: `f:${fileId}:`, lt: `f:${fileId};`, limit: 1 })) found = true;
    this.historyKnown.set(fileId, found);
    return found;
  }

  /** The current text of a text file: its doc if it has one, else its base blob. */
  async currentText(fileId: string, entry: ManifestEntry): Promise<string> {
    const loaded = this.docs.get(fileId);
    if (loaded) return loaded.doc.text;
    if (await this.hasHistory(fileId)) {
      const scratch = new ChangeBatch();
      const { doc } = await this.doc(fileId, entry, scratch, 0);
      return doc.text;
    }
    return this.blobText(entry.base);
  }

  /** Logs a file doc update under change `seq` (`sub` tells several updates of one change apart). */
  logFileUpdate(batch: ChangeBatch, fileId: string, seq: number, update: Uint8Array, sub = 'edit'): void {
    batch.put(`f:${fileId}:u:${seqKey(seq)}.${sub}`, update);
    this.historyKnown.set(fileId, true);
    const loaded = this.docs.get(fileId);
    if (loaded) loaded.logged++;
  }

  /** Logs a manifest update under change `seq`. */
  logManifestUpdate(batch: ChangeBatch, seq: number, update: Uint8Array | null, sub?: string): void {
    if (!update) return;
    batch.put(`m:u:${seqKey(seq)}${sub ? `.${sub}` : ''}`, update);
    this.manifestLogged++;
  }

  /**
   * Folds long logs into snapshots. The op entries (`log`) and undo records (Yjs ids, valid
   * because docs keep deleted items with `gc: false`) stay, so nothing `log`/`undo` need is lost.
   */
  async compact(): Promise<void> {
    for (const [fileId, loaded] of this.docs) {
      if (loaded.logged < COMPACT_AFTER) continue;
      const { keys } = await this.store.fileState(fileId);
      const batch = new ChangeBatch();
      batch.put(`f:${fileId}:snap`, loaded.doc.snapshot());
      for (const key of keys) if (seqOfKey(key) <= this.keepLogAfter) batch.del(key);
      await this.store.commit(batch);
      loaded.logged = 0;
    }
    if (this.manifestLogged >= COMPACT_AFTER) {
      await this.compactManifest();
      this.manifestLogged = 0;
    }
  }

  /**
   * Folds the manifest's logged updates (those that may be dropped) into snapshot parts: runs
   * of pieces merged (`Y.mergeUpdates`) while their total stays under {@link SNAPSHOT_PART_BYTES}.
   * Not one snapshot of the whole doc: for 100,000 files that is 22 MB, and a first upload
   * sends the stored pieces, each of which must fit in one message.
   */
  private async compactManifest(): Promise<void> {
    const { parts, updates } = await this.store.manifestState();
    const pieces = [...parts, ...updates.filter((u) => seqOfKey(u.key) <= this.keepLogAfter)];
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
      const key = `m:sp:${String(n++).padStart(6, '0')}`;
      // A part that is already alone in its group and in place stays as it is.
      if (group.length === 1 && group[0]!.key === key) continue;
      for (const p of group) batch.del(p.key);
      batch.put(key, group.length === 1 ? group[0]!.value : Y.mergeUpdates(group.map((p) => p.value)));
    }
    // Parts past the new last one were folded into earlier ones (their keys were deleted above).
    await this.store.commit(batch);
  }

  /** Frees the loaded docs. */
  destroy(): void {
    for (const { doc } of this.docs.values()) doc.destroy();
    this.docs.clear();
    this.manifest.destroy();
  }
}

/** The change seq in an update key (`...:u:<seq>.<sub>`). */
export function seqOfKey(key: string): number {
  const at = key.lastIndexOf(':u:');
  return Number(key.slice(at + 3, at + 3 + 12));
}

function unknownEntry(fileId: string): ManifestEntry {
  return { path: `(file ${fileId})`, kind: 'text', mode: 0o100644, digest: '', size: 0, base: '', lamport: 0, by: '' };
}

/** Git mode for a stat of a regular file or symlink. */
export function gitMode(st: FileStat): number {
  if (st.kind === 'symlink') return 0o120000;
  return st.mode & 0o111 ? 0o100755 : 0o100644;
}

/** The stat cache entry for a file whose content has digest `digest`. */
export function cacheEntry(st: FileStat, kind: FileKind, digest: string): CachedStat {
  return { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, mode: st.mode, kind, digest };
}
