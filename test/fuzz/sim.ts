/**
 * The deterministic world the convergence fuzzer runs in: a network whose frames move only
 * when the driver says so, and stores that survive a crash of the process that used them.
 *
 * Nothing here uses timers or the wall clock. Work happens in microtasks and in the RPC
 * outbox's `setImmediate` ticks, both FIFO, so the same seed gives the same interleaving.
 */
import { CshareError } from '../../src/core/errors.js';
import type { KvBatchOp, KvRange, KvStore } from '../../src/core/ports.js';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { FrameKind, decodeFrames, encodeFrame } from '../../src/sync/rpc/codec.js';
import type { FrameChannel } from '../../src/sync/rpc/transport.js';
import { cshareSchema } from '../../src/sync/schema.js';

const VERSION = cshareSchema.version;
const FIN = Symbol('fin');
type Item = Uint8Array | typeof FIN;

/** Counts everything that happens, so the driver can tell when the world has gone quiet. */
export interface Activity {
  n: number;
}

/** One end of a {@link SimLink}: a {@link FrameChannel} for an {@link RpcConnection}. */
export class SimEnd implements FrameChannel {
  readonly closed: Promise<void>;
  peer!: SimEnd;
  /** Sent by this end, not yet delivered to the peer (a reliable, ordered stream). */
  readonly out: Item[] = [];
  /** Event frames seen on their way to this end, for stale replays. */
  readonly seenEvents: Uint8Array[] = [];
  private inbox: Uint8Array[] = [];
  private ended = false;
  private isClosed = false;
  private wakeReader: (() => void) | undefined;
  private resolveClosed!: () => void;
  private iterated = false;

  constructor(
    readonly link: SimLink,
    readonly side: 'client' | 'server',
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  async send(frame: Uint8Array): Promise<void> {
    if (this.isClosed || this.link.broken) throw new CshareError('CONNECTION_CLOSED', 'simulated connection closed');
    this.link.activity.n++;
    this.out.push(frame.slice());
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.link.activity.n++;
    this.inbox = [];
    this.ended = true;
    this.wake();
    // Like a FIN: the peer sees the end after the frames already on their way.
    if (!this.link.broken) this.out.push(FIN);
    this.resolveClosed();
  }

  get frames(): AsyncIterable<Uint8Array> {
    return { [Symbol.asyncIterator]: () => this.reader() };
  }

  /** Hands one item of the peer's stream to this end. */
  receive(item: Item): void {
    this.link.activity.n++;
    if (item === FIN) {
      this.ended = true;
      this.wake();
      if (!this.iterated) this.close();
      return;
    }
    if (this.ended) return;
    this.inbox.push(item);
    this.wake();
  }

  /** The connection died: nothing more arrives, nothing more can be sent. */
  kill(): void {
    this.ended = true;
    this.wake();
    this.close();
  }

  private async *reader(): AsyncGenerator<Uint8Array> {
    if (this.iterated) throw new Error('SimEnd.frames can be iterated only once');
    this.iterated = true;
    try {
      for (;;) {
        if (this.inbox.length > 0) {
          yield this.inbox.shift()!;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => (this.wakeReader = resolve));
      }
    } finally {
      this.close();
    }
  }

  private wake(): void {
    const w = this.wakeReader;
    this.wakeReader = undefined;
    w?.();
  }
}

/** A connection between a replica (client end) and the relay (server end). */
export class SimLink {
  readonly client: SimEnd;
  readonly server: SimEnd;
  broken = false;

  constructor(
    readonly id: number,
    readonly owner: number,
    readonly activity: Activity,
  ) {
    this.client = new SimEnd(this, 'client');
    this.server = new SimEnd(this, 'server');
    this.client.peer = this.server;
    this.server.peer = this.client;
  }

  /** Both directions are drained and both ends closed. */
  get done(): boolean {
    return !this.client.isOpen && !this.server.isOpen && this.client.out.length === 0 && this.server.out.length === 0;
  }

  /**
   * Delivers up to `n` items sent by `from` to the other end. With `replay`, an event frame
   * towards a client may be followed by a stale copy of an earlier event of this connection
   * (see the header of the convergence test for why that fault is realistic).
   */
  deliver(from: SimEnd, n: number, replay?: () => number | undefined): number {
    let done = 0;
    while (done < n && from.out.length > 0) {
      const item = from.out.shift()!;
      from.peer.receive(item);
      done++;
      if (item === FIN || from.side !== 'server' || !replay) continue;
      for (const f of decodeFrames(item, VERSION)) {
        if (f.kind === FrameKind.EVENT) from.peer.seenEvents.push(encodeFrame(f, VERSION));
      }
      const pick = replay();
      if (pick !== undefined && from.peer.seenEvents.length > 0) from.peer.receive(from.peer.seenEvents[pick % from.peer.seenEvents.length]!.slice());
    }
    return done;
  }

  /**
   * The connection breaks: the first `keepClient`/`keepServer` items in flight still arrive,
   * the rest are lost, and both ends see the connection die (as a reset TCP connection or a
   * libp2p stream whose peer vanished: pending requests reject, the sync loop reconnects).
   */
  break(keepClient: number, keepServer: number): void {
    if (this.broken) return;
    this.deliver(this.client, keepClient);
    this.deliver(this.server, keepServer);
    this.broken = true;
    this.client.out.length = 0;
    this.server.out.length = 0;
    this.client.kill();
    this.server.kill();
    this.activity.n++;
  }
}

/** Hooks of a {@link SimKv} handle. */
export interface KvHooks {
  /** Before each write; may crash the process (fence the handle), which then fails the write. */
  beforeWrite?: () => void;
  /** Sees each batch as it becomes durable. */
  onBatch?: (ops: readonly KvBatchOp[]) => void;
}

/**
 * A store that outlives the processes using it. `open()` hands out a {@link KvStore} handle;
 * `crash()` fences it, so whatever the crashed process still has running can neither read
 * nor write. A write is durable once `batch` has been called and not refused (as with
 * LevelDB, whose writes survive a process crash once in its log); a crash fences every later
 * one, so a crash between two batches of one operation loses the second. This models a
 * process crash, not a power loss.
 */
export class SimKv {
  /** The durable contents. */
  readonly disk = new MemoryStore();
  private handle: FencedKv | undefined;

  constructor(private readonly activity: Activity) {}

  open(hooks: KvHooks = {}): KvStore {
    this.crash();
    this.handle = new FencedKv(this.disk, hooks, this.activity);
    return this.handle;
  }

  crash(): void {
    if (this.handle) this.handle.fenced = true;
    this.handle = undefined;
  }
}

class FencedKv implements KvStore {
  fenced = false;

  constructor(
    private readonly inner: MemoryStore,
    private readonly hooks: KvHooks,
    private readonly activity: Activity,
  ) {}

  private check(): void {
    if (this.fenced) throw new CshareError('IO', 'the process crashed (simulated)');
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    this.check();
    return this.inner.get(key);
  }

  async getMany(keys: string[]): Promise<(Uint8Array | undefined)[]> {
    this.check();
    return this.inner.getMany(keys);
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    this.check();
    return this.inner.hasMany(keys);
  }

  put(key: string, value: Uint8Array): Promise<void> {
    return this.batch([{ type: 'put', key, value }]);
  }

  del(key: string): Promise<void> {
    return this.batch([{ type: 'del', key }]);
  }

  async batch(ops: KvBatchOp[]): Promise<void> {
    this.check();
    this.hooks.beforeWrite?.();
    this.check();
    this.activity.n++;
    this.hooks.onBatch?.(ops);
    // MemoryStore applies a batch synchronously when called: durable from here on.
    await this.inner.batch(ops);
  }

  async *iterate(range: KvRange): AsyncIterable<[string, Uint8Array]> {
    this.check();
    for await (const entry of this.inner.iterate(range)) {
      this.check();
      yield entry;
    }
  }

  async *keys(range: KvRange): AsyncIterable<string> {
    this.check();
    for await (const key of this.inner.keys(range)) {
      this.check();
      yield key;
    }
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  async close(): Promise<void> {
    this.fenced = true;
  }
}
