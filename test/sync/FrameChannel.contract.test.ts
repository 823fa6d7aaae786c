import { describe, expect, it } from 'vitest';
import { DEFAULT_CHANNEL_MAX_FRAME_BYTES } from '../../src/sync/libp2p/Libp2pChannel.js';
import { MEMORY_CHANNEL_MAX_FRAME_BYTES, MemoryTransport } from '../../src/sync/memory/MemoryTransport.js';
import { runFrameChannelContract, type ContractPair } from './frameChannelContract.js';
import { channelPair } from './libp2p/harness.js';

/** Two channels joined by one libp2p stream between two loopback nodes (`channelPair`). */
async function libp2pPair(): Promise<ContractPair> {
  const [a, b] = await channelPair();
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
