import type { HelloResponse, HistoryEntry, ManifestEntry, PresenceState, Role, SyncItem, WorktreeEvent } from '../schema.js';

/**
 * The one client-side object through which a replica talks to a relay (or a sharer serving
 * itself) about one worktree: every request a sync session makes is one of its methods.
 *
 * Its methods speak in payloads (updates, blobs, history entries, with their ids and seqs),
 * never in frames or message names: how many messages a call takes (pages of an offer, slices
 * of updates under the frame limit, chunks of a big blob, several fetch streams at once) is the
 * implementation's business. End-to-end encryption is meant to wrap exactly this interface
 * (encrypt what goes up, decrypt what comes down) without knowing the wire.
 *
 * Implementations: `RpcRelayClient` (over an `RpcConnection`: the real one) and
 * `MemoryRelayClient` (`memory/`, the in-memory twin); `test/sync/relayClientContract.ts`
 * holds them to the same behaviour. Errors are `CshareError`s with the codes the relay uses
 * (PROTOCOL.md): `UNAUTHORIZED` for an unknown worktree or a wrong secret, `FORBIDDEN` for a
 * write with a read-only code, `NOT_FOUND` for a blob nobody has, `CONNECTION_CLOSED` for
 * every call pending or made after the connection closed.
 */
export interface RelayClient {
  /** The worktree every call is about. */
  readonly worktreeId: string;
  /**
   * The highest relay seq under which the relay said it stored one of this client's uploads
   * (0: none yet). A relay whose log later ends before it lost changes it acknowledged
   * (`session/catchUp.ts`).
   */
  readonly stored: number;
  /** Binds the connection to the worktree with a join code's secret (the first call). */
  hello(req: ClientHello): Promise<HelloResponse>;
  /**
   * The worktree's registered name, proving the secret as `hello` does but binding nothing
   * (before `hello` and instead of it).
   */
  worktreeName(secret: Uint8Array): Promise<string>;
  /**
   * Offers manifest entries about to go up; yields, for each part of them the relay answered
   * (in order), those entries and the file ids among them it wants uploaded. Offered blobs the
   * relay lacks are remembered as this connection's, to be asked for (`need`) if a joiner
   * wants them first.
   */
  offer(entries: readonly ManifestEntry[]): AsyncIterable<OfferAnswer>;
  /** Uploads manifest doc updates; resolves once the relay stored them all. */
  uploadManifest(updates: readonly Uint8Array[]): Promise<void>;
  /** Uploads a text file's doc updates; resolves once the relay stored them all. */
  uploadFileUpdates(fileId: string, updates: readonly Uint8Array[]): Promise<void>;
  /** Uploads a blob (any size); resolves once the relay verified and stored it. */
  uploadBlob(blob: BlobUpload): Promise<void>;
  /**
   * Uploads the log entries of this replica's own changes, read as they go (a first share of
   * 100,000 files has one each); resolves with about how many bytes they took.
   */
  uploadHistory(entries: AsyncIterable<HistoryEntry> | Iterable<HistoryEntry>): Promise<number>;
  /**
   * Everything the relay logged for the worktree after relay seq `after` (0: all), in seq
   * order, ending with a `head` item (the last seq it covers).
   */
  catchUp(after: number): AsyncIterable<SyncItem>;
  /**
   * One blob. If the relay does not have it yet but a connected peer offered it, the relay
   * asks that peer (`need`) and this waits; if nobody offered it: `NOT_FOUND`.
   */
  fetchBlob(digest: string): Promise<Uint8Array>;
  /** The blobs of `blobs` the relay has, by digest; those it lacks are absent (no waiting). */
  fetchBlobs(blobs: readonly BlobWanted[]): Promise<Map<string, Uint8Array>>;
  /**
   * The worktree's live events (changes of other connections with their seq, in seq order;
   * peers coming and going; `need`). `queueSize`: events held until read before the feed fails
   * with `OVERLOADED`.
   */
  subscribe(opts?: { queueSize?: number }): LiveEvents;
  /**
   * Tells the worktree's other connections where this replica is (null: in no file), as a
   * `presence` event; fire-and-forget, never stored, and kept by the relay only while this
   * connection lasts (a new subscriber gets it after its `peer-joined` events). Resolves once
   * the connection took it; a state over the relay's rate is dropped there (see
   * `relay/presence.ts`).
   */
  sendPresence(state: PresenceState | null): Promise<void>;
  /** Closes the connection: every pending call rejects with `CONNECTION_CLOSED`. */
  close(reason?: Error): void;
}

/** What a {@link RelayClient.hello} says: who this replica is and which secret it has. */
export interface ClientHello {
  role: Exclude<Role, 'relay'>;
  /** The join code's secret (read-write or read-only). */
  secret: Uint8Array;
  replicaId: string;
  /** The replica's display name. */
  name: string;
  /** A sharer registering the worktree on first use (ignored when it exists). */
  register?: { readOnlyHash: Uint8Array; name: string; token?: Uint8Array };
}

/** One part of an offer's answer: the entries answered, and the file ids the relay wants. */
export interface OfferAnswer {
  entries: readonly ManifestEntry[];
  need: readonly string[];
}

/** A blob going up: `fileId` when it is a file's content (a small one then goes in one message). */
export interface BlobUpload {
  digest: string;
  bytes: Uint8Array;
  fileId?: string;
}

/** A blob wanted by {@link RelayClient.fetchBlobs}, with its size (to spread the fetch). */
export interface BlobWanted {
  digest: string;
  size: number;
}

/** A live feed: iterate it for events; `ready` settles once the relay accepted it. */
export interface LiveEvents extends AsyncIterable<WorktreeEvent> {
  readonly ready: Promise<void>;
  /** Stops the feed (so does leaving the `for await`). */
  unsubscribe(): void;
}
