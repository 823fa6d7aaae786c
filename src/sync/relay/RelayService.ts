import { timingSafeEqual } from 'node:crypto';
import { gitBlobId } from '../../core/digest.js';
import { CshareError, toCshareError } from '../../core/errors.js';
import { logger } from '../../core/log.js';
import { hashSecret } from '../joinCode.js';
import { ByteBudget } from '../rpc/ByteBudget.js';
import { RpcConnection } from '../rpc/RpcConnection.js';
import type { FrameChannel } from '../rpc/transport.js';
import { MAX_UPDATES_PER_MESSAGE, checkPeerProtocol, type Access, type HelloRequest, type HelloResponse, type WorktreeEvent, type WorktreeInfoRequest, type WorktreeInfoResponse } from '../schema.js';
import { RelayLog } from './RelayLog.js';
import type { Appended, RelayStorage } from './RelayStorage.js';
import { Admission, type AdmissionPolicy } from './admission.js';
import { fetchBlob, fetchBlobs, syncPages } from './downloads.js';
import { OfferCounter, Offers, type OfferLimits } from './offers.js';
import { FairScheduler, Pacer } from './pace.js';
import { SessionTable, newSession, type Binding, type Pool, type Room, type Session, type SessionLimits } from './sessions.js';
import { Subscriptions, type SubscriptionLimits } from './subscriptions.js';
import { checkManifestUpdate, checkPath, checkPathSet } from './validate.js';

const log = logger('relay');

/** Largest state vector in an offer (some 6,000 clients). */
const MAX_OFFER_VECTOR_BYTES = 64 * 1024;

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
  /** Where events for the operator go (silent by default). */
  log?: RelayLog;
}

/**
 * The relay's RPC service (PROTOCOL.md; its store: ARCHITECTURE.md "Relay store keys"):
 * authenticates connections with the join code's secret, stores what sharers and read-write
 * joiners upload in a {@link RelayStorage}, fans every change out to the worktree's other
 * subscribers, serves catch-up by relay seq, and asks a sharer to upload next what a joiner
 * is waiting for.
 *
 * The relay never trusts a peer: every path is checked (safety rules), every blob is hashed
 * against its digest, every request is checked against the worktree and access the
 * connection's `hello` proved, every queue and every kind of connection is bounded, long
 * work goes in slices that take turns by worktree, and each replica id belongs to the peer
 * that first used it in its worktree.
 */
export class RelayService {
  private readonly store: RelayStorage;
  private readonly relayId: string;
  private readonly needTimeoutMs: number;
  private readonly maxUploadsPerConnection: number;
  private readonly table: SessionTable;
  private readonly subscriptions: Subscriptions;
  private readonly offerCounter: OfferCounter;
  private readonly admission: Admission;
  private readonly scheduler = new FairScheduler();
  private readonly rooms = new Map<string, Room>();
  private readonly checkDisk: () => void;
  readonly log: RelayLog;

  constructor(opts: RelayServiceOptions) {
    this.store = opts.store;
    this.relayId = opts.relayId ?? 'relay';
    this.needTimeoutMs = opts.needTimeoutMs ?? 30_000;
    this.maxUploadsPerConnection = opts.maxUploadsPerConnection ?? 8;
    this.table = new SessionTable(opts.sessions);
    this.log = opts.log ?? RelayLog.silent();
    this.subscriptions = new Subscriptions(opts.subscriptions, (s, reason) =>
      this.log.log({ event: 'dropped-subscriber', peer: s.peerId, worktree: s.binding?.worktreeId ?? '', reason }),
    );
    this.offerCounter = new OfferCounter({ ...new OfferCounter().limits, ...opts.offers });
    this.admission = new Admission(opts.admission);
    this.checkDisk = opts.checkDisk ?? (() => undefined);
  }

  /** Connections attached and still open. */
  get connections(): number {
    return this.table.sessions.size;
  }

  /** The admission rule in words (for the relay's start-up line). */
  get admissionRule(): string {
    return this.admission.describe();
  }

  /** Memory the relay holds for its peers now (for tests and diagnostics). */
  get held(): { requestBytes: number; eventBytes: number; offers: number; sessions: number } {
    return { requestBytes: this.table.budget.used, eventBytes: this.subscriptions.queued, offers: this.offerCounter.count, sessions: this.table.sessions.size };
  }

  /**
   * Serves the relay protocol on a new channel from `peer`: the RPC connection reads within
   * the connection's share of the relay's memory budget (see `ByteBudget`).
   */
  serve(channel: FrameChannel, peer: { id: string }): RpcConnection {
    const budget = new ByteBudget(this.table.limits.connectionBytes, this.table.budget);
    const conn = new RpcConnection(channel, { ...RELAY_RPC_OPTIONS, peer: peer.id, budget });
    this.attach(conn, { id: peer.id, budget });
    return conn;
  }

  /**
   * Serves the relay protocol on `conn` (call right after constructing it). Nothing but
   * `hello` and `worktree/info` is answered until `hello` proved a join code's secret, and only small
   * frames are read until then. A connection over the relay's limits is closed at once.
   */
  attach(conn: RpcConnection, peer: { id: string; budget?: ByteBudget }): void {
    const session = newSession(conn, peer.id, this.table);
    if (peer.budget) session.budget = peer.budget;
    const refused = this.table.open(session);
    if (refused !== undefined) {
      this.log.log({ event: 'refused', peer: peer.id, code: 'OVERLOADED', reason: refused });
      conn.close(new CshareError('OVERLOADED', refused));
      return;
    }
    conn.setMaxFrameBytes(this.table.limits.unboundFrameBytes);
    session.helloTimer = setTimeout(() => {
      if (session.binding) return;
      this.log.log({ event: 'refused', peer: peer.id, code: 'TIMEOUT', reason: 'no successful hello in time' });
      conn.close(new CshareError('TIMEOUT', `no successful hello within ${this.table.limits.helloTimeoutMs} ms`));
    }, this.table.limits.helloTimeoutMs);
    void conn.closed.then(() => this.detach(session));

    conn.handle('hello', (req) => this.hello(session, req));
    conn.handle('worktree/info', (req) => this.info(session, req));

    conn.handle('manifest/offer', async ({ worktreeId, entries }) => {
      const { room } = this.authorize(session, worktreeId, true);
      const { maxOfferEntries, maxPathLength } = this.store.limits;
      if (entries.length > maxOfferEntries) throw new CshareError('TOO_LARGE', `an offer holds at most ${maxOfferEntries} entries; send several`, { max: maxOfferEntries });
      const pacer = this.pacer(room);
      for (const e of entries) {
        checkPath(e.path, maxPathLength);
        // A state vector is a few bytes per client that ever edited the file; decoding a
        // 15 MiB one would be millions of map entries.
        if (e.vector && e.vector.length > MAX_OFFER_VECTOR_BYTES) {
          throw new CshareError('TOO_LARGE', `the state vector offered for ${e.fileId} is over ${MAX_OFFER_VECTOR_BYTES} bytes`, { fileId: e.fileId });
        }
        if (pacer.due()) await pacer.step();
      }
      await checkPathSet(entries.map((e) => e.path), pacer);
      const need = await this.store.needs(worktreeId, entries);
      const byId = new Map(entries.map((e) => [e.fileId, e]));
      for (const fileId of need) {
        const e = byId.get(fileId)!;
        // Only blobs are fetched by what they are (a text file's updates come with the log).
        if (!e.vector && !room.offers.remember(session, `b:${e.digest}`)) break;
      }
      return { need };
    });

    conn.handle('manifest/upload', async ({ worktreeId, updates }) => {
      const { room, binding } = this.authorize(session, worktreeId, true);
      const pacer = this.pacer(room);
      const { maxPathLength, maxUpdateUnits } = this.store.limits;
      for (const u of updates) await checkManifestUpdate(u, { maxPathLength, maxUnits: maxUpdateUnits, pacer });
      // Broadcast as stored, in seq order with every other upload (see `AppendGroups`).
      const announce = ({ first }: Appended) => updates.forEach((update, i) => this.subscriptions.broadcast(room, { type: 'manifest', update, seq: first + i, by: binding.replicaId }, session));
      const { seq } = await this.stored(session, () => this.store.appendManifest(worktreeId, updates, binding.replicaId, pacer, announce));
      return { ok: true, seq };
    });

    conn.handle('history/upload', async ({ worktreeId, entries }) => {
      const { room, binding } = this.authorize(session, worktreeId, true);
      // Only shown in logs, never written to disk; still, no path a replica would refuse.
      const { maxPathLength } = this.store.limits;
      for (const e of entries) {
        checkPath(e.path, maxPathLength);
        if (e.from !== undefined) checkPath(e.from, maxPathLength);
      }
      const { seq } = await this.store.appendHistory(worktreeId, entries, binding.replicaId, (a) => this.subscriptions.broadcast(room, { type: 'history', entries, seq: a.seq, by: binding.replicaId }, session));
      return { ok: true, seq };
    });

    conn.handle('file/upload', async ({ worktreeId, fileId, updates, blob }) => {
      const { room, binding } = this.authorize(session, worktreeId, true);
      if (updates) return { ok: true, seq: await this.uploadFile(room, session, binding, fileId, updates) };
      const bytes = blob!;
      const digest = gitBlobId(bytes);
      const info = await this.stored(session, () => this.store.putBlob(worktreeId, digest, bytes, binding.replicaId, (a) => this.blobStored(room, session, binding, digest, bytes.byteLength, a.seq)));
      return { ok: true, seq: info.seq };
    });

    conn.handle('blob/upload', async ({ worktreeId, digest, size, offset, data }) => {
      const { room, binding } = this.authorize(session, worktreeId, true);
      let writer = session.uploads.get(digest);
      if (!writer) {
        if (offset !== 0) throw new CshareError('PROTOCOL', `blob ${digest}: no upload in progress; start at byte 0`, { digest });
        if (session.uploads.size >= this.maxUploadsPerConnection) {
          throw new CshareError('OVERLOADED', `at most ${this.maxUploadsPerConnection} blob uploads at once per connection`);
        }
        const announce = (a: Appended) => this.blobStored(room, session, binding, digest, size, a.seq);
        writer = await this.stored(session, () => this.store.blobWriter(worktreeId, digest, size, binding.replicaId, announce)).catch((err: unknown) => {
          // Refused for good (over the size limit): nobody waits for it, or asks for it again.
          if (err instanceof CshareError && err.code === 'TOO_LARGE') room.offers.undeliverable(`b:${digest}`, err);
          throw err;
        });
        if (writer.stored) return { ok: true, received: size, seq: writer.stored.seq };
        session.uploads.set(digest, writer);
      }
      if (writer.size !== size) throw new CshareError('PROTOCOL', `blob ${digest}: size changed from ${writer.size} to ${size} mid-upload`, { digest });
      let info;
      try {
        this.checkDisk();
        info = await writer.write(offset, data);
      } catch (err) {
        session.uploads.delete(digest);
        await writer.abort();
        throw err;
      }
      if (!info) return { ok: true, received: writer.received };
      session.uploads.delete(digest);
      return { ok: true, received: info.size, seq: info.seq };
    });

    conn.handleStream('worktree/sync-pages', (req, ctx) => {
      this.authorize(session, req.worktreeId, false);
      return syncPages(this.store, req.worktreeId, req.after, ctx.signal);
    });

    conn.handleStream('blob/fetch', (req, ctx) => {
      const { room } = this.authorize(session, req.worktreeId, false);
      const sendTo = (s: Session, e: WorktreeEvent) => this.subscriptions.sendTo(s, e);
      return fetchBlob({ store: this.store, needTimeoutMs: this.needTimeoutMs, sendTo }, room, req.digest, ctx.signal);
    });

    conn.handleStream('blobs/fetch', (req, ctx) => {
      this.authorize(session, req.worktreeId, false);
      return fetchBlobs(this.store, req.worktreeId, req.digests, ctx.signal);
    });

    conn.handleSubscribe('/worktrees/:worktreeId', ({ worktreeId }, ctx) =>
      this.subscriptions.subscribe(session, this.authorize(session, worktreeId!, false).room, ctx.signal));
  }

  /** Closes every attached connection. */
  close(): void {
    for (const s of [...this.table.sessions]) s.conn.close();
  }

  // -------------------------------------------------------------------------------------------
  // Authentication

  private async hello(session: Session, req: HelloRequest): Promise<HelloResponse> {
    if (session.binding || session.helloInFlight) throw new CshareError('PROTOCOL', 'hello was already said on this connection');
    session.helloInFlight = true;
    try {
      return await this.bind(session, req);
    } catch (err) {
      const e = toCshareError(err);
      this.log.log({ event: 'refused', peer: session.peerId, code: e.code, reason: e.message, worktree: req.worktreeId });
      // A refused connection is closed once the refusal is sent (a client tries again on a new
      // one): left open, refused connections would hold the slots of those waiting for hello.
      setImmediate(() => session.conn.close());
      throw e;
    } finally {
      session.helloInFlight = false;
    }
  }

  /**
   * `worktree/info`: the worktree's name to a peer that proves a join code's secret, as
   * `hello` checks it (the same constant-time comparisons, the same refusal, the connection
   * closed on it), binding nothing.
   */
  private async info(session: Session, req: WorktreeInfoRequest): Promise<WorktreeInfoResponse> {
    const registration = await this.store.getWorktree(req.worktreeId);
    const hash = hashSecret(req.secretProof);
    const rw = sameHash(hash, registration?.readWriteHash ?? UNKNOWN);
    const ro = sameHash(hash, registration?.readOnlyHash ?? UNKNOWN);
    if (registration && (rw || ro)) return { name: registration.name };
    const e = new CshareError('UNAUTHORIZED', 'this relay has no worktree with that join code: check the code (ask its sharer for a new one) and the relay address');
    this.log.log({ event: 'refused', peer: session.peerId, code: e.code, reason: e.message, worktree: req.worktreeId });
    setImmediate(() => session.conn.close());
    throw e;
  }

  private async bind(session: Session, req: HelloRequest): Promise<HelloResponse> {
    checkPeerProtocol(req);
    if (req.role === 'relay') throw new CshareError('FORBIDDEN', 'this relay does not accept connections from other relays');
    const { worktreeId, secretProof } = req;
    if (worktreeId === undefined || secretProof === undefined) {
      throw new CshareError('UNAUTHORIZED', 'a join code is required: hello must carry the worktree id and its secret');
    }
    const hash = hashSecret(secretProof);
    let registration = await this.store.getWorktree(worktreeId);
    let created = false;
    if (!registration && req.role === 'sharer' && req.register) {
      if (req.register.readOnlyHash.length !== hash.length) throw new CshareError('PROTOCOL', 'the read-only secret hash must be a sha256 (32 bytes)');
      await this.admission.check(session.peerId, req.register.token, (max) => this.store.registeredBy(session.peerId, max));
      this.checkDisk();
      const { readOnlyHash, name } = req.register;
      ({ registration, created } = await this.store.register({ worktreeId, readWriteHash: hash, readOnlyHash, name, by: session.peerId }));
      if (created) this.log.log({ event: 'registered', peer: session.peerId, worktree: worktreeId });
    }
    // Both comparisons always run, in constant time, and against stand-in hashes for a
    // worktree the relay does not have: the answer and its timing are the same for a wrong
    // secret and an unknown worktree, so a stranger learns nothing about which exist.
    const rw = sameHash(hash, registration?.readWriteHash ?? UNKNOWN);
    const ro = sameHash(hash, registration?.readOnlyHash ?? UNKNOWN);
    if (!registration || (!rw && !ro)) {
      throw new CshareError('UNAUTHORIZED', 'this relay has no worktree with that join code: check the code (ask its sharer for a new one) and the relay address');
    }
    const access: Access = rw ? 'rw' : 'ro';
    if (req.role === 'sharer' && access === 'ro') throw new CshareError('FORBIDDEN', 'this join code is read-only: sharing needs the read-write code');
    // A writer's replica id is the peer's that first wrote with it here: another peer claiming
    // it (to have its uploads taken for the sharer's) is refused. Readers upload nothing, so
    // their ids are not bound (nor can a read-only code fill the worktree's table of them).
    const owner = access === 'rw' ? await this.store.bindReplica(worktreeId, req.replicaId, session.peerId) : session.peerId;
    if (owner !== session.peerId) {
      throw new CshareError('FORBIDDEN', `replica ${req.replicaId} belongs to another peer on this relay: a copied or restored .cshare/ needs a new replica id (move .cshare/ aside and join again)`, {
        replicaId: req.replicaId,
      });
    }
    if (!this.table.sessions.has(session)) throw new CshareError('CONNECTION_CLOSED', 'the connection closed during hello');
    const pool: Pool = req.role === 'sharer' ? 'sharer' : access;
    const room = this.room(worktreeId);
    this.table.bind(session, room, pool);
    session.binding = { worktreeId, access, replicaId: req.replicaId, name: req.name, role: req.role, pool };
    session.conn.setMaxFrameBytes(Infinity);
    this.subscriptions.broadcast(room, { type: 'peer-joined', replicaId: req.replicaId, name: req.name, role: req.role }, session);
    log('%s: %s %s (%s) joined %s with %s access', session.peerId, req.role, req.name, req.replicaId, worktreeId, access);
    return { ok: true, relayId: this.relayId, access, seq: await this.store.head(worktreeId), created };
  }

  /**
   * Checks a request against the connection's binding: said hello (`UNAUTHORIZED`), same
   * worktree (`FORBIDDEN`), and read-write access for writes (`FORBIDDEN`).
   */
  private authorize(session: Session, worktreeId: string, write: boolean): { room: Room; binding: Binding } {
    const binding = session.binding;
    if (!binding) throw new CshareError('UNAUTHORIZED', 'say hello with a join code first');
    if (worktreeId !== binding.worktreeId) {
      throw new CshareError('FORBIDDEN', `this connection joined worktree ${binding.worktreeId}, not ${worktreeId}`, { worktreeId });
    }
    if (write && binding.access !== 'rw') throw new CshareError('FORBIDDEN', 'this join code is read-only: it cannot change the worktree');
    return { room: this.room(worktreeId), binding };
  }

  // -------------------------------------------------------------------------------------------
  // Uploads

  /** Long work of a request in `room`'s worktree takes turns with other worktrees' (see `pace.ts`). */
  private pacer(room: Room): Pacer {
    return new Pacer({ scheduler: this.scheduler, lane: room });
  }

  /**
   * A store write on `session`'s behalf, after checking the disk: a worktree over its quota
   * is logged (once in a while) as well as refused.
   */
  private async stored<T>(session: Session, write: () => Promise<T>): Promise<T> {
    try {
      this.checkDisk();
      return await write();
    } catch (err) {
      const e = err as CshareError;
      if (e.code === 'OVERLOADED' && e.data?.quota === true) {
        this.log.log({ event: 'quota', peer: session.peerId, worktree: String(e.data.worktreeId), used: Number(e.data.used), max: Number(e.data.max) });
      }
      throw err;
    }
  }

  private async uploadFile(room: Room, session: Session, binding: Binding, fileId: string, updates: Uint8Array[]): Promise<number> {
    const announce = ({ first }: Appended) => updates.forEach((update, i) => this.subscriptions.broadcast(room, { type: 'file-update', fileId, update, seq: first + i, by: binding.replicaId }, session));
    const { seq } = await this.stored(session, () => this.store.appendFile(room.worktreeId, fileId, updates, binding.replicaId, this.pacer(room), announce));
    return seq;
  }

  private blobStored(room: Room, session: Session, binding: Binding, digest: string, size: number, seq: number): void {
    this.subscriptions.broadcast(room, { type: 'blob', digest, size, seq, by: binding.replicaId }, session);
    room.offers.delivered(`b:${digest}`);
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  private room(worktreeId: string): Room {
    let room = this.rooms.get(worktreeId);
    if (!room) {
      room = {
        worktreeId,
        sessions: new Set(),
        pools: { sharer: 0, rw: 0, ro: 0 },
        offers: new Offers<Session>(this.offerCounter),
        budget: new ByteBudget(this.table.limits.worktreeBytes, this.table.budget),
      };
      this.rooms.set(worktreeId, room);
    }
    return room;
  }

  private dropRoomIfIdle(room: Room): void {
    if (room.sessions.size === 0 && room.offers.idle && this.rooms.get(room.worktreeId) === room) this.rooms.delete(room.worktreeId);
  }

  private detach(session: Session): void {
    const binding = session.binding;
    const room = binding ? this.rooms.get(binding.worktreeId) : undefined;
    if (!this.table.close(session, room)) return;
    this.subscriptions.end(session);
    for (const writer of session.uploads.values()) {
      writer.abort().catch((err: unknown) => this.log.log({ event: 'error', what: `dropping an unfinished upload of ${writer.digest}`, message: String((err as Error)?.message ?? err) }));
    }
    session.uploads.clear();
    if (!binding || !room) return;
    room.offers.forget(session);
    this.subscriptions.broadcast(room, { type: 'peer-left', replicaId: binding.replicaId }, session);
    log('%s: %s left %s', session.peerId, binding.replicaId, binding.worktreeId);
    this.dropRoomIfIdle(room);
  }
}

/** Stands in for the secret hashes of a worktree the relay does not have (see `bind`). */
const UNKNOWN = new Uint8Array(32).fill(0xff);

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
