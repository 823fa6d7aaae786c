import '../../src/cli/polyfills.js';
import { afterEach, describe, expect, it } from 'vitest';
import { gitBlobId } from '../../src/core/digest.js';
import { stopAll, until } from '../helpers/procs.js';
import { tinyStructs } from '../helpers/yjsUpdates.js';
import { loggedItems } from '../sync/relay/harness.js';
import { hostile, newWorktree, registerAs, rejection, startPinger, startRelayProc, stopHostiles } from './relayProc.js';

/**
 * Issue 15, items 4 and 13: one request from a stranger (who registers a worktree of its
 * own, which needs no join code) must not freeze a real relay process. An honest peer pings
 * the relay back to back throughout; its slowest answer is how long the relay's event loop
 * was blocked. (Item 5, `file/fetch`, went with the message itself in protocol 3.)
 */

afterEach(async () => {
  await stopHostiles();
  await stopAll();
});

/** The slowest ping an honest peer may see while an attack request is handled. */
const MAX_PING_MS = 1000;

describe('hostile: bounded work per request at a real relay', () => {
  it('item 4: a 16 MB manifest/offer of deep paths is answered in bounded time and never freezes the relay', async () => {
    const relay = await startRelayProc();
    const pinger = await startPinger(relay.addr);
    const mallory = await (await hostile(relay.addr)).connect({ requestTimeoutMs: 120_000 });
    const wt = newWorktree();
    await registerAs(mallory, wt);
    // ~3,800 paths of 4,096 characters and 2,040 segments each: a prefix check that slices
    // every folder prefix of every path hashed ~16 G characters (29 s on the machine).
    const deep = 'a/'.repeat(2040);
    const digest = gitBlobId(new Uint8Array(0));
    const entries = Array.from({ length: 3800 }, (_, i) => ({ path: `${deep}f${i}`.slice(-4096), fileId: `f${i}`, digest }));
    const from = pinger.count();
    const t0 = performance.now();
    const res = await mallory.request('manifest/offer', { worktreeId: wt.worktreeId, entries });
    const took = performance.now() - t0;
    await until(() => pinger.count() > from + 2);
    expect(res.need).toHaveLength(3800);
    expect(took).toBeLessThan(5000);
    expect(pinger.max(from)).toBeLessThan(MAX_PING_MS);
  }, 120_000);

  it('item 13: a 13 MiB update of tiny structs is refused by its struct count, without the relay decoding it', async () => {
    const relay = await startRelayProc();
    const pinger = await startPinger(relay.addr);
    const mallory = await (await hostile(relay.addr)).connect({ requestTimeoutMs: 120_000 });
    const wt = newWorktree();
    await registerAs(mallory, wt);
    const update = tinyStructs(2_300_000);
    expect(update.length).toBeGreaterThan(13 * 1024 * 1024);
    const peakBefore = relay.peakMiB();
    const from = pinger.count();
    for (const request of [
      () => mallory.request('file/upload', { worktreeId: wt.worktreeId, fileId: 'f1', updates: [update] }),
      () => mallory.request('manifest/upload', { worktreeId: wt.worktreeId, updates: [update] }),
    ]) {
      const t0 = performance.now();
      expect(await rejection(request())).toMatchObject({ code: 'TOO_LARGE', message: expect.stringMatching(/more than 200000 structs/) });
      expect(performance.now() - t0).toBeLessThan(5000);
    }
    await until(() => pinger.count() > from + 2);
    expect(pinger.max(from)).toBeLessThan(MAX_PING_MS);
    // Decoding it cost 718 MiB; receiving the frame and scanning part of it costs a few copies of it.
    expect(relay.peakMiB() - peakBefore).toBeLessThan(160);
    // Nothing was stored: a joiner catching up finds an empty log.
    const items = [];
    for await (const item of loggedItems(mallory, { worktreeId: wt.worktreeId, after: 0 })) items.push(item);
    expect(items).toEqual([{ type: 'head', seq: 0 }]);
  }, 120_000);
});
