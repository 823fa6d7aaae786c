import { describe, expect, it } from 'vitest';
import { DEFAULT_CHANNEL_MAX_FRAME_BYTES } from '../../src/sync/libp2p/Libp2pChannel.js';
import { MEMORY_CHANNEL_MAX_FRAME_BYTES, MemoryTransport } from '../../src/sync/memory/MemoryTransport.js';
import type { FrameChannel } from '../../src/sync/rpc/transport.js';
import { runFrameChannelContract, type ContractPair } from './frameChannelContract.js';
import { startNode } from './libp2p/harness.js';

/**
 * Two channels joined by one libp2p stream between two loopback nodes (stopped after each test
 * by the harness). The listener only sees a stream once bytes arrive, so the dialler sends one
 * frame first; it is read here, and `b` hands on the iterator that read it.
 */
async function libp2pPair(): Promise<ContractPair> {
  const server = await startNode();
  const client = await startNode();
  let accept!: (ch: FrameChannel) => void;
  const accepted = new Promise<FrameChannel>((resolve) => (accept = resolve));
  await server.listen((channel) => accept(channel));
  const a = await client.dial(server.addresses()[0]!);
  await a.send(Uint8Array.of(0xaa));
  const inner = await accepted;
  const it = inner.frames[Symbol.asyncIterator]();
  expect((await it.next()).value).toEqual(Uint8Array.of(0xaa));
  const b: FrameChannel = { send: (f) => inner.send(f), close: (e) => inner.close(e), closed: inner.closed, frames: { [Symbol.asyncIterator]: () => it } };
  return { a, b, maxFrameBytes: DEFAULT_CHANNEL_MAX_FRAME_BYTES };
}

describe('MemoryTransport as a twin of libp2p', () => {
  it('refuses frames at the size libp2p refuses them', () => {
    expect(MEMORY_CHANNEL_MAX_FRAME_BYTES).toBe(DEFAULT_CHANNEL_MAX_FRAME_BYTES);
  });
});

runFrameChannelContract('MemoryTransport', async () => {
  const [a, b] = MemoryTransport.pair();
  return { a, b, maxFrameBytes: MEMORY_CHANNEL_MAX_FRAME_BYTES };
});

runFrameChannelContract('MemoryTransport with latency', async () => {
  const [a, b] = MemoryTransport.pair({ latencyMs: 2, capacity: 64 });
  return { a, b, maxFrameBytes: MEMORY_CHANNEL_MAX_FRAME_BYTES };
});

runFrameChannelContract('libp2p on 127.0.0.1', libp2pPair);
