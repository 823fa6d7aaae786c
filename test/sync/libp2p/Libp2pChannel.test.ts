import '../../../src/cli/polyfills.js';
import { describe, expect, it } from 'vitest';
import { ConnectionClosedError } from '../../../src/sync/rpc/ConnectionClosedError.js';
import type { FrameChannel } from '../../../src/sync/rpc/transport.js';
import { waitFor } from '../helpers.js';
import { channelPair } from './harness.js';

async function drain(ch: FrameChannel, into: number[]): Promise<void> {
  for await (const f of ch.frames) into.push(f[0]! + 256 * f[1]!);
}

const frame = (i: number): Uint8Array => Uint8Array.of(i % 256, Math.floor(i / 256));

describe('Libp2pChannel', () => {
  it('delivers every frame in order both ways, and the frames sent before close', async () => {
    const [a, b] = await channelPair();
    const atA: number[] = [];
    const atB: number[] = [];
    const readers = Promise.all([drain(a, atA), drain(b, atB)]);
    for (let i = 0; i < 100; i++) await b.send(frame(i));
    // A local close drops what this side has not read yet (as the memory twin does), so wait.
    await waitFor(() => atA.length === 100, 10_000, 'frames from b');
    // Not awaited: close() must still let these out before the end.
    const sends = Array.from({ length: 500 }, (_, i) => a.send(frame(i)));
    a.close();
    await Promise.all(sends);
    await readers;
    expect(atB).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(atA).toEqual(Array.from({ length: 100 }, (_, i) => i));
    await a.closed;
    await b.closed;
    await expect(a.send(frame(1))).rejects.toBeInstanceOf(ConnectionClosedError);
    await expect(b.send(frame(1))).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  it('keeps frame boundaries for empty and large frames', async () => {
    const [a, b] = await channelPair();
    const sizes = [0, 1, 65_535, 65_536, 1_000_003, 0, 3 * 1024 * 1024];
    const got: number[] = [];
    const reader = (async () => {
      for await (const f of b.frames) {
        got.push(f.length);
        if (f.length > 0) expect(f[f.length - 1]).toBe(f.length % 251);
      }
    })();
    for (const n of sizes) {
      const f = new Uint8Array(n);
      if (n > 0) f[n - 1] = n % 251;
      await a.send(f);
    }
    a.close();
    await reader;
    expect(got).toEqual(sizes);
  });

  it('is closed on both sides when the node of one side stops', async () => {
    const [a, b, { client }] = await channelPair();
    const reader = drain(b, []);
    await client.stop();
    await a.closed;
    await b.closed;
    await reader;
    await expect(b.send(frame(1))).rejects.toBeInstanceOf(ConnectionClosedError);
  });
});
