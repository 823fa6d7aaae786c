import createDebug from 'debug';
import { getEventListeners } from 'node:events';
import { format } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { CshareError } from '../../src/core/errors.js';
import { ConnectionClosedError } from '../../src/sync/rpc/ConnectionClosedError.js';
import { BoundedQueue } from '../../src/sync/rpc/BoundedQueue.js';
import { RpcConnection } from '../../src/sync/rpc/RpcConnection.js';
import { MemoryTransport } from '../../src/sync/memory/MemoryTransport.js';
import { PROTOCOL_VERSION, type WorktreeEvent } from '../../src/sync/schema.js';
import { testSchema, type TestChunk, type TestProtocol } from './testProtocol.js';
import { deferred, rpcPair, type RpcPair } from './rpcHarness.js';
import { waitFor } from './helpers.js';

const W = 'wt1';
const open: RpcPair[] = [];
function pair(...args: Parameters<typeof rpcPair>): RpcPair {
  const p = rpcPair(...args);
  open.push(p);
  return p;
}
afterEach(() => {
  for (const p of open.splice(0)) {
    p.client.close();
    p.server.close();
  }
});

async function rejection(p: Promise<unknown>): Promise<CshareError> {
  try {
    await p;
  } catch (err) {
    return err as CshareError;
  }
  throw new Error('expected a rejection');
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('RpcConnection: requests', () => {
  it('answers a request with its typed response', async () => {
    const { client, server } = pair();
    server.handle('test/ping', ({ time }) => ({ time: time + 1 }));
    await expect(client.request('test/ping', { time: 41 })).resolves.toEqual({ time: 42 });
  });

  it('keeps many concurrent requests apart, both ways', async () => {
    const { client, server } = pair();
    server.handle('test/ping', async ({ time }) => {
      await new Promise((r) => setTimeout(r, time % 7));
      return { time: time * 2 };
    });
    client.handle('test/ping', ({ time }) => ({ time: -time }));
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => client.request('test/ping', { time: i })));
    expect(results.map((r) => r.time)).toEqual(Array.from({ length: 200 }, (_, i) => i * 2));
    await expect(server.request('test/ping', { time: 3 })).resolves.toEqual({ time: -3 });
  });

  it('replies a handler error with its code, and unknown errors as INTERNAL', async () => {
    const { client, server } = pair();
    server.handle('hello', () => {
      throw new CshareError('UNAUTHORIZED', 'wrong secret: ask for a new join code');
    });
    server.handle('test/ping', () => {
      throw new TypeError('boom');
    });
    const err = await rejection(client.request('hello', { protocol: 1, replicaId: 'r1', name: 'alice', role: 'joiner' }));
    expect(err).toBeInstanceOf(CshareError);
    expect(err.code).toBe('UNAUTHORIZED');
    expect(err.message).toBe('wrong secret: ask for a new join code');
    expect(err.data.remote).toBe(true);
    const err2 = await rejection(client.request('test/ping', { time: 1 }));
    expect(err2.code).toBe('INTERNAL');
    expect(err2.message).toBe('boom');
  });

  it('reports a handler that returns without replying, as an error reply and a log line', async () => {
    const lines: string[] = [];
    const prevLog = createDebug.log;
    const prevNs = createDebug.disable();
    createDebug.enable('cshare:rpc');
    createDebug.log = (...args: unknown[]) => void lines.push(format(...args));
    try {
      const { client, server } = pair();
      server.handle('test/ping', (async () => undefined) as never);
      const err = await rejection(client.request('test/ping', { time: 1 }));
      expect(err.code).toBe('INTERNAL');
      expect(err.message).toMatch(/returned without replying/);
      expect(lines.some((l) => /bug: the handler for "test\/ping" returned without replying/.test(l))).toBe(true);
    } finally {
      createDebug.log = prevLog;
      createDebug.enable(prevNs);
    }
  });

  it('reports a handler whose response does not match the schema', async () => {
    const { client, server } = pair();
    server.handle('test/ping', (() => ({ time: 'late' })) as never);
    const err = await rejection(client.request('test/ping', { time: 1 }));
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toMatch(/invalid response/);
  });

  it('answers unknown or unserved types with UNKNOWN_MESSAGE and invalid payloads with PROTOCOL, and stays up', async () => {
    const { client, server } = pair();
    let seen = 0;
    server.handle('test/ping', ({ time }) => (seen++, { time }));
    const unknown = await rejection(client.request('nope' as 'test/ping', { time: 1 }));
    expect(unknown.code).toBe('UNKNOWN_MESSAGE');
    expect(unknown.message).toMatch(/unknown message type "nope"/);
    const unhandled = await rejection(client.request('hello', { protocol: 1, replicaId: 'r', name: 'n', role: 'joiner' }));
    expect(unhandled.code).toBe('UNKNOWN_MESSAGE');
    expect(unhandled.message).toMatch(/does not handle "hello"/);
    // A name an object has without owning it is no message either.
    expect((await rejection(client.request('constructor' as 'test/ping', { time: 1 }))).code).toBe('UNKNOWN_MESSAGE');
    for (const bad of [{ time: 'x' }, { time: 1, extra: true }, null, [1], new Uint8Array(1)]) {
      const err = await rejection(client.request('test/ping', bad as never));
      expect(err.code).toBe('PROTOCOL');
      expect(err.message).toMatch(/invalid "test\/ping" message/);
    }
    expect(seen).toBe(0);
    await expect(client.request('test/ping', { time: 2 })).resolves.toEqual({ time: 2 });
  });

  it('rejects every pending call with ConnectionClosedError when the connection drops', async () => {
    const { client, server, serverChannel } = pair();
    const aborted: unknown[] = [];
    server.handle('test/ping', (_req, ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => (aborted.push(ctx.signal.reason), reject(ctx.signal.reason)))));
    server.handleStream('test/fetch', async function* (_req, ctx) {
      yield { fileId: 'f', kind: 'update', data: new Uint8Array(1) } as TestChunk;
      await new Promise((r) => ctx.signal.addEventListener('abort', r));
    });
    server.handleSubscribe('/worktrees/:id', async function* (_p, ctx) {
      await new Promise((r) => ctx.signal.addEventListener('abort', r));
    });
    const requests = [client.request('test/ping', { time: 1 }), client.request('test/ping', { time: 2 }, { timeoutMs: Infinity })];
    const stream = client.requestStream('test/fetch', { worktreeId: W, fileId: 'f' })[Symbol.asyncIterator]();
    await expect(stream.next()).resolves.toMatchObject({ done: false });
    const sub = client.subscribe('/worktrees/wt1');
    await sub.ready;
    const subIt = sub[Symbol.asyncIterator]();
    await waitFor(() => aborted.length === 0 && (server as unknown as { served: Map<number, unknown> }).served.size === 4, 2000, 'all calls served');

    serverChannel.close();
    for (const p of requests) {
      const err = await rejection(p);
      expect(err).toBeInstanceOf(ConnectionClosedError);
      expect(err.code).toBe('CONNECTION_CLOSED');
    }
    expect(await rejection(stream.next())).toBeInstanceOf(ConnectionClosedError);
    expect(await rejection(subIt.next())).toBeInstanceOf(ConnectionClosedError);
    await client.closed;
    await server.closed;
    expect(aborted).toHaveLength(2);
    // After the close, new calls fail at once.
    expect(await rejection(client.request('test/ping', { time: 3 }))).toBeInstanceOf(ConnectionClosedError);
    expect(() => client.subscribe('/worktrees/wt1')).toThrow(ConnectionClosedError);
    await expect(client.send('test/update', { worktreeId: W, fileId: 'f', update: new Uint8Array(1) })).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  it('times out, and tells the handler to stop', async () => {
    const { client, server } = pair();
    const stopped = deferred<unknown>();
    server.handle('test/ping', (_req, ctx) => new Promise((_res, rej) => ctx.signal.addEventListener('abort', () => (stopped.resolve(ctx.signal.reason), rej(new Error('stopped'))))));
    const err = await rejection(client.request('test/ping', { time: 1 }, { timeoutMs: 20 }));
    expect(err.code).toBe('TIMEOUT');
    expect(err.message).toMatch(/did not answer "test\/ping" within 20 ms/);
    await stopped.promise;
  });

  it('cancels on abort, and tells the handler to stop', async () => {
    const { client, server } = pair();
    const started = deferred();
    const stopped = deferred();
    server.handle('test/ping', (_req, ctx) => {
      started.resolve();
      return new Promise((_res, rej) => ctx.signal.addEventListener('abort', () => (stopped.resolve(), rej(new Error('stopped')))));
    });
    const ac = new AbortController();
    const p = client.request('test/ping', { time: 1 }, { signal: ac.signal });
    await started.promise;
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    await stopped.promise;
    const pre = new AbortController();
    pre.abort();
    await expect(client.request('test/ping', { time: 1 }, { signal: pre.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('rejects a request too big to send, locally, and stays up', async () => {
    const { client, server } = pair({ client: { limits: { maxFrameBytes: 1000 } } });
    server.handle('file/upload', () => ({ ok: true }));
    const err = await rejection(client.request('file/upload', { worktreeId: W, fileId: 'f', blob: new Uint8Array(2000) }));
    expect(err.code).toBe('FRAME_TOO_LARGE');
    await expect(client.request('file/upload', { worktreeId: W, fileId: 'f', blob: new Uint8Array(10) })).resolves.toEqual({ ok: true });
  });
});

describe('RpcConnection: sends', () => {
  it('delivers validated sends in order, and drops invalid ones with an error reply', async () => {
    const { client, server } = pair();
    const got: number[] = [];
    server.on('test/update', ({ update }) => void got.push(update[0]!));
    for (let i = 0; i < 50; i++) void client.send('test/update', { worktreeId: W, fileId: 'f', update: Uint8Array.of(i) });
    await client.send('test/update', { worktreeId: '../etc', fileId: 'f', update: Uint8Array.of(99) });
    await client.send('test/update', { worktreeId: W, fileId: 'f', update: Uint8Array.of(50) });
    await waitFor(() => got.length === 51);
    expect(got).toEqual(Array.from({ length: 51 }, (_, i) => i));
  });
});

describe('RpcConnection: streams', () => {
  it('streams items then ends', async () => {
    const { client, server } = pair();
    server.handleStream('test/fetch', async function* ({ fileId }) {
      for (let i = 0; i < 10; i++) yield { fileId, kind: 'blob', data: Uint8Array.of(i), offset: i, size: 10 } as TestChunk;
    });
    const items = await collect(client.requestStream('test/fetch', { worktreeId: W, fileId: 'f1' }));
    expect(items.map((c) => (c.kind === 'blob' ? c.offset : -1))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('sends the items a handler produces together in a few transport writes, all of them, in order', async () => {
    const { client, server, serverChannel } = pair();
    server.handleStream('test/fetch', async function* ({ fileId }) {
      for (let i = 0; i < 3000; i++) yield { fileId, kind: 'blob', data: Uint8Array.of(i % 256), offset: i, size: 3000 } as TestChunk;
    });
    const items = await collect(client.requestStream('test/fetch', { worktreeId: W, fileId: 'f1' }));
    expect(items.map((c) => (c.kind === 'blob' ? c.offset : -1))).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    // Waiting for each item's write before producing the next took one write per item.
    expect(serverChannel.stats.writes).toBeLessThan(3000 / 10);
  });

  it('ends a stream whose consumer falls more than queueBytes behind with OVERLOADED', async () => {
    const { client, server } = pair({ client: { queueBytes: 64 * 1024 } });
    server.handleStream('test/fetch', async function* ({ fileId }) {
      for (let i = 0; i < 100; i++) yield { fileId, kind: 'blob', data: new Uint8Array(8 * 1024), offset: i * 8192, size: 819200 } as TestChunk;
    });
    const it = client.requestStream('test/fetch', { worktreeId: W, fileId: 'f1' })[Symbol.asyncIterator]();
    await expect(it.next()).resolves.toMatchObject({ done: false });
    // The consumer stops reading while the rest arrives.
    await new Promise((r) => setTimeout(r, 50));
    let got = 1;
    const err = await rejection(
      (async () => {
        for (;;) {
          const r = await it.next();
          if (r.done) return;
          got++;
        }
      })(),
    );
    expect(err.code).toBe('OVERLOADED');
    expect(err.message).toMatch(/fell more than 64 KiB behind on "test\/fetch"/);
    expect(got).toBeLessThanOrEqual(9);
    // The connection itself is fine.
    server.handle('test/ping', ({ time }) => ({ time }));
    await expect(client.request('test/ping', { time: 5 })).resolves.toEqual({ time: 5 });
  });

  it('propagates a stream handler error after the items sent so far', async () => {
    const { client, server } = pair();
    server.handleStream('test/fetch', async function* ({ fileId }) {
      yield { fileId, kind: 'update', data: Uint8Array.of(1) } as TestChunk;
      throw new CshareError('NOT_FOUND', `no file ${fileId}`);
    });
    const it = client.requestStream('test/fetch', { worktreeId: W, fileId: 'f1' })[Symbol.asyncIterator]();
    await expect(it.next()).resolves.toMatchObject({ done: false });
    const err = await rejection(it.next());
    expect(err.code).toBe('NOT_FOUND');
  });

  it('stops the handler when the consumer leaves early', async () => {
    const { client, server } = pair();
    const stopped = deferred();
    server.handleStream('test/fetch', async function* ({ fileId }, ctx) {
      ctx.signal.addEventListener('abort', () => stopped.resolve());
      for (let i = 0; !ctx.signal.aborted; i++) {
        yield { fileId, kind: 'update', data: Uint8Array.of(i % 256) } as TestChunk;
        await new Promise((r) => setTimeout(r, 1));
      }
    });
    let n = 0;
    for await (const _ of client.requestStream('test/fetch', { worktreeId: W, fileId: 'f1' })) if (++n === 3) break;
    await stopped.promise;
  });

  it('holds no abort listener on the caller\'s signal once a call has ended (a session makes thousands)', async () => {
    const { client, server } = pair();
    server.handleStream('test/fetch', async function* ({ fileId }) {
      yield { fileId, kind: 'update', data: Uint8Array.of(1) } as TestChunk;
    });
    const signal = new AbortController().signal;
    for (let i = 0; i < 50; i++) await collect(client.requestStream('test/fetch', { worktreeId: W, fileId: 'f1' }, { signal }));
    let n = 0;
    for await (const _ of client.requestStream('test/fetch', { worktreeId: W, fileId: 'f1' }, { signal })) if (++n === 1) break;
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it('reports a stream handler that yields an invalid item', async () => {
    const { client, server } = pair();
    server.handleStream('test/fetch', async function* () {
      yield { nope: true } as never;
    });
    const err = await rejection(collect(client.requestStream('test/fetch', { worktreeId: W, fileId: 'f1' })));
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toMatch(/invalid item/);
  });
});

describe('RpcConnection: subscriptions', () => {
  function serveWorktree(server: RpcConnection<TestProtocol>, events: WorktreeEvent[], stopped?: () => void): void {
    // Refusals are thrown before the event stream is returned, so they reject `ready`.
    server.handleSubscribe('/worktrees/:worktreeId', async (params, ctx) => {
      if (params.worktreeId === 'secret') throw new CshareError('FORBIDDEN', 'read-only code');
      return (async function* () {
        ctx.signal.addEventListener('abort', () => stopped?.());
        for (const e of events) yield e;
        await new Promise((r) => ctx.signal.addEventListener('abort', r));
      })();
    });
  }

  it('delivers events until the subscriber leaves, then stops the handler', async () => {
    const { client, server } = pair();
    const stopped = deferred();
    const events: WorktreeEvent[] = [
      { type: 'peer-joined', replicaId: 'r1', name: 'bob', role: 'joiner' },
      { type: 'file-update', fileId: 'f', update: Uint8Array.of(1, 2) },
      { type: 'peer-left', replicaId: 'r1' },
    ];
    serveWorktree(server, events, stopped.resolve);
    const got: WorktreeEvent[] = [];
    const sub = client.subscribe('/worktrees/wt1');
    await sub.ready;
    for await (const e of sub) if (got.push(e) === 3) break;
    expect(got).toEqual(events);
    await stopped.promise;
    await waitFor(() => (server as unknown as { servedSubscriptions: number }).servedSubscriptions === 0);
  });

  it('refuses unknown resources and handler refusals, on ready and on iteration', async () => {
    const { client, server } = pair();
    serveWorktree(server, []);
    const missing = client.subscribe('/nope/x');
    expect((await rejection(missing.ready)).code).toBe('NOT_FOUND');
    expect((await rejection(collect(missing))).code).toBe('NOT_FOUND');
    expect((await rejection(client.subscribe('/worktrees/../etc').ready)).code).toBe('NOT_FOUND');
    expect((await rejection(client.subscribe('/worktrees/secret').ready)).code).toBe('FORBIDDEN');
  });

  it('unsubscribes on abort', async () => {
    const { client, server } = pair();
    const stopped = deferred();
    serveWorktree(server, [], stopped.resolve);
    const ac = new AbortController();
    const sub = client.subscribe('/worktrees/wt1', { signal: ac.signal });
    await sub.ready;
    const it = sub[Symbol.asyncIterator]();
    const next = it.next();
    ac.abort();
    await expect(next).rejects.toMatchObject({ name: 'AbortError' });
    await stopped.promise;
  });

  it('settles ready when aborted or unsubscribed before the server accepted', async () => {
    const { client, server } = pair();
    // A server that never accepts (a relay busy or gone): only the subscriber can end the wait.
    server.handleSubscribe('/worktrees/:worktreeId', () => new Promise<never>(() => undefined));
    const ac = new AbortController();
    const aborted = client.subscribe('/worktrees/wt1', { signal: ac.signal });
    const left = client.subscribe('/worktrees/wt2');
    await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    left.unsubscribe();
    // Found by the chaos run: a SIGTERM right after a reconnect left \`await sub.ready\`
    // hanging, and the process exited 13 (a top-level await that never settled).
    await expect(aborted.ready).rejects.toMatchObject({ name: 'AbortError' });
    await expect(left.ready).rejects.toThrow(/unsubscribed/);
    await expect(collect(aborted)).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('bounds subscriptions per connection, and frees a slot on unsubscribe', async () => {
    const { client, server } = pair({ server: { maxSubscriptions: 8 } });
    serveWorktree(server, []);
    const subs = Array.from({ length: 20 }, (_, i) => client.subscribe(`/worktrees/w${i}`));
    const results = await Promise.allSettled(subs.map((s) => s.ready));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(8);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(refused).toHaveLength(12);
    for (const r of refused) {
      expect(r.reason.code).toBe('OVERLOADED');
      expect(r.reason.message).toMatch(/too many subscriptions.*at most 8/);
    }
    subs[0]!.unsubscribe();
    await waitFor(() => (server as unknown as { servedSubscriptions: number }).servedSubscriptions === 7);
    await expect(client.subscribe('/worktrees/again').ready).resolves.toBeUndefined();
  });

  it('ends a subscription whose consumer falls behind with OVERLOADED, and stops the handler', async () => {
    const { client, server } = pair({ client: { queueSize: 4 } });
    const stopped = deferred();
    server.handleSubscribe('/worktrees/:worktreeId', async function* (_p, ctx) {
      ctx.signal.addEventListener('abort', () => stopped.resolve());
      for (let i = 0; i < 100 && !ctx.signal.aborted; i++) yield { type: 'peer-left', replicaId: `r${i}` } as WorktreeEvent;
      await new Promise((r) => ctx.signal.addEventListener('abort', r));
    });
    const sub = client.subscribe('/worktrees/wt1');
    await sub.ready;
    await stopped.promise;
    const got: WorktreeEvent[] = [];
    const err = await rejection(
      (async () => {
        for await (const e of sub) got.push(e);
      })(),
    );
    expect(got).toHaveLength(4);
    expect(err.code).toBe('OVERLOADED');
    // The connection itself is fine.
    server.handle('test/ping', ({ time }) => ({ time }));
    await expect(client.request('test/ping', { time: 5 })).resolves.toEqual({ time: 5 });
  });
});

describe('RpcConnection: protocol version', () => {
  it('refuses a peer of another version with an upgrade error and closes', async () => {
    const [a, b] = MemoryTransport.pair();
    const newer = new RpcConnection<TestProtocol>(a, { peer: 'relay', schema: { ...testSchema, version: PROTOCOL_VERSION + 1 } });
    const server = new RpcConnection<TestProtocol>(b, { peer: 'client', schema: testSchema });
    server.handle('test/ping', ({ time }) => ({ time }));
    const err = await rejection(newer.request('test/ping', { time: 1 }));
    expect(err.code).toBe('PROTOCOL');
    expect(err.message).toMatch(new RegExp(`^peer speaks protocol v${PROTOCOL_VERSION + 1}, this cshare speaks v${PROTOCOL_VERSION}: upgrade cshare`));
    await server.closed;
    await newer.closed;
    expect(server.error).toMatchObject({ code: 'PROTOCOL' });
    expect(newer.error).toMatchObject({ code: 'PROTOCOL' });
  });
});

describe('RpcConnection: frame size', () => {
  it('closes the connection on a frame over the limit', async () => {
    const { client, server } = pair({ server: { limits: { maxFrameBytes: 1024 } } });
    server.handle('file/upload', () => ({ ok: true }));
    const err = await rejection(client.request('file/upload', { worktreeId: W, fileId: 'f', blob: new Uint8Array(4096) }));
    expect(err.code).toMatch(/FRAME_TOO_LARGE|CONNECTION_CLOSED/);
    await server.closed;
    await client.closed;
    expect(server.error).toMatchObject({ code: 'FRAME_TOO_LARGE' });
  });
});

describe('RpcConnection: batching', () => {
  it('coalesces the frames of one tick into one transport write', async () => {
    const run = async (batch: boolean): Promise<number> => {
      const { client, server, clientChannel } = pair({ client: { batch } });
      const got: number[] = [];
      server.on('test/update', ({ update }) => void got.push(update[0]!));
      const sends = Array.from({ length: 200 }, (_, i) => client.send('test/update', { worktreeId: W, fileId: 'f', update: Uint8Array.of(i % 256) }));
      await Promise.all(sends);
      await waitFor(() => got.length === 200);
      expect(got).toEqual(Array.from({ length: 200 }, (_, i) => i % 256));
      expect(client.stats.frames).toBe(200);
      return clientChannel.stats.writes;
    };
    expect(await run(true)).toBe(1);
    expect(await run(false)).toBe(200);
  });

  it('splits a burst bigger than one frame into several batches', async () => {
    const { client, server, clientChannel } = pair({ client: { limits: { maxFrameBytes: 4096 } } });
    let n = 0;
    server.on('test/update', () => void n++);
    await Promise.all(Array.from({ length: 100 }, () => client.send('test/update', { worktreeId: W, fileId: 'f', update: new Uint8Array(200) })));
    await waitFor(() => n === 100);
    expect(clientChannel.stats.writes).toBeGreaterThan(1);
    expect(clientChannel.stats.writes).toBeLessThan(20);
  });

  it('gives more messages per second through a slow link (relay-like latency)', async () => {
    // A relay link: 2 ms each way and a window of 8 writes in flight (each write costs a
    // round of framing, encryption and syscalls on a real relay).
    const rate = async (batch: boolean): Promise<number> => {
      const { client, server } = pair({ client: { batch }, server: { batch }, transport: { latencyMs: 2, capacity: 8 } });
      server.handle('test/ping', ({ time }) => ({ time }));
      const start = performance.now();
      await Promise.all(Array.from({ length: 500 }, (_, i) => client.request('test/ping', { time: i })));
      return 500 / (performance.now() - start);
    };
    // Best of three, after a warm-up: the JIT, not batching, dominates the first runs.
    await rate(true);
    await rate(false);
    let batched = 0;
    let unbatched = 0;
    for (let i = 0; i < 3; i++) {
      batched = Math.max(batched, await rate(true));
      unbatched = Math.max(unbatched, await rate(false));
    }
    expect(batched / unbatched, `batched ${batched.toFixed(0)}/s, unbatched ${unbatched.toFixed(0)}/s`).toBeGreaterThan(3);
  });
});

describe('BoundedQueue: bounds', () => {
  it('refuses an item over its byte bound but always takes one into an empty queue; consuming frees the bytes', async () => {
    const q = new BoundedQueue<string>(10, undefined, 100);
    expect(q.push('big', 500)).toBe(true);
    expect(q.push('x', 1)).toBe(false);
    const it = q[Symbol.asyncIterator]();
    await expect(it.next()).resolves.toEqual({ done: false, value: 'big' });
    expect(q.bytes).toBe(0);
    expect(q.push('a', 60)).toBe(true);
    expect(q.push('b', 40)).toBe(true);
    expect(q.push('c', 1)).toBe(false);
    expect(q.bytes).toBe(100);
    await expect(it.next()).resolves.toEqual({ done: false, value: 'a' });
    expect(q.push('c', 60)).toBe(true);
    expect(q.size).toBe(2);
  });
});
