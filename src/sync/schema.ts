import { array, boolean, bytes, literal, number, object, oneOf, refine, string, union, type Guard } from './guards.js';
import { CshareError } from '../core/errors.js';
import { versionMismatchMessage } from './codec.js';
import type { ProtocolSchema } from './rpc/protocol.js';

/**
 * cshare's wire messages: the one place that says what peers and the relay say to each other
 * (DESIGN.md "Sync protocol"). Bump {@link PROTOCOL_VERSION} on any incompatible change;
 * peers of different versions refuse each other with a clear "upgrade" error.
 *
 * Each type has a validator in {@link cshareSchema}, and the RPC layer runs it on every
 * incoming message, so handlers only ever see checked data. Validators check shape and
 * bounds; whether a path is safe to write is the worktree's job (DESIGN.md "Safety rules"),
 * although obviously bad paths are already refused here.
 */

/** The version of this schema. Peers must speak the same one. */
export const PROTOCOL_VERSION = 1;

/** Most manifest entries in one message (bigger manifests go in several offers). */
export const MAX_ENTRIES_PER_MESSAGE = 100_000;
/** Most Yjs updates in one upload. */
export const MAX_UPDATES_PER_MESSAGE = 10_000;
/** Largest binary field (an update, a blob chunk): frames are at most 16 MiB. */
export const MAX_BINARY_BYTES = 15 * 1024 * 1024;
/** Longest path, in UTF-16 units. */
export const MAX_PATH_LENGTH = 4096;

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

/** First request on every connection. */
export type HelloRequest = {
  protocol: number;
  worktreeId?: string;
  /** Proof that the caller knows the join code's secret (the relay stores only a hash). */
  secretProof?: Uint8Array;
  replicaId: string;
  name: string;
  role: Role;
};
export type HelloResponse = { ok: boolean; relayId: string };

export type ManifestOfferRequest = { worktreeId: string; entries: ManifestEntry[] };
/** The file ids the relay wants uploaded. */
export type ManifestOfferResponse = { need: string[] };

/** File contents: Yjs updates for a text file, or the whole blob for a binary one. */
export type FileUploadRequest = { worktreeId: string; fileId: string; updates?: Uint8Array[]; blob?: Uint8Array };
/** Acknowledged: the relay has stored it (so `status` can stop counting it as unacknowledged). */
export type FileUploadResponse = { ok: true };

export type PingRequest = { time: number };
export type PingResponse = { time: number };

/** Ask for a file's content; with `vector`, only what that state vector lacks. */
export type FileFetchRequest = { worktreeId: string; fileId: string; vector?: Uint8Array };
/** One chunk of a fetched file: Yjs updates, or a slice of a blob. */
export type FileChunk =
  | { fileId: string; kind: 'update'; data: Uint8Array }
  | { fileId: string; kind: 'blob'; data: Uint8Array; offset: number; size: number };

/** A live edit to one file, fire-and-forget (the subscriber catches up by vector on reconnect). */
export type FileUpdateSend = { worktreeId: string; fileId: string; update: Uint8Array };

/** Events of `/worktrees/<id>` (and `file-update` alone on `/worktrees/<id>/files/<fileId>`). */
export type WorktreeEvent =
  | { type: 'manifest'; update: Uint8Array }
  | { type: 'file-update'; fileId: string; update?: Uint8Array; digest?: string }
  | { type: 'peer-joined'; replicaId: string; name: string; role: Role }
  | { type: 'peer-left'; replicaId: string };

/** Every request with its response type: the one type map the RPC layer is typed from. */
export type RequestMap = {
  hello: { request: HelloRequest; response: HelloResponse };
  'manifest/offer': { request: ManifestOfferRequest; response: ManifestOfferResponse };
  'file/upload': { request: FileUploadRequest; response: FileUploadResponse };
  ping: { request: PingRequest; response: PingResponse };
};

/** Every streaming request with the type of its items. */
export type StreamMap = {
  'file/fetch': { request: FileFetchRequest; item: FileChunk };
};

/** Every fire-and-forget message. */
export type SendMap = {
  'file/update': FileUpdateSend;
};

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

/** A relative path with `/` separators and no `..`, NUL or leading `/` (see safety rules). */
const path: Guard<string> = refine(string({ min: 1, max: MAX_PATH_LENGTH }), (p) => {
  if (p.includes('\0') || p.includes('\\') || p.startsWith('/')) return false;
  return p.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
});

const manifestEntry: Guard<ManifestEntry> = object({ path, fileId: id, digest }, { vector: binary });

const helloRequest: Guard<HelloRequest> = object(
  { protocol: number({ integer: true, min: 0 }), replicaId: id, name: displayName, role },
  { worktreeId: id, secretProof: bytes(1024) },
);
const helloResponse: Guard<HelloResponse> = object({ ok: boolean, relayId: string({ min: 1, max: 256 }) });

const fileUploadRequest: Guard<FileUploadRequest> = refine(
  object({ worktreeId: id, fileId: id }, { updates: array(binary, MAX_UPDATES_PER_MESSAGE), blob: binary }),
  (m) => (m.updates === undefined) !== (m.blob === undefined),
);

const fileChunk: Guard<FileChunk> = union(
  object({ fileId: id, kind: literal('update'), data: binary }),
  refine(
    object({ fileId: id, kind: literal('blob'), data: binary, offset: number({ integer: true, min: 0 }), size: number({ integer: true, min: 0 }) }),
    (c) => c.offset + c.data.length <= c.size,
  ),
);

const worktreeEvent: Guard<WorktreeEvent> = union(
  object({ type: literal('manifest'), update: binary }),
  object({ type: literal('file-update'), fileId: id }, { update: binary, digest }),
  object({ type: literal('peer-joined'), replicaId: id, name: displayName, role }),
  object({ type: literal('peer-left'), replicaId: id }),
);

const time = object({ time: number() });

/** The validators for every incoming message of {@link CshareProtocol}. */
export const cshareSchema: ProtocolSchema<CshareProtocol> = {
  version: PROTOCOL_VERSION,
  requests: {
    hello: { request: helloRequest, response: helloResponse },
    'manifest/offer': {
      request: object({ worktreeId: id, entries: array(manifestEntry, MAX_ENTRIES_PER_MESSAGE) }),
      response: object({ need: array(id, MAX_ENTRIES_PER_MESSAGE) }),
    },
    'file/upload': { request: fileUploadRequest, response: object({ ok: literal(true) }) },
    ping: { request: time, response: time },
  },
  streams: {
    'file/fetch': { request: object({ worktreeId: id, fileId: id }, { vector: binary }), item: fileChunk },
  },
  sends: {
    'file/update': object({ worktreeId: id, fileId: id, update: binary }),
  },
  event: worktreeEvent,
};

/** Resource path of a worktree's event stream. */
export function worktreeResource(worktreeId: string): string {
  return `/worktrees/${worktreeId}`;
}

/** Resource path of one file's event stream. */
export function fileResource(worktreeId: string, fileId: string): string {
  return `/worktrees/${worktreeId}/files/${fileId}`;
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
