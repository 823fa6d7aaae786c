import type { CshareError } from '../../core/errors.js';
import { ByteBudget } from '../rpc/ByteBudget.js';
import type { WorktreeEvent } from '../schema.js';
import { Offers, type OfferCounter, type Waiter } from './offers.js';
import type { RelayBus } from './RelayBus.js';
import type { Pool, RoomSlots, Session } from './sessions.js';
import type { Subscriptions } from './subscriptions.js';

/** What every room of a relay shares. */
export interface RoomShared {
  /** Every subscription's queue, with the relay's bounds (a slow subscriber is dropped there). */
  subscriptions: Subscriptions;
  /** Blobs remembered as offered across every worktree. */
  offerCounter: OfferCounter;
  /** Bytes of requests a worktree's connections may have in flight, and the relay's budget above. */
  worktreeBytes: number;
  relayBudget: ByteBudget;
}

/** The key a blob's offers are remembered under (in memory only, never stored). */
function offerKey(digest: string): string {
  return `b:${digest}`;
}

/**
 * The live state of one worktree on this relay: its connections (counted per pool by the
 * `SessionTable`), their requests' budget, and the two things that go between them.
 *
 * Fan-out: {@link broadcast} queues an event on every subscription of the room's connections
 * but the uploader's, in the order it is called. The store announces appends in seq order
 * (`RelayStorage`), so a subscriber sees a worktree's events in seq order; one that falls behind
 * its queue's bounds is dropped (`OVERLOADED`) and catches up from the store.
 *
 * Upload priority (ARCHITECTURE.md "Upload priority"): which connection offered a blob the relay
 * lacks ({@link rememberOffer}), so that a fetch of it can have that peer asked for it
 * ({@link requestUpload}) and wait ({@link waitFor}) until it is {@link uploaded}.
 *
 * Events and upload requests reach rooms through the relay's `RelayBus`, never directly.
 */
export class Room implements RoomSlots {
  readonly sessions = new Set<Session>();
  readonly pools: Record<Pool, number> = { sharer: 0, rw: 0, ro: 0 };
  readonly budget: ByteBudget;
  private readonly offers: Offers<Session>;
  /**
   * Each connection's latest `presence` event, in memory only (never stored), for subscribers
   * that come later; forgotten when the connection leaves.
   */
  private readonly presence = new Map<Session, WorktreeEvent>();

  constructor(
    readonly worktreeId: string,
    private readonly shared: RoomShared,
  ) {
    this.offers = new Offers<Session>(shared.offerCounter);
    this.budget = new ByteBudget(shared.worktreeBytes, shared.relayBudget);
  }

  /** True with no connection, no remembered offer and no fetch waiting: the room may go. */
  get idle(): boolean {
    return this.sessions.size === 0 && this.offers.idle;
  }

  /**
   * A new subscription of `session` to the worktree's events. It starts with who is here
   * already, then where they are (their latest presence), so a new subscriber does not have
   * to wait for the next change.
   */
  subscribe(session: Session, signal: AbortSignal): AsyncIterable<WorktreeEvent> {
    const present: WorktreeEvent[] = [];
    for (const other of this.sessions) {
      if (other === session || !other.binding) continue;
      const { replicaId, name, role, access } = other.binding;
      present.push({ type: 'peer-joined', replicaId, name, role, ...(access === 'ro' ? { readOnly: true as const } : {}) });
    }
    for (const [other, event] of this.presence) if (other !== session && this.sessions.has(other)) present.push(event);
    return this.shared.subscriptions.subscribe(session, present, signal);
  }

  /**
   * Sends `event` to every subscriber of the worktree except those of `origin`'s connection;
   * a presence event is also kept as `origin`'s latest (in memory).
   */
  broadcast(event: WorktreeEvent, origin: Session | undefined): void {
    if (event.type === 'presence' && origin && this.sessions.has(origin)) this.presence.set(origin, event);
    for (const s of this.sessions) if (s !== origin) this.shared.subscriptions.sendTo(s, event);
  }

  /** Remembers that `session` offered blob `digest`; false if a bound said no (see `offers.ts`). */
  rememberOffer(session: Session, digest: string): boolean {
    return this.offers.remember(session, offerKey(digest));
  }

  /** True if a connection that offered blob `digest` can be asked for it (it is subscribed). */
  offered(digest: string): boolean {
    return this.offerers(digest).length > 0;
  }

  /** Asks every subscribed connection that offered blob `digest` to upload it now (a `need`). */
  requestUpload(digest: string): void {
    for (const s of this.offerers(digest)) this.shared.subscriptions.sendTo(s, { type: 'need', digest });
  }

  /** Waits for blob `digest` until {@link uploaded}, or its offerers leave; registered before it returns. */
  waitFor(digest: string): { arrived: Promise<void>; waiter: Waiter; done: () => void } {
    return this.offers.wait(offerKey(digest));
  }

  /** Blob `digest` was stored: nobody is asked for it any more, and fetches waiting for it go on. */
  uploaded(digest: string): void {
    this.offers.delivered(offerKey(digest));
  }

  /** Blob `digest` was refused for good: it is no longer asked for, and waiting fetches fail now. */
  refused(digest: string, why: CshareError): void {
    this.offers.undeliverable(offerKey(digest), why);
  }

  /** `session` left: its offers and its presence are forgotten, and fetches waiting only on it fail. */
  forget(session: Session): void {
    this.offers.forget(session);
    this.presence.delete(session);
  }

  private offerers(digest: string): Session[] {
    return this.offers.offerers(offerKey(digest)).filter((s) => s.subs.size > 0);
  }
}

/**
 * The rooms of this relay, one per worktree with a connection (or a remembered offer, or a
 * waiting fetch), each joined to the bus while it exists.
 */
export class Rooms {
  private readonly rooms = new Map<string, Room>();

  constructor(
    private readonly shared: RoomShared,
    private readonly bus: RelayBus,
  ) {}

  /** The room of `worktreeId`, made (and joined to the bus) if there is none. */
  of(worktreeId: string): Room {
    let room = this.rooms.get(worktreeId);
    if (!room) {
      room = new Room(worktreeId, this.shared);
      this.rooms.set(worktreeId, room);
      this.bus.join(room);
    }
    return room;
  }

  /** The room of `worktreeId` if there is one. */
  get(worktreeId: string): Room | undefined {
    return this.rooms.get(worktreeId);
  }

  /** Drops `room` (and leaves the bus) once idle. */
  dropIfIdle(room: Room): void {
    if (!room.idle || this.rooms.get(room.worktreeId) !== room) return;
    this.rooms.delete(room.worktreeId);
    this.bus.leave(room);
  }
}
