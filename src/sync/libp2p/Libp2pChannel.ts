import '../../cli/polyfills.js';
import { lpStream, type LengthPrefixedStream } from './vendor.js';
import { CshareError } from '../../core/errors.js';
import { logger } from '../../core/log.js';
import { DEFAULT_LIMITS } from '../rpc/codec.js';
import { ConnectionClosedError } from '../rpc/ConnectionClosedError.js';
import type { FrameChannel } from '../rpc/transport.js';
import type { Libp2pStream } from './types.js';

const log = logger('libp2p:channel');

type LengthDecoder = NonNullable<NonNullable<Parameters<typeof lpStream>[1]>['lengthDecoder']>;

/**
 * Slack above the codec's frame limit. The RPC layer never sends a frame (or a batch of frames)
 * over `maxFrameBytes`, so this only has to cover rounding in how batches are sized.
 */
const FRAME_SLACK_BYTES = 1024;

/** Largest frame a channel accepts by default: the RPC codec's 16 MiB plus a little slack. */
export const DEFAULT_CHANNEL_MAX_FRAME_BYTES = DEFAULT_LIMITS.maxFrameBytes + FRAME_SLACK_BYTES;

/** Options of a {@link Libp2pChannel}. */
export interface Libp2pChannelOptions {
  /** Who is on the other end (the remote peer id), for errors and logs. */
  peer?: string;
  /**
   * Largest frame read or written ({@link DEFAULT_CHANNEL_MAX_FRAME_BYTES}). A peer that
   * announces a longer frame is cut off: the stream is reset and the channel closes.
   */
  maxFrameBytes?: number;
  /**
   * How long a graceful close waits for unsent data to go out and for the peer to close its
   * side before the stream is reset (5 s).
   */
  closeTimeoutMs?: number;
}

/**
 * A {@link FrameChannel} over one libp2p stream: each frame is varint-length-prefixed
 * (`lpStream`), so the RPC layer above sees exactly the frames the peer sent.
 *
 * Bounds and backpressure: a frame longer than `maxFrameBytes` is refused before its bytes are
 * buffered. Incoming bytes go into `lpStream`'s read buffer, bounded at two maximal frames; the
 * RPC layer reads frames as fast as they arrive (it decodes synchronously and queues per call
 * in its own bounded queues), so the buffer only holds what arrives within one turn of the
 * event loop. If it overflows anyway, libp2p resets the stream and the channel closes, the same
 * as any other fatal error. Outgoing, `send` resolves when yamux has taken the frame and waits
 * for its window (`drain`) when it has not, which is the sender's backpressure.
 *
 * Closing: `close()` stops reading at once, lets queued writes go out, then half-closes the
 * stream (FIN); the peer's channel sees the end of its frames and closes its side, which ends
 * the stream. If that does not happen within `closeTimeoutMs`, the stream is reset. A reset
 * from the peer, a dropped connection, a read error or an oversize frame close the channel
 * too. `closed` resolves on the first of these and never rejects.
 */
export class Libp2pChannel implements FrameChannel {
  readonly closed: Promise<void>;
  /** The remote peer, as given in the options. */
  readonly peer: string;
  private readonly lp: LengthPrefixedStream<Libp2pStream>;
  private readonly maxFrameBytes: number;
  /** Largest frame read now (see {@link setMaxFrameBytes}). */
  private frameLimit: number;
  private readonly closeTimeoutMs: number;
  /** Aborts a pending read when this side closes. */
  private readonly reading = new AbortController();
  private isClosed = false;
  private closeReason: Error | undefined;
  private iterated = false;
  private resolveClosed!: () => void;

  constructor(
    private readonly stream: Libp2pStream,
    opts: Libp2pChannelOptions = {},
  ) {
    this.peer = opts.peer ?? 'peer';
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_CHANNEL_MAX_FRAME_BYTES;
    this.frameLimit = this.maxFrameBytes;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 5000;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.lp = lpStream(stream, {
      maxDataLength: this.maxFrameBytes,
      lengthDecoder: boundedVarintDecoder(this.maxFrameBytes, () => this.frameLimit),
      // One whole frame plus the start of the next must fit, or a maximal frame could never be read.
      maxBufferSize: 2 * this.maxFrameBytes + FRAME_SLACK_BYTES,
    });
    stream.addEventListener(
      'close',
      (evt) => {
        if (evt.error) log('%s: stream closed: %s', this.peer, evt.error.message);
        this.markClosed(evt.error);
      },
      { once: true },
    );
    if (stream.status !== 'open') this.markClosed(new Error(`stream is ${stream.status}`));
  }

  /**
   * Writes one frame. Rejects with {@link ConnectionClosedError} once the channel is closed (or
   * if the stream fails during the write, which also closes the channel), and with
   * `FRAME_TOO_LARGE` for a frame over the limit (the channel stays open).
   */
  async send(frame: Uint8Array): Promise<void> {
    if (this.isClosed) throw new ConnectionClosedError(this.peer, this.closeReason);
    if (frame.length > this.maxFrameBytes) {
      throw new CshareError('FRAME_TOO_LARGE', `frame of ${frame.length} bytes is over the ${this.maxFrameBytes}-byte limit of the channel to ${this.peer}`, {
        size: frame.length,
        max: this.maxFrameBytes,
      });
    }
    try {
      await this.lp.write(frame);
    } catch (err) {
      const reason = toError(err);
      this.abort(reason);
      throw new ConnectionClosedError(this.peer, this.closeReason ?? reason);
    }
  }

  /**
   * Reads frames of at most `bytes` from now on (never more than `maxFrameBytes`): a longer
   * one is refused from its length prefix, before its bytes are buffered, and the channel
   * closes with `FRAME_TOO_LARGE`.
   */
  setMaxFrameBytes(bytes: number): void {
    this.frameLimit = Math.min(bytes, this.maxFrameBytes);
  }

  get frames(): AsyncIterable<Uint8Array> {
    return { [Symbol.asyncIterator]: () => this.reader() };
  }

  /** Closes both directions gracefully (see the class comment). Idempotent. */
  close(err?: Error): void {
    if (this.isClosed) return;
    if (err) log('%s: closing: %s', this.peer, err.message);
    this.markClosed(err);
    if (this.stream.status !== 'open') return;
    const timer = setTimeout(() => this.stream.abort(new CshareError('TIMEOUT', `${this.peer} did not close its side within ${this.closeTimeoutMs} ms`)), this.closeTimeoutMs);
    timer.unref();
    this.stream.addEventListener('close', () => clearTimeout(timer), { once: true });
    this.stream.close({ signal: AbortSignal.timeout(this.closeTimeoutMs) }).catch((closeErr: unknown) => {
      log('%s: graceful close failed, resetting: %s', this.peer, toError(closeErr).message);
      this.stream.abort(toError(closeErr));
    });
  }

  /** Closes at once and resets the stream: for a peer that broke the framing, or a failed stream. */
  private abort(err: Error): void {
    this.markClosed(err);
    this.stream.abort(err);
  }

  private markClosed(err: Error | undefined): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeReason = err;
    this.reading.abort(err ?? new Error('channel closed'));
    this.resolveClosed();
  }

  private async *reader(): AsyncGenerator<Uint8Array> {
    if (this.iterated) throw new Error('Libp2pChannel.frames can be iterated only once');
    this.iterated = true;
    try {
      while (!this.isClosed) {
        let frame: Uint8Array;
        try {
          const buf = (await this.lp.read({ signal: this.reading.signal })).subarray();
          // A plain Uint8Array view (lpStream hands out Node Buffers), like the memory twin's frames.
          frame = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
        } catch (err) {
          if (this.isClosed) return;
          if (this.stream.remoteWriteStatus !== 'writable' && isEndOfStream(err)) {
            // The peer closed its side (at a frame boundary, or mid-frame: nothing to recover).
            log('%s: peer closed the stream', this.peer);
            this.close();
          } else {
            // Oversize or malformed length, reset, or dropped connection: nothing more can be read.
            this.abort(readError(err, this.peer, this.maxFrameBytes));
          }
          return;
        }
        yield frame;
      }
    } finally {
      this.close();
    }
  }
}

/**
 * A varint length decoder that gives up once the length prefix is longer than the longest
 * valid one. lpStream reads the prefix a byte at a time and retries while the decoder throws a
 * `RangeError` (incomplete varint), checking the prefix's length only after a successful
 * decode, so a peer sending endless `0xff` bytes would keep it reading forever.
 */
function boundedVarintDecoder(maxValue: number, limit: () => number): LengthDecoder {
  let maxBytes = 1;
  while (2 ** (7 * maxBytes) <= maxValue) maxBytes++;
  return (buf) => {
    let value = 0;
    for (let i = 0; i < buf.byteLength; i++) {
      if (i >= maxBytes) break;
      const b = buf.get(i);
      value += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) !== 0) continue;
      if (value > limit()) throw new CshareError('FRAME_TOO_LARGE', `a frame of ${value} bytes is over the ${limit()}-byte limit`, { size: value, max: limit() });
      return value;
    }
    if (buf.byteLength >= maxBytes) throw new CshareError('FRAME_TOO_LARGE', `frame length prefix longer than ${maxBytes} bytes`, { max: maxValue });
    throw new RangeError('incomplete varint');
  };
}

function isEndOfStream(err: unknown): boolean {
  return err instanceof Error && err.name === 'UnexpectedEOFError';
}

/** Maps lpStream's errors to cshare's codes, so logs and `cause`s say what happened. */
function readError(err: unknown, peer: string, max: number): Error {
  const e = toError(err);
  if (e instanceof CshareError) return e;
  if (e.name === 'InvalidDataLengthError' || e.name === 'InvalidDataLengthLengthError') {
    return new CshareError('FRAME_TOO_LARGE', `${peer} sent a frame over the ${max}-byte limit`, { max }, { cause: e });
  }
  if (e.name === 'InvalidMessageLengthError') return new CshareError('PROTOCOL', `${peer} sent a malformed frame length`, {}, { cause: e });
  return e;
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
