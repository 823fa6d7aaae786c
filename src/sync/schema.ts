import { array, boolean, bytes, literal, number, object, oneOf, refine, string, union, type Guard } from './rpc/guards.js';
import { CshareError } from '../core/errors.js';
import { MAX_AUTHOR_CHARS, MAX_CARRIED_PATCH_CHARS, MAX_CARRIED_PATCH_OPS, type HistoryEntry } from '../core/carriedHistory.js';
import { versionMismatchMessage } from './rpc/codec.js';
import type { ProtocolSchema } from './rpc/protocol.js';
import { slices } from './slices.js';
import type { PresenceSelection, PresenceState } from '../editor/ports.js';


/**
 * cshare's wire messages: the one place that says what peers and the relay say to each other
 * (described in PROTOCOL.md). Bump {@link PROTOCOL_VERSION} on any incompatible change;
 * peers of different versions refuse each other with a clear "upgrade" error.
 *
 * Each type has a validator in {@link cshareSchema}, and the RPC layer runs it on every
 * incoming message, so handlers only ever see checked data. Validators check shape and
 * bounds; whether a path is safe to write is the worktree's job (ARCHITECTURE.md "Safety rules"),
 * although obviously bad paths are already refused here.
 */

/**
 * The version of this schema. Peers must speak the same one. 2: history entries travel with
 * the changes (`history/upload`, `history` sync items and events). 3: one way to do each
 * thing: `worktree/sync`, `file/fetch`, `file/update`, `ping` and the per-file subscription
 * removed (a catch-up is `worktree/sync-pages`; `worktree/info` is always there), and a
 * message a peer does not know is refused with `UNKNOWN_MESSAGE`. 4: presence (the `presence`
 * send and event: who is in which file, their cursors), ephemeral, never stored; `peer-joined`
 * says a read-only peer is.
 */
export const PROTOCOL_VERSION = 4;

/** Most blobs asked for in one `blobs/fetch`. */
export const MAX_DIGESTS_PER_FETCH = 256;

/**
 * Most manifest entries in one message (bigger manifests go in several offers). Decoding a
 * message is one uninterrupted step of the receiver's event loop: 100,000 entries took the
 * relay ~240 ms, during which it served nobody else.
 */
export const MAX_ENTRIES_PER_MESSAGE = 4096;
/** Most Yjs updates in one upload. */
export const MAX_UPDATES_PER_MESSAGE = 10_000;
/** Largest binary field (an update, a blob chunk): frames are at most 16 MiB. */
export const MAX_BINARY_BYTES = 15 * 1024 * 1024;
/**
 * Bytes of updates or entries a sender puts in one message, so that a frame stays well under
 * the 16 MiB limit however many items it carries (a single item may be bigger, up to
 * {@link MAX_BINARY_BYTES}, and then goes alone).
 */
export const MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * Splits `items` into consecutive slices of at most `maxCount` items and, unless one item is
 * bigger on its own, at most {@link MESSAGE_BYTES} by `sizeOf`: one message each.
 */
export function messageSlices<T>(items: readonly T[], maxCount: number, sizeOf: (item: T) => number): T[][] {
  return slices(items, maxCount, MESSAGE_BYTES, sizeOf);
}
/** Longest path, in UTF-16 units. */
export const MAX_PATH_LENGTH = 4096;
/** Most history entries in one `history/upload` (a first share of 100,000 files sends 20). */
export const MAX_HISTORY_PER_MESSAGE = 5000;

export type { HistoryEntry };

/** Largest blob chunk in one `blob/upload` or `blob/fetch` item: blobs bigger than this go in pieces. */
export const BLOB_CHUNK_BYTES = 1024 * 1024;
/** Largest blob size a message may announce (the relay's own limit may be lower). */
export const MAX_BLOB_SIZE = 2 ** 40;

/** Largest relative position (`anchor`, `head` of a {@link PresenceSelection}), in bytes. */
export const MAX_PRESENCE_POSITION_BYTES = 256;
/** Most selections in one {@link PresenceState}. */
export const MAX_PRESENCE_SELECTIONS = 64;
/** Largest line or column a {@link PresenceState} may name (display only). */
export const MAX_PRESENCE_LINE = 2 ** 32;

/** A peer's cursor or selection, and where a peer is: defined once, in `editor/ports.ts`. */
export type { PresenceSelection, PresenceState };

/**
 * A replica's presence, sent to the relay: `state` absent means in no file. Fire-and-forget
 * and never stored: the relay keeps each connection's latest in memory for those who
 * subscribe later, and forgets it when the connection closes.
 */
export type PresenceMessage = { worktreeId: string; state?: PresenceState };

/** What a connection is for. */
export type Role = 'sharer' | 'joiner' | 'relay';

/** One manifest entry as offered by a sharer. */
export type ManifestEntry = {
  path: string;
  fileId: string;
  /** Git blob id of the content (sha1 hex; sha256 hex for sha256 repositories). */
  digest: string;
  /** The file doc's encoded Yjs state vector, when the file has a doc. */
  vector?: Uint8Array;
};

/** What a connection may do once `hello` bound it to a worktree. */
export type Access = 'rw' | 'ro';

/**
 * First request on every connection. With the relay it binds the connection to one worktree:
 * `secretProof` is the join code's secret itself (sent over the encrypted transport); the
 * relay hashes it and compares with the hashes it stored, so it never stores a secret.
 */
export type HelloRequest = {
  protocol: number;
  worktreeId?: string;
  /** Proof that the caller knows the join code's secret (the relay stores only a hash). */
  secretProof?: Uint8Array;
  replicaId: string;
  name: string;
  role: Role;
  /**
   * A sharer registering a new worktree: the hash of its read-only secret (the read-write
   * one is `secretProof`), a display name, and the relay token if the relay's operator
   * requires one (`cshare share --relay-token`). Ignored when the worktree exists.
   */
  register?: { readOnlyHash: Uint8Array; name: string; token?: Uint8Array };
};
export type HelloResponse = {
  ok: boolean;
  relayId: string;
  /** What the connection may do (relay only). */
  access?: Access;
  /** The worktree's last relay seq when the hello was answered (relay only). */
  seq?: number;
  /** True if this hello registered the worktree. */
  created?: boolean;
};

/**
 * The shared worktree's name (its sharer's folder name, from the registration), for a joiner
 * that names its folder after it as `git clone` does. Answered before `hello` and instead of
 * it: proving the secret as `hello` does, but binding nothing (no replica id, no peer-joined),
 * so a joiner can ask before it has a store. A wrong secret or an unknown worktree is refused
 * as `hello` refuses it (`UNAUTHORIZED`, the connection closed). The name is the sharer's
 * to choose: a joiner must sanitise it before it names a folder (see `joinFolder.ts`).
 */
export type WorktreeInfoRequest = { worktreeId: string; secretProof: Uint8Array };
export type WorktreeInfoResponse = { name: string };

export type ManifestOfferRequest = { worktreeId: string; entries: ManifestEntry[] };
/**
 * The file ids the relay wants uploaded: entries with a `vector` the relay's log of the file
 * does not cover (upload doc updates), entries without one whose blob it lacks (upload the
 * blob by digest).
 */
export type ManifestOfferResponse = { need: string[] };

/**
 * A text file's doc updates, or (for a binary file under {@link MAX_BINARY_BYTES}) the whole
 * blob in one message; bigger blobs go through `blob/upload`.
 */
export type FileUploadRequest = { worktreeId: string; fileId: string; updates?: Uint8Array[]; blob?: Uint8Array };
/** Acknowledged: the relay has stored it, durably, under relay seq `seq` (the last one assigned). */
export type FileUploadResponse = { ok: true; seq?: number };

/** Yjs updates of the manifest doc. */
export type ManifestUploadRequest = { worktreeId: string; updates: Uint8Array[] };
export type UploadResponse = { ok: true; seq: number };

/**
 * The log entries of the uploader's own changes, uploaded after the changes they describe
 * (see `core/carriedHistory.ts`), in the uploader's seq order; the relay stores them under one
 * relay seq and hands them out in catch-up and live events like the changes.
 */
export type HistoryUploadRequest = { worktreeId: string; entries: HistoryEntry[] };

/**
 * One piece of a blob (a binary or large file), sent in order from offset 0 in pieces of at
 * most {@link BLOB_CHUNK_BYTES}, each after the previous one was acknowledged. The relay
 * checks the git blob id once it has `size` bytes; a refused piece ends the upload (start
 * again at 0). An answer with `seq` at offset 0 means the relay has the blob already.
 */
export type BlobUploadRequest = { worktreeId: string; digest: string; size: number; offset: number; data: Uint8Array };
/** `received` bytes so far; `seq` once the whole blob is verified and stored. */
export type BlobUploadResponse = { ok: true; received: number; seq?: number };

/** Catch-up: everything the relay logged for the worktree after relay seq `after` (0: all). */
export type WorktreeSyncRequest = { worktreeId: string; after: number };
/** One logged change, in seq order; the stream ends with a `head` item. */
export type SyncItem =
  | { type: 'manifest'; seq: number; update: Uint8Array; by: string }
  | { type: 'file-update'; seq: number; fileId: string; update: Uint8Array; by: string }
  | { type: 'blob'; seq: number; digest: string; size: number; by: string }
  | { type: 'history'; seq: number; entries: HistoryEntry[]; by: string }
  /** The last seq the stream covers: remember it and ask for what comes after next time. */
  | { type: 'head'; seq: number };

/**
 * Catch-up in pages: the logged changes in seq order, many to a stream item (one item each
 * cost the relay and the joiner ~40 µs of stream machinery per logged change), the last page
 * ending with the `head` item.
 */
export type SyncPage = { items: SyncItem[] };
/** Most items in a {@link SyncPage}. */
export const SYNC_PAGE_ITEMS = 512;
/** A page is closed before it would pass this many bytes of updates (a bigger item goes alone). */
export const SYNC_PAGE_BYTES = 512 * 1024;

/** Fetch a blob by digest, in chunks. */
export type BlobFetchRequest = { worktreeId: string; digest: string };
export type BlobChunk = { digest: string; offset: number; size: number; data: Uint8Array };
/**
 * Fetch several blobs in one stream, each in chunks as `blob/fetch` sends them, one blob after
 * the other. Blobs the relay does not have yet are skipped: fetch those with `blob/fetch`,
 * which waits for a sharer that offered them. Saves a round trip per file on a first join.
 */
export type BlobsFetchRequest = { worktreeId: string; digests: string[] };

/**
 * Events of `/worktrees/<id>`.
 * From the relay, changes carry their relay `seq` and the replica that made them (`by`), and
 * never go back to the connection they came from.
 */
export type WorktreeEvent =
  | { type: 'manifest'; update: Uint8Array; seq?: number; by?: string }
  | { type: 'file-update'; fileId: string; update?: Uint8Array; digest?: string; seq?: number; by?: string }
  | { type: 'blob'; digest: string; size: number; seq: number; by: string }
  | { type: 'history'; entries: HistoryEntry[]; seq: number; by: string }
  /** `readOnly`: it joined with the read-only code (absent: read-write). */
  | { type: 'peer-joined'; replicaId: string; name: string; role: Role; readOnly?: true }
  | { type: 'peer-left'; replicaId: string }
  /** To a sharer: someone is waiting for this file's updates or this blob; upload it next. */
  | { type: 'need'; fileId?: string; digest?: string }
  /** Where connected replica `replicaId` is now (`state` absent: in no file); never stored. */
  | { type: 'presence'; replicaId: string; state?: PresenceState };

/** Every request with its response type: the one type map the RPC layer is typed from. */
export type RequestMap = {
  hello: { request: HelloRequest; response: HelloResponse };
  'worktree/info': { request: WorktreeInfoRequest; response: WorktreeInfoResponse };
  'manifest/offer': { request: ManifestOfferRequest; response: ManifestOfferResponse };
  'file/upload': { request: FileUploadRequest; response: FileUploadResponse };
  'manifest/upload': { request: ManifestUploadRequest; response: UploadResponse };
  'history/upload': { request: HistoryUploadRequest; response: UploadResponse };
  'blob/upload': { request: BlobUploadRequest; response: BlobUploadResponse };
};

/** Every streaming request with the type of its items. */
export type StreamMap = {
  'worktree/sync-pages': { request: WorktreeSyncRequest; item: SyncPage };
  'blob/fetch': { request: BlobFetchRequest; item: BlobChunk };
  'blobs/fetch': { request: BlobsFetchRequest; item: BlobChunk };
};

/**
 * Every fire-and-forget message: presence only. Each change is a request, answered once
 * stored, so a sender knows what the relay has (the editor's keystrokes too: PROTOCOL.md
 * "Sends"); presence is ephemeral, and the next state replaces a lost one.
 */
export type SendMap = { presence: PresenceMessage };

/** cshare's protocol, as the RPC layer's type parameter. */
export type CshareProtocol = { requests: RequestMap; streams: StreamMap; sends: SendMap; event: WorktreeEvent };

// ---------------------------------------------------------------------------------------------
// Validators

/** Worktree, replica and file ids: random, URL-safe, so they can appear in resource paths. */
const id = string({ min: 1, max: 128, pattern: /^[A-Za-z0-9_-]+$/ });
const digest = string({ min: 40, max: 64, pattern: /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/ });
const binary = bytes(MAX_BINARY_BYTES);
const role = oneOf('sharer', 'joiner', 'relay');
const displayName = string({ max: 256 });

/**
 * A relative path with `/` separators and no `..`, NUL or leading `/` (see safety rules): a
 * NUL or backslash anywhere, or an empty, `.` or `..` segment. One regular expression scan,
 * nothing allocated: splitting a 16 MB offer of deep paths into segments took ~225 ms.
 */
const BAD_PATH = /[\0\\]|(?:^|\/)\.{0,2}(?:\/|$)/;
const path: Guard<string> = refine(string({ min: 1, max: MAX_PATH_LENGTH }), (p) => !BAD_PATH.test(p));

const position = bytes(MAX_PRESENCE_POSITION_BYTES);
/** A well-formed {@link PresenceState} (what the relay accepts in a `presence` send). */
export const presenceState: Guard<PresenceState> = object(
  { path, selections: array(object({ anchor: position, head: position }), MAX_PRESENCE_SELECTIONS), line: number({ integer: true, min: 1, max: MAX_PRESENCE_LINE }) },
  { column: number({ integer: true, min: 1, max: MAX_PRESENCE_LINE }) },
);

const manifestEntry: Guard<ManifestEntry> = object({ path, fileId: id, digest }, { vector: binary });

const seq = number({ integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
const size = number({ integer: true, min: 0, max: MAX_BLOB_SIZE });
const updates = array(binary, MAX_UPDATES_PER_MESSAGE);

const helloRequest: Guard<HelloRequest> = object(
  { protocol: number({ integer: true, min: 0 }), replicaId: id, name: displayName, role },
  { worktreeId: id, secretProof: bytes(1024), register: object({ readOnlyHash: bytes(64), name: displayName }, { token: bytes(1024) }) },
);
const helloResponse: Guard<HelloResponse> = object(
  { ok: boolean, relayId: string({ min: 1, max: 256 }) },
  { access: oneOf('rw', 'ro'), seq, created: boolean },
);

const fileUploadRequest: Guard<FileUploadRequest> = refine(
  object({ worktreeId: id, fileId: id }, { updates, blob: binary }),
  (m) => (m.updates === undefined) !== (m.blob === undefined),
);

const blobUploadRequest: Guard<BlobUploadRequest> = refine(
  object({ worktreeId: id, digest, size, offset: size, data: bytes(BLOB_CHUNK_BYTES) }),
  (m) => m.offset + m.data.length <= m.size && (m.data.length > 0 || m.size === 0),
);

const count = number({ integer: true, min: 0, max: MAX_BLOB_SIZE });
const textOp = object({ pos: count, del: string({ max: MAX_CARRIED_PATCH_CHARS }), ins: string({ max: MAX_CARRIED_PATCH_CHARS }) });
const historyEntry: Guard<HistoryEntry> = refine(
  object(
    {
      seq, kind: oneOf('create', 'edit', 'delete', 'rename', 'mode', 'undo', 'redo'), time: number({ min: 0, max: 8.64e15 }),
      author: string({ max: MAX_AUTHOR_CHARS }), fileId: id, path, inserted: count, deleted: count,
    },
    { from: path, patch: array(textOp, MAX_CARRIED_PATCH_OPS), patchTruncated: boolean, patchBlob: digest },
  ),
  (e) => (e.patch ?? []).reduce((n, p) => n + p.del.length + p.ins.length, 0) <= MAX_CARRIED_PATCH_CHARS,
);
const historyEntries = array(historyEntry, MAX_HISTORY_PER_MESSAGE);

const syncItem: Guard<SyncItem> = union(
  object({ type: literal('manifest'), seq, update: binary, by: id }),
  object({ type: literal('file-update'), seq, fileId: id, update: binary, by: id }),
  object({ type: literal('blob'), seq, digest, size, by: id }),
  object({ type: literal('history'), seq, entries: historyEntries, by: id }),
  object({ type: literal('head'), seq }),
);

const syncPage: Guard<SyncPage> = object({ items: array(syncItem, SYNC_PAGE_ITEMS) });

const blobChunk: Guard<BlobChunk> = refine(object({ digest, offset: size, size, data: bytes(BLOB_CHUNK_BYTES) }), (c) => c.offset + c.data.length <= c.size);

const worktreeEvent: Guard<WorktreeEvent> = union(
  object({ type: literal('manifest'), update: binary }, { seq, by: id }),
  object({ type: literal('file-update'), fileId: id }, { update: binary, digest, seq, by: id }),
  object({ type: literal('blob'), digest, size, seq, by: id }),
  object({ type: literal('history'), entries: historyEntries, seq, by: id }),
  object({ type: literal('peer-joined'), replicaId: id, name: displayName, role }, { readOnly: literal(true) }),
  object({ type: literal('peer-left'), replicaId: id }),
  refine(object({ type: literal('need') }, { fileId: id, digest }), (e) => (e.fileId === undefined) !== (e.digest === undefined)),
  object({ type: literal('presence'), replicaId: id }, { state: presenceState }),
);

/** The validators for every incoming message of {@link CshareProtocol}. */
export const cshareSchema: ProtocolSchema<CshareProtocol> = {
  version: PROTOCOL_VERSION,
  requests: {
    hello: { request: helloRequest, response: helloResponse },
    'worktree/info': { request: object({ worktreeId: id, secretProof: bytes(1024) }), response: object({ name: displayName }) },
    'manifest/offer': {
      request: object({ worktreeId: id, entries: array(manifestEntry, MAX_ENTRIES_PER_MESSAGE) }),
      response: object({ need: array(id, MAX_ENTRIES_PER_MESSAGE) }),
    },
    'file/upload': { request: fileUploadRequest, response: object({ ok: literal(true) }, { seq }) },
    'manifest/upload': { request: object({ worktreeId: id, updates }), response: object({ ok: literal(true), seq }) },
    'history/upload': { request: object({ worktreeId: id, entries: historyEntries }), response: object({ ok: literal(true), seq }) },
    'blob/upload': { request: blobUploadRequest, response: object({ ok: literal(true), received: size }, { seq }) },
  },
  streams: {
    'worktree/sync-pages': { request: object({ worktreeId: id, after: seq }), item: syncPage },
    'blob/fetch': { request: object({ worktreeId: id, digest }), item: blobChunk },
    'blobs/fetch': { request: object({ worktreeId: id, digests: array(digest, MAX_DIGESTS_PER_FETCH) }), item: blobChunk },
  },
  sends: { presence: object({ worktreeId: id }, { state: presenceState }) },
  event: worktreeEvent,
};

/** Resource path of a worktree's event stream. */
export function worktreeResource(worktreeId: string): string {
  return `/worktrees/${worktreeId}`;
}

/**
 * For the `hello` handler: refuses a peer whose `protocol` differs (the frame version already
 * guards every frame; this also covers a peer that speaks the frame format but says otherwise).
 * Throw the error from the handler, then close the connection.
 */
export function checkPeerProtocol(hello: HelloRequest): void {
  if (hello.protocol !== PROTOCOL_VERSION) {
    throw new CshareError('PROTOCOL', versionMismatchMessage(hello.protocol, PROTOCOL_VERSION), { peerVersion: hello.protocol, version: PROTOCOL_VERSION });
  }
}
