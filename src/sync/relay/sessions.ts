import { CshareError } from '../../core/errors.js';
import type { BoundedQueue } from '../rpc/BoundedQueue.js';
import { ByteBudget } from '../rpc/ByteBudget.js';
import type { Access, Role, WorktreeEvent } from '../schema.js';
import type { BlobUpload } from './RelayStorage.js';
import type { TokenBucket } from './presence.js';
import { type CshareConnection } from '../connection.js';

/**
 * Who may hold a connection to the relay, and how many (issue 15, items 6 and 12): the
 * relay's connections, each peer's, those still waiting for `hello`, and per worktree a pool
 * per kind of peer, so that readers can never take the slots its sharer and writers need.
 */

/** Connection limits of a relay; see {@link DEFAULT_SESSION_LIMITS}. */
export interface SessionLimits {
  /** Connections (RPC streams) at once. */
  maxSessions: number;
  /** Connections that have not said `hello` yet: a stranger's cheapest way to hold some. */
  maxUnbound: number;
  /** How long a connection may stay without a successful `hello` before it is closed. */
  helloTimeoutMs: number;
  /** Connections of one peer (libp2p peer id) at once, whatever they are for. */
  maxPerPeer: number;
  /** Per worktree: connections as its sharer (read-write code, role `sharer`). */
  maxSharers: number;
  /** Per worktree: other connections with the read-write code. */
  maxReadWrite: number;
  /** Per worktree: connections with the read-only code. */
  maxReadOnly: number;
  /** Bytes of requests being handled: per connection, per worktree and in all (see {@link ByteBudget}). */
  connectionBytes: number;
  worktreeBytes: number;
  totalBytes: number;
  /** Largest frame before `hello` (after it, the codec's 16 MiB). */
  unboundFrameBytes: number;
}

/** The defaults of {@link SessionLimits} (see the README's relay limits). */
export const DEFAULT_SESSION_LIMITS: Readonly<SessionLimits> = Object.freeze({
  maxSessions: 1024,
  maxUnbound: 128,
  helloTimeoutMs: 10_000,
  maxPerPeer: 8,
  maxSharers: 4,
  maxReadWrite: 124,
  maxReadOnly: 128,
  connectionBytes: 32 * 1024 * 1024,
  worktreeBytes: 96 * 1024 * 1024,
  totalBytes: 384 * 1024 * 1024,
  unboundFrameBytes: 64 * 1024,
});

/** Which pool of its worktree a connection takes a slot in. */
export type Pool = 'sharer' | 'rw' | 'ro';

/** Who a connection is, once `hello` bound it to a worktree. */
export interface Binding {
  worktreeId: string;
  access: Access;
  replicaId: string;
  name: string;
  role: Role;
  pool: Pool;
}

/** One event subscription of a connection. */
export interface Subscriber {
  queue: BoundedQueue<WorktreeEvent>;
}

/** One connection the relay serves. */
export interface Session {
  conn: CshareConnection;
  peerId: string;
  binding?: Binding;
  helloInFlight: boolean;
  subs: Set<Subscriber>;
  /** Keys (`b:<digest>`) of blobs this connection offered and the relay still lacks. */
  offered: Set<string>;
  uploads: Map<string, BlobUpload>;
  /** Its requests' bytes, within its worktree's budget once bound (else the relay's). */
  budget: ByteBudget;
  helloTimer?: ReturnType<typeof setTimeout>;
  /** Its presence sends' rate (made with its first one; see `presence.ts`), and how many were dropped. */
  presenceRate?: TokenBucket;
  presenceDropped?: number;
}

/** What the connection table counts in a worktree's room (`Room`): its connections per pool and their budget. */
export interface RoomSlots {
  readonly worktreeId: string;
  readonly sessions: Set<Session>;
  readonly pools: Record<Pool, number>;
  readonly budget: ByteBudget;
}

/** The relay's connections, counted against {@link SessionLimits}. */
export class SessionTable {
  readonly limits: SessionLimits;
  readonly sessions = new Set<Session>();
  /** Every connection's requests' bytes (the root of every budget chain). */
  readonly budget: ByteBudget;
  private unbound = 0;
  private readonly perPeer = new Map<string, number>();

  constructor(limits: Partial<SessionLimits> = {}) {
    this.limits = { ...DEFAULT_SESSION_LIMITS, ...limits };
    this.budget = new ByteBudget(this.limits.totalBytes);
  }

  /**
   * Takes a new connection in, or says why not (too many connections, of that peer, or
   * waiting for `hello`): the caller closes it then.
   */
  open(session: Session): string | undefined {
    const { maxSessions, maxUnbound, maxPerPeer } = this.limits;
    if (this.sessions.size >= maxSessions) return `the relay serves ${maxSessions} connections already`;
    if (this.unbound >= maxUnbound) return `${maxUnbound} connections are waiting to say hello already`;
    const mine = this.perPeer.get(session.peerId) ?? 0;
    if (mine >= maxPerPeer) return `peer ${session.peerId} has ${maxPerPeer} connections already`;
    this.sessions.add(session);
    this.unbound++;
    this.perPeer.set(session.peerId, mine + 1);
    return undefined;
  }

  /**
   * Takes a slot of `pool` in `room` for a connection saying `hello`, or throws `OVERLOADED`.
   * Each pool is counted alone: readers filling theirs never take a writer's or the sharer's.
   */
  bind(session: Session, room: RoomSlots, pool: Pool): void {
    const max = pool === 'sharer' ? this.limits.maxSharers : pool === 'rw' ? this.limits.maxReadWrite : this.limits.maxReadOnly;
    if (room.pools[pool] >= max) {
      const what = pool === 'sharer' ? 'sharer' : pool === 'rw' ? 'read-write' : 'read-only';
      throw new CshareError('OVERLOADED', `worktree ${room.worktreeId} already has ${max} ${what} connections on this relay; try again later`, { pool, max });
    }
    room.pools[pool]++;
    room.sessions.add(session);
    this.unbound--;
    clearTimeout(session.helloTimer);
    session.budget.moveTo(room.budget);
  }

  /** Forgets a closed connection; returns false if it was not (or no longer) counted. */
  close(session: Session, room: RoomSlots | undefined): boolean {
    if (!this.sessions.delete(session)) return false;
    clearTimeout(session.helloTimer);
    const mine = (this.perPeer.get(session.peerId) ?? 1) - 1;
    if (mine > 0) this.perPeer.set(session.peerId, mine);
    else this.perPeer.delete(session.peerId);
    if (!session.binding) this.unbound--;
    else if (room?.sessions.delete(session)) room.pools[session.binding.pool]--;
    session.budget.moveTo(undefined);
    return true;
  }

  /** Connections of `peerId` now. */
  ofPeer(peerId: string): number {
    return this.perPeer.get(peerId) ?? 0;
  }
}

/** A new connection's state; its budget is within the relay's until it is bound. */
export function newSession(conn: CshareConnection, peerId: string, table: SessionTable): Session {
  return {
    conn,
    peerId,
    helloInFlight: false,
    subs: new Set(),
    offered: new Set(),
    uploads: new Map(),
    budget: new ByteBudget(table.limits.connectionBytes, table.budget),
  };
}
