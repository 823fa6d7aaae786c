import { MAX_ENTRIES_PER_MESSAGE, MAX_PATH_LENGTH, MAX_UPDATES_PER_MESSAGE, type HistoryEntry, type ManifestEntry } from '../schema.js';
import type { Pacer } from './pace.js';
import { MAX_UPDATE_UNITS } from './updateScan.js';

/**
 * What the relay stores and reads, whatever it is stored in: the seam between the relay's
 * service (`RelayService`, which never sees a key, a batch or a lock) and its backends.
 * `RelayStore` keeps it in LevelDB and blob packs (ARCHITECTURE.md "Relay store keys");
 * `MemoryRelayStorage` in memory, for tests. A PostgreSQL backend will implement exactly this.
 * `test/sync/relay/storageContract.ts` is the contract every backend passes.
 *
 * The rules every backend keeps:
 * - Everything a worktree uploads is one append-only log under a relay seq, dense and
 *   monotonic per worktree (also across a restart), so a client that remembers the last seq
 *   it saw asks for "everything after N" ({@link RelayStorage.entriesAfter}).
 * - An append resolves only once durable, and `announce` is told of its seqs before that,
 *   in seq order across the worktree's appends (the relay broadcasts there: a subscriber takes
 *   a live event's seq as how far it has caught up).
 * - Writes to one worktree are serialised (its lock): no two appends read and rewrite a
 *   file's state vector or a blob's record at once, and a replica id is bound once.
 * - Everything a peer sends is checked here too (ids, digests, the Yjs updates' structure and
 *   size, the blob's hash, the worktree's quota): see `storageRules.ts`.
 * - Blobs belong to their worktree, never shared across worktrees: otherwise anyone could
 *   offer a digest, be told it is stored already, and then fetch content they never had.
 * - What is not there answers `undefined` (or `0` for a head), never a throw, except
 *   `readBlob` (`NOT_FOUND`) and appends to an unknown worktree (`NOT_FOUND`).
 */
export interface RelayStorage {
  /** The bounds it enforces on what it stores (the service reads the offer bounds here too). */
  readonly limits: RelayLimits;

  // Auth records ------------------------------------------------------------------------------

  /** The registration of `worktreeId`, or `undefined` if the relay does not know it. */
  getWorktree(worktreeId: string): Promise<Registration | undefined>;
  /**
   * Registers a worktree unless it exists (under its lock). Returns the registration in force
   * and whether this call created it (so the caller checks the secret against an existing one).
   */
  register(reg: NewRegistration): Promise<{ registration: Registration; created: boolean }>;
  /** How many worktrees `peerId` registered, counting up to `max` (the answer is at most `max`). */
  registeredBy(peerId: string, max: number): Promise<number>;
  /**
   * Binds `replicaId` to `peerId` in the worktree if no peer holds it yet, and returns the
   * peer that holds it (`peerId` if this call bound it). A worktree has at most
   * {@link RelayLimits.maxReplicasPerWorktree} replica ids (`OVERLOADED` past that).
   */
  bindReplica(worktreeId: string, replicaId: string, peerId: string): Promise<string>;

  // Counters ----------------------------------------------------------------------------------

  /** The last seq assigned in the worktree (0 if nothing was uploaded yet, or it is unknown). */
  head(worktreeId: string): Promise<number>;
  /** Bytes of updates and blobs the worktree stores (what its quota counts). */
  usage(worktreeId: string): Promise<number>;

  // Logs --------------------------------------------------------------------------------------

  /** Appends manifest updates (each must be a valid Yjs update), one seq each. */
  appendManifest(worktreeId: string, updates: Uint8Array[], by: string, pacer?: Pacer, announce?: Announce): Promise<Appended>;
  /** Appends the history entries of one upload under one seq (their paths checked by the caller). */
  appendHistory(worktreeId: string, entries: HistoryEntry[], by: string, announce?: Announce): Promise<Appended>;
  /** Appends updates of one file's doc, one seq each, and advances the file's state vector. */
  appendFile(worktreeId: string, fileId: string, updates: Uint8Array[], by: string, pacer?: Pacer, announce?: Announce): Promise<Appended>;
  /** What the stored updates of a file cover, or `undefined` if none were stored. */
  fileVector(worktreeId: string, fileId: string): Promise<Map<number, number> | undefined>;
  /**
   * Everything logged after seq `after` up to `upTo` (default: the head when called), in seq
   * order, read a page at a time. `signal` stops it between pages.
   */
  entriesAfter(worktreeId: string, after: number, opts?: { upTo?: number; signal?: AbortSignal }): AsyncIterable<LogEntry>;
  /**
   * Which offered entries the relay wants uploaded (their file ids): entries with a doc
   * `vector` that the file's stored updates do not cover, and entries without one whose blob
   * it lacks.
   */
  needs(worktreeId: string, entries: ManifestEntry[]): Promise<string[]>;

  // Blobs -------------------------------------------------------------------------------------

  /** The record of a stored blob, or `undefined`. */
  getBlob(worktreeId: string, digest: string): Promise<BlobInfo | undefined>;
  /**
   * Stored blobs, in the order of `digests` (undefined where not stored), with the bytes of
   * each blob of at most `maxBytes` (at most one chunk) read too; bigger ones are left to
   * {@link blobChunks} to stream. `STORE_CORRUPT` if a small one's bytes are missing.
   */
  readBlobs(worktreeId: string, digests: readonly string[], maxBytes: number): Promise<(BlobRead | undefined)[]>;
  /** The chunks of a blob {@link readBlobs} found, checked to be contiguous and of its size. */
  blobChunks(worktreeId: string, digest: string, blob: BlobRead): AsyncIterable<{ offset: number; data: Uint8Array }>;
  /** The bytes of a stored blob, chunk by chunk (at most 1 MiB each), or `NOT_FOUND`. */
  readBlob(worktreeId: string, digest: string): AsyncIterable<{ offset: number; size: number; data: Uint8Array }>;
  /**
   * Stores a whole blob after checking that `bytes` hash to `digest` (a peer cannot poison a
   * digest). Returns the existing record if the blob is already stored (`created: false`).
   */
  putBlob(worktreeId: string, digest: string, bytes: Uint8Array, by: string, announce?: Announce): Promise<BlobInfo & { created: boolean }>;
  /**
   * Starts a chunked upload of `size` bytes that must hash to `digest` (`TOO_LARGE` over
   * {@link RelayLimits.maxBlobBytes}, `OVERLOADED` over the quota). If the blob is already
   * stored, the upload's `stored` says so and nothing needs uploading. `announce` is told of
   * the blob's seq if this upload stores it.
   */
  blobWriter(worktreeId: string, digest: string, size: number, by: string, announce?: Announce): Promise<BlobUpload>;

  /** Closes the storage (the service is closed first). */
  close(): Promise<void>;
}

/**
 * One chunked blob upload ({@link RelayStorage.blobWriter}): chunks arrive one at a time, in
 * order from offset 0, are hashed as they come, and the blob is stored with its log entry
 * only if the hash matched (`PROTOCOL` otherwise, the upload dropped).
 */
export interface BlobUpload {
  readonly digest: string;
  readonly size: number;
  /** Bytes accepted so far. */
  readonly received: number;
  /** Set once the blob is stored (or if it already was). */
  readonly stored: BlobInfo | undefined;
  /** Accepts the chunk at `offset` (which must be {@link received}); resolves with the blob's record once stored. */
  write(offset: number, data: Uint8Array): Promise<BlobInfo | undefined>;
  /** Drops the upload and what it staged. */
  abort(): Promise<void>;
}

/** Bounds the relay enforces on what it stores. */
export interface RelayLimits {
  /** Most Yjs updates in one upload. */
  maxUpdatesPerRequest: number;
  /** Largest blob, in bytes. */
  maxBlobBytes: number;
  /** Longest path in an offer or manifest entry. */
  maxPathLength: number;
  /** Most entries in one manifest offer. */
  maxOfferEntries: number;
  /**
   * Most structs, delete ranges and content values one Yjs update may decode to (its bytes
   * say little about that: 13 MiB of tiny structs decoded to 718 MiB).
   */
  maxUpdateUnits: number;
  /** Most bytes of updates and blobs one worktree may store: its quota. */
  maxWorktreeBytes: number;
  /** Most replica ids one worktree may have (each is bound to the peer that first used it). */
  maxReplicasPerWorktree: number;
}

/** The defaults of {@link RelayLimits}. */
export const DEFAULT_RELAY_LIMITS: Readonly<RelayLimits> = Object.freeze({
  maxUpdatesPerRequest: MAX_UPDATES_PER_MESSAGE,
  maxBlobBytes: 64 * 1024 * 1024,
  maxPathLength: MAX_PATH_LENGTH,
  maxOfferEntries: MAX_ENTRIES_PER_MESSAGE,
  maxUpdateUnits: MAX_UPDATE_UNITS,
  maxWorktreeBytes: 4 * 1024 ** 3,
  maxReplicasPerWorktree: 10_000,
});

/** A registered worktree. */
export interface Registration {
  worktreeId: string;
  /** sha256 of the read-write secret. */
  readWriteHash: Uint8Array;
  /** sha256 of the read-only secret. */
  readOnlyHash: Uint8Array;
  /** Milliseconds since the epoch. */
  created: number;
  name: string;
  /** The peer id that registered it ('' for a registration from before it was recorded). */
  by: string;
}

/** What {@link RelayStorage.register} is given: `created` defaults to now, `by` to ''. */
export type NewRegistration = Omit<Registration, 'created' | 'by'> & { created?: number; by?: string };

/** One entry of a worktree's log, as {@link RelayStorage.entriesAfter} yields it. */
export type LogEntry =
  | { type: 'manifest'; seq: number; update: Uint8Array; by: string }
  | { type: 'file-update'; seq: number; fileId: string; update: Uint8Array; by: string }
  | { type: 'blob'; seq: number; digest: string; size: number; by: string }
  | { type: 'history'; seq: number; entries: HistoryEntry[]; by: string };

/** A stored blob's record. */
export interface BlobInfo {
  digest: string;
  size: number;
  seq: number;
}

/**
 * A stored blob as {@link RelayStorage.readBlobs} found it: its size and, if small, its bytes
 * (a backend adds where the rest is; hand it back to {@link RelayStorage.blobChunks}).
 */
export interface BlobRead {
  size: number;
  data?: Uint8Array;
}

/** What an upload was stored as: the seqs `first..seq` (one per update, one per blob). */
export interface Appended {
  first: number;
  seq: number;
}

/**
 * Told of an append's seqs once durable, in seq order across the worktree's appends: where
 * the relay broadcasts the events of an upload.
 */
export type Announce = (a: Appended) => void;
