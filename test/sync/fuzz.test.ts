import { describe, expect, it } from 'vitest';
import { FrameKind, decodeFrames, encodeBatch, encodeFrame, type Frame } from '../../src/sync/rpc/codec.js';
import { MemoryTransport, type MemoryChannel } from '../../src/sync/memory/MemoryTransport.js';
import { Prng } from '../../src/sync/prng.js';
import { RpcConnection } from '../../src/sync/rpc/RpcConnection.js';
import { PROTOCOL_VERSION as V, type WorktreeEvent } from '../../src/sync/schema.js';
import { testSchema, type TestChunk, type TestProtocol } from './testProtocol.js';
import { mutate, randomValue, testSeed, waitFor } from './helpers.js';

/** A live server and a raw channel to poke it with; the raw side collects decoded replies. */
function rawPeer(): { server: RpcConnection<TestProtocol>; raw: MemoryChannel; replies: Frame[]; ended: () => boolean } {
  const [raw, b] = MemoryTransport.pair();
  const server = new RpcConnection<TestProtocol>(b, { peer: 'fuzzer', schema: testSchema, limits: { maxFrameBytes: 64 * 1024 }, maxSubscriptions: 16 });
  server.handle('test/ping', ({ time }) => ({ time }));
  server.handle('manifest/offer', ({ entries }) => ({ need: entries.map((e) => e.fileId) }));
  server.on('test/update', () => undefined);
  server.handleStream('test/fetch', async function* ({ fileId }) {
    yield { fileId, kind: 'update', data: Uint8Array.of(1) } as TestChunk;
  });
  server.handleSubscribe('/worktrees/:id', async function* () {
    yield { type: 'peer-left', replicaId: 'x' } as WorktreeEvent;
  });
  const replies: Frame[] = [];
  let done = false;
  void (async () => {
    for await (const bytes of raw.frames) replies.push(...decodeFrames(bytes, V));
    done = true;
  })();
  return { server, raw, replies, ended: () => done };
}

const valid = (rng: Prng): Frame => {
  const seq = 1 + rng.int(50);
  return rng.pick<Frame>([
    { kind: FrameKind.REQUEST, seq, replyTo: 0, name: 'test/ping', payload: { time: rng.int(1000) } },
    { kind: FrameKind.REQUEST, seq, replyTo: 0, name: 'manifest/offer', payload: { worktreeId: 'w', entries: [{ path: 'a/b.txt', fileId: 'f1', digest: 'a'.repeat(40) }] } },
    { kind: FrameKind.REQUEST, seq, replyTo: 0, name: 'test/fetch', payload: { worktreeId: 'w', fileId: 'f' } },
    { kind: FrameKind.SEND, seq, replyTo: 0, name: 'test/update', payload: { worktreeId: 'w', fileId: 'f', update: rng.bytes(8) } },
    { kind: FrameKind.SUBSCRIBE, seq, replyTo: 0, name: '/worktrees/w', payload: null },
    { kind: FrameKind.UNSUBSCRIBE, seq, replyTo: rng.int(60), name: '', payload: null },
    { kind: FrameKind.RESPONSE, seq, replyTo: rng.int(60), name: '', payload: randomValue(rng) },
    { kind: FrameKind.ERROR, seq, replyTo: rng.int(3), name: '', payload: { code: 'NOPE', message: 'x' } },
    { kind: rng.int(9) as Frame['kind'], seq, replyTo: rng.int(60), name: rng.pick(['test/ping', 'hello', '/worktrees/w', 'x'.repeat(2000)]), payload: randomValue(rng) },
  ]);
};

describe('fuzz: a live connection', () => {
  it('survives thousands of random and mutated frames: error replies or a clean close, never a crash or hang', async () => {
    const seed = testSeed(0xbadf00d);
    const rng = new Prng(seed);
    let closes = 0;
    let errorReplies = 0;
    let sent = 0;
    for (let round = 0; round < 40; round++) {
      const { server, raw, replies, ended } = rawPeer();
      for (let i = 0; i < 100 && !ended(); i++) {
        sent++;
        const r = rng.int(10);
        let bytes: Uint8Array;
        if (r < 2) bytes = rng.bytes(rng.int(80));
        else if (r < 3) bytes = encodeBatch(Array.from({ length: 1 + rng.int(5) }, () => encodeFrame(valid(rng), V)), V);
        else if (r < 5) bytes = encodeFrame(valid(rng), V);
        else bytes = mutate(rng, encodeFrame(valid(rng), V));
        // A first byte other than the version is a version mismatch, which closes the connection by
        // design; keep it mostly intact so the rounds also exercise the paths that stay up.
        if (bytes.length > 0 && rng.chance(0.98)) bytes[0] = V;
        // The fuzzer's channel may already be closed by the server (version mismatch, size).
        await raw.send(bytes).catch(() => undefined);
      }
      // Then a well-formed ping must be answered, unless the server closed the connection.
      const probe = 0xfffffff0;
      await raw.send(encodeFrame({ kind: FrameKind.REQUEST, seq: probe, replyTo: 0, name: 'test/ping', payload: { time: 7 } }, V)).catch(() => undefined);
      await waitFor(() => ended() || replies.some((f) => f.replyTo === probe), 5000, `seed ${seed} round ${round}: probe reply or close`);
      if (ended()) {
        closes++;
        await server.closed;
        expect(server.error, `seed ${seed} round ${round}`).toMatchObject({ code: expect.stringMatching(/PROTOCOL|FRAME_TOO_LARGE/) });
      } else {
        const reply = replies.find((f) => f.replyTo === probe)!;
        expect(reply.kind, `seed ${seed} round ${round}`).toBe(FrameKind.RESPONSE);
        expect(reply.payload).toEqual({ time: 7 });
      }
      errorReplies += replies.filter((f) => f.kind === FrameKind.ERROR).length;
      server.close();
      raw.close();
    }
    // Both outcomes are exercised: most rounds end with the connection still answering.
    expect(sent, `seed ${seed}`).toBeGreaterThan(1000);
    expect(errorReplies, `seed ${seed}`).toBeGreaterThan(300);
    expect(closes, `seed ${seed}`).toBeLessThan(35);
  });

  it('replies PROTOCOL to garbage that names a request, with its sequence number', async () => {
    const { raw, replies } = rawPeer();
    const bytes = encodeFrame({ kind: FrameKind.REQUEST, seq: 42, replyTo: 0, name: 'test/ping', payload: { time: 1 } }, V);
    await raw.send(bytes.subarray(0, bytes.length - 2));
    await waitFor(() => replies.length > 0);
    expect(replies[0]).toMatchObject({ kind: FrameKind.ERROR, replyTo: 42, payload: { code: 'PROTOCOL' } });
    raw.close();
  });
});

describe('RPC over a lossy, duplicating, reordering link', () => {
  it('never crashes: calls either succeed, fail with a code, or time out', async () => {
    const seed = testSeed(0x1055);
    const [a, b] = MemoryTransport.pair({ latencyMs: 1, dropRate: 0.1, duplicate: 0.1, reorder: 0.2, seed });
    const client = new RpcConnection<TestProtocol>(a, { requestTimeoutMs: 200, schema: testSchema });
    const server = new RpcConnection<TestProtocol>(b, { schema: testSchema });
    server.handle('test/ping', ({ time }) => ({ time }));
    const results = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => client.request('test/ping', { time: i })));
    for (const r of results) {
      if (r.status === 'rejected') expect(r.reason.code, `seed ${seed}`).toMatch(/TIMEOUT|PROTOCOL|CONNECTION_CLOSED/);
      else expect(typeof r.value.time).toBe('number');
    }
    client.close();
    await server.closed;
  });
});
