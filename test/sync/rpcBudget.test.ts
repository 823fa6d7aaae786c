import { describe, expect, it } from 'vitest';
import { MemoryTransport } from '../../src/sync/memory/MemoryTransport.js';
import { ByteBudget } from '../../src/sync/rpc/ByteBudget.js';
import { waitFor } from './helpers.js';
import { cshareConnection } from '../../src/sync/connection.js';

/**
 * Backpressure by memory (issue 15, item 6): a connection stops reading while the bytes of
 * the requests it is handling fill its budget, or a budget it is part of, and reads on as
 * they are done. A peer that sends faster than it is served is held back instead of
 * buffered for.
 */

function pair(budget: ByteBudget) {
  const [a, b] = MemoryTransport.pair({ capacity: 4 });
  const server = cshareConnection(b, { peer: 'client', budget });
  // One frame per write: a batch of frames is one read, all of whose requests start together
  // (a budget is overrun by at most one frame, 16 MiB).
  const client = cshareConnection(a, { peer: 'server', requestTimeoutMs: 30_000, batch: false });
  return { server, client };
}

describe('RpcConnection with a ByteBudget', () => {
  it('handles no more requests at once than fit its budget, and all of them in the end', async () => {
    const budget = new ByteBudget(1024 * 1024);
    const { server, client } = pair(budget);
    let running = 0;
    let most = 0;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    server.handle('file/upload', async () => {
      running++;
      most = Math.max(most, running);
      await gate;
      running--;
      return { ok: true, seq: 1 };
    });
    const blob = new Uint8Array(400 * 1024);
    const calls = Array.from({ length: 12 }, () => client.request('file/upload', { worktreeId: 'w', fileId: 'f', blob }));
    // Three frames of ~400 KiB fill 1 MiB: the connection reads no further.
    await waitFor(() => running === 3, 5000, 'three handlers');
    await new Promise((r) => setImmediate(r));
    expect(running).toBe(3);
    expect(budget.used).toBeGreaterThanOrEqual(1024 * 1024);
    expect(budget.used).toBeLessThan(1024 * 1024 + 420 * 1024);
    open();
    await Promise.all(calls);
    expect(most).toBe(3);
    expect(budget.used).toBe(0);
    client.close();
    server.close();
  });

  it('a budget shared by several connections holds each back while it is full; closing releases what a connection held', async () => {
    const shared = new ByteBudget(600 * 1024);
    const one = pair(new ByteBudget(10 * 1024 * 1024, shared));
    const two = pair(new ByteBudget(10 * 1024 * 1024, shared));
    let started = 0;
    for (const { server } of [one, two]) server.handle('file/upload', () => (started++, new Promise<never>(() => undefined)));
    const blob = new Uint8Array(400 * 1024);
    for (const { client } of [one, two]) for (let i = 0; i < 3; i++) void client.request('file/upload', { worktreeId: 'w', fileId: 'f', blob }).catch(() => undefined);
    await waitFor(() => started >= 2, 5000, 'two handlers');
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    // Two frames of ~400 KiB fill the shared 600 KiB, whichever connection they came in on
    // (and a connection already waiting for a frame when it filled takes that one in).
    expect(started).toBeLessThanOrEqual(3);
    const before = started;
    one.server.close();
    await waitFor(() => started > before, 5000, 'the other connection reading on');
    expect(shared.used).toBeLessThan(3 * 410 * 1024);
    two.server.close();
    await waitFor(() => shared.used === 0, 5000, 'everything released');
    for (const { client } of [one, two]) client.close();
  });
});
