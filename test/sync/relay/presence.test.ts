import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../../src/store/memory/MemoryStore.js';
import { TokenBucket } from '../../../src/sync/relay/presence.js';
import { RelayLog } from '../../../src/sync/relay/RelayLog.js';
import { worktreeResource, type PresenceState, type WorktreeEvent } from '../../../src/sync/schema.js';
import { waitFor } from '../helpers.js';
import { RelayHarness, STORAGES, collect, manifestUpdate, recorder, textUpdate } from './harness.js';

const MARKER = 'presence-marker-7f3a';
const state = (line: number, path = `src/${MARKER}.ts`): PresenceState => ({
  path,
  line,
  column: 4,
  selections: [{ anchor: new TextEncoder().encode(`${MARKER}-anchor`), head: new TextEncoder().encode(`${MARKER}-head`) }],
});
const presenceOf = (events: WorktreeEvent[], replicaId?: string) => events.filter((e) => e.type === 'presence' && (replicaId === undefined || e.replicaId === replicaId));

describe.each(STORAGES)('presence on the relay (%s)', (_name, storage) => {
  it('replays the latest state of each connection to a late subscriber after its peer-joined events, drops it on leave, and never stores it', async () => {
    const lines: string[] = [];
    const kv = new MemoryStore();
    const h = new RelayHarness(kv, { storage, service: { log: new RelayLog({ json: true, write: (l) => lines.push(l) }) } });
    const alice = await h.sharer('alice');
    const bob = await h.joiner('bob');
    const keysBefore = (await collect(kv.keys({}))).length;
    const bobFeed = recorder(bob, worktreeResource(h.worktreeId));
    await bobFeed.ready;
    for (let line = 1; line <= 3; line++) await alice.send('presence', { worktreeId: h.worktreeId, state: state(line) });
    await waitFor(() => presenceOf(bobFeed.events).length === 3, 5000, "alice's states at bob");
    expect(presenceOf(bobFeed.events).map((e) => e.type === 'presence' && e.state?.line)).toEqual([1, 2, 3]);

    // A late subscriber: who is here, then only the latest state of each.
    const carol = await h.joiner('carol', 'ro');
    const carolFeed = recorder(carol, worktreeResource(h.worktreeId));
    await waitFor(() => carolFeed.events.length >= 3, 5000, "carol's replay");
    expect(carolFeed.events).toEqual([
      { type: 'peer-joined', replicaId: 'alice', name: 'alice', role: 'sharer' },
      { type: 'peer-joined', replicaId: 'bob', name: 'bob', role: 'joiner' },
      { type: 'presence', replicaId: 'alice', state: state(3) },
    ]);

    // Alice leaves: her state goes with her connection.
    alice.close();
    await waitFor(() => bobFeed.events.some((e) => e.type === 'peer-left' && e.replicaId === 'alice'), 5000, "alice's departure");
    const dave = await h.joiner('dave');
    const daveFeed = recorder(dave, worktreeResource(h.worktreeId));
    await waitFor(() => daveFeed.events.length >= 2, 5000, "dave's replay");
    // One more change after the replay: once it is there, the replay was all.
    await bob.request('manifest/upload', { worktreeId: h.worktreeId, updates: [manifestUpdate({ f1: 'a.txt' })] });
    await waitFor(() => daveFeed.events.some((e) => e.type === 'manifest'), 5000, 'the manifest change');
    expect(daveFeed.events.filter((e) => e.type !== 'manifest').map((e) => e.type === 'peer-joined' && e.replicaId).sort()).toEqual(['bob', 'carol']);

    // Nothing of it in the store: no seq taken, no key or value with the marker, no log line.
    expect(await h.store.head(h.worktreeId)).toBe(1);
    expect((await collect(dave.requestStream('worktree/sync-pages', { worktreeId: h.worktreeId, after: 0 }))).flatMap((p) => p.items).map((i) => i.type)).toEqual(['manifest', 'head']);
    if (storage === 'store') {
      const entries: [string, Uint8Array][] = [];
      for await (const e of kv.iterate({})) entries.push(e);
      expect(entries.filter(([k, v]) => k.includes(MARKER) || Buffer.from(v).includes(MARKER))).toEqual([]);
      // The scan sees what was stored since the hellos (the manifest change, dave's binding).
      expect(entries.length).toBeGreaterThan(keysBefore);
    }
    expect(lines.filter((l) => l.includes(MARKER))).toEqual([]);
    // The replayed states were counted in the relay's event bytes, and released once read.
    await waitFor(() => h.service.held.eventBytes === 0, 5000, 'the queues to drain');
    h.close();
  });
});

describe('presence on the relay: checks and bounds', () => {
  it('refuses an unsafe path (the safety rules, past the schema) and a send before hello; neither reaches anyone', async () => {
    const h = new RelayHarness();
    await h.sharer('alice');
    const bob = await h.joiner('bob');
    const bobFeed = recorder(bob, worktreeResource(h.worktreeId));
    await bobFeed.ready;
    const mallory = await h.joiner('mallory');
    for (const path of ['.git/config', 'a/.cshare/x', '.GIT/hooks/post-checkout']) await mallory.send('presence', { worktreeId: h.worktreeId, state: state(1, path) });
    const stranger = h.connect('stranger');
    await stranger.send('presence', { worktreeId: h.worktreeId, state: state(2) });
    // Another worktree's id is refused too.
    await mallory.send('presence', { worktreeId: 'another-worktree', state: state(3) });
    await mallory.send('presence', { worktreeId: h.worktreeId, state: state(4) });
    await waitFor(() => presenceOf(bobFeed.events).length >= 1, 5000, 'the good state');
    expect(presenceOf(bobFeed.events)).toEqual([{ type: 'presence', replicaId: 'mallory', state: state(4) }]);
    h.close();
  });

  it('rate-limits each connection (excess dropped, not queued): a flood neither grows the relay\'s memory nor delays others\' changes', async () => {
    const h = new RelayHarness(new MemoryStore(), { service: { presence: { perSecond: 30, burst: 30 } } });
    const alice = await h.sharer('alice');
    const bob = await h.joiner('bob');
    const flooder = await h.joiner('flooder');
    const bobFeed = recorder(bob, worktreeResource(h.worktreeId));
    await bobFeed.ready;
    const arrived = new Map<number, number>();
    const seen = () => {
      for (const e of bobFeed.events) if (e.type === 'file-update' && e.seq !== undefined && !arrived.has(e.seq)) arrived.set(e.seq, Date.now());
    };
    const started = Date.now();
    let flooding = true;
    let sent = 0;
    const flood = (async () => {
      while (flooding || sent < 2000) {
        // 500 at a time, as fast as the connection takes them.
        await Promise.all(Array.from({ length: 500 }, (_, i) => flooder.send('presence', { worktreeId: h.worktreeId, state: state(1 + ((sent + i) % 1000)) })));
        sent += 500;
        await new Promise((r) => setImmediate(r));
      }
    })();
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const { seq } = await alice.request('file/upload', { worktreeId: h.worktreeId, fileId: 'f1', updates: [textUpdate(`x${i}`, 100 + i)] });
      const t = Date.now();
      await waitFor(() => (seen(), arrived.has(seq!)), 10_000, `file update ${seq} at bob`);
      latencies.push(arrived.get(seq!)! - t);
    }
    flooding = false;
    await flood;
    const elapsed = (Date.now() - started) / 1000;
    await waitFor(() => h.service.held.eventBytes === 0, 5000, "bob's queue to drain");
    const got = presenceOf(bobFeed.events, 'flooder').length;
    expect(sent).toBeGreaterThanOrEqual(2000);
    // The burst, then the rate: everything else was dropped on arrival.
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThanOrEqual(30 + Math.ceil(30 * elapsed) + 1);
    // Bob was never dropped as too slow, and got every change of alice's, in order.
    expect([...arrived.keys()]).toEqual([...arrived.keys()].sort((a, b) => a - b));
    expect(arrived.size).toBe(20);
    expect(bobFeed.events.some((e) => e.type === 'peer-left' && e.replicaId === 'bob')).toBe(false);
    expect(Math.max(...latencies)).toBeLessThan(1000);
    h.close();
    // Ended by the close, not by an OVERLOADED drop.
    expect(await bobFeed.done).toMatchObject({ code: 'CONNECTION_CLOSED' });
  });

  it('a token bucket allows its burst, then its rate', () => {
    let now = 0;
    const bucket = new TokenBucket({ perSecond: 10, burst: 3 }, () => now);
    expect([1, 2, 3, 4].map(() => bucket.take())).toEqual([true, true, true, false]);
    now += 100;
    expect([bucket.take(), bucket.take()]).toEqual([true, false]);
    now += 10_000;
    expect([1, 2, 3, 4].map(() => bucket.take())).toEqual([true, true, true, false]);
  });
});
