import '../../../src/cli/polyfills.js';
import { afterEach } from 'vitest';
import { bytes, number, object, string } from '../../../src/sync/rpc/guards.js';
import { createCshareNode, type CshareNode, type CshareNodeOptions } from '../../../src/sync/libp2p/Libp2pNode.js';
import type { ProtocolSchema } from '../../../src/sync/rpc/protocol.js';
import { RpcConnection } from '../../../src/sync/rpc/RpcConnection.js';
import type { FrameChannel } from '../../../src/sync/rpc/transport.js';

/**
 * A small protocol of its own, so these transport tests do not follow every change of
 * cshare's schema: a request, a streaming request and subscription events, with binary fields
 * big enough for multi-megabyte payloads.
 */
export type TestProtocol = {
  requests: {
    echo: { request: { data: Uint8Array }; response: { data: Uint8Array } };
    wait: { request: { ms: number }; response: { ms: number } };
  };
  streams: { chunks: { request: { count: number; size: number }; item: { i: number; data: Uint8Array } } };
  sends: { note: { text: string } };
  event: { n: number; data: Uint8Array };
};

const MAX = 15 * 1024 * 1024;
export const testSchema: ProtocolSchema<TestProtocol> = {
  version: 1,
  requests: {
    echo: { request: object({ data: bytes(MAX) }), response: object({ data: bytes(MAX) }) },
    wait: { request: object({ ms: number() }), response: object({ ms: number() }) },
  },
  streams: { chunks: { request: object({ count: number(), size: number() }), item: object({ i: number(), data: bytes(MAX) }) } },
  sends: { note: object({ text: string({ max: 100 }) }) },
  event: object({ n: number(), data: bytes(MAX) }),
};

/** Wraps a channel in an RpcConnection of {@link TestProtocol}. */
export function rpc(channel: FrameChannel, peer: string): RpcConnection<TestProtocol> {
  const conn = new RpcConnection<TestProtocol>(channel, { schema: testSchema, peer });
  openConnections.push(conn);
  return conn;
}

const openNodes: CshareNode[] = [];
const openConnections: RpcConnection<TestProtocol>[] = [];

/** Starts a node on loopback; it is stopped after the test. */
export async function startNode(opts: CshareNodeOptions = {}): Promise<CshareNode> {
  const node = await createCshareNode(opts);
  openNodes.push(node);
  return node;
}

afterEach(async () => {
  for (const c of openConnections.splice(0)) c.close();
  await Promise.all(openNodes.splice(0).map((n) => n.stop()));
});

/** A deterministic pseudo-random payload (cheap, and not all zeros, so corruption shows). */
export function payload(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Resolves with the first value `register` passes to its callback. */
export function nextValue<T>(register: (cb: (v: T) => void) => void): Promise<T> {
  return new Promise((resolve) => register(resolve));
}

/** A node {@link startNode} started. */
type TestNode = Awaited<ReturnType<typeof startNode>>;

/**
 * Two channels joined by one libp2p stream between two loopback nodes, and the nodes (stopped
 * after each test; a test may stop one sooner). The listener only sees a stream once bytes
 * arrive, so the dialler sends one frame first; it is read here, and the second channel hands
 * on the iterator that read it.
 */
export async function channelPair(): Promise<[FrameChannel, FrameChannel, { client: TestNode; server: TestNode }]> {
  const server = await startNode();
  const client = await startNode();
  let accept!: (ch: FrameChannel) => void;
  const accepted = new Promise<FrameChannel>((resolve) => (accept = resolve));
  await server.listen((channel) => accept(channel));
  const a = await client.dial(server.addresses()[0]!);
  await a.send(Uint8Array.of(0xaa));
  const b = await accepted;
  const it = b.frames[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done || first.value.length !== 1 || first.value[0] !== 0xaa) throw new Error(`the opening frame arrived as ${JSON.stringify(first.value)}`);
  return [a, { send: (f) => b.send(f), close: (e) => b.close(e), closed: b.closed, frames: { [Symbol.asyncIterator]: () => it } }, { client, server }];
}
