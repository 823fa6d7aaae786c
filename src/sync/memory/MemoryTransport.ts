import { CshareError } from '../../core/errors.js';
import { Prng } from '../prng.js';
import { DEFAULT_LIMITS } from '../rpc/codec.js';
import { ConnectionClosedError } from '../rpc/ConnectionClosedError.js';
import type { FrameChannel } from '../rpc/transport.js';

/**
 * Largest frame a memory channel sends by default: the codec's 16 MiB plus the same 1 KiB of
 * slack as `DEFAULT_CHANNEL_MAX_FRAME_BYTES` of the libp2p channel (this module may not import
 * libp2p's), so code tested over the twin meets the limit it meets in production. The
 * FrameChannel contract suite checks the two are equal.
 */
export const MEMORY_CHANNEL_MAX_FRAME_BYTES = DEFAULT_LIMITS.maxFrameBytes + 1024;

/** Options of {@link MemoryTransport.pair}. With no faults the pair is reliable and ordered. */
export interface MemoryTransportOptions {
  /** Delay of every frame (0: delivered in a microtask). */
  latencyMs?: number;
  /** Probability that a frame is lost. */
  dropRate?: number;
  /** Probability that a frame is delivered twice. */
  duplicate?: number;
  /** Probability that a frame is held back by up to `2 * latencyMs + 5` ms, so later ones overtake it. */
  reorder?: number;
  /** Seed of the PRNG behind the faults, so a run can be replayed. */
  seed?: number;
  /**
   * Fuzzing hook: sees each frame as sent (`from` is the sending side) and returns the frames
   * to deliver instead (none to drop it, two to duplicate it, changed bytes to corrupt it).
   * Runs before the random faults.
   */
  intercept?: (frame: Uint8Array, from: 'a' | 'b') => Uint8Array[];
  /**
   * Frames in flight or unread towards one side before `send` waits (1024): the transport's
   * backpressure, like a full TCP window.
   */
  capacity?: number;
  /**
   * Largest frame `send` takes ({@link MEMORY_CHANNEL_MAX_FRAME_BYTES}); a longer one is refused
   * with `FRAME_TOO_LARGE` and the channel stays open, as over libp2p.
   */
  maxFrameBytes?: number;
}

/** Counters of one side of a pair. */
export interface MemoryChannelStats {
  /** Successful `send` calls (transport writes). */
  writes: number;
  bytesWritten: number;
  /** Frames delivered to this side. */
  received: number;
}

interface Shared {
  opts: MemoryTransportOptions;
  rng: Prng;
}

/** One side of an in-memory pair. */
export class MemoryChannel implements FrameChannel {
  readonly stats: MemoryChannelStats = { writes: 0, bytesWritten: 0, received: 0 };
  readonly closed: Promise<void>;
  /** Why this side was closed locally, if a reason was given. */
  closeReason: Error | undefined;
  /** The other side. */
  peer!: MemoryChannel;
  private inbox: Uint8Array[] = [];
  /** Frames scheduled towards this side but not yet read. */
  private inFlight = 0;
  private ended = false;
  private isClosed = false;
  private wakeReader: (() => void) | undefined;
  private spaceWaiters: (() => void)[] = [];
  private resolveClosed!: () => void;
  private iterated = false;
  /** Sends waiting for space; the FIN waits for them (`finPending`). */
  private waitingSends = 0;
  private finPending = false;

  constructor(
    private readonly side: 'a' | 'b',
    private readonly shared: Shared,
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  /**
   * Writes one frame. Rejects with `ConnectionClosedError` once this side is closed, and with
   * `FRAME_TOO_LARGE` for a frame over `maxFrameBytes` (the channel stays open), like
   * `Libp2pChannel.send`. Waits while `capacity` frames are unread on the other side; a send
   * made before `close()` still goes out, before the end, as a write queued on a stream does.
   */
  async send(frame: Uint8Array): Promise<void> {
    this.assertSendable(frame);
    const capacity = this.shared.opts.capacity ?? 1024;
    this.waitingSends++;
    try {
      while (!this.isClosed && this.peer.inFlight >= capacity) await new Promise<void>((resolve) => this.peer.spaceWaiters.push(resolve));
    } finally {
      this.waitingSends--;
    }
    this.transmit(frame);
    if (this.finPending && this.waitingSends === 0) this.sendFin();
  }

  private transmit(frame: Uint8Array): void {
    this.stats.writes++;
    this.stats.bytesWritten += frame.length;
    // Copy: what crosses a wire is bytes, so later changes to the sender's buffer must not show.
    const { opts, rng } = this.shared;
    const frames = opts.intercept ? opts.intercept(frame.slice(), this.side) : [frame.slice()];
    for (const f of frames) {
      if (rng.chance(opts.dropRate ?? 0)) continue;
      const copies = rng.chance(opts.duplicate ?? 0) ? 2 : 1;
      for (let i = 0; i < copies; i++) {
        const extra = rng.chance(opts.reorder ?? 0) ? rng.int(2 * (opts.latencyMs ?? 0) + 6) : 0;
        this.peer.schedule(() => this.peer.deliver(f), (opts.latencyMs ?? 0) + extra);
      }
    }
  }

  private assertSendable(frame: Uint8Array): void {
    if (this.isClosed) throw new ConnectionClosedError(`memory peer ${this.peer.side}`, this.closeReason);
    const max = this.shared.opts.maxFrameBytes ?? MEMORY_CHANNEL_MAX_FRAME_BYTES;
    if (frame.length > max) {
      throw new CshareError('FRAME_TOO_LARGE', `frame of ${frame.length} bytes is over the ${max}-byte limit of the memory channel`, { size: frame.length, max });
    }
  }

  close(err?: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeReason = err;
    this.inbox = [];
    this.ended = true;
    this.wake();
    for (const w of this.spaceWaiters.splice(0)) w();
    for (const w of this.peer.spaceWaiters.splice(0)) w();
    this.resolveClosed();
    // Sends still waiting for space were woken above and go out first (see send()).
    if (this.waitingSends === 0) this.sendFin();
    else this.finPending = true;
  }

  /** Like a FIN: the other side sees the end after the frames already on their way. */
  private sendFin(): void {
    this.finPending = false;
    this.peer.schedule(() => this.peer.remoteEnded(), this.shared.opts.latencyMs ?? 0, false);
  }

  get frames(): AsyncIterable<Uint8Array> {
    return { [Symbol.asyncIterator]: () => this.reader() };
  }

  private async *reader(): AsyncGenerator<Uint8Array> {
    if (this.iterated) throw new Error('MemoryChannel.frames can be iterated only once');
    this.iterated = true;
    try {
      for (;;) {
        if (this.inbox.length > 0) {
          const f = this.inbox.shift()!;
          this.inFlight--;
          for (const w of this.spaceWaiters.splice(0)) w();
          yield f;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => (this.wakeReader = resolve));
      }
    } finally {
      this.close();
    }
  }

  private schedule(fn: () => void, delayMs: number, counts = true): void {
    if (counts) this.inFlight++;
    if (delayMs <= 0) queueMicrotask(fn);
    else setTimeout(fn, delayMs);
  }

  private deliver(frame: Uint8Array): void {
    if (this.ended) {
      this.inFlight--;
      return;
    }
    this.stats.received++;
    this.inbox.push(frame);
    this.wake();
  }

  private remoteEnded(): void {
    if (this.isClosed) return;
    this.ended = true;
    this.wake();
    // Closed once the reader has drained what arrived before the end (see reader()), or now if
    // nobody reads.
    if (!this.iterated) this.close();
  }

  private wake(): void {
    const w = this.wakeReader;
    this.wakeReader = undefined;
    w?.();
  }
}

/**
 * The in-memory twin of the libp2p transport: two connected {@link FrameChannel}s in one
 * process, for unit and property tests. Faults (loss, duplication, reordering, corruption via
 * `intercept`) are off unless asked for, and driven by a seeded PRNG.
 */
export const MemoryTransport = {
  pair(opts: MemoryTransportOptions = {}): [MemoryChannel, MemoryChannel] {
    const shared: Shared = { opts, rng: new Prng(opts.seed ?? 1) };
    const a = new MemoryChannel('a', shared);
    const b = new MemoryChannel('b', shared);
    a.peer = b;
    b.peer = a;
    return [a, b];
  },
};
