import { bytes, literal, number, object, refine, string, union, type Guard } from '../../src/sync/rpc/guards.js';
import type { ProtocolSchema } from '../../src/sync/rpc/protocol.js';
import { cshareSchema, type CshareProtocol } from '../../src/sync/schema.js';

/**
 * The RPC layer's tests speak cshare's protocol plus three messages of their own, one of each
 * kind the layer serves (a request, a stream, a send), which cshare itself does not need: the
 * layer is tested apart from what cshare happens to send (PROTOCOL.md has no ping and no send).
 */

/** One chunk of a `test/fetch` stream: bytes of a file, as a blob slice or a whole update. */
export type TestChunk =
  | { fileId: string; kind: 'update'; data: Uint8Array }
  | { fileId: string; kind: 'blob'; data: Uint8Array; offset: number; size: number };

/** cshare's protocol with `test/ping` (request), `test/fetch` (stream) and `test/update` (send). */
export type TestProtocol = {
  requests: CshareProtocol['requests'] & { 'test/ping': { request: { time: number }; response: { time: number } } };
  streams: CshareProtocol['streams'] & { 'test/fetch': { request: { worktreeId: string; fileId: string; after?: number }; item: TestChunk } };
  sends: { 'test/update': { worktreeId: string; fileId: string; update: Uint8Array } };
  event: CshareProtocol['event'];
};

const id = string({ min: 1, max: 128, pattern: /^[A-Za-z0-9_-]+$/ });
const time = object({ time: number() });
const chunk: Guard<TestChunk> = union(
  object({ fileId: id, kind: literal('update'), data: bytes(1024 * 1024) }),
  refine(
    object({ fileId: id, kind: literal('blob'), data: bytes(1024 * 1024), offset: number({ integer: true, min: 0 }), size: number({ integer: true, min: 0 }) }),
    (c) => c.offset + c.data.length <= c.size,
  ),
);

/** The validators of {@link TestProtocol}: pass as `schema` to an `RpcConnection`. */
export const testSchema: ProtocolSchema<TestProtocol> = {
  version: cshareSchema.version,
  requests: { ...cshareSchema.requests, 'test/ping': { request: time, response: time } },
  streams: { ...cshareSchema.streams, 'test/fetch': { request: object({ worktreeId: id, fileId: id }, { after: number({ integer: true, min: 0 }) }), item: chunk } },
  sends: { 'test/update': object({ worktreeId: id, fileId: id, update: bytes(1024 * 1024) }) },
  event: cshareSchema.event,
};
