import { CshareError } from '../../core/errors.js';
import { logger } from '../../core/log.js';
import { ByteBudget } from '../rpc/ByteBudget.js';
import type { FrameChannel } from '../rpc/transport.js';
import { MAX_UPDATES_PER_MESSAGE } from '../schema.js';
import { Admission, type AdmissionPolicy } from './admission.js';
import { authorize, hello, info } from './auth.js';
import { serveDownloads } from './downloads.js';
import { OfferCounter, type OfferLimits } from './offers.js';
import { FairScheduler } from './pace.js';
import { DEFAULT_PRESENCE_LIMITS, servePresence, type PresenceLimits } from './presence.js';
import { InProcessBus, type RelayBus } from './RelayBus.js';
import type { RelayContext } from './relayContext.js';
import { RelayLog } from './RelayLog.js';
import type { RelayStorage } from './RelayStorage.js';
import { Rooms } from './Room.js';
import { SessionTable, newSession, type Session, type SessionLimits } from './sessions.js';
import { Subscriptions, type SubscriptionLimits } from './subscriptions.js';
import { serveUploads } from './uploads.js';
import { cshareConnection, type CshareConnection } from '../connection.js';

const log = logger('relay');

/**
 * How the relay's side of every connection is set up (see `RpcOptions`). Decoding a frame is
 * one uninterrupted step of the event loop, so the values one frame may hold are bounded
 * far below the codec's defaults: every message a relay serves needs at most a few tens of
 * thousands (an offer of 4096 entries, an upload of 10,000 updates). A client runs at most
 * ~90 calls at once (64 uploads, 16 answers to `need`, fetches) and 2 subscriptions.
 */
export const RELAY_RPC_OPTIONS = Object.freeze({
  limits: Object.freeze({ maxValues: 65_536, maxArrayLength: MAX_UPDATES_PER_MESSAGE }),
  maxConcurrentHandlers: 128,
  maxSubscriptions: 8,
  // One 15 MiB stream item or event must fit, with what is queued beside it.
  maxOutboxBytes: 24 * 1024 * 1024,
});

/** Options of a {@link RelayService}. */
export interface RelayServiceOptions {
  store: RelayStorage;
  /** How fan-out events and upload requests reach the worktrees' rooms (in-process by default). */
  bus?: RelayBus;
  /** Name the relay gives in `hello` replies (its libp2p peer id, usually). */
  relayId?: string;
  /** How long a fetch waits for a sharer to upload something it asked for (30 s). */
  needTimeoutMs?: number;
  /** Connection limits (see `sessions.ts`). */
  sessions?: Partial<SessionLimits>;
  /** Event queue bounds (see `subscriptions.ts`). */
  subscriptions?: Partial<SubscriptionLimits>;
  /** Remembered offers (see `offers.ts`). */
  offers?: Partial<OfferLimits>;
  /** Who may register new worktrees (see `admission.ts`). */
  admission?: Partial<AdmissionPolicy>;
  /** Unfinished chunked blob uploads per connection (8); more get `OVERLOADED`. */
  maxUploadsPerConnection?: number;
  /** Throws `OVERLOADED` while the disk is too full to store uploads (see `DiskGuard`). */
  checkDisk?: () => void;
  /** How many presence states a connection may send (see `presence.ts`); more are dropped. */
  presence?: Partial<PresenceLimits>;
  /** Where events for the operator go (silent by default). */
  log?: RelayLog;
}

/**
 * The relay's RPC service (PROTOCOL.md; its storage: `RelayStorage`): authenticates
 * connections with the join code's secret (`auth.ts`), stores what sharers and read-write
 * joiners upload (`uploads.ts`), fans every change out to the worktree's other subscribers
 * (its `Room`, through the `RelayBus`), serves catch-up by relay seq and blobs
 * (`downloads.ts`), and asks a sharer to upload next what a joiner is waiting for
 * (`uploadPriority.ts`), and relays presence without storing it (`presence.ts`). This class holds the connections: it takes each in, serves it, and
 * lets it go.
 *
 * The relay never trusts a peer: every path is checked (safety rules), every blob is hashed
 * against its digest, every request is checked against the worktree and access the
 * connection's `hello` proved, every queue and every kind of connection is bounded, long
 * work goes in slices that take turns by worktree, and each replica id belongs to the peer
 * that first used it in its worktree.
 */
export class RelayService {
  readonly log: RelayLog;
  private readonly ctx: RelayContext;
  private readonly offerCounter: OfferCounter;

  constructor(opts: RelayServiceOptions) {
    this.log = opts.log ?? RelayLog.silent();
    const table = new SessionTable(opts.sessions);
    const subscriptions = new Subscriptions(opts.subscriptions, (s, reason) =>
      this.log.log({ event: 'dropped-subscriber', peer: s.peerId, worktree: s.binding?.worktreeId ?? '', reason }),
    );
    this.offerCounter = new OfferCounter({ ...new OfferCounter().limits, ...opts.offers });
    const bus = opts.bus ?? new InProcessBus();
    const rooms = new Rooms({ subscriptions, offerCounter: this.offerCounter, worktreeBytes: table.limits.worktreeBytes, relayBudget: table.budget }, bus);
    this.ctx = {
      store: opts.store,
      relayId: opts.relayId ?? 'relay',
      needTimeoutMs: opts.needTimeoutMs ?? 30_000,
      maxUploadsPerConnection: opts.maxUploadsPerConnection ?? 8,
      table,
      subscriptions,
      admission: new Admission(opts.admission),
      rooms,
      bus,
      scheduler: new FairScheduler(),
      checkDisk: opts.checkDisk ?? (() => undefined),
      presenceLimits: { ...DEFAULT_PRESENCE_LIMITS, ...opts.presence },
      log: this.log,
    };
  }

  /** Connections attached and still open. */
  get connections(): number {
    return this.ctx.table.sessions.size;
  }

  /** The admission rule in words (for the relay's start-up line). */
  get admissionRule(): string {
    return this.ctx.admission.describe();
  }

  /** Memory the relay holds for its peers now (for tests and diagnostics). */
  get held(): { requestBytes: number; eventBytes: number; offers: number; sessions: number } {
    const { table, subscriptions } = this.ctx;
    return { requestBytes: table.budget.used, eventBytes: subscriptions.queued, offers: this.offerCounter.count, sessions: table.sessions.size };
  }

  /**
   * Serves the relay protocol on a new channel from `peer`: the RPC connection reads within
   * the connection's share of the relay's memory budget (see `ByteBudget`).
   */
  serve(channel: FrameChannel, peer: { id: string }): CshareConnection {
    const { table } = this.ctx;
    const budget = new ByteBudget(table.limits.connectionBytes, table.budget);
    const conn = cshareConnection(channel, { ...RELAY_RPC_OPTIONS, peer: peer.id, budget });
    this.attach(conn, { id: peer.id, budget });
    return conn;
  }

  /**
   * Serves the relay protocol on `conn` (call right after constructing it). Nothing but
   * `hello` and `worktree/info` is answered until `hello` proved a join code's secret, and only small
   * frames are read until then. A connection over the relay's limits is closed at once.
   */
  attach(conn: CshareConnection, peer: { id: string; budget?: ByteBudget }): void {
    const session = this.admit(conn, peer);
    if (!session) return;
    this.awaitHello(session);
    void conn.closed.then(() => this.detach(session));
    const { ctx } = this;
    conn.handle('hello', (req) => hello(ctx, session, req));
    conn.handle('worktree/info', (req) => info(ctx, session, req));
    serveUploads(conn, session, ctx);
    serveDownloads(conn, session, ctx);
    servePresence(conn, session, ctx);
    conn.handleSubscribe('/worktrees/:worktreeId', ({ worktreeId }, call) => authorize(ctx, session, worktreeId!, false).room.subscribe(session, call.signal));
  }

  /** Closes every attached connection. */
  close(): void {
    for (const s of [...this.ctx.table.sessions]) s.conn.close();
  }

  /** A new connection counted in the table, or closed (`OVERLOADED`) if it is over a limit. */
  private admit(conn: CshareConnection, peer: { id: string; budget?: ByteBudget }): Session | undefined {
    const { table } = this.ctx;
    const session = newSession(conn, peer.id, table);
    if (peer.budget) session.budget = peer.budget;
    const refused = table.open(session);
    if (refused !== undefined) {
      this.log.log({ event: 'refused', peer: peer.id, code: 'OVERLOADED', reason: refused });
      conn.close(new CshareError('OVERLOADED', refused));
      return undefined;
    }
    return session;
  }

  /** Until `hello` binds it: small frames only, and closed (`TIMEOUT`) if it does not in time. */
  private awaitHello(session: Session): void {
    const { helloTimeoutMs, unboundFrameBytes } = this.ctx.table.limits;
    session.conn.setMaxFrameBytes(unboundFrameBytes);
    session.helloTimer = setTimeout(() => {
      if (session.binding) return;
      this.log.log({ event: 'refused', peer: session.peerId, code: 'TIMEOUT', reason: 'no successful hello in time' });
      session.conn.close(new CshareError('TIMEOUT', `no successful hello within ${helloTimeoutMs} ms`));
    }, helloTimeoutMs);
  }

  /**
   * A closed connection: its slot, subscriptions, unfinished uploads and offers are released,
   * the others told, and its room dropped if it was the last thing there.
   */
  private detach(session: Session): void {
    const { table, subscriptions, rooms, bus } = this.ctx;
    const binding = session.binding;
    const room = binding ? rooms.get(binding.worktreeId) : undefined;
    if (!table.close(session, room)) return;
    subscriptions.end(session);
    for (const writer of session.uploads.values()) {
      writer.abort().catch((err: unknown) => this.log.log({ event: 'error', what: `dropping an unfinished upload of ${writer.digest}`, message: String((err as Error)?.message ?? err) }));
    }
    session.uploads.clear();
    if (!binding || !room) return;
    room.forget(session);
    bus.publish(binding.worktreeId, { type: 'peer-left', replicaId: binding.replicaId }, session);
    log('%s: %s left %s', session.peerId, binding.replicaId, binding.worktreeId);
    rooms.dropIfIdle(room);
  }
}
