import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryStore } from '../../../src/store/memory/MemoryStore.js';
import { helloAsJoiner, helloAsSharer } from '../../../src/sync/hello.js';
import { PEER_COLORS, colorOf } from '../../../src/sync/presence/colors.js';
import { LivePresence, type PeerInfo, type PresenceLink, type PresenceState } from '../../../src/sync/presence/PresenceHub.js';
import { SyncLoop } from '../../../src/sync/SyncLoop.js';
import type { CshareConnection } from '../../../src/sync/connection.js';
import { openReplica } from '../../helpers/replica.js';
import { tempDir, writeTree } from '../../helpers/tmp.js';
import { waitFor } from '../helpers.js';
import { RelayHarness } from '../relay/harness.js';

const at = (path: string, line: number): PresenceState => ({ path, line, selections: [{ anchor: Uint8Array.of(line), head: Uint8Array.of(line) }] });

/** A link that records what it was given. */
function recorder(): PresenceLink & { sent: (PresenceState | null)[] } {
  const sent: (PresenceState | null)[] = [];
  return { sent, sendPresence: async (s) => void sent.push(s) };
}

describe('LivePresence: sending', () => {
  afterEach(() => vi.useRealTimers());

  it('throttles: at most one send per 50 ms, the latest state wins, and the last one always goes out', async () => {
    vi.useFakeTimers();
    const hub = new LivePresence({ replicaId: 'me' });
    const link = recorder();
    hub.connected(link);
    // A burst of 100 states at once: the first goes now, the last one 50 ms later, none between.
    for (let i = 1; i <= 100; i++) hub.publish(at('a.ts', i));
    expect(link.sent.map((s) => s?.line)).toEqual([1]);
    await vi.advanceTimersByTimeAsync(49);
    expect(link.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(link.sent.map((s) => s?.line)).toEqual([1, 100]);
    // A cursor moving every millisecond for a second: about 20 sends, ending with the last state.
    for (let i = 1; i <= 1000; i++) {
      hub.publish(at('b.ts', i));
      await vi.advanceTimersByTimeAsync(1);
    }
    await vi.advanceTimersByTimeAsync(100);
    const moving = link.sent.slice(2);
    expect(moving.length).toBeGreaterThanOrEqual(19);
    expect(moving.length).toBeLessThanOrEqual(21);
    expect(moving.at(-1)).toEqual(at('b.ts', 1000));
    // Nothing new: nothing sent. Leaving the file goes out too.
    const before = link.sent.length;
    await vi.advanceTimersByTimeAsync(1000);
    expect(link.sent).toHaveLength(before);
    hub.publish(null);
    await vi.advanceTimersByTimeAsync(50);
    expect(link.sent.at(-1)).toBeNull();
  });

  it('sends nothing while disconnected, and the latest state again on the next connection (none if it is in no file)', async () => {
    vi.useFakeTimers();
    const hub = new LivePresence({ replicaId: 'me' });
    const first = recorder();
    hub.connected(first);
    hub.publish(at('a.ts', 1));
    hub.disconnected(first);
    hub.publish(at('a.ts', 2));
    hub.publish(at('c.ts', 3));
    await vi.advanceTimersByTimeAsync(200);
    expect(first.sent).toEqual([at('a.ts', 1)]);
    const second = recorder();
    hub.connected(second);
    await vi.advanceTimersByTimeAsync(50);
    expect(second.sent).toEqual([at('c.ts', 3)]);
    // A stale link ending later changes nothing.
    hub.disconnected(first);
    hub.publish(at('c.ts', 4));
    await vi.advanceTimersByTimeAsync(50);
    expect(second.sent.at(-1)).toEqual(at('c.ts', 4));
    hub.publish(null);
    await vi.advanceTimersByTimeAsync(50);
    hub.disconnected(second);
    const third = recorder();
    hub.connected(third);
    await vi.advanceTimersByTimeAsync(100);
    expect(third.sent).toEqual([]);
  });
});

describe('LivePresence: peers', () => {
  it('lists the others with name, role, colour and state; counts a replica\'s connections; starts over with each subscription; tells listeners once per burst', async () => {
    const hub = new LivePresence({ replicaId: 'me' });
    const seen: (readonly PeerInfo[])[] = [];
    const off = hub.onChange((p) => seen.push(p));
    hub.connected(recorder());
    hub.onEvent({ type: 'peer-joined', replicaId: 'zed', name: 'Zed', role: 'joiner' });
    hub.onEvent({ type: 'peer-joined', replicaId: 'ann', name: 'Ann', role: 'sharer' });
    hub.onEvent({ type: 'peer-joined', replicaId: 'ro', name: 'Reader', role: 'joiner', readOnly: true });
    hub.onEvent({ type: 'peer-joined', replicaId: 'me', name: 'Me', role: 'joiner' });
    hub.onEvent({ type: 'presence', replicaId: 'zed', state: at('src/x.ts', 9) });
    // Someone the relay never said joined: a stale state, ignored.
    hub.onEvent({ type: 'presence', replicaId: 'ghost', state: at('g.ts', 1) });
    hub.onEvent({ type: 'file-update', fileId: 'f', seq: 3, by: 'zed' });
    await Promise.resolve();
    expect(seen).toHaveLength(1);
    const expected: PeerInfo[] = [
      { replicaId: 'ann', name: 'Ann', role: 'sharer', color: colorOf('ann') },
      { replicaId: 'ro', name: 'Reader', role: 'joiner', readOnly: true, color: colorOf('ro') },
      { replicaId: 'zed', name: 'Zed', role: 'joiner', color: colorOf('zed'), presence: at('src/x.ts', 9) },
    ];
    expect(seen[0]).toEqual(expected);
    expect(hub.peers()).toEqual(expected);

    // Zed reconnects before the relay saw its old connection close: still here after one peer-left.
    hub.onEvent({ type: 'peer-joined', replicaId: 'zed', name: 'Zed', role: 'joiner' });
    hub.onEvent({ type: 'peer-left', replicaId: 'zed' });
    await Promise.resolve();
    // Its state stays through the second connection's arrival, until it says it left the file.
    expect(hub.peers().find((p) => p.replicaId === 'zed')?.presence).toEqual(at('src/x.ts', 9));
    hub.onEvent({ type: 'presence', replicaId: 'zed' });
    await Promise.resolve();
    expect(hub.peers().map((p) => [p.replicaId, p.presence])).toEqual([['ann', undefined], ['ro', undefined], ['zed', undefined]]);
    hub.onEvent({ type: 'peer-left', replicaId: 'zed' });
    await Promise.resolve();
    expect(hub.peers().map((p) => p.replicaId)).toEqual(['ann', 'ro']);

    // A new subscription: the relay replays who is here, so the list starts over.
    hub.connected(recorder());
    await Promise.resolve();
    expect(hub.peers()).toEqual([]);
    expect(seen.at(-1)).toEqual([]);
    off();
    hub.onEvent({ type: 'peer-joined', replicaId: 'bob', name: 'Bob', role: 'joiner' });
    await Promise.resolve();
    expect(seen.at(-1)).toEqual([]);
  });

  it('gives each replica a palette colour, the same every time, and spreads replicas over the palette', () => {
    expect(colorOf('3f9a1c0d5e7b2a41')).toBe(colorOf('3f9a1c0d5e7b2a41'));
    for (const c of PEER_COLORS) expect(c).toMatch(/^#[0-9a-f]{6}$/);
    const used = new Set(Array.from({ length: 200 }, (_, i) => colorOf(`replica${i}`)));
    expect(used.size).toBe(PEER_COLORS.length);
  });
});

describe('presence between two replicas (SyncLoop over a real RelayService)', () => {
  it('one side publishes, the other lists it with its file; after a reconnect the state is there again; a peer that stops is gone', async () => {
    const relay = new RelayHarness();
    const conns: Record<string, CshareConnection | undefined> = {};
    const loopOf = async (who: 'alice' | 'bob') => {
      const root = tempDir();
      writeTree(root, { 'a.txt': 'a\n' });
      const { replica } = await openReplica(root, new MemoryStore(), who);
      const ac = new AbortController();
      let inSync!: () => void;
      const synced = new Promise<void>((r) => (inSync = r));
      const loop = new SyncLoop({
        replica, worktreeId: relay.worktreeId, state: { relaySeq: 0, acked: who === 'alice' ? -1 : 0 }, saveState: async () => {}, signal: ac.signal,
        backoff: async () => undefined,
        connect: async () => {
          const conn = relay.connect();
          conns[who] = conn;
          const hello = who === 'alice'
            ? await helloAsSharer(conn, { replica, worktreeId: relay.worktreeId, secrets: relay.secrets, name: 'app' })
            : await helloAsJoiner(conn, { replica, worktreeId: relay.worktreeId, secret: relay.secrets.readWrite });
          return { conn, access: hello.access! };
        },
        onEvent: () => undefined,
        onInSync: () => inSync(),
      });
      const running = loop.run();
      await synced;
      return { loop, replica, ac, running };
    };
    const alice = await loopOf('alice');
    const bob = await loopOf('bob');
    try {
      const bobSaw: (readonly PeerInfo[])[] = [];
      bob.loop.presence.onChange((p) => bobSaw.push(p));
      alice.loop.presence.publish(at('a.txt', 1));
      await waitFor(() => bob.loop.presence.peers()[0]?.presence?.line === 1, 5000, "alice's state at bob");
      expect(bob.loop.presence.peers()).toEqual([{ replicaId: alice.replica.identity.replicaId, name: 'alice', role: 'sharer', color: colorOf(alice.replica.identity.replicaId), presence: at('a.txt', 1) }]);
      expect(bobSaw.at(-1)).toEqual(bob.loop.presence.peers());
      await waitFor(() => alice.loop.presence.peers().length === 1, 5000, 'bob at alice');
      expect(alice.loop.presence.peers()[0]).toMatchObject({ name: 'bob', role: 'joiner' });

      // Alice's connection drops; she moves meanwhile; her loop reconnects and says where she is.
      conns.alice!.close();
      alice.loop.presence.publish(at('a.txt', 2));
      await waitFor(() => bob.loop.presence.peers()[0]?.presence?.line === 2, 10_000, "alice's state after her reconnect");

      // Alice stops: she is gone from bob's list.
      alice.ac.abort();
      await alice.running;
      await waitFor(() => bob.loop.presence.peers().length === 0, 5000, "alice's departure");
    } finally {
      alice.ac.abort();
      bob.ac.abort();
      await Promise.all([alice.running, bob.running]);
      await Promise.all([alice.replica.close(), bob.replica.close()]);
      relay.close();
    }
  });
});
