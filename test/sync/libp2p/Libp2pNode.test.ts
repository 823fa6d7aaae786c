import '../../../src/cli/polyfills.js';
import { multiaddr } from '@multiformats/multiaddr';
import { describe, expect, it } from 'vitest';
import { CshareError } from '../../../src/core/errors.js';
import { Libp2pChannel } from '../../../src/sync/libp2p/Libp2pChannel.js';
import { CSHARE_PROTOCOL, type RemotePeer } from '../../../src/sync/libp2p/Libp2pNode.js';
import { ConnectionClosedError } from '../../../src/sync/rpc/ConnectionClosedError.js';
import type { RpcConnection } from '../../../src/sync/rpc/RpcConnection.js';
import type { FrameChannel } from '../../../src/sync/rpc/transport.js';
import { payload, rpc, startNode, type TestProtocol } from './harness.js';

/** Fails if `p` does not settle within `ms` (so a broken close shows as a failure, not a hang). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function rejection(p: Promise<unknown>): Promise<CshareError> {
  try {
    await p;
  } catch (err) {
    return err as CshareError;
  }
  throw new Error('expected a rejection');
}

interface Accepted {
  channel: FrameChannel;
  conn: RpcConnection<TestProtocol>;
  remote: RemotePeer;
}

/** A server node whose every incoming channel serves echo, chunks and subscriptions. */
async function startServer(opts: Parameters<typeof startNode>[0] = {}) {
  const node = await startNode(opts);
  const accepted: Accepted[] = [];
  const waiters: ((a: Accepted) => void)[] = [];
  await node.listen((channel, remote) => {
    const conn = rpc(channel, remote.peerId);
    conn.handle('echo', ({ data }) => ({ data }));
    conn.handle('wait', async ({ ms }, ctx) => {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, ms);
        ctx.signal.addEventListener('abort', () => clearTimeout(timer));
      });
      return { ms };
    });
    conn.handleStream('chunks', async function* ({ count, size }) {
      for (let i = 0; i < count; i++) yield { i, data: payload(size, i + 1) };
    });
    conn.handleSubscribe('/things/:id', (params, ctx) =>
      (async function* () {
        for (let n = 0; n < 3; n++) yield { n, data: new TextEncoder().encode(`${params.id}#${n}`) };
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      })(),
    );
    const a = { channel, conn, remote };
    accepted.push(a);
    waiters.shift()?.(a);
  });
  const nextAccepted = (): Promise<Accepted> =>
    accepted.length > 0 ? Promise.resolve(accepted.shift()!) : new Promise<Accepted>((resolve) => waiters.push((a) => resolve(accepted.splice(accepted.indexOf(a), 1)[0]!)));
  return { node, nextAccepted };
}

describe('Libp2pNode: direct connections on loopback', () => {
  it('listens on loopback with dialable addresses that name the peer', async () => {
    const node = await startNode();
    expect(node.peerId).toMatch(/^12D3KooW/);
    const addrs = node.addresses();
    expect(addrs.length).toBeGreaterThan(0);
    for (const a of addrs) expect(a).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${node.peerId}$`));
  });

  it('carries requests and a subscription over RpcConnection', async () => {
    const server = await startServer();
    const client = await startNode();
    const channel = await client.dial(server.node.addresses()[0]!);
    const conn = rpc(channel, server.node.peerId);

    await expect(conn.request('echo', { data: Uint8Array.of(1, 2, 3) })).resolves.toEqual({ data: Uint8Array.of(1, 2, 3) });
    const accepted = await server.nextAccepted();
    expect(accepted.remote).toEqual({ peerId: client.peerId, limited: false });

    // Both directions: the listening side can call the dialling side too.
    conn.handle('wait', ({ ms }) => ({ ms: ms + 1 }));
    await expect(accepted.conn.request('wait', { ms: 41 })).resolves.toEqual({ ms: 42 });

    const sub = conn.subscribe('/things/abc');
    await sub.ready;
    const got: string[] = [];
    for await (const e of sub) if (got.push(`${e.n}:${new TextDecoder().decode(e.data)}`) === 3) break;
    expect(got).toEqual(['0:abc#0', '1:abc#1', '2:abc#2']);

    const many = await Promise.all(Array.from({ length: 100 }, (_, i) => conn.request('echo', { data: Uint8Array.of(i) })));
    expect(many.map((r) => r.data[0])).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('round-trips a 2 MiB payload, both as a request and as stream items', async () => {
    const server = await startServer();
    const client = await startNode();
    const conn = rpc(await client.dial(server.node.addresses()[0]!), server.node.peerId);
    const big = payload(2 * 1024 * 1024, 7);
    const { data } = await conn.request('echo', { data: big });
    expect(data.length).toBe(big.length);
    expect(Buffer.compare(data, big)).toBe(0);

    const items: { i: number; data: Uint8Array }[] = [];
    for await (const item of conn.requestStream('chunks', { count: 3, size: 2 * 1024 * 1024 })) items.push(item);
    expect(items.map((x) => x.i)).toEqual([0, 1, 2]);
    for (const x of items) expect(Buffer.compare(x.data, payload(2 * 1024 * 1024, x.i + 1))).toBe(0);
  });

  it('rejects pending requests with CONNECTION_CLOSED when the other side closes', async () => {
    const server = await startServer();
    const client = await startNode();
    const channel = await client.dial(server.node.addresses()[0]!);
    const conn = rpc(channel, server.node.peerId);
    await conn.request('echo', { data: Uint8Array.of(0) });
    const accepted = await server.nextAccepted();

    // rejection() attaches a handler at once, so the rejection is never unhandled meanwhile.
    const pending = [rejection(conn.request('wait', { ms: 60_000 }, { timeoutMs: Infinity })), rejection(conn.request('wait', { ms: 60_000 }, { timeoutMs: Infinity }))];
    const sub = conn.subscribe('/things/x');
    await sub.ready;
    accepted.conn.close();
    for (const p of pending) {
      const err = await within(p, 10_000, 'the pending request to reject');
      expect(err).toBeInstanceOf(ConnectionClosedError);
      expect(err.code).toBe('CONNECTION_CLOSED');
    }
    await within(channel.closed, 10_000, 'the client channel to close');
    await within(conn.closed, 10_000, 'the client connection to close');
    await expect(channel.send(Uint8Array.of(1))).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  it('rejects pending requests when the other node stops', async () => {
    const server = await startServer();
    const client = await startNode();
    const conn = rpc(await client.dial(server.node.addresses()[0]!), server.node.peerId);
    await conn.request('echo', { data: Uint8Array.of(0) });
    const pending = rejection(conn.request('wait', { ms: 60_000 }, { timeoutMs: Infinity }));
    await server.node.stop();
    const err = await within(pending, 10_000, 'the pending request to reject');
    expect(err.code).toBe('CONNECTION_CLOSED');
  });

  it('closes the channel on an oversize frame and keeps serving others', async () => {
    const server = await startServer();
    // The client's own limit is raised so it can send what the server must refuse.
    const client = await startNode({ maxFrameBytes: 40 * 1024 * 1024 });
    const channel = await client.dial(server.node.addresses()[0]!);
    const send = channel.send(new Uint8Array(17 * 1024 * 1024)).catch((err: unknown) => err);
    const accepted = await within(server.nextAccepted(), 10_000, 'the server to accept');
    await within(accepted.channel.closed, 10_000, 'the server channel to close');
    await within(accepted.conn.closed, 10_000, 'the server connection to close');
    await within(channel.closed, 10_000, 'the client channel to close (stream reset)');
    const sent = await send;
    if (sent !== undefined) expect(sent).toBeInstanceOf(ConnectionClosedError);

    const conn = rpc(await client.dial(server.node.addresses()[0]!), server.node.peerId);
    await expect(conn.request('echo', { data: Uint8Array.of(9) })).resolves.toEqual({ data: Uint8Array.of(9) });
  });

  it('refuses to send a frame over its own limit, without closing', async () => {
    const server = await startServer();
    const client = await startNode({ maxFrameBytes: 1024 });
    const channel = await client.dial(server.node.addresses()[0]!);
    const err = await rejection(channel.send(new Uint8Array(2048)));
    expect(err.code).toBe('FRAME_TOO_LARGE');
    const conn = rpc(channel, server.node.peerId);
    await expect(conn.request('echo', { data: Uint8Array.of(5) })).resolves.toEqual({ data: Uint8Array.of(5) });
  });

  it('closes the channel on an endless length prefix, and answers garbage frames without crashing', async () => {
    const server = await startServer();
    const client = await startNode();
    const addr = multiaddr(server.node.addresses()[0]!);

    // A length prefix that never ends (0xff has the continuation bit set).
    const raw = await client.libp2p.dialProtocol(addr, CSHARE_PROTOCOL);
    raw.send(new Uint8Array(64).fill(0xff));
    const accepted = await within(server.nextAccepted(), 10_000, 'the server to accept');
    await within(accepted.channel.closed, 10_000, 'the server channel to close');
    await within(accepted.conn.closed, 10_000, 'the server connection to close');

    // A well-framed frame of garbage: the RPC layer answers with an error, the channel stays up.
    const stream = await client.libp2p.dialProtocol(addr, CSHARE_PROTOCOL);
    const garbage = new Libp2pChannel(stream, { peer: server.node.peerId });
    await garbage.send(Uint8Array.of(1, 0xee, 0xee, 0xee, 0xee));
    const reply = await within(
      (async () => {
        for await (const f of garbage.frames) return f;
        return undefined;
      })(),
      10_000,
      'an error reply',
    );
    expect(reply).toBeInstanceOf(Uint8Array);
    const second = await server.nextAccepted();
    expect(second.conn.error).toBeUndefined();
    garbage.close();

    const conn = rpc(await client.dial(server.node.addresses()[0]!), server.node.peerId);
    await expect(conn.request('echo', { data: Uint8Array.of(3) })).resolves.toEqual({ data: Uint8Array.of(3) });
  });

  it('stops when its signal aborts', async () => {
    const ac = new AbortController();
    const node = await startNode({ signal: ac.signal });
    expect(node.libp2p.status).toBe('started');
    ac.abort();
    const deadline = Date.now() + 5000;
    while (node.libp2p.status !== 'stopped' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(node.libp2p.status).toBe('stopped');
  });
});
