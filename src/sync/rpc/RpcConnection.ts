import { CshareError, isErrorCode, toCshareError } from '../../core/errors.js';
import { logger } from '../../core/log.js';
import { DEFAULT_LIMITS, FrameKind, decodeFrames, encodeFrame, peekHeader, type CodecLimits, type Frame, type Value } from './codec.js';
import { BoundedQueue } from './BoundedQueue.js';
import type { ByteBudget } from './ByteBudget.js';
import { ConnectionClosedError } from './ConnectionClosedError.js';
import { Outbox } from './Outbox.js';
import type { ProtocolSchema, ProtocolTypes, RequestName, SendName, StreamName } from './protocol.js';
import { compileResourcePattern, type ResourcePattern } from './resourcePattern.js';
import type { FrameChannel } from './transport.js';

const log = logger('rpc');

/** Options of an {@link RpcConnection}. */
export interface RpcOptions<P extends ProtocolTypes> {
  /** Messages and validators (cshare's: `sync/connection.ts`). */
  schema: ProtocolSchema<P>;
  /** Who is on the other end, for errors and logs ("relay example.org"). */
  peer?: string;
  /** Codec bounds; frames over `maxFrameBytes` (16 MiB) close the connection. */
  limits?: Partial<CodecLimits>;
  /** Default `request` timeout (30 s). */
  requestTimeoutMs?: number;
  /** Incoming events buffered per subscription (256); see {@link BoundedQueue}. */
  queueSize?: number;
  /**
   * Incoming items buffered per stream (4096): a stream's sender runs a few items ahead of its
   * writes, so they arrive in bursts.
   */
  streamQueueSize?: number;
  /** Incoming bytes buffered per stream or subscription (32 MiB). */
  queueBytes?: number;
  /** Subscriptions this side serves at once for the peer (64); more get `OVERLOADED`. */
  maxSubscriptions?: number;
  /** Requests and streams this side serves at once for the peer (1024); more get `OVERLOADED`. */
  maxConcurrentHandlers?: number;
  /**
   * Most bytes waiting to be written before the connection is closed with `OVERLOADED`
   * (64 MiB): a peer that keeps asking but stops reading is dropped instead of buffered for.
   */
  maxOutboxBytes?: number;
  /** Coalesce the frames of one tick into one write (default true). */
  batch?: boolean;
  /**
   * Where the bytes of the peer's requests being handled are counted (the frame's bytes,
   * until its handler is done): while this budget, or one it is part of, is full, the
   * connection reads nothing more (see {@link ByteBudget}). Unbounded without one.
   */
  budget?: ByteBudget;
  /** Aborting closes the connection. */
  signal?: AbortSignal;
}

/** Per-call options. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** Options of {@link RpcConnection.subscribe}. */
export interface SubscribeOptions extends CallOptions {
  /** Events held until read (default: the connection's `queueSize`, 256); past it the subscription fails with `OVERLOADED`. */
  queueSize?: number;
}

/** Options of {@link RpcConnection.request}. */
export interface RequestOptions extends CallOptions {
  /** Overrides the connection's default timeout; `Infinity` waits forever. */
  timeoutMs?: number;
}

/** What a handler gets besides the message. */
export interface HandlerContext<P extends ProtocolTypes = ProtocolTypes> {
  /** Aborted when the peer cancels (or unsubscribes) or the connection closes. */
  signal: AbortSignal;
  connection: RpcConnection<P>;
}

/** What a subscription handler gets. */
export interface SubscribeContext<P extends ProtocolTypes = ProtocolTypes> extends HandlerContext<P> {
  resource: string;
}

/** A live subscription: iterate it for events; `ready` settles once the peer accepted it. */
export interface Subscription<E> extends AsyncIterable<E> {
  /** Resolves when the peer accepted the subscription, rejects if it refused. */
  readonly ready: Promise<void>;
  /** Stops the subscription (so does leaving the `for await`, or aborting its signal). */
  unsubscribe(): void;
}

type RequestHandler<P extends ProtocolTypes, K extends RequestName<P>> = (
  request: P['requests'][K]['request'],
  ctx: HandlerContext<P>,
) => P['requests'][K]['response'] | Promise<P['requests'][K]['response']>;
type StreamHandler<P extends ProtocolTypes, K extends StreamName<P>> = (
  request: P['streams'][K]['request'],
  ctx: HandlerContext<P>,
) => AsyncIterable<P['streams'][K]['item']>;
type SendHandler<P extends ProtocolTypes, K extends SendName<P>> = (message: P['sends'][K], ctx: HandlerContext<P>) => void | Promise<void>;
type SubscribeHandler<P extends ProtocolTypes> = (
  params: Record<string, string>,
  ctx: SubscribeContext<P>,
) => AsyncIterable<P['event']> | Promise<AsyncIterable<P['event']>>;

/** A call this side made and is waiting on. */
type Pending =
  | { kind: 'request'; name: string; resolve: (v: unknown) => void; reject: (e: Error) => void }
  | { kind: 'stream'; name: string; queue: BoundedQueue<unknown> }
  | { kind: 'subscription'; name: string; queue: BoundedQueue<unknown>; accept: () => void; refuse: (e: Error) => void };

/** A call the peer made that this side is serving. */
interface Served {
  kind: 'request' | 'stream' | 'subscription';
  controller: AbortController;
  /** The bytes of the frame it came in, counted in the budget until it is done. */
  bytes: number;
}

const MAX_ERROR_MESSAGE = 4096;
/**
 * Items of one outgoing stream queued ahead of the transport: at most this many and, beyond
 * the first, only while the connection's backlog is under {@link STREAM_AHEAD_BYTES}. They
 * arrive in bursts, which the other side's stream queue (4096 items by default) absorbs; a
 * peer whose stream queue holds only 256 (cshare before 2026-11-24) can fall behind on a long
 * stream and end it with `OVERLOADED`.
 */
const STREAM_AHEAD_ITEMS = 64;
const STREAM_AHEAD_BYTES = 1024 * 1024;

/**
 * One RPC connection over a {@link FrameChannel}, modelled on Zed's `rpc` crate: `send`,
 * `request`, `requestStream` and `subscribe` on the calling side; `on`, `handle`,
 * `handleStream` and `handleSubscribe` on the serving side. Both sides may do both.
 *
 * Guarantees:
 * - every incoming message is validated against the schema before a handler sees it, and every
 *   response, item and event before the caller sees it;
 * - a handler that throws replies with `{ code, message }` (unknown codes become `INTERNAL`);
 *   one that returns nothing is a bug, logged and replied as an `INTERNAL` error;
 * - unknown types and malformed frames get a `PROTOCOL` error reply and are dropped; a frame
 *   of another protocol version gets a fatal "upgrade" error and closes the connection; a
 *   frame over the size limit closes the connection;
 * - when the connection closes, every pending call rejects with {@link ConnectionClosedError}
 *   and every handler's signal aborts.
 *
 * Reading starts at once, so register handlers right after construction (a message that
 * arrives for an unregistered type gets an error reply).
 */
export class RpcConnection<P extends ProtocolTypes> {
  readonly peer: string;
  /** Resolves when the connection has closed; never rejects. */
  readonly closed: Promise<void>;
  private readonly schema: ProtocolSchema<P>;
  private readonly limits: CodecLimits;
  private readonly outbox: Outbox;
  private readonly requestTimeoutMs: number;
  private readonly queueSize: number;
  private readonly streamQueueSize: number;
  private readonly queueBytes: number;
  private readonly maxSubscriptions: number;
  private readonly maxConcurrentHandlers: number;
  private readonly pending = new Map<number, Pending>();
  private readonly served = new Map<number, Served>();
  private readonly requestHandlers = new Map<string, RequestHandler<P, RequestName<P>>>();
  private readonly streamHandlers = new Map<string, StreamHandler<P, StreamName<P>>>();
  private readonly sendHandlers = new Map<string, SendHandler<P, SendName<P>>>();
  private readonly subscribeHandlers: { pattern: ResourcePattern; handler: SubscribeHandler<P> }[] = [];
  private seq = 0;
  private servedSubscriptions = 0;
  private closeReason: Error | undefined;
  private isClosed = false;
  private resolveClosed!: () => void;
  private readonly budget: ByteBudget | undefined;
  /** Aborted on close: ends a wait for room in the budget. */
  private readonly closing = new AbortController();
  /** Largest frame read; see {@link setMaxFrameBytes}. */
  private frameLimit: number;

  constructor(
    private readonly channel: FrameChannel,
    opts: RpcOptions<P>,
  ) {
    this.schema = opts.schema;
    this.peer = opts.peer ?? 'peer';
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.queueSize = opts.queueSize ?? 256;
    this.streamQueueSize = opts.streamQueueSize ?? 4096;
    this.queueBytes = opts.queueBytes ?? 32 * 1024 * 1024;
    this.maxSubscriptions = opts.maxSubscriptions ?? 64;
    this.maxConcurrentHandlers = opts.maxConcurrentHandlers ?? 1024;
    this.budget = opts.budget;
    this.frameLimit = this.limits.maxFrameBytes;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.outbox = new Outbox(channel, {
      version: this.schema.version,
      maxFrameBytes: this.limits.maxFrameBytes,
      batch: opts.batch ?? true,
      onWriteError: (err) => this.close(toError(err)),
      maxBacklogBytes: opts.maxOutboxBytes ?? 64 * 1024 * 1024,
      onOverflow: (bytes) =>
        this.close(new CshareError('OVERLOADED', `${this.peer} is not reading what is sent to it (${bytes} bytes waiting); closing the connection`, { backlogBytes: bytes })),
    });
    if (opts.signal) {
      const signal = opts.signal;
      if (signal.aborted) queueMicrotask(() => this.close(toError(signal.reason)));
      else signal.addEventListener('abort', () => this.close(toError(signal.reason)), { once: true });
    }
    void channel.closed.then(() => this.close());
    void this.readLoop();
  }

  /**
   * Transport writes and frames sent so far (batching makes writes < frames), and the bytes
   * waiting to be written now and at most so far.
   */
  get stats(): { writes: number; frames: number; backlogBytes: number; maxBacklogBytes: number } {
    return { writes: this.outbox.writes, frames: this.outbox.frames, backlogBytes: this.outbox.backlogBytes, maxBacklogBytes: this.outbox.maxBacklogSeen };
  }

  // -------------------------------------------------------------------------------------------
  // Calling side

  /** Sends a message that gets no reply. Resolves once the transport has taken it. */
  async send<K extends SendName<P>>(type: K, message: P['sends'][K], opts: CallOptions = {}): Promise<void> {
    opts.signal?.throwIfAborted();
    this.checkOpen();
    await this.enqueue({ kind: FrameKind.SEND, seq: this.nextSeq(), replyTo: 0, name: type, payload: message as Value });
  }

  /**
   * Sends a request and resolves with its validated response. Rejects with the handler's
   * error, `TIMEOUT`, the signal's reason, or {@link ConnectionClosedError}; on timeout or
   * abort the peer is told to stop.
   */
  request<K extends RequestName<P>>(type: K, request: P['requests'][K]['request'], opts: RequestOptions = {}): Promise<P['requests'][K]['response']> {
    const { signal } = opts;
    const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      signal?.throwIfAborted();
      this.checkOpen();
      const seq = this.nextSeq();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const cleanup = (): void => {
        this.pending.delete(seq);
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        cleanup();
        this.cancelRemote(seq);
        reject(signal?.reason);
      };
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          cleanup();
          this.cancelRemote(seq);
          reject(new CshareError('TIMEOUT', `${this.peer} did not answer "${type}" within ${timeoutMs} ms`, { type, timeoutMs }));
        }, timeoutMs);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(seq, {
        kind: 'request',
        name: type,
        resolve: (v) => {
          cleanup();
          resolve(v as P['requests'][K]['response']);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
      });
      this.enqueue({ kind: FrameKind.REQUEST, seq, replyTo: 0, name: type, payload: request as Value }).catch((err: unknown) => {
        this.failPending(seq, toError(err));
      });
    });
  }

  /**
   * Sends a streaming request; iterate the result for its validated items. Leaving the loop
   * early or aborting tells the peer to stop. If the consumer falls more than `streamQueueSize`
   * items or `queueBytes` behind, the stream ends with `OVERLOADED`.
   */
  requestStream<K extends StreamName<P>>(type: K, request: P['streams'][K]['request'], opts: CallOptions = {}): AsyncIterable<P['streams'][K]['item']> {
    opts.signal?.throwIfAborted();
    this.checkOpen();
    const seq = this.nextSeq();
    const queue = new BoundedQueue<unknown>(this.streamQueueSize, () => this.dropPending(seq, true), this.queueBytes);
    this.pending.set(seq, { kind: 'stream', name: type, queue });
    this.bindSignal(opts.signal, seq, queue);
    this.enqueue({ kind: FrameKind.REQUEST, seq, replyTo: 0, name: type, payload: request as Value }).catch((err: unknown) => {
      this.failPending(seq, toError(err));
    });
    return queue as BoundedQueue<P['streams'][K]['item']>;
  }

  /**
   * Subscribes to a resource (`/worktrees/<id>`); iterate the result for validated events.
   * Leaving the loop, `unsubscribe()` or aborting unsubscribes. A refusal (`NOT_FOUND`,
   * `FORBIDDEN`, `OVERLOADED`, ...) rejects `ready` and is thrown by the iteration. If the
   * consumer falls more than `queueSize` events behind, the subscription ends with
   * `OVERLOADED` (the caller resubscribes and catches up by version vector).
   */
  subscribe(resource: string, opts: SubscribeOptions = {}): Subscription<P['event']> {
    opts.signal?.throwIfAborted();
    this.checkOpen();
    if (!resource.startsWith('/')) throw new CshareError('USAGE', `resource ${JSON.stringify(resource)} must start with /`);
    const seq = this.nextSeq();
    const queue = new BoundedQueue<unknown>(opts.queueSize ?? this.queueSize, () => this.dropPending(seq, true), this.queueBytes);
    let accept!: () => void;
    let refuse!: (e: Error) => void;
    const ready = new Promise<void>((res, rej) => ((accept = res), (refuse = rej)));
    // The refusal also surfaces through the iteration, so `ready` need not be awaited.
    ready.catch((err: unknown) => log('%s: subscription %s refused: %s', this.peer, resource, toError(err).message));
    this.pending.set(seq, { kind: 'subscription', name: resource, queue, accept, refuse });
    this.bindSignal(opts.signal, seq, queue);
    this.enqueue({ kind: FrameKind.SUBSCRIBE, seq, replyTo: 0, name: resource, payload: null }).catch((err: unknown) => {
      this.failPending(seq, toError(err));
    });
    const iterable = queue as BoundedQueue<P['event']>;
    return {
      ready,
      unsubscribe: () => {
        // Not yet accepted: whoever awaits `ready` must not wait for ever.
        refuse(new CshareError('INTERNAL', `unsubscribed from ${resource} before the peer accepted`));
        queue.end();
        this.dropPending(seq, true);
      },
      [Symbol.asyncIterator]: () => iterable[Symbol.asyncIterator](),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Serving side

  /** Handles a fire-and-forget message type. An error is logged and reported to the peer. */
  on<K extends SendName<P>>(type: K, handler: SendHandler<P, K>): this {
    this.register(this.sendHandlers, type, handler as SendHandler<P, SendName<P>>, this.schema.sends);
    return this;
  }

  /** Handles a request type: return (or resolve) the response, or throw to reply an error. */
  handle<K extends RequestName<P>>(type: K, handler: RequestHandler<P, K>): this {
    this.register(this.requestHandlers, type, handler as unknown as RequestHandler<P, RequestName<P>>, this.schema.requests);
    return this;
  }

  /** Handles a streaming request type: yield the items; `ctx.signal` aborts when the caller stops. */
  handleStream<K extends StreamName<P>>(type: K, handler: StreamHandler<P, K>): this {
    this.register(this.streamHandlers, type, handler as unknown as StreamHandler<P, StreamName<P>>, this.schema.streams);
    return this;
  }

  /**
   * Serves subscriptions to resources matching `pattern` (`/worktrees/:worktreeId`). The handler
   * may refuse by throwing (before returning its iterable); it is accepted once the iterable
   * is returned, and each value yielded is sent as an event. `ctx.signal` aborts on unsubscribe.
   */
  handleSubscribe(pattern: string, handler: SubscribeHandler<P>): this {
    this.subscribeHandlers.push({ pattern: compileResourcePattern(pattern), handler });
    return this;
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * Closes the connection: pending calls reject with {@link ConnectionClosedError}, handlers'
   * signals abort, frames already queued are still written (for at most a second), then the
   * channel closes. Idempotent.
   */
  close(reason?: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeReason = reason;
    if (reason) log('%s: closing: %s', this.peer, reason.message);
    const closedErr = new ConnectionClosedError(this.peer, reason);
    for (const [seq, p] of this.pending) this.settlePending(seq, p, closedErr);
    this.pending.clear();
    for (const s of this.served.values()) {
      s.controller.abort(closedErr);
      this.budget?.release(s.bytes);
    }
    this.served.clear();
    this.servedSubscriptions = 0;
    this.closing.abort(closedErr);
    const flushed = this.outbox.flush();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)));
    void Promise.race([flushed, deadline]).then(() => {
      clearTimeout(timer);
      this.channel.close(reason);
      this.resolveClosed();
    });
  }

  /**
   * Lowers (or raises, up to the codec's limit) the largest frame this side reads: a peer
   * that sends a longer one is cut off with `FRAME_TOO_LARGE`. The relay reads small frames
   * from a peer until its `hello` proved a join code, so a stranger cannot make it buffer
   * 16 MiB per connection. The transport is told too (it refuses such a frame from its
   * length prefix, before buffering it).
   */
  setMaxFrameBytes(bytes: number): void {
    this.frameLimit = Math.min(bytes, this.limits.maxFrameBytes);
    this.channel.setMaxFrameBytes?.(this.frameLimit);
  }

  /** Why the connection closed, if it closed because of an error. */
  get error(): Error | undefined {
    return this.closeReason;
  }

  // -------------------------------------------------------------------------------------------
  // Internals

  private nextSeq(): number {
    this.seq = this.seq >= 0xffffffff ? 1 : this.seq + 1;
    return this.seq;
  }

  private checkOpen(): void {
    if (this.isClosed) throw new ConnectionClosedError(this.peer, this.closeReason);
  }

  private register<H>(map: Map<string, H>, type: string, handler: H, known: object): void {
    if (!Object.prototype.hasOwnProperty.call(known, type)) throw new Error(`"${type}" is not in the schema`);
    if (map.has(type)) throw new Error(`a handler for "${type}" is already registered`);
    map.set(type, handler);
  }

  private enqueue(frame: Frame): Promise<void> {
    if (this.isClosed) return Promise.reject(new ConnectionClosedError(this.peer, this.closeReason));
    let bytes: Uint8Array;
    try {
      bytes = encodeFrame(frame, this.schema.version, this.limits);
    } catch (err) {
      return Promise.reject(toCshareError(err));
    }
    return this.outbox.push(bytes);
  }

  /** Sends a frame nobody awaits; a failure means the connection is closing, which reports it. */
  private post(frame: Frame): void {
    this.enqueue(frame).catch((err: unknown) => log('%s: could not send %s: %s', this.peer, frame.name || frame.kind, toError(err).message));
  }

  private replyError(replyTo: number, err: unknown, fatal = false): void {
    const e = toCshareError(err);
    const payload: Record<string, Value> = { code: e.code, message: e.message.slice(0, MAX_ERROR_MESSAGE) };
    if (fatal) payload.fatal = true;
    this.post({ kind: FrameKind.ERROR, seq: this.nextSeq(), replyTo, name: '', payload });
  }

  private cancelRemote(seq: number): void {
    if (!this.isClosed) this.post({ kind: FrameKind.UNSUBSCRIBE, seq: this.nextSeq(), replyTo: seq, name: '', payload: null });
  }

  private bindSignal(signal: AbortSignal | undefined, seq: number, queue: BoundedQueue<unknown>): void {
    if (!signal) return;
    const onAbort = (): void => {
      // A subscription not yet accepted also refuses its `ready` (else a caller awaiting it
      // waited for ever once the pending entry was dropped; a process stopped right after a
      // reconnect then exited 13, its top-level await never settled).
      const p = this.pending.get(seq);
      if (p?.kind === 'subscription') p.refuse(toError(signal.reason));
      queue.fail(signal.reason);
      this.dropPending(seq, true);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    // Removed when the call ends (the queue closes on end, error, early return and when the
    // connection closes): a long session makes thousands of calls on one signal.
    queue.onClosed(() => signal.removeEventListener('abort', onAbort));
  }

  private dropPending(seq: number, cancel: boolean): void {
    if (this.pending.delete(seq) && cancel) this.cancelRemote(seq);
  }

  private failPending(seq: number, err: Error): void {
    const p = this.pending.get(seq);
    if (!p) return;
    this.pending.delete(seq);
    this.settlePending(seq, p, err);
  }

  private settlePending(_seq: number, p: Pending, err: Error): void {
    if (p.kind === 'request') p.reject(err);
    else {
      if (p.kind === 'subscription') p.refuse(err);
      p.queue.fail(err);
    }
  }

  private async readLoop(): Promise<void> {
    const frames = this.channel.frames[Symbol.asyncIterator]();
    try {
      for (;;) {
        // Backpressure: the next frame is read only once the requests in hand fit the budget.
        while (this.budget?.full && !this.isClosed) await this.budget.roomFreed(this.closing.signal);
        if (this.isClosed) break;
        const next = await frames.next();
        if (next.done || this.isClosed) break;
        this.receive(next.value);
      }
      this.close();
    } catch (err) {
      this.close(toError(err));
    } finally {
      // As leaving a for-await would: the channel's reader ends (and closes its side).
      void Promise.resolve(frames.return?.()).catch((err: unknown) => log('%s: ending the reader: %s', this.peer, toError(err).message));
    }
  }

  private receive(bytes: Uint8Array): void {
    if (bytes.length > this.frameLimit) {
      const err = new CshareError('FRAME_TOO_LARGE', `${this.peer} sent a frame of ${bytes.length} bytes, over the ${this.frameLimit}-byte limit`, {
        size: bytes.length,
        max: this.frameLimit,
      });
      this.replyError(0, err, true);
      this.close(err);
      return;
    }
    let frames: Frame[];
    try {
      frames = decodeFrames(bytes, this.schema.version, this.limits);
    } catch (err) {
      const e = toCshareError(err);
      const header = peekHeader(bytes);
      const replyTo = header && (header.kind === FrameKind.SEND || header.kind === FrameKind.REQUEST || header.kind === FrameKind.SUBSCRIBE) ? header.seq : 0;
      log('%s: dropped a bad frame: %s', this.peer, e.message);
      if (e.data.peerVersion !== undefined) {
        this.replyError(replyTo, e, true);
        this.close(e);
      } else this.replyError(replyTo, e);
      return;
    }
    // A frame's share of the bytes read, for the bounds of the queues its payload goes to.
    const share = bytes.length / frames.length;
    for (const frame of frames) {
      if (this.isClosed) return;
      this.dispatch(frame, share);
    }
  }

  private dispatch(f: Frame, bytes: number): void {
    switch (f.kind) {
      case FrameKind.SEND:
        return this.serveSend(f, bytes);
      case FrameKind.REQUEST:
        return this.serveRequest(f, bytes);
      case FrameKind.SUBSCRIBE:
        return this.serveSubscribe(f, bytes);
      case FrameKind.UNSUBSCRIBE: {
        const s = this.served.get(f.replyTo);
        if (!s) return;
        // Frees the slot at once; the handler's signal tells it to stop.
        this.stopServing(f.replyTo, s.controller);
        s.controller.abort(new CshareError('CONNECTION_CLOSED', `${this.peer} cancelled the call`));
        return;
      }
      case FrameKind.RESPONSE:
      case FrameKind.STREAM_ITEM:
      case FrameKind.EVENT:
      case FrameKind.STREAM_END:
        return this.receiveReply(f, bytes);
      case FrameKind.ERROR:
        return this.receiveError(f);
    }
  }

  private receiveReply(f: Frame, bytes: number): void {
    const p = this.pending.get(f.replyTo);
    if (!p) {
      // Normal after a cancel or timeout: the reply crossed our cancel on the wire.
      log('%s: reply to %d, which is not pending', this.peer, f.replyTo);
      return;
    }
    const bad = (what: string): void => {
      this.failPending(f.replyTo, new CshareError('PROTOCOL', `${this.peer} sent an invalid ${what} for "${p.name}"`, { type: p.name }));
      this.cancelRemote(f.replyTo);
    };
    if (p.kind === 'request') {
      if (f.kind !== FrameKind.RESPONSE) return bad('reply');
      if (!this.schema.requests[p.name]!.response(f.payload)) return bad('response');
      return p.resolve(f.payload);
    }
    if (f.kind === FrameKind.STREAM_END) {
      this.pending.delete(f.replyTo);
      if (p.kind === 'subscription') p.accept();
      return p.queue.end();
    }
    if (p.kind === 'subscription' && f.kind === FrameKind.RESPONSE) return p.accept();
    const expected = p.kind === 'stream' ? FrameKind.STREAM_ITEM : FrameKind.EVENT;
    if (f.kind !== expected) return bad('reply');
    const valid = p.kind === 'stream' ? this.schema.streams[p.name]!.item(f.payload) : this.schema.event(f.payload);
    if (!valid) return bad(p.kind === 'stream' ? 'stream item' : 'event');
    if (!p.queue.push(f.payload, bytes)) {
      // Full: the consumer is too slow. End this call rather than stall the whole connection.
      const behind = p.queue.size >= p.queue.capacity ? `${p.queue.capacity} items` : formatBytes(p.queue.maxBytes);
      this.failPending(f.replyTo, new CshareError('OVERLOADED', `fell more than ${behind} behind on "${p.name}" from ${this.peer}; retry`, { type: p.name }));
      this.cancelRemote(f.replyTo);
    }
  }

  private receiveError(f: Frame): void {
    const payload = f.payload as Record<string, Value> | null;
    const rec = payload && typeof payload === 'object' && !Array.isArray(payload) && !(payload instanceof Uint8Array) ? payload : {};
    const code = isErrorCode(rec.code) ? rec.code : 'INTERNAL';
    const message = typeof rec.message === 'string' ? rec.message : `${this.peer} sent an error without a message`;
    const err = new CshareError(code, message, { remote: true });
    if (f.replyTo !== 0 && this.pending.has(f.replyTo)) this.failPending(f.replyTo, err);
    else log('%s: error from peer (reply to %d): %s %s', this.peer, f.replyTo, code, message);
    if (rec.fatal === true) this.close(err);
  }

  private startServing(seq: number, kind: Served['kind'], bytes: number): AbortController | undefined {
    if (this.served.has(seq)) {
      this.replyError(seq, new CshareError('PROTOCOL', `sequence number ${seq} is already in use`));
      return undefined;
    }
    const busy = kind === 'subscription' ? this.servedSubscriptions >= this.maxSubscriptions : this.served.size - this.servedSubscriptions >= this.maxConcurrentHandlers;
    if (busy) {
      const what = kind === 'subscription' ? `${this.maxSubscriptions} subscriptions` : `${this.maxConcurrentHandlers} calls in flight`;
      this.replyError(seq, new CshareError('OVERLOADED', `too many ${kind === 'subscription' ? 'subscriptions' : 'concurrent calls'} on one connection (at most ${what})`));
      return undefined;
    }
    const controller = new AbortController();
    this.served.set(seq, { kind, controller, bytes });
    this.budget?.take(bytes);
    if (kind === 'subscription') this.servedSubscriptions++;
    return controller;
  }

  private stopServing(seq: number, controller: AbortController): void {
    const s = this.served.get(seq);
    if (s?.controller !== controller) return;
    this.served.delete(seq);
    this.budget?.release(s.bytes);
    if (s.kind === 'subscription') this.servedSubscriptions--;
  }

  private serveSend(f: Frame, bytes: number): void {
    const sends = this.schema.sends as Record<string, (v: unknown) => boolean>;
    // Own names only: `constructor` is not a message (the map may well be empty).
    const guard = Object.prototype.hasOwnProperty.call(sends, f.name) ? sends[f.name] : undefined;
    const handler = this.sendHandlers.get(f.name);
    if (!guard || !handler) return this.replyError(f.seq, unknownType(f.name, !!guard));
    if (!guard(f.payload)) return this.replyError(f.seq, invalid(f.name));
    // Counted like requests, so a flood of sends with slow handlers is bounded too.
    const controller = this.startServing(f.seq, 'request', bytes);
    if (!controller) return;
    const ctx = { signal: controller.signal, connection: this };
    void (async () => {
      try {
        await handler(f.payload as P['sends'][SendName<P>], ctx);
      } catch (err) {
        if (controller.signal.aborted) return;
        log('%s: handler for "%s" failed: %O', this.peer, f.name, err);
        this.replyError(f.seq, err);
      } finally {
        this.stopServing(f.seq, controller);
      }
    })();
  }

  private serveRequest(f: Frame, bytes: number): void {
    const req = Object.prototype.hasOwnProperty.call(this.schema.requests, f.name) ? this.schema.requests[f.name] : undefined;
    const stream = Object.prototype.hasOwnProperty.call(this.schema.streams, f.name) ? this.schema.streams[f.name] : undefined;
    const handler = req ? this.requestHandlers.get(f.name) : stream ? this.streamHandlers.get(f.name) : undefined;
    if (!handler) return this.replyError(f.seq, unknownType(f.name, !!(req || stream)));
    if (!(req ?? stream)!.request(f.payload)) return this.replyError(f.seq, invalid(f.name));
    const kind = req ? 'request' : 'stream';
    const controller = this.startServing(f.seq, kind, bytes);
    if (!controller) return;
    const ctx = { signal: controller.signal, connection: this };
    void (async () => {
      try {
        if (req) {
          const response = await (handler as RequestHandler<P, RequestName<P>>)(f.payload as never, ctx);
          if (controller.signal.aborted) return;
          if (response === undefined) return this.reportBug(f.seq, `the handler for "${f.name}" returned without replying`);
          if (!req.response(response)) return this.reportBug(f.seq, `the handler for "${f.name}" returned an invalid response`);
          this.post({ kind: FrameKind.RESPONSE, seq: this.nextSeq(), replyTo: f.seq, name: '', payload: response as Value });
        } else {
          const items = (handler as StreamHandler<P, StreamName<P>>)(f.payload as never, ctx);
          if (!isAsyncIterable(items)) return this.reportBug(f.seq, `the stream handler for "${f.name}" returned no stream`);
          const ok = await this.pump(f.seq, items, controller.signal, FrameKind.STREAM_ITEM, stream!.item, f.name);
          if (ok) this.post({ kind: FrameKind.STREAM_END, seq: this.nextSeq(), replyTo: f.seq, name: '', payload: null });
        }
      } catch (err) {
        if (controller.signal.aborted) return;
        log('%s: handler for "%s" failed: %O', this.peer, f.name, err);
        this.replyError(f.seq, err);
      } finally {
        this.stopServing(f.seq, controller);
      }
    })();
  }

  private serveSubscribe(f: Frame, bytes: number): void {
    let match: { handler: SubscribeHandler<P>; params: Record<string, string> } | undefined;
    for (const { pattern, handler } of this.subscribeHandlers) {
      const params = pattern.match(f.name);
      if (params) {
        match = { handler, params };
        break;
      }
    }
    if (!match) return this.replyError(f.seq, new CshareError('NOT_FOUND', `no such resource: ${f.name}`));
    const controller = this.startServing(f.seq, 'subscription', bytes);
    if (!controller) return;
    const { handler, params } = match;
    const ctx = { signal: controller.signal, connection: this, resource: f.name };
    void (async () => {
      try {
        const events = await handler(params, ctx);
        if (controller.signal.aborted) return;
        if (!isAsyncIterable(events)) return this.reportBug(f.seq, `the subscription handler for ${f.name} returned no event stream`);
        this.post({ kind: FrameKind.RESPONSE, seq: this.nextSeq(), replyTo: f.seq, name: '', payload: null });
        const ok = await this.pump(f.seq, events, controller.signal, FrameKind.EVENT, this.schema.event, f.name);
        if (ok) this.post({ kind: FrameKind.STREAM_END, seq: this.nextSeq(), replyTo: f.seq, name: '', payload: null });
      } catch (err) {
        if (controller.signal.aborted) return;
        log('%s: subscription handler for %s failed: %O', this.peer, f.name, err);
        this.replyError(f.seq, err);
      } finally {
        this.stopServing(f.seq, controller);
      }
    })();
  }

  /**
   * Sends each item of a handler's stream, waiting for each write (so a slow transport slows
   * the handler down). Returns false if it stopped early (cancelled, or a bug was reported).
   */
  private async pump(seq: number, items: AsyncIterable<unknown>, signal: AbortSignal, kind: Frame['kind'], guard: (v: unknown) => boolean, name: string): Promise<boolean> {
    const it = items[Symbol.asyncIterator]();
    // An async generator parked on an await only sees return() after that await, so the
    // handler must also watch ctx.signal; return() is for generators parked on a yield.
    const onAbort = (): void => {
      void Promise.resolve(it.return?.()).catch((err: unknown) => log('%s: closing handler for %s: %O', this.peer, name, err));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    // Items queued and not yet written. Waiting for each before producing the next put every
    // item in a transport write of its own (and the muxer answered each with a window update);
    // a few run ahead instead, so items produced together go out as one batch.
    const inFlight: Promise<void>[] = [];
    let failure: { err: unknown } | undefined;
    try {
      for (;;) {
        const r = await it.next();
        if (signal.aborted) return false;
        if (failure) throw failure.err;
        if (r.done) {
          await Promise.all(inFlight);
          return !signal.aborted;
        }
        if (!guard(r.value)) {
          this.reportBug(seq, `the handler for ${name} produced an invalid item`);
          void Promise.resolve(it.return?.()).catch((err: unknown) => log('%s: closing handler for %s: %O', this.peer, name, err));
          return false;
        }
        const sent = this.enqueue({ kind, seq: this.nextSeq(), replyTo: seq, name: '', payload: r.value as Value });
        sent.catch((err: unknown) => (failure ??= { err }));
        inFlight.push(sent);
        while (inFlight.length >= STREAM_AHEAD_ITEMS || (inFlight.length > 0 && this.outbox.backlogBytes >= STREAM_AHEAD_BYTES)) await inFlight.shift();
        if (signal.aborted) return false;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private reportBug(seq: number, message: string): void {
    log('%s: bug: %s', this.peer, message);
    this.replyError(seq, new CshareError('INTERNAL', `${message} (a bug in cshare)`));
  }
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${Math.round(n / (1024 * 1024))} MiB` : `${Math.round(n / 1024)} KiB`;
}

/**
 * The answer to a message this side does not know (`inSchema` false) or knows but does not
 * serve (a request only the other side answers). Peers speak one protocol version, so either
 * is a bug in one of them, never a sign to try an older message.
 */
function unknownType(name: string, inSchema: boolean): CshareError {
  const shown = name.slice(0, 100);
  return new CshareError('UNKNOWN_MESSAGE', inSchema ? `this peer does not handle "${shown}" messages` : `unknown message type "${shown}"`, { name: shown });
}

function invalid(name: string): CshareError {
  return new CshareError('PROTOCOL', `invalid "${name}" message: it does not match the schema`);
}

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
