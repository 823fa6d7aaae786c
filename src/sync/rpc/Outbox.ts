import { batchEntrySize, encodeBatch } from './codec.js';
import type { FrameChannel } from './transport.js';

/** Room left in a batch for its own header (version, kind, count). */
const BATCH_HEADER_BYTES = 16;

const nextTick: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => void setImmediate(fn) : (fn) => void setTimeout(fn, 0);

/**
 * The outgoing side of a connection: coalesces the frames queued within one tick (everything
 * queued before the event loop turns, microtasks included) into one batch frame, so a burst of
 * small messages costs one transport write instead of one each, and writes batches one at a
 * time in order. A batch is never over `maxFrameBytes`; a burst bigger than that goes in
 * several. Memory is bounded by the callers: each `push` returns a promise that settles when
 * its frame is written, and the RPC layer awaits it before producing more stream items.
 *
 * Replies to requests are not awaited by anyone, so a peer that keeps sending requests but
 * stops reading would make them pile up here. `maxBacklogBytes` bounds that: once more bytes
 * wait to be written, `onOverflow` is called (the RPC layer closes the connection).
 */
export class Outbox {
  private queued: Uint8Array[] = [];
  private waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private scheduled = false;
  private chain: Promise<void> = Promise.resolve();
  /** Transport writes so far (one per batch). */
  writes = 0;
  /** Frames handed to the transport so far. */
  frames = 0;
  /** Bytes queued and not yet taken by the transport. */
  backlogBytes = 0;
  /** The most {@link backlogBytes} ever reached. */
  maxBacklogSeen = 0;
  private overflowed = false;

  constructor(
    private readonly channel: FrameChannel,
    private readonly opts: {
      version: number;
      maxFrameBytes: number;
      batch: boolean;
      onWriteError: (err: unknown) => void;
      maxBacklogBytes?: number;
      onOverflow?: (backlogBytes: number) => void;
    },
  ) {}

  /** Queues an encoded frame; resolves once the transport has taken it. */
  push(frame: Uint8Array): Promise<void> {
    this.backlogBytes += frame.length;
    if (this.backlogBytes > this.maxBacklogSeen) this.maxBacklogSeen = this.backlogBytes;
    if (!this.overflowed && this.opts.maxBacklogBytes !== undefined && this.backlogBytes > this.opts.maxBacklogBytes) {
      this.overflowed = true;
      this.opts.onOverflow?.(this.backlogBytes);
    }
    return new Promise<void>((resolve, reject) => {
      this.queued.push(frame);
      this.waiters.push({ resolve, reject });
      if (!this.opts.batch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        nextTick(() => this.flush());
      }
    });
  }

  /** Writes what is queued now instead of at the end of the tick. Resolves when all is written. */
  flush(): Promise<void> {
    this.scheduled = false;
    const frames = this.queued;
    const waiters = this.waiters;
    this.queued = [];
    this.waiters = [];
    if (frames.length > 0) {
      this.chain = this.chain.then(async () => {
        try {
          for (const group of this.groups(frames)) {
            await this.channel.send(group.length === 1 ? group[0]! : encodeBatch(group, this.opts.version));
            this.writes++;
            this.frames += group.length;
            for (const f of group) this.backlogBytes -= f.length;
          }
          for (const w of waiters) w.resolve();
        } catch (err) {
          this.backlogBytes = 0;
          for (const w of waiters) w.reject(err);
          this.opts.onWriteError(err);
        }
      });
    }
    return this.chain;
  }

  /** Splits frames into runs that each fit in one batch frame. */
  private *groups(frames: Uint8Array[]): Generator<Uint8Array[]> {
    let group: Uint8Array[] = [];
    let size = BATCH_HEADER_BYTES;
    for (const f of frames) {
      const add = batchEntrySize(f);
      if (group.length > 0 && size + add > this.opts.maxFrameBytes) {
        yield group;
        group = [];
        size = BATCH_HEADER_BYTES;
      }
      group.push(f);
      size += add;
    }
    if (group.length > 0) yield group;
  }
}
