import '../../src/cli/polyfills.js';
import { multiaddr } from '@multiformats/multiaddr';
import * as Y from 'yjs';
import { afterEach, describe, expect, it } from 'vitest';
import { gitBlobId } from '../../src/core/digest.js';
import { isSafeRelPath } from '../../src/core/paths.js';
import { FrameKind, decodeFrames, encodeBatch, encodeFrame, type Frame, type Value } from '../../src/sync/rpc/codec.js';
import { hashSecret, newShareSecrets, worktreeIdToString } from '../../src/sync/joinCode.js';
import { CSHARE_PROTOCOL } from '../../src/sync/libp2p/Libp2pNode.js';
import { MemoryTransport, type MemoryChannel } from '../../src/sync/memory/MemoryTransport.js';
import { Prng } from '../../src/sync/prng.js';
import { startRelay } from '../../src/sync/relayServer.js';
import { PROTOCOL_VERSION } from '../../src/sync/schema.js';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { tempDir } from '../helpers/tmp.js';
import { mutate, randomValue, testSeed, waitFor } from '../sync/helpers.js';
import { RelayHarness, entry, manifestUpdate, textUpdate } from '../sync/relay/harness.js';
import { cshareConnection, type CshareConnection } from '../../src/sync/connection.js';

/**
 * The relay service under hostile frames: random and mutated frames of every relay message,
 * huge frames and declared lengths, an old protocol version, a peer that stops reading, and a
 * flood of subscriptions. The relay never crashes or hangs, answers with an error or closes
 * the connection, stores nothing unsafe, and keeps serving honest peers.
 */

const V = PROTOCOL_VERSION;
const harnesses: RelayHarness[] = [];
afterEach(() => {
  for (const h of harnesses.splice(0)) h.close();
});

/** A raw channel to the relay service, with the replies decoded as they arrive. */
function rawPeer(h: RelayHarness) {
  const [raw, b] = MemoryTransport.pair();
  const conn = cshareConnection(b, { peer: 'hostile' });
  h.service.attach(conn, { id: 'hostile' });
  const replies: Frame[] = [];
  let ended = false;
  void (async () => {
    for await (const bytes of raw.frames) replies.push(...decodeFrames(bytes, V));
    ended = true;
  })();
  return { raw, conn, replies, ended: () => ended };
}

function helloFrame(h: RelayHarness, seq: number, secret: Uint8Array = h.secrets.readWrite): Uint8Array {
  return encodeFrame({ kind: FrameKind.REQUEST, seq, replyTo: 0, name: 'hello', payload: { protocol: V, worktreeId: h.worktreeId, secretProof: secret, replicaId: 'mallory', name: 'm', role: 'joiner' } }, V);
}

/**
 * A request every connection bound read-write gets answered, `{need: []}`: an empty offer
 * (protocol 3 has no ping).
 */
function probeFrame(W: string, seq: number): Uint8Array {
  return encodeFrame({ kind: FrameKind.REQUEST, seq, replyTo: 0, name: 'manifest/offer', payload: { worktreeId: W, entries: [] } }, V);
}

/** Resolves if `c` (bound read-write to `W`) is still served. */
async function served(c: CshareConnection, W: string): Promise<void> {
  await expect(c.request('manifest/offer', { worktreeId: W, entries: [] })).resolves.toEqual({ need: [] });
}

async function reply(peer: ReturnType<typeof rawPeer>, seq: number, what: string): Promise<Frame> {
  await waitFor(() => peer.replies.some((f) => f.replyTo === seq) || peer.ended(), 5000, what);
  const f = peer.replies.find((r) => r.replyTo === seq);
  if (!f) throw new Error(`${what}: the connection closed instead`);
  return f;
}

/** Every message the relay serves, well formed, with random parts. */
function relayFrame(rng: Prng, W: string, seq: number): Frame {
  const digest = gitBlobId(rng.bytes(4));
  const path = rng.pick(['a.txt', 'src/x.ts', '../x', '/etc/passwd', '.git/config', 'A.txt', 'a\0b', 'a/../../b', '.cshare/x']);
  const options: Frame[] = [
    { kind: FrameKind.REQUEST, seq, replyTo: 0, name: 'blobs/fetch', payload: { worktreeId: W, digests: [digest] } },
    { kind: FrameKind.REQUEST, seq, replyTo: 0, name: 'manifest/offer', payload: { worktreeId: W, entries: [{ path, fileId: 'f1', digest }] } },
    { kind: FrameKind.REQUEST, seq, replyTo: 0, name: 'manifest/upload', payload: { worktreeId: W, updates: [manifestUpdate({ [`f${rng.int(9)}`]: path }, 1 + rng.int(1000))] } },
    { kind: FrameKind.REQUEST, seq, replyTo: 0, name: 'manifest/upload', payload: { worktreeId: W, updates: [rng.bytes(rng.int(40))] } },
    { kind: FrameKind.REQUEST, seq, replyTo: 0, name: 'file/upload', payload: { worktreeId: W, fileId: 'f1', updates: [rng.chance(0.5) ? textUpdate('x', 1 + rng.int(1000)) : rng.bytes(12)] } },
    { kind: FrameKind.REQUEST, seq, replyTo: 0, name: 'file/upload', payload: { worktreeId: W, fileId: 'f2', blob: rng.bytes(rng.int(64)) } },
    { kind: FrameKind.REQUEST, seq, replyTo: 0, name: 'blob/upload', payload: { worktreeId: W, digest, size: 8, offset: rng.int(8), data: rng.bytes(1 + rng.int(4)) } },
    { kind: FrameKind.REQUEST, seq, replyTo: 0, name: 'worktree/sync-pages', payload: { worktreeId: W, after: rng.int(5) } },
    // Messages of older protocols, unknown now: answered UNKNOWN_MESSAGE.
    { kind: FrameKind.REQUEST, seq, replyTo: 0, name: 'file/fetch', payload: { worktreeId: W, fileId: 'f1', vector: rng.bytes(rng.int(6)) } },
    { kind: FrameKind.REQUEST, seq, replyTo: 0, name: 'blob/fetch', payload: { worktreeId: W, digest } },
    { kind: FrameKind.SEND, seq, replyTo: 0, name: 'file/update', payload: { worktreeId: W, fileId: 'f3', update: rng.chance(0.5) ? textUpdate('y', 1 + rng.int(1000)) : rng.bytes(9) } },
    // Presence: well-formed with a random path (unsafe ones refused), or random bytes and values.
    { kind: FrameKind.SEND, seq, replyTo: 0, name: 'presence', payload: { worktreeId: W, state: { path, line: 1 + rng.int(9), selections: [{ anchor: rng.bytes(rng.int(300)), head: rng.bytes(4) }] } } },
    { kind: FrameKind.SEND, seq, replyTo: 0, name: 'presence', payload: { worktreeId: W, state: randomValue(rng) } as Value },
    { kind: FrameKind.SUBSCRIBE, seq, replyTo: 0, name: rng.pick([`/worktrees/${W}`, `/worktrees/${W}/files/f1`, '/worktrees/../etc', `/worktrees/${W}/../x`]), payload: null },
    { kind: FrameKind.UNSUBSCRIBE, seq, replyTo: rng.int(seq + 1), name: '', payload: null },
    { kind: FrameKind.REQUEST, seq, replyTo: 0, name: 'hello', payload: randomValue(rng) as Value },
    { kind: rng.int(9) as Frame['kind'], seq, replyTo: rng.int(seq + 1), name: rng.pick(['ping', 'hello', 'manifest/upload', `/worktrees/${W}`]), payload: randomValue(rng) },
  ];
  return rng.pick(options);
}

/** Every path in every manifest update the relay stored. */
async function storedPaths(h: RelayHarness): Promise<string[]> {
  const paths: string[] = [];
  for await (const item of h.store.entriesAfter(h.worktreeId, 0, { upTo: await h.store.head(h.worktreeId) })) {
    if (item.type !== 'manifest') continue;
    const doc = new Y.Doc();
    Y.applyUpdate(doc, item.update);
    for (const [, e] of doc.getMap<{ path: string }>('files')) paths.push(e.path);
  }
  return paths;
}

describe('hostile frames against the relay service', () => {
  it('random and mutated frames of every relay message: error replies or a close, never a crash, a hang or an unsafe path stored', async () => {
    const seed = testSeed(0x5eed4);
    const rng = new Prng(seed);
    const started = Date.now();
    const h = new RelayHarness();
    harnesses.push(h);
    await h.sharer();
    const W = h.worktreeId;
    let sent = 0;
    let errors = 0;
    let closes = 0;
    for (let round = 0; round < 30; round++) {
      const peer = rawPeer(h);
      await peer.raw.send(helloFrame(h, 1));
      await reply(peer, 1, `seed ${seed} round ${round}: hello`);
      for (let i = 0; i < 100 && !peer.ended(); i++) {
        sent++;
        const seq = 2 + i;
        const r = rng.int(10);
        let bytes: Uint8Array;
        if (r < 1) bytes = rng.bytes(rng.int(64));
        else if (r < 2) bytes = encodeBatch(Array.from({ length: 1 + rng.int(4) }, (_, j) => encodeFrame(relayFrame(rng, W, 1000 + i * 10 + j), V)), V);
        else if (r < 5) bytes = encodeFrame(relayFrame(rng, W, seq), V);
        else bytes = mutate(rng, encodeFrame(relayFrame(rng, W, seq), V));
        if (bytes.length > 0 && rng.chance(0.98)) bytes[0] = V;
        await peer.raw.send(bytes).catch(() => undefined);
      }
      const probe = 0xfffffff0;
      await peer.raw.send(probeFrame(W, probe)).catch(() => undefined);
      await waitFor(() => peer.ended() || peer.replies.some((f) => f.replyTo === probe), 5000, `seed ${seed} round ${round}: probe reply or close`);
      if (peer.ended()) {
        closes++;
        expect(peer.conn.error, `seed ${seed} round ${round}`).toMatchObject({ code: expect.stringMatching(/PROTOCOL|FRAME_TOO_LARGE/) });
      } else expect(peer.replies.find((f) => f.replyTo === probe)?.payload, `seed ${seed} round ${round}`).toEqual({ need: [] });
      errors += peer.replies.filter((f) => f.kind === FrameKind.ERROR).length;
      peer.raw.close();
    }
    expect(sent, `seed ${seed}`).toBeGreaterThanOrEqual(2000);
    expect(errors, `seed ${seed}`).toBeGreaterThan(500);
    expect(closes, `seed ${seed}`).toBeLessThan(25);
    // Hostile joiners wrote with a read-write code, so some of it was stored: none of it unsafe.
    const paths = await storedPaths(h);
    expect(paths.filter((p) => !isSafeRelPath(p)), `seed ${seed}`).toEqual([]);
    // The relay still serves an honest peer.
    const honest = await h.joiner('honest');
    await served(honest, W);
    expect(Date.now() - started, `seed ${seed}: bounded time`).toBeLessThan(30_000);
  });
});

describe('hostile input at the relay: named cases', () => {
  it('a frame over 16 MiB closes that connection with FRAME_TOO_LARGE; other peers are served', async () => {
    const h = new RelayHarness();
    harnesses.push(h);
    const honest = await h.sharer();
    const peer = rawPeer(h);
    await peer.raw.send(new Uint8Array(16 * 1024 * 1024 + 1).fill(1));
    await peer.conn.closed;
    expect(peer.conn.error).toMatchObject({ code: 'FRAME_TOO_LARGE' });
    await waitFor(peer.ended, 5000, 'the channel to end');
    expect(peer.replies.at(-1)).toMatchObject({ kind: FrameKind.ERROR, payload: { code: 'FRAME_TOO_LARGE', fatal: true } });
    await served(honest, h.worktreeId);
  });

  it('a declared length of 4 GB inside a small frame gets PROTOCOL, allocates nothing, and the connection stays up', async () => {
    const h = new RelayHarness();
    harnesses.push(h);
    await h.sharer();
    const peer = rawPeer(h);
    await peer.raw.send(helloFrame(h, 1));
    await reply(peer, 1, 'hello');
    // REQUEST seq 2 "manifest/upload" {worktreeId: ..., updates: [bytes of length 2^32]} with 3 bytes following.
    const head = encodeFrame({ kind: FrameKind.REQUEST, seq: 2, replyTo: 0, name: 'manifest/upload', payload: { worktreeId: h.worktreeId, updates: [] } }, V);
    const huge = Uint8Array.of(...head.subarray(0, head.length - 1), 1, 7, 0x80, 0x80, 0x80, 0x80, 0x10, 1, 2, 3);
    const before = process.memoryUsage().arrayBuffers;
    await peer.raw.send(huge);
    const r = await reply(peer, 2, 'the error reply');
    expect(r).toMatchObject({ kind: FrameKind.ERROR, payload: { code: 'PROTOCOL' } });
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
    await peer.raw.send(probeFrame(h.worktreeId, 3));
    expect((await reply(peer, 3, 'probe')).payload).toEqual({ need: [] });
  });

  it('a length prefix claiming 4 GB on a real relay (libp2p, loopback) cuts that stream off; the relay keeps serving', async () => {
    const relay = await startRelay({ dataDir: tempDir(), kv: new MemoryStore() });
    try {
      const { createCshareNode } = await import('../../src/sync/libp2p/Libp2pNode.js');
      const client = await createCshareNode({ listen: [], relayClient: false });
      try {
        const stream = await client.libp2p.dialProtocol(multiaddr(relay.addresses[0]!), CSHARE_PROTOCOL);
        // varint(2^32) then three bytes: the frame that never comes.
        stream.send(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x10, 1, 2, 3));
        await waitFor(() => stream.status !== 'open', 10_000, 'the relay to reset the stream');
        await waitFor(() => relay.service.connections === 0, 10_000, 'the relay to drop the connection');
        const honest = cshareConnection(await client.dial(relay.addresses[0]!), { peer: 'relay' });
        const secrets = newShareSecrets();
        const hello = { protocol: V, worktreeId: worktreeIdToString(secrets.worktreeId), secretProof: secrets.readWrite, replicaId: 'honest', name: 'honest', role: 'sharer' as const };
        await expect(honest.request('hello', { ...hello, register: { readOnlyHash: hashSecret(secrets.readOnly), name: 'app' } })).resolves.toMatchObject({ ok: true, created: true });
        honest.close();
      } finally {
        await client.stop();
      }
    } finally {
      await relay.close();
    }
  });

  it('a frame of an old protocol version gets a clear upgrade error and the connection closes', async () => {
    const h = new RelayHarness();
    harnesses.push(h);
    const peer = rawPeer(h);
    await peer.raw.send(encodeFrame({ kind: FrameKind.REQUEST, seq: 1, replyTo: 0, name: 'hello', payload: { protocol: 0 } }, 0));
    await waitFor(peer.ended, 5000, 'the close');
    const err = peer.replies.find((f) => f.kind === FrameKind.ERROR);
    expect(err).toMatchObject({ replyTo: 1, payload: { code: 'PROTOCOL', fatal: true } });
    expect((err!.payload as { message: string }).message).toMatch(new RegExp(`peer speaks protocol v0, this cshare speaks v${V}: upgrade cshare on the peer`));
  });

  it('wrong, missing, short and over-long secrets are refused and the connection closed; a write without hello is UNAUTHORIZED; nothing is stored', async () => {
    const h = new RelayHarness();
    harnesses.push(h);
    await h.sharer();
    const secrets = [new Uint8Array(0), new Uint8Array(32), Uint8Array.of(1), new Uint8Array(1024).fill(0xff), hashSecret(h.secrets.readWrite), h.secrets.readWrite.subarray(1)];
    const hellos = [...secrets.map((s) => helloFrame(h, 1, s)), encodeFrame({ kind: FrameKind.REQUEST, seq: 1, replyTo: 0, name: 'hello', payload: { protocol: V, worktreeId: h.worktreeId, replicaId: 'm', name: 'm', role: 'joiner' } }, V)];
    for (const frame of hellos) {
      // Each refusal is answered, then its connection closed (a client tries again on a new one).
      const peer = rawPeer(h);
      await peer.raw.send(frame);
      expect((await reply(peer, 1, 'hello')).payload).toMatchObject({ code: 'UNAUTHORIZED' });
      await waitFor(peer.ended, 5000, 'the close after a refused hello');
    }
    const peer = rawPeer(h);
    await peer.raw.send(encodeFrame({ kind: FrameKind.REQUEST, seq: 2, replyTo: 0, name: 'manifest/upload', payload: { worktreeId: h.worktreeId, updates: [manifestUpdate({ f1: 'x.txt' })] } }, V));
    expect((await reply(peer, 2, 'upload')).payload).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(await h.store.head(h.worktreeId)).toBe(0);
  });

  it('a read-only code: every write message is refused FORBIDDEN, also batched, a send (no such message) UNKNOWN_MESSAGE, and nothing is stored', async () => {
    const h = new RelayHarness();
    harnesses.push(h);
    await h.sharer();
    const peer = rawPeer(h);
    await peer.raw.send(helloFrame(h, 1, h.secrets.readOnly));
    expect((await reply(peer, 1, 'hello')).payload).toMatchObject({ access: 'ro' });
    const W = h.worktreeId;
    const blob = Uint8Array.of(1, 2);
    const writes: Frame[] = [
      { kind: FrameKind.REQUEST, seq: 2, replyTo: 0, name: 'manifest/offer', payload: { worktreeId: W, entries: [{ path: 'a', fileId: 'f1', digest: entry('a').digest }] } },
      { kind: FrameKind.REQUEST, seq: 3, replyTo: 0, name: 'manifest/upload', payload: { worktreeId: W, updates: [manifestUpdate({ f1: 'a' })] } },
      { kind: FrameKind.REQUEST, seq: 4, replyTo: 0, name: 'file/upload', payload: { worktreeId: W, fileId: 'f1', updates: [textUpdate('x')] } },
      { kind: FrameKind.REQUEST, seq: 5, replyTo: 0, name: 'file/upload', payload: { worktreeId: W, fileId: 'f1', blob } },
      { kind: FrameKind.REQUEST, seq: 6, replyTo: 0, name: 'blob/upload', payload: { worktreeId: W, digest: gitBlobId(blob), size: 2, offset: 0, data: blob } },
    ];
    // The send protocol 2 had, a live edit, is no message any more (protocol 4's one send is presence).
    const send: Frame = { kind: FrameKind.SEND, seq: 7, replyTo: 0, name: 'file/update', payload: { worktreeId: W, fileId: 'f1', update: textUpdate('y') } };
    await peer.raw.send(encodeBatch([...writes, send].map((f) => encodeFrame(f, V)), V));
    for (const f of writes) {
      const r = await reply(peer, f.seq, f.name);
      expect(r.payload, f.name).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/read-only/) });
    }
    expect((await reply(peer, send.seq, send.name)).payload).toMatchObject({ code: 'UNKNOWN_MESSAGE' });
    expect(await h.store.head(W)).toBe(0);
  });

  it('a peer that keeps asking but stops reading is dropped with OVERLOADED before the relay buffers more than its limit', async () => {
    const h = new RelayHarness();
    harnesses.push(h);
    const honest = await h.sharer();
    const limit = 1024 * 1024;
    // The transport holds 16 frames before its sender waits (a full TCP window).
    const [raw, b] = MemoryTransport.pair({ capacity: 16 });
    const conn = cshareConnection(b, { peer: 'slow', maxOutboxBytes: limit, batch: false });
    h.service.attach(conn, { id: 'slow' });
    // Requests whose error replies are ~130 bytes each; the peer never reads a reply.
    const name = 'x'.repeat(100);
    let sent = 0;
    const sending = (async () => {
      while (!(raw as MemoryChannel).closeReason && sent < 100_000) {
        sent++;
        await raw.send(encodeFrame({ kind: FrameKind.REQUEST, seq: sent, replyTo: 0, name, payload: null }, V));
        if (sent % 100 === 0) await new Promise((r) => setImmediate(r));
        if (conn.error) break;
      }
    })();
    await conn.closed;
    await sending;
    expect(conn.error).toMatchObject({ code: 'OVERLOADED', message: expect.stringMatching(/not reading/) });
    expect(conn.stats.maxBacklogBytes).toBeGreaterThan(limit);
    expect(conn.stats.maxBacklogBytes).toBeLessThan(limit + 4096);
    expect(sent).toBeLessThan(100_000);
    await served(honest, h.worktreeId);
  });

  it('a subscriber that stops reading events is ended with OVERLOADED; the relay buffers a bounded number and the uploader is not held up', async () => {
    const h = new RelayHarness(undefined, { service: { subscriptions: { queueSize: 64 } } });
    harnesses.push(h);
    const sharer = await h.sharer();
    const [raw, b] = MemoryTransport.pair({ capacity: 16 });
    const conn = cshareConnection(b, { peer: 'slow' });
    h.service.attach(conn, { id: 'slow' });
    const frames = raw.frames[Symbol.asyncIterator]();
    const next = async (): Promise<Frame[]> => decodeFrames((await frames.next()).value as Uint8Array, V);
    await raw.send(helloFrame(h, 1));
    const seen: Frame[] = [];
    // A client waits for hello's answer before anything else (the relay reads nothing else as bound before).
    while (!seen.some((f) => f.replyTo === 1)) seen.push(...(await next()));
    await raw.send(encodeFrame({ kind: FrameKind.SUBSCRIBE, seq: 2, replyTo: 0, name: `/worktrees/${h.worktreeId}`, payload: null }, V));
    while (!seen.some((f) => f.replyTo === 2)) seen.push(...(await next()));
    // From here the slow peer reads nothing while 3000 changes are uploaded.
    const n = 3000;
    for (let i = 0; i < n; i++) await sharer.request('file/upload', { worktreeId: h.worktreeId, fileId: 'f1', updates: [textUpdate(`${i}`, 10_000 + i)] });
    await served(sharer, h.worktreeId);
    // Now it reads again: a bounded number of events, then the end of the subscription.
    let events = 0;
    let end: Frame | undefined;
    while (!end) {
      for (const f of await next()) {
        if (f.kind === FrameKind.EVENT && f.replyTo === 2) events++;
        if (f.kind === FrameKind.ERROR && f.replyTo === 2) end = f;
      }
    }
    expect(end.payload).toMatchObject({ code: 'OVERLOADED', message: expect.stringMatching(/resubscribe/) });
    expect(events).toBeLessThan(n / 4);
    raw.close();
  });

  it('a flood of subscriptions is bounded per connection and every one past the bound is refused', async () => {
    const h = new RelayHarness();
    harnesses.push(h);
    await h.sharer();
    const peer = rawPeer(h);
    await peer.raw.send(helloFrame(h, 1));
    await reply(peer, 1, 'hello');
    const n = 2000;
    const subs = Array.from({ length: n }, (_, i) => encodeFrame({ kind: FrameKind.SUBSCRIBE, seq: 2 + i, replyTo: 0, name: `/worktrees/${h.worktreeId}`, payload: null }, V));
    await peer.raw.send(encodeBatch(subs, V));
    await waitFor(() => new Set(peer.replies.filter((f) => f.replyTo >= 2 && (f.kind === FrameKind.RESPONSE || f.kind === FrameKind.ERROR)).map((f) => f.replyTo)).size === n, 10_000, 'every subscription answered');
    const accepted = peer.replies.filter((f) => f.kind === FrameKind.RESPONSE && f.replyTo >= 2).length;
    const refused = peer.replies.filter((f) => f.kind === FrameKind.ERROR && f.replyTo >= 2);
    expect(accepted).toBe(64);
    expect(refused).toHaveLength(n - 64);
    for (const r of refused) expect(r.payload).toMatchObject({ code: 'OVERLOADED' });
    await peer.raw.send(probeFrame(h.worktreeId, 9999));
    expect((await reply(peer, 9999, 'probe')).payload).toEqual({ need: [] });
  });

  it('path traversal in every message that carries a path: offers, manifest uploads and subscription resources', async () => {
    const h = new RelayHarness();
    harnesses.push(h);
    const a = await h.sharer();
    const W = h.worktreeId;
    for (const p of ['../x', '/etc/passwd', 'a/../../b', '.git/config', '.cshare/x', 'a\0b', 'a\\..\\b', '..\\x']) {
      const offer = await a.request('manifest/offer', { worktreeId: W, entries: [{ path: p, fileId: 'f1', digest: entry('a').digest }] }).catch((e: { code: string }) => e);
      expect(['PROTOCOL', 'BAD_PATH']).toContain((offer as { code: string }).code);
      // In one request, a safe update before an unsafe one: neither is stored.
      const upload = await a.request('manifest/upload', { worktreeId: W, updates: [manifestUpdate({ ok: 'ok.txt' }), manifestUpdate({ f1: p })] }).catch((e: { code: string }) => e);
      expect((upload as { code: string }).code).toBe('BAD_PATH');
    }
    for (const resource of [`/worktrees/${W}/../other`, '/worktrees/..', `/worktrees/${W}/files/..%2f..`, '/../etc/passwd']) {
      const sub = a.subscribe(resource);
      const err = await sub.ready.catch((e: { code: string }) => e);
      expect(['NOT_FOUND', 'FORBIDDEN'], resource).toContain((err as { code?: string })?.code);
    }
    expect(await h.store.head(W)).toBe(0);
  });
});
