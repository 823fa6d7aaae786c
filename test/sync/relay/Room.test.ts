import { afterEach, describe, expect, it } from 'vitest';
import { MemoryTransport } from '../../../src/sync/memory/MemoryTransport.js';
import { OfferCounter } from '../../../src/sync/relay/offers.js';
import { InProcessBus } from '../../../src/sync/relay/RelayBus.js';
import { Rooms } from '../../../src/sync/relay/Room.js';
import { SessionTable, newSession, type Session } from '../../../src/sync/relay/sessions.js';
import { Subscriptions, type SubscriptionLimits } from '../../../src/sync/relay/subscriptions.js';
import type { WorktreeEvent } from '../../../src/sync/schema.js';
import { waitFor } from '../helpers.js';
import { cshareConnection, type CshareConnection } from '../../../src/sync/connection.js';

const W = 'wt1';
const conns: CshareConnection[] = [];
const stops: AbortController[] = [];
afterEach(() => {
  for (const s of stops.splice(0)) s.abort();
  for (const c of conns.splice(0)) c.close();
});

/** A relay's rooms on an in-process bus, with connections bound to `W`. */
function relay(limits: Partial<SubscriptionLimits> = {}) {
  const table = new SessionTable();
  const dropped: { peer: string; reason: string }[] = [];
  const subscriptions = new Subscriptions(limits, (s, reason) => dropped.push({ peer: s.peerId, reason }));
  const bus = new InProcessBus();
  const rooms = new Rooms({ subscriptions, offerCounter: new OfferCounter(), worktreeBytes: table.limits.worktreeBytes, relayBudget: table.budget }, bus);
  const join = (name: string): Session => {
    const [a] = MemoryTransport.pair();
    const conn = cshareConnection(a, { peer: name });
    conns.push(conn);
    const session = newSession(conn, name, table);
    expect(table.open(session)).toBeUndefined();
    table.bind(session, rooms.of(W), 'rw');
    session.binding = { worktreeId: W, access: 'rw', replicaId: name, name, role: 'joiner', pool: 'rw' };
    return session;
  };
  /** A subscription of `session`, read as events come (or not at all: `read: false`). */
  const subscribe = (session: Session, read = true) => {
    const stop = new AbortController();
    stops.push(stop);
    const events: WorktreeEvent[] = [];
    const queue = rooms.of(W).subscribe(session, stop.signal);
    const iterator = queue[Symbol.asyncIterator]();
    const drain = async (): Promise<unknown> => {
      try {
        for (let r = await iterator.next(); !r.done; r = await iterator.next()) events.push(r.value);
        return undefined;
      } catch (err) {
        return err;
      }
    };
    return { events, ended: read ? drain() : undefined, drain };
  };
  return { table, subscriptions, bus, rooms, dropped, join, subscribe };
}

const fileUpdate = (seq: number): WorktreeEvent => ({ type: 'file-update', fileId: `f${seq}`, update: new Uint8Array(10), seq, by: 'alice' });

describe('Room: fan-out of one worktree', () => {
  it('delivers what is published on the bus in order, after who is there, to everyone but the uploader', async () => {
    const r = relay();
    const alice = r.join('alice');
    const bob = r.join('bob');
    const aliceSub = r.subscribe(alice);
    const bobSub = r.subscribe(bob);
    for (let seq = 1; seq <= 300; seq++) {
      r.bus.publish(W, seq % 50 === 0 ? { type: 'blob', digest: 'd'.repeat(40), size: 1, seq, by: 'alice' } : fileUpdate(seq), alice);
      // Within the queue's bounds: the reader keeps up (the next test is the one that does not).
      if (seq % 100 === 0) await waitFor(() => bobSub.events.length === seq + 1, 5000, 'bob to read');
    }
    r.bus.publish(W, { type: 'peer-left', replicaId: 'carol' }, undefined);
    await waitFor(() => bobSub.events.length === 302, 5000, 'every event');
    expect(bobSub.events[0]).toEqual({ type: 'peer-joined', replicaId: 'alice', name: 'alice', role: 'joiner' });
    expect(bobSub.events.slice(1, 301).map((e) => ('seq' in e ? e.seq : -1))).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(bobSub.events[301]).toEqual({ type: 'peer-left', replicaId: 'carol' });
    // The uploader's own events never come back to it; the rest do.
    await waitFor(() => aliceSub.events.length === 2, 5000, 'alice to hear of bob and carol');
    expect(aliceSub.events.map((e) => e.type)).toEqual(['peer-joined', 'peer-left']);
    expect(r.subscriptions.dropped).toBe(0);
  });

  it('drops a subscriber that falls behind its queue, and only that one: the others get every event', async () => {
    const r = relay({ queueSize: 8 });
    const alice = r.join('alice');
    const bob = r.join('bob');
    const carol = r.join('carol');
    const bobSub = r.subscribe(bob);
    const carolSub = r.subscribe(carol, false);
    for (let seq = 1; seq <= 40; seq++) {
      r.bus.publish(W, fileUpdate(seq), alice);
      if (seq % 4 === 0) await waitFor(() => bobSub.events.length === seq + 2, 5000, 'bob to read');
    }
    expect(bobSub.events.slice(2).map((e) => ('seq' in e ? e.seq : -1))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(r.dropped).toEqual([{ peer: 'carol', reason: 'fell more than 8 events behind' }]);
    expect(r.subscriptions.dropped).toBe(1);
    // Carol reads what was queued before she fell behind, then learns why she was dropped.
    const err = (await carolSub.drain()) as { code?: string; message: string };
    expect(err.code).toBe('OVERLOADED');
    expect(err.message).toMatch(/resubscribe and catch up/);
    expect(carolSub.events.length).toBeLessThanOrEqual(8);
    expect(carol.subs.size).toBe(0);
    expect(bob.subs.size).toBe(1);
  });

  it('asks the subscribed peers that offered a blob for it, and lets a waiting fetch go on once uploaded', async () => {
    const r = relay();
    const alice = r.join('alice');
    const room = r.rooms.of(W);
    const digest = 'a'.repeat(40);
    expect(room.rememberOffer(alice, digest)).toBe(true);
    // Offered, but by a peer that cannot be asked (no subscription).
    expect(r.bus.offered(W, digest)).toBe(false);
    const aliceSub = r.subscribe(alice);
    expect(r.bus.offered(W, digest)).toBe(true);
    const { arrived, done } = room.waitFor(digest);
    r.bus.requestUpload(W, digest);
    await waitFor(() => aliceSub.events.length === 1, 5000, 'the need');
    expect(aliceSub.events).toEqual([{ type: 'need', digest }]);
    expect(room.idle).toBe(false);
    r.bus.uploaded(W, digest);
    await expect(arrived).resolves.toBeUndefined();
    done();
    expect(r.bus.offered(W, digest)).toBe(false);
  });
});
