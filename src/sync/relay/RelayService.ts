import { timingSafeEqual } from 'node:crypto';
import { gitBlobId } from '../../core/digest.js';
import { CshareError } from '../../core/errors.js';
import { logger } from '../../core/log.js';
import { hashSecret } from '../joinCode.js';
import { BoundedQueue } from '../rpc/BoundedQueue.js';
import type { RpcConnection } from '../rpc/RpcConnection.js';
import {
  MAX_UPDATES_PER_MESSAGE,
  SYNC_PAGE_BYTES,
  SYNC_PAGE_ITEMS,
  checkPeerProtocol,
  type Access,
  type BlobChunk,
  type HelloRequest,
  type HelloResponse,
  type Role,
  type SyncItem,
  type SyncPage,
  type WorktreeEvent,
} from '../schema.js';
import { slices } from '../slices.js';
import type { BlobWriter, RelayStore } from './RelayStore.js';
import { Pacer } from './pace.js';
import { checkManifestUpdate, checkPath, checkPathSet } from './validate.js';

const log = logger('relay');

/** Blobs read together by `blobs/fetch`, and the biggest read whole (bigger ones stream). */
const READ_GROUP = 64;
const READ_AHEAD_BLOB_BYTES = 64 * 1024;
/** Largest state vector in an offer (some 6,000 clients). */
const MAX_OFFER_VECTOR_BYTES = 64 * 1024;

/**
 * How the relay's side of every connection is set up (see `RpcOptions`). Decoding a frame is
 * one uninterrupted step of the event loop, so the values one frame may hold are bounded
 * far below the codec's defaults: every message a relay serves needs at most a few tens of
 * thousands (an offer of 4096 entries, an upload of 10,000 updates).
 */
export const RELAY_RPC_OPTIONS = Object.freeze({
  limits: Object.freeze({ maxValues: 65_536, maxArrayLength: MAX_UPDATES_PER_MESSAGE }),
});

/** Options of a {@link RelayService}. */
export interface RelayServiceOptions {
  store: RelayStore;
  /** Name the relay gives in `hello` replies (its libp2p peer id, usually). */
  relayId?: string;
  /** How long a fetch waits for a sharer to upload something it asked for (30 s). */
  needTimeoutMs?: number;
  /**
   * Events buffered per subscription (1024). When a subscriber falls that far behind, its
   * subscription ends with `OVERLOADED` instead of holding up the uploader or growing without
   * bound; the subscriber resubscribes and catches up with `worktree/sync`.
   */
  eventQueueSize?: number;
  /** Connections bound to one worktree at once (256); more get `OVERLOADED`. */
  maxPeersPerWorktree?: number;
  /** Unfinished chunked blob uploads per connection (8); more get `OVERLOADED`. */
  maxUploadsPerConnection?: number;
  /**
   * Offered-but-missing items remembered per connection for upload priority (200,000). Past
   * that, offers are still answered but not remembered, so a fetch of such an item gets
   * `NOT_FOUND` instead of waiting: memory stays bounded, the joiner retries later.
   */
  maxOfferedPerConnection?: number;
}

/** Who a connection is, once `hello` bound it to a worktree. */
interface Binding {
  worktreeId: string;
  access: Access;
  replicaId: string;
  name: string;
  role: Role;
}

interface Subscriber {
  queue: BoundedQueue<WorktreeEvent>;
  /** Set for `/worktrees/<id>/files/<fileId>`: only that file's updates. */
  fileId?: string;
}

interface Session {
  conn: RpcConnection;
  peerId: string;
  binding?: Binding;
  helloInFlight: boolean;
  subs: Set<Subscriber>;
  /** Keys (`b:<digest>`) of blobs this connection offered and the relay still lacks. */
  offered: Set<string>;
  uploads: Map<string, BlobWriter>;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** The live state of one worktree: who is connected, who can upload what, who waits for it. */
interface Room {
  worktreeId: string;
  sessions: Set<Session>;
  offers: Map<string, Set<Session>>;
  waiters: Map<string, Set<Waiter>>;
}

/**
 * The relay's RPC service (DESIGN.md "Sync protocol", "Persist"): authenticates connections
 * with the join code's secret, stores what sharers and read-write joiners upload in a
 * {@link RelayStore}, fans every change out to the worktree's other subscribers, serves
 * catch-up by relay seq, and asks a sharer to upload next what a joiner is waiting for.
 *
 * The relay never trusts a peer: every path is checked (safety rules), every blob is hashed
 * against its digest, every request is checked against the worktree and access the
 * connection's `hello` proved, and every queue is bounded.
 */
export class RelayService {
  private readonly store: RelayStore;
  private readonly relayId: string;
  private readonly needTimeoutMs: number;
  private readonly eventQueueSize: number;
  private readonly maxPeersPerWorktree: number;
  private readonly maxUploadsPerConnection: number;
  private readonly maxOfferedPerConnection: number;
  private readonly rooms = new Map<string, Room>();
  private readonly sessions = new Set<Session>();

  constructor(opts: RelayServiceOptions) {
    this.store = opts.store;
    this.relayId = opts.relayId ?? 'relay';
    this.needTimeoutMs = opts.needTimeoutMs ?? 30_000;
    this.eventQueueSize = opts.eventQueueSize ?? 1024;
    this.maxPeersPerWorktree = opts.maxPeersPerWorktree ?? 256;
    this.maxUploadsPerConnection = opts.maxUploadsPerConnection ?? 8;
    this.maxOfferedPerConnection = opts.maxOfferedPerConnection ?? 200_000;
  }

  /** Connections attached and still open. */
  get connections(): number {
    return this.sessions.size;
  }

  /**
   * Serves the relay protocol on `conn` (call right after constructing it). Nothing but
   * `hello` and `ping` is answered until `hello` proved a join code's secret.
   */
  attach(conn: RpcConnection, peer: { id: string }): void {
    const session: Session = { conn, peerId: peer.id, helloInFlight: false, subs: new Set(), offered: new Set(), uploads: new Map() };
    this.sessions.add(session);
    void conn.closed.then(() => this.detach(session));

    conn.handle('ping', ({ time }) => ({ time }));
    conn.handle('hello', (req) => this.hello(session, req));

    conn.handle('manifest/offer', async ({ worktreeId, entries }) => {
      const { room } = this.authorize(session, worktreeId, true);
      const { maxOfferEntries, maxPathLength } = this.store.limits;
      if (entries.length > maxOfferEntries) throw new CshareError('TOO_LARGE', `an offer holds at most ${maxOfferEntries} entries; send several`, { max: maxOfferEntries });
      const pacer = new Pacer();
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
        if (session.offered.size >= this.maxOfferedPerConnection) break;
        const e = byId.get(fileId)!;
        // Only blobs are fetched by what they are (a text file's updates come with the log).
        if (e.vector) continue;
        const key = `b:${e.digest}`;
        let set = room.offers.get(key);
        if (!set) room.offers.set(key, (set = new Set()));
        set.add(session);
        session.offered.add(key);
      }
      return { need };
    });

    conn.handle('manifest/upload', async ({ worktreeId, updates }) => {
      const { room, binding } = this.authorize(session, worktreeId, true);
      const pacer = new Pacer();
      const { maxPathLength, maxUpdateUnits } = this.store.limits;
      for (const u of updates) await checkManifestUpdate(u, { maxPathLength, maxUnits: maxUpdateUnits, pacer });
      const { first, seq } = await this.store.appendManifest(worktreeId, updates, binding.replicaId);
      updates.forEach((update, i) => this.broadcast(room, { type: 'manifest', update, seq: first + i, by: binding.replicaId }, session));
      return { ok: true, seq };
    });

    conn.handle('file/upload', async ({ worktreeId, fileId, updates, blob }) => {
      const { room, binding } = this.authorize(session, worktreeId, true);
      if (updates) return { ok: true, seq: await this.uploadFile(room, session, binding, fileId, updates) };
      const bytes = blob!;
      const digest = gitBlobId(bytes);
      const info = await this.store.putBlob(worktreeId, digest, bytes, binding.replicaId);
      if (info.created) this.blobStored(room, session, binding, digest, info.size, info.seq);
      return { ok: true, seq: info.seq };
    });

    conn.on('file/update', async ({ worktreeId, fileId, update }) => {
      const { room, binding } = this.authorize(session, worktreeId, true);
      await this.uploadFile(room, session, binding, fileId, [update]);
    });

    conn.handle('blob/upload', async ({ worktreeId, digest, size, offset, data }) => {
      const { room, binding } = this.authorize(session, worktreeId, true);
      let writer = session.uploads.get(digest);
      if (!writer) {
        if (offset !== 0) throw new CshareError('PROTOCOL', `blob ${digest}: no upload in progress; start at byte 0`, { digest });
        if (session.uploads.size >= this.maxUploadsPerConnection) {
          throw new CshareError('OVERLOADED', `at most ${this.maxUploadsPerConnection} blob uploads at once per connection`);
        }
        writer = await this.store.blobWriter(worktreeId, digest, size, binding.replicaId);
        if (writer.stored) return { ok: true, received: size, seq: writer.stored.seq };
        session.uploads.set(digest, writer);
      }
      if (writer.size !== size) throw new CshareError('PROTOCOL', `blob ${digest}: size changed from ${writer.size} to ${size} mid-upload`, { digest });
      let info;
      try {
        info = await writer.write(offset, data);
      } catch (err) {
        session.uploads.delete(digest);
        await writer.abort();
        throw err;
      }
      if (!info) return { ok: true, received: writer.received };
      session.uploads.delete(digest);
      if (writer.committed) this.blobStored(room, session, binding, digest, info.size, info.seq);
      return { ok: true, received: info.size, seq: info.seq };
    });

    conn.handleStream('worktree/sync', (req, ctx) => {
      this.authorize(session, req.worktreeId, false);
      return this.sync(req.worktreeId, req.after, ctx.signal);
    });

    conn.handleStream('worktree/sync-pages', (req, ctx) => {
      this.authorize(session, req.worktreeId, false);
      return this.syncPages(req.worktreeId, req.after, ctx.signal);
    });

    // No `file/fetch`: no client asks for it, and serving one with a state vector merged the
    // file's whole log in one step (issue 15, item 5: after 100,000 tiny updates, minutes
    // during which the relay served nobody). Such a request gets "does not handle".

    conn.handleStream('blob/fetch', (req, ctx) => {
      const { room } = this.authorize(session, req.worktreeId, false);
      return this.fetchBlob(room, req.digest, ctx.signal);
    });

    conn.handleStream('blobs/fetch', (req, ctx) => {
      const { room } = this.authorize(session, req.worktreeId, false);
      return this.fetchBlobs(room, req.digests, ctx.signal);
    });

    conn.handleSubscribe('/worktrees/:worktreeId', ({ worktreeId }, ctx) => this.subscribe(session, worktreeId!, undefined, ctx.signal));
    conn.handleSubscribe('/worktrees/:worktreeId/files/:fileId', ({ worktreeId, fileId }, ctx) => this.subscribe(session, worktreeId!, fileId, ctx.signal));
  }

  /** Closes every attached connection. */
  close(): void {
    for (const s of [...this.sessions]) s.conn.close();
  }

  // -------------------------------------------------------------------------------------------
  // Authentication

  private async hello(session: Session, req: HelloRequest): Promise<HelloResponse> {
    if (session.binding || session.helloInFlight) throw new CshareError('PROTOCOL', 'hello was already said on this connection');
    session.helloInFlight = true;
    try {
      checkPeerProtocol(req);
      if (req.role === 'relay') throw new CshareError('FORBIDDEN', 'this relay does not accept connections from other relays');
      const { worktreeId, secretProof } = req;
      if (worktreeId === undefined || secretProof === undefined) {
        throw new CshareError('UNAUTHORIZED', 'a join code is required: hello must carry the worktree id and its secret');
      }
      const hash = hashSecret(secretProof);
      let registration = await this.store.getWorktree(worktreeId);
      let created = false;
      if (!registration) {
        if (req.role !== 'sharer' || !req.register) {
          throw new CshareError('NOT_FOUND', `this relay has no worktree ${worktreeId}: check the join code and the relay address`, { worktreeId });
        }
        if (req.register.readOnlyHash.length !== hash.length) throw new CshareError('PROTOCOL', 'the read-only secret hash must be a sha256 (32 bytes)');
        ({ registration, created } = await this.store.register({ worktreeId, readWriteHash: hash, readOnlyHash: req.register.readOnlyHash, name: req.register.name }));
      }
      // Both comparisons always run, in constant time, so timing tells nothing about either hash.
      const rw = sameHash(hash, registration.readWriteHash);
      const ro = sameHash(hash, registration.readOnlyHash);
      if (!rw && !ro) throw new CshareError('UNAUTHORIZED', `wrong secret for worktree ${worktreeId}: ask its sharer for a new join code`, { worktreeId });
      const access: Access = rw ? 'rw' : 'ro';
      if (req.role === 'sharer' && access === 'ro') throw new CshareError('FORBIDDEN', 'this join code is read-only: sharing needs the read-write code');
      if (!this.sessions.has(session)) throw new CshareError('CONNECTION_CLOSED', 'the connection closed during hello');
      if ((this.rooms.get(worktreeId)?.sessions.size ?? 0) >= this.maxPeersPerWorktree) {
        throw new CshareError('OVERLOADED', `worktree ${worktreeId} already has ${this.maxPeersPerWorktree} connections on this relay`);
      }
      const room = this.room(worktreeId);
      session.binding = { worktreeId, access, replicaId: req.replicaId, name: req.name, role: req.role };
      room.sessions.add(session);
      this.broadcast(room, { type: 'peer-joined', replicaId: req.replicaId, name: req.name, role: req.role }, session);
      log('%s: %s %s (%s) joined %s with %s access', session.peerId, req.role, req.name, req.replicaId, worktreeId, access);
      return { ok: true, relayId: this.relayId, access, seq: await this.store.head(worktreeId), created };
    } finally {
      session.helloInFlight = false;
    }
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

  private async uploadFile(room: Room, session: Session, binding: Binding, fileId: string, updates: Uint8Array[]): Promise<number> {
    const { first, seq } = await this.store.appendFile(room.worktreeId, fileId, updates, binding.replicaId);
    updates.forEach((update, i) => this.broadcast(room, { type: 'file-update', fileId, update, seq: first + i, by: binding.replicaId }, session));
    return seq;
  }

  private blobStored(room: Room, session: Session, binding: Binding, digest: string, size: number, seq: number): void {
    this.broadcast(room, { type: 'blob', digest, size, seq, by: binding.replicaId }, session);
    this.delivered(room, `b:${digest}`);
  }

  // -------------------------------------------------------------------------------------------
  // Downloads

  private async *sync(worktreeId: string, after: number, signal: AbortSignal): AsyncIterable<SyncItem> {
    const head = await this.store.head(worktreeId);
    for await (const entry of this.store.entriesAfter(worktreeId, after, { upTo: head, signal })) yield entry;
    // The real head even if it is below `after`: a client that sees that knows the relay lost
    // or never had what it saw, and syncs from scratch.
    yield { type: 'head', seq: head };
  }

  /** The items of {@link sync}, in pages (see {@link SyncPage}). */
  private async *syncPages(worktreeId: string, after: number, signal: AbortSignal): AsyncIterable<SyncPage> {
    let items: SyncItem[] = [];
    let bytes = 0;
    for await (const item of this.sync(worktreeId, after, signal)) {
      const size = 'update' in item ? item.update.byteLength : 0;
      if (items.length > 0 && (items.length >= SYNC_PAGE_ITEMS || bytes + size > SYNC_PAGE_BYTES)) {
        yield { items };
        items = [];
        bytes = 0;
      }
      items.push(item);
      bytes += size;
    }
    if (items.length > 0) yield { items };
  }

  private async *fetchBlob(room: Room, digest: string, signal: AbortSignal): AsyncIterable<BlobChunk> {
    const { worktreeId } = room;
    if (!(await this.store.getBlob(worktreeId, digest))) {
      await this.ensureAvailable(room, `b:${digest}`, { digest }, () => this.store.getBlob(worktreeId, digest), signal);
    }
    for await (const chunk of this.store.readBlob(worktreeId, digest)) {
      signal.throwIfAborted();
      yield { digest, ...chunk };
    }
  }

  /**
   * The blobs asked for, in order, skipping those not stored (see `blobs/fetch`). Read
   * {@link READ_GROUP} at a time with two store reads (records, then the bytes of the small
   * ones), the next group while this one is sent; a blob over {@link READ_AHEAD_BLOB_BYTES} is
   * streamed chunk by chunk from the record already read.
   */
  private async *fetchBlobs(room: Room, digests: string[], signal: AbortSignal): AsyncIterable<BlobChunk> {
    const groups = slices([...new Set(digests)], READ_GROUP, Infinity, () => 0);
    const read = (i: number) => {
      if (i >= groups.length) return undefined;
      const p = this.store.readBlobs(room.worktreeId, groups[i]!, READ_AHEAD_BLOB_BYTES);
      p.catch(() => undefined); // awaited below; not unhandled if the fetch ends first
      return p;
    };
    let next = read(0);
    for (let g = 0; g < groups.length; g++) {
      signal.throwIfAborted();
      const blobs = await next!;
      next = read(g + 1);
      const group = groups[g]!;
      for (let i = 0; i < group.length; i++) {
        const blob = blobs[i];
        const digest = group[i]!;
        if (blob === undefined) continue;
        if (blob.data !== undefined) {
          yield { digest, size: blob.size, offset: 0, data: blob.data };
          continue;
        }
        for await (const chunk of this.store.blobChunks(room.worktreeId, digest, blob)) {
          signal.throwIfAborted();
          yield { digest, size: blob.size, ...chunk };
        }
      }
    }
  }

  /**
   * Upload priority (DESIGN.md "Share", step 6): something a client fetches is not stored yet.
   * If a connected peer offered it, send that peer a `need` event (on its worktree
   * subscription) and wait until it arrives, the peer leaves, `needTimeoutMs` passes or the
   * fetch is cancelled. Otherwise `NOT_FOUND` at once.
   */
  private async ensureAvailable(room: Room, key: string, what: { fileId?: string; digest?: string }, present: () => Promise<unknown>, signal: AbortSignal): Promise<void> {
    const label = what.fileId !== undefined ? `file ${what.fileId}` : `blob ${what.digest}`;
    const offerers = [...(room.offers.get(key) ?? [])].filter((s) => [...s.subs].some((sub) => sub.fileId === undefined));
    if (offerers.length === 0) throw new CshareError('NOT_FOUND', `the relay does not have ${label}, and no connected peer offered it`, what);
    let waiter!: Waiter;
    const arrived = new Promise<void>((resolve, reject) => (waiter = { resolve, reject }));
    let set = room.waiters.get(key);
    if (!set) room.waiters.set(key, (set = new Set()));
    set.add(waiter);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = (): void => waiter.reject(signal.reason instanceof Error ? signal.reason : new CshareError('CONNECTION_CLOSED', 'fetch cancelled'));
    try {
      // Registered before this check, so an upload finishing in between is not missed.
      if (await present()) return;
      for (const s of offerers) this.sendTo(s, what.fileId !== undefined ? { type: 'need', fileId: what.fileId } : { type: 'need', digest: what.digest! });
      timer = setTimeout(
        () => waiter.reject(new CshareError('TIMEOUT', `the sharer did not upload ${label} within ${this.needTimeoutMs} ms; try again`, what)),
        this.needTimeoutMs,
      );
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
      await arrived;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      set.delete(waiter);
      if (set.size === 0 && room.waiters.get(key) === set) room.waiters.delete(key);
      this.dropRoomIfIdle(room);
    }
  }

  /** `key` was stored: nobody needs to be asked for it any more, and its waiters can go on. */
  private delivered(room: Room, key: string): void {
    for (const s of room.offers.get(key) ?? []) s.offered.delete(key);
    room.offers.delete(key);
    for (const w of room.waiters.get(key) ?? []) w.resolve();
  }

  // -------------------------------------------------------------------------------------------
  // Events

  private subscribe(session: Session, worktreeId: string, fileId: string | undefined, signal: AbortSignal): AsyncIterable<WorktreeEvent> {
    const { room } = this.authorize(session, worktreeId, false);
    const sub: Subscriber = { queue: new BoundedQueue<WorktreeEvent>(this.eventQueueSize), fileId };
    if (fileId === undefined) {
      // Who is here already, so a new subscriber does not have to wait for the next change.
      for (const other of room.sessions) {
        if (other === session || !other.binding) continue;
        const { replicaId, name, role } = other.binding;
        sub.queue.push({ type: 'peer-joined', replicaId, name, role });
      }
    }
    session.subs.add(sub);
    signal.addEventListener(
      'abort',
      () => {
        session.subs.delete(sub);
        sub.queue.end();
      },
      { once: true },
    );
    return sub.queue;
  }

  /** Sends `event` to every subscriber of the worktree except those of `origin`'s connection. */
  private broadcast(room: Room, event: WorktreeEvent, origin: Session): void {
    for (const s of room.sessions) if (s !== origin) this.sendTo(s, event);
  }

  private sendTo(session: Session, event: WorktreeEvent): void {
    for (const sub of session.subs) {
      if (sub.fileId !== undefined && (event.type !== 'file-update' || event.fileId !== sub.fileId)) continue;
      if (!sub.queue.push(event)) {
        // Full: this subscriber is too slow. End its subscription rather than grow or stall.
        session.subs.delete(sub);
        sub.queue.fail(new CshareError('OVERLOADED', `fell more than ${this.eventQueueSize} events behind; resubscribe and catch up with worktree/sync`));
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  private room(worktreeId: string): Room {
    let room = this.rooms.get(worktreeId);
    if (!room) this.rooms.set(worktreeId, (room = { worktreeId, sessions: new Set(), offers: new Map(), waiters: new Map() }));
    return room;
  }

  private dropRoomIfIdle(room: Room): void {
    if (room.sessions.size === 0 && room.waiters.size === 0 && this.rooms.get(room.worktreeId) === room) this.rooms.delete(room.worktreeId);
  }

  private detach(session: Session): void {
    if (!this.sessions.delete(session)) return;
    for (const sub of session.subs) sub.queue.end();
    session.subs.clear();
    for (const writer of session.uploads.values()) {
      writer.abort().catch((err: unknown) => log('%s: could not drop an unfinished upload of %s: %O', session.peerId, writer.digest, err));
    }
    session.uploads.clear();
    const binding = session.binding;
    if (!binding) return;
    const room = this.rooms.get(binding.worktreeId);
    if (!room) return;
    room.sessions.delete(session);
    for (const key of session.offered) {
      const set = room.offers.get(key);
      set?.delete(session);
      if (set && set.size === 0) {
        room.offers.delete(key);
        const err = new CshareError('NOT_FOUND', `the peer that offered ${key.slice(2)} disconnected before uploading it`);
        for (const w of room.waiters.get(key) ?? []) w.reject(err);
      }
    }
    session.offered.clear();
    this.broadcast(room, { type: 'peer-left', replicaId: binding.replicaId }, session);
    log('%s: %s left %s', session.peerId, binding.replicaId, binding.worktreeId);
    this.dropRoomIfIdle(room);
  }
}

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
