import { expect, it } from 'vitest';
import { RpcRelayClient } from '../../src/sync/client/RpcRelayClient.js';
import type { CshareConnection } from '../../src/sync/connection.js';

it('keeps at most 8 chunked blob uploads in flight (what a relay takes per connection), and sends every one', async () => {
  // A joiner's `need` events are answered 16 at once, by digest (chunked uploads), beside a
  // first upload's window: past 8 the relay refused them (OVERLOADED, "could not send a file
  // a peer asked for"). A connection whose requests wait until the test lets them through.
  let inFlight = 0;
  let most = 0;
  const sent: string[] = [];
  const waiting: (() => void)[] = [];
  const conn = {
    request: async (method: string, req: { digest: string }) => {
      expect(method).toBe('blob/upload');
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise<void>((resolve) => waiting.push(resolve));
      inFlight--;
      sent.push(req.digest);
      return { ok: true, received: 1, seq: sent.length };
    },
  } as unknown as CshareConnection;
  const client = new RpcRelayClient({ conn, worktreeId: 'w' });
  const digests = Array.from({ length: 24 }, (_, i) => i.toString(16).padStart(40, '0'));
  const all = Promise.all(digests.map((digest) => client.uploadBlob({ digest, bytes: new Uint8Array([1]) })));
  // Let the requests through one at a time, as a busy relay answers them.
  while (sent.length < digests.length) {
    await new Promise((r) => setImmediate(r));
    waiting.shift()?.();
  }
  await all;
  expect(most).toBe(8);
  expect(sent.sort()).toEqual([...digests].sort());
  expect(client.stored).toBe(24);
});
