import * as Y from 'yjs';
import { CshareError } from './errors.js';
import { gitBlobId, gitFileMode } from './digest.js';
import { FileDoc } from './FileDoc.js';
import { ManifestDoc, type ManifestEntry } from './ManifestDoc.js';
import type { BlockedPath } from './obstacles.js';
import type { FileStat, WorktreeFs } from './ports.js';
import { ChangeBatch, type InterruptedWrite } from './ChangeBatch.js';
import { Counters } from './Counters.js';
import type { ReplicaIdentity, ReplicaStore } from './ReplicaStore.js';
import { Notices } from './notices.js';
import type { RecordedFiles } from './pending.js';
import type { CachedStat, FileKind } from './Scanner.js';

/** Updates a file doc may log before they are folded into a snapshot. */
export const COMPACT_AFTER = 256;

const utf8 = new TextDecoder('utf-8');

/** A loaded file doc and how many updates it has logged since its snapshot. */
interface LoadedDoc {
  doc: FileDoc;
  logged: number;
}

/** Below this many files an apply asks about history file by file. */
const PREFETCH_HISTORY_MIN = 64;

/** What a {@link ReplicaContext} is made of (see {@link ReplicaContext.load}). */
export interface ReplicaContextOptions {
  fs: WorktreeFs;
  store: ReplicaStore;
  identity: ReplicaIdentity;
  manifest: ManifestDoc;
  /** How many manifest updates are logged since its snapshot parts. */
  manifestLogged: number;
  counters: Counters;
  author: string;
  now: () => number;
  /** The recorded text digests (`d:`), by file id. */
  textDigests: Map<string, string>;
}

/**
 * The state a replica's operations share: its ports, identity, manifest, loaded docs and
 * counters. Loaded once per process; file docs are loaded lazily and only for files that are
 * edited or asked for (building a Y.Doc per file for a big tree is far too slow).
 */
export class ReplicaContext {
  private readonly docs = new Map<string, LoadedDoc>();
  private readonly versionCache = new Map<string, DiskVersion[]>();
  /** Base inserts of docs made from their base, not logged until the file's first update. */
  private readonly pendingBases = new Map<string, Uint8Array>();
  /**
   * Files known to have (or not) a doc history in the store: asked once per file, then kept
   * up to date by `logFileUpdate` (histories are never dropped while a context lives).
   */
  private readonly historyKnown = new Map<string, boolean>();
  /** Every file with a doc history is in {@link historyKnown} (see {@link prefetchAllHistory}). */
  private historyComplete = false;
  private manifestLogged: number;
  /**
   * Digest of the text last recorded or written for each text file that has a doc history
   * (`d:<fileId>` in the store; local, not part of the CRDT). A file without one still has
   * its base content.
   */
  private readonly textDigests: Map<string, string>;
  readonly fs: WorktreeFs;
  readonly store: ReplicaStore;
  readonly identity: ReplicaIdentity;
  readonly manifest: ManifestDoc;
  /** The change seq, the Lamport clock and how far compaction may fold (see `Counters.ts`). */
  readonly counters: Counters;
  readonly author: string;
  readonly now: () => number;
  /** Called after an apply committed files it wrote unflushed (see `unflushed.ts`). */
  onUnflushed: (() => void) | undefined;
  /**
   * Ignore files a peer changed, with the text this machine's user last accepted (`rb:<path>`
   * in the store; see `LoadIgnoreOptions.baselines`): a peer's rule change never makes more of
   * this machine's files go out.
   */
  readonly ruleBaselines = new Map<string, string>();
  /**
   * Paths an interrupted apply was writing a file to that the store does not know yet (its
   * entry was lost with the apply's commit), edited since (`ri:<path>`): what is there is an
   * edit of that file, recorded as such once the file's entry is here again (see
   * `recoverInterruptedApply`).
   */
  readonly interrupted = new Map<string, InterruptedWrite>();
  /** The text files open in editors here (see `liveDocs.ts`); kept across a reload. */
  live: LiveFilesView = NO_LIVE_FILES;
  /** What the user should hear about (see `notices.ts`); kept across a reload. */
  notices = new Notices();
  /**
   * Paths applies left alone on this disk, and why (see `obstacles.ts`), until one is written:
   * in memory only, since every one of them is tried again by the next scan that finds it free.
   */
  blocked = new Map<string, BlockedPath>();

  constructor(opts: ReplicaContextOptions) {
    this.fs = opts.fs;
    this.store = opts.store;
    this.identity = opts.identity;
    this.manifest = opts.manifest;
    this.manifestLogged = opts.manifestLogged;
    this.counters = opts.counters;
    this.author = opts.author;
    this.now = opts.now;
    this.textDigests = opts.textDigests;
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
    const { store } = opts;
    const counters = new Counters({
      seq: Math.max(await store.lastSeq(), (await store.savedSeq()) ?? 0),
      lamport: Math.max(manifest.maxLamport(), (await store.savedLamport()) ?? 0),
      keepLogAfter: (await store.keepLogAfter()) ?? Infinity,
    });
    const ctx = new ReplicaContext({ ...opts, manifest, manifestLogged: count, counters, textDigests: await store.textDigests() });
    for (const [path, text] of await store.ruleBaselines()) ctx.ruleBaselines.set(path, text);
    for (const [path, write] of await store.interruptedWrites()) ctx.interrupted.set(path, write);
    return ctx;
  }

  /** The ids this replica's own changes carry: its own, and those it had before it was copied. */
  ownIds(): string[] {
    return [this.identity.replicaId, ...(this.identity.previous ?? [])];
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
    batch.putTextDigest(fileId, digest);
    this.textDigests.set(fileId, digest);
  }

  /**
   * Notes, before a peer's change replaces or removes the ignore file at `path`, the text this
   * machine's user accepted (what is on disk now); the first such note stays until the user
   * saves the file here ({@link acceptRules}).
   */
  noteRuleBaseline(batch: ChangeBatch, path: string, onDisk: string): void {
    if (this.ruleBaselines.has(path)) return;
    batch.putRuleBaseline(path, onDisk);
    this.ruleBaselines.set(path, onDisk);
  }

  /** Notes (with the caller's batch) that an interrupted apply wrote `write` at `path`, edited since. */
  noteInterrupted(batch: ChangeBatch, path: string, write: InterruptedWrite): void {
    batch.putInterrupted(path, write);
    this.interrupted.set(path, write);
  }

  /** Forgets what {@link noteInterrupted} noted at `path` (with the caller's batch). */
  dropInterrupted(batch: ChangeBatch, path: string): void {
    if (!this.interrupted.delete(path)) return;
    batch.dropInterrupted(path);
  }

  /** The user saved the ignore file at `path` here: its text is what applies from now on. */
  acceptRules(batch: ChangeBatch, path: string): void {
    if (!this.ruleBaselines.delete(path)) return;
    batch.dropRuleBaseline(path);
  }

  /**
   * What a scan needs of the store besides the stat cache: the live paths this replica has on
   * disk (ignore rules do not apply to them, as to files git tracks) and the accepted rules.
   */
  scanPolicy(statCache: { has(path: string): boolean }): { shared: Set<string>; ruleBaselines: ReadonlyMap<string, string> } {
    const shared = new Set<string>();
    for (const path of this.manifest.live().keys()) if (statCache.has(path)) shared.add(path);
    return { shared, ruleBaselines: this.ruleBaselines };
  }

  /**
   * The recent versions of a text file that were on disk here, oldest first (`v:<fileId>`):
   * what an editor may still hold in a buffer and save from (see `saveBase.ts`).
   */
  async versions(fileId: string): Promise<DiskVersion[]> {
    let list = this.versionCache.get(fileId);
    if (list === undefined) {
      const raw = await this.store.versions(fileId);
      list = Array.isArray(raw) ? raw.flatMap(parseVersion) : [];
      this.versionCache.set(fileId, list);
    }
    return list;
  }

  /**
   * Notes (with the caller's batch) that the text with `digest` is on disk here now, as the doc
   * state `version`. Kept: the last {@link VERSIONS_KEPT}, and every one cshare wrote here in the
   * last {@link VERSIONS_RECENT_MS} (up to {@link VERSIONS_MAX}), within {@link VERSIONS_BYTES}.
   */
  async noteVersion(batch: ChangeBatch, fileId: string, digest: string, version: Uint8Array, origin: DiskVersion['origin'], seq: number): Promise<void> {
    const now = this.now();
    const all = [...(await this.versions(fileId))].filter((v) => v.digest !== digest);
    all.push({ digest, version, origin, at: now, seq });
    // Texts cshare wrote here are kept by age, not only by count: a peer typing in a file this
    // replica has on disk (no editor open here) gets one write per keystroke, and eight of them
    // took a second. An editor that read the disk before those writes and opened the file live
    // after them (nvimLive's "opened while the other side types": ~1 s from Neovim's read to its
    // didOpen, 30 writes) had its version evicted; merged from the nearest one left, its buffer
    // deleted what came between. Only writes: the texts noted before a live editor's own typing
    // bursts were never on this disk, and kept for a minute, an old one of them was taken for
    // the base of a resync's buffer in a small file (nvimLive's random edits diverged).
    const recentWrite = (v: DiskVersion) => v.origin === 'apply' && now - v.at <= VERSIONS_RECENT_MS;
    let list = all.filter((v, i) => i >= all.length - VERSIONS_KEPT || recentWrite(v));
    if (list.length > VERSIONS_MAX) list = list.slice(-VERSIONS_MAX);
    let bytes = list.reduce((n, v) => n + v.version.byteLength, 0);
    while (list.length > 1 && bytes > VERSIONS_BYTES) bytes -= list.shift()!.version.byteLength;
    this.versionCache.set(fileId, list);
    batch.putVersions(fileId, list.map((v): StoredVersion => ({ d: v.digest, o: v.origin, t: v.at, s: v.seq, v: Buffer.from(v.version).toString('base64') })));
  }

  /**
   * Notes (with the caller's batch) the text a file's doc holds, before a change of it, as a
   * version that was on disk here, if it is what the disk holds (the recorded text) and not
   * noted yet: an editor may hold it and save from it, and a save of it made while the change
   * is written is merged from it. Returns whether it noted it.
   */
  noteTextBefore(batch: ChangeBatch, fileId: string, entry: ManifestEntry, doc: FileDoc): Promise<boolean> {
    return this.noteTextShown(batch, fileId, this.contentDigest(fileId, entry), doc);
  }

  /**
   * Notes (with the caller's batch) the text `doc` holds as the version with git blob id
   * `digest` that was on disk here, if the doc's text is that and it is not noted yet.
   * Returns whether it noted it.
   */
  async noteTextShown(batch: ChangeBatch, fileId: string, digest: string, doc: FileDoc): Promise<boolean> {
    if ((await this.versions(fileId)).some((v) => v.digest === digest) || gitBlobId(new TextEncoder().encode(doc.text)) !== digest) return false;
    await this.noteVersion(batch, fileId, digest, doc.version(), 'save', this.seq);
    return true;
  }

  /** The last seq handed out (see {@link Counters.seq}). */
  get seq(): number {
    return this.counters.seq;
  }

  /** A new change's seq (see {@link Counters.nextSeq}). */
  nextSeq(): number {
    return this.counters.nextSeq();
  }

  /** The Lamport clock now (see {@link Counters.lamport}). */
  get lamport(): number {
    return this.counters.lamport;
  }

  /** A new Lamport time (see {@link Counters.nextLamport}). */
  nextLamport(): number {
    return this.counters.nextLamport();
  }

  /**
   * Commits a batch together with the seq counter. Seqs are never reused: a change may use a
   * seq without writing an op entry (say, remote updates that changed nothing visible), and
   * upload marks and update keys depend on every seq being new.
   */
  async commit(batch: ChangeBatch): Promise<void> {
    if (batch.empty) return;
    const seq = this.counters.seq;
    batch.putSeq(seq);
    await this.store.commit(batch);
    this.counters.persisted(seq);
  }

  /**
   * Makes every seq handed out so far durable. A change that wrote nothing (an apply of an
   * empty change set, an edit whose text the doc already had) takes a seq without committing:
   * before that seq is reported anywhere (an upload acknowledged up to it), the store must
   * know it was used, or the next process hands it out again and its change counts as
   * acknowledged without ever being uploaded (fuzz seed 210718).
   */
  async persistSeq(): Promise<void> {
    const seq = this.counters.unpersisted();
    if (seq === undefined) return;
    await this.store.putSeq(seq);
    this.counters.persisted(seq);
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
    // Logged with the file's first update (see logFileUpdate), not now: a doc made for a save
    // that changes nothing (an unchanged stale buffer, a text already merged) must not leave a
    // base in this store that no upload ever carries.
    if (baseUpdate) this.pendingBases.set(fileId, baseUpdate);
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

  /**
   * The base insert of a doc made from its base and not logged yet: the first logged update
   * of the file carries it (see {@link logFileUpdate}), and so must its first upload.
   */
  pendingBase(fileId: string): Uint8Array | undefined {
    return this.pendingBases.get(fileId);
  }

  /** The loaded doc of a file, if any (no I/O). */
  loadedDoc(fileId: string): FileDoc | undefined {
    return this.docs.get(fileId)?.doc;
  }

  /**
   * Learns at once which of `fileIds` have history, for an apply about to ask about many: one
   * pass over the keys of every file's history instead of an iterator per file (a first join
   * asked 10,000 times).
   */
  /**
   * Learns every file that has a doc history, in one pass over their keys, for a scan about to
   * record many creates (whose file ids are known only once each is read): each create asks
   * whether a peer's edits of its id came first, and an iterator per file made a first scan
   * of 10,000 files ~1.5 s slower (bench/scan.ts `record_ms`, 2.3 s -> 3.8 s at 8dcc4d8). Later
   * histories are all written through {@link logFileUpdate}, which notes them.
   */
  async prefetchAllHistory(): Promise<void> {
    if (this.historyComplete) return;
    for await (const id of this.store.fileIdsWithLog()) this.historyKnown.set(id, true);
    this.historyComplete = true;
  }

  async prefetchHistory(fileIds: Iterable<string>): Promise<void> {
    const unknown = new Set<string>();
    for (const id of fileIds) if (!this.docs.has(id) && !this.historyKnown.has(id)) unknown.add(id);
    if (unknown.size < PREFETCH_HISTORY_MIN) return;
    const found = new Set<string>();
    for await (const id of this.store.fileIdsWithLog()) if (unknown.has(id)) found.add(id);
    for (const id of unknown) this.historyKnown.set(id, found.has(id));
  }

  /** Does this file have a doc history in the store or in memory? */
  async hasHistory(fileId: string): Promise<boolean> {
    if (this.docs.has(fileId)) return true;
    const known = this.historyKnown.get(fileId);
    if (known !== undefined) return known;
    if (this.historyComplete) return false;
    const found = await this.store.hasFileLog(fileId);
    this.historyKnown.set(fileId, found);
    return found;
  }

  /** Is the content of `entry` in the store (its doc history, else its blob)? */
  async hasContent(fileId: string, entry: ManifestEntry): Promise<boolean> {
    if (entry.kind === 'text' && (this.docs.has(fileId) || (await this.hasHistory(fileId)))) return true;
    return (await this.store.hasBlobs([entry.kind === 'text' ? entry.base : entry.digest]))[0] === true;
  }

  /** A text file's doc state vector (base64), if it has a doc history; undefined otherwise. */
  async docStateVector(fileId: string): Promise<string | undefined> {
    const loaded = this.docs.get(fileId);
    if (!loaded && !(await this.hasHistory(fileId))) return undefined;
    const doc = loaded?.doc ?? (await this.doc(fileId, unknownEntry(fileId), new ChangeBatch(), 0)).doc;
    return Buffer.from(doc.stateVector()).toString('base64');
  }

  /**
   * Has this replica edited a text file beyond `seen` (a state vector in base64, from a delete
   * made elsewhere)? Such an edit was concurrent with the delete.
   */
  async editedBeyond(fileId: string, seen: string | undefined): Promise<boolean> {
    const loaded = this.docs.get(fileId);
    if (!loaded && !(await this.hasHistory(fileId))) return false;
    const doc = loaded?.doc ?? (await this.doc(fileId, unknownEntry(fileId), new ChangeBatch(), 0)).doc;
    const mine = Y.decodeStateVector(doc.stateVector()).get(this.identity.clientId) ?? 0;
    if (mine === 0) return false;
    let before = 0;
    try {
      before = seen === undefined ? 0 : (Y.decodeStateVector(new Uint8Array(Buffer.from(seen, 'base64'))).get(this.identity.clientId) ?? 0);
    } catch {
      before = 0; // malformed: as if the deleter saw nothing of this replica's
    }
    return mine > before;
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
    const base = this.pendingBases.get(fileId);
    if (base) {
      // The deterministic base insert goes up with the first update that needs it.
      this.pendingBases.delete(fileId);
      batch.putFileUpdate(fileId, seq, 'base', base);
    }
    batch.putFileUpdate(fileId, seq, sub, update);
    this.historyKnown.set(fileId, true);
    const loaded = this.docs.get(fileId);
    if (loaded) loaded.logged++;
  }

  /** Logs a manifest update under change `seq`. */
  logManifestUpdate(batch: ChangeBatch, seq: number, update: Uint8Array | null, sub?: string): void {
    if (!update) return;
    batch.putManifestUpdate(seq, update, sub);
    this.manifestLogged++;
  }

  /**
   * Folds long logs into snapshots. The op entries (`log`) and undo records (Yjs ids, valid
   * because docs keep deleted items with `gc: false`) stay, so nothing `log`/`undo` need is lost.
   */
  async compact(): Promise<void> {
    for (const [fileId, loaded] of this.docs) {
      if (loaded.logged < COMPACT_AFTER) continue;
      await this.store.compactFile(fileId, loaded.doc.snapshot(), (seq) => this.counters.mayCompact(seq));
      loaded.logged = 0;
    }
    if (this.manifestLogged >= COMPACT_AFTER) {
      await this.store.compactManifest((seq) => this.counters.mayCompact(seq));
      this.manifestLogged = 0;
    }
  }

  /** Frees the loaded docs. */
  destroy(): void {
    for (const { doc } of this.docs.values()) doc.destroy();
    this.docs.clear();
    this.manifest.destroy();
  }
}

/** What core steps ask of the text files open in editors (implemented by `LiveDocs`, `liveDocs.ts`). */
export interface LiveFilesView {
  /** Is this text file open in an editor here? Then its disk write waits for the editor to close it. */
  isLive(fileId: string): boolean;
  /**
   * A scan found the open file `fileId` at `path` holding a text with `digest` that is not its
   * recorded one: `accept` (a text its editor saved, or the disk's when it opened: no edit),
   * `wait` (maybe a save its editor has not told yet: looked at again shortly, the stat cache
   * left as it is), or `record` (an edit, as any save).
   */
  diskChange(fileId: string, path: string, digest: string): 'accept' | 'wait' | 'record';
}

/** No file open in an editor. */
const NO_LIVE_FILES: LiveFilesView = { isLive: () => false, diskChange: () => 'record' };

/** Text versions kept per file, however old (see {@link ReplicaContext.versions}). */
export const VERSIONS_KEPT = 8;
/** Versions cshare wrote here younger than this are kept beyond {@link VERSIONS_KEPT}: what an editor may have read and not yet saved or opened live. */
export const VERSIONS_RECENT_MS = 60_000;
/** But never more than this many per file (a fast remote typist writes many a second). */
export const VERSIONS_MAX = 256;
/** And at most this many bytes of their snapshots (the newest is always kept). */
const VERSIONS_BYTES = 512 * 1024;

/** A text that was on disk here, and the doc state that has it (a Yjs snapshot). */
export interface DiskVersion {
  digest: string;
  version: Uint8Array;
  /** Written here by cshare (`apply`), or saved here and recorded (`save`). */
  origin: 'apply' | 'save';
  at: number;
  /** The change that left it on disk. */
  seq: number;
}

interface StoredVersion {
  d: string;
  o: DiskVersion['origin'];
  t: number;
  s: number;
  v: string;
}

/** A stored version, or nothing if the entry is damaged (it is only a hint for merging). */
function parseVersion(raw: unknown): DiskVersion[] {
  const r = raw as Partial<StoredVersion> | null;
  if (!r || typeof r.d !== 'string' || typeof r.v !== 'string' || (r.o !== 'apply' && r.o !== 'save')) return [];
  return [{ digest: r.d, origin: r.o, at: typeof r.t === 'number' ? r.t : 0, seq: typeof r.s === 'number' ? r.s : 0, version: new Uint8Array(Buffer.from(r.v, 'base64')) }];
}

function unknownEntry(fileId: string): ManifestEntry {
  return { path: `(file ${fileId})`, kind: 'text', mode: 0o100644, digest: '', size: 0, base: '', lamport: 0, by: '' };
}

/** Git mode for a stat of a regular file or symlink. */
export function gitMode(st: FileStat): number {
  if (st.kind === 'symlink') return 0o120000;
  return gitFileMode(st.mode);
}

/** The stat cache entry for a file whose content has digest `digest` (the content of shared file `fileId`). */
export function cacheEntry(st: FileStat, kind: FileKind, digest: string, fileId: string): CachedStat {
  return { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, mode: st.mode, kind, digest, fileId };
}

/**
 * The stat cache entry for a file written here whose stat could not be vouched for (a save
 * replaced it at once): no stat matches it, so the next scan reads the file, and it still says
 * what was written. The path stays this replica's (what it holds next is an edit of the entry,
 * not a file of its own that the entry never was: see `recordScan`).
 */
export function unstattedEntry(kind: FileKind, digest: string, fileId: string): CachedStat {
  return { size: -1, mtimeMs: -1, ctimeMs: -1, ino: -1, mode: -1, kind, digest, fileId };
}
