import { CshareError } from '../../core/errors.js';

/**
 * The binary frame codec of the RPC layer (see PROTOCOL.md "Frames"). Frames arrive
 * already delimited (length-prefixing is the transport's job), so a frame is exactly one
 * `Uint8Array`.
 *
 * Byte layout (`varuint` = unsigned LEB128, at most 8 bytes, at most 2^53 - 1):
 *
 * ```
 * frame     = version:varuint kind:u8 body
 * body      = count:varuint (len:varuint frame){count}      if kind = BATCH (inner frames are
 *                                                            complete frames, never batches)
 *           | seq:varuint [replyTo:varuint] name:string payload:value      otherwise
 *                 replyTo is present for RESPONSE, STREAM_ITEM, STREAM_END, EVENT,
 *                 UNSUBSCRIBE and ERROR (0 = "not a reply", used by connection-level errors)
 * kind      = 0 SEND | 1 REQUEST | 2 RESPONSE | 3 STREAM_ITEM | 4 STREAM_END | 5 SUBSCRIBE
 *           | 6 EVENT | 7 UNSUBSCRIBE | 8 ERROR | 9 BATCH
 * string    = len:varuint utf8-bytes{len}
 * value     = 0 (null) | 1 (false) | 2 (true)
 *           | 3 n:varuint                (a non-negative safe integer)
 *           | 4 n:varuint                (the negative safe integer -n)
 *           | 5 f:float64-le             (any other number)
 *           | 6 string
 *           | 7 len:varuint bytes{len}   (a Uint8Array)
 *           | 8 count:varuint value{count}                (an array)
 *           | 9 count:varuint (key:string value){count}   (an object; keys unique, no __proto__)
 * ```
 *
 * `name` is the message type for SEND/REQUEST, the resource path for SUBSCRIBE and empty
 * otherwise. Object properties whose value is `undefined` are left out, so optional fields
 * round-trip as absent.
 *
 * The version and the layout of an ERROR frame are frozen across protocol versions, so that a
 * peer on another version can always read the "upgrade" error it gets (see
 * {@link decodeFrames}).
 *
 * Every length is checked against the bytes left and a configured bound before anything is
 * allocated from it; an element takes at least one byte, so counts are bounded by the bytes
 * left too. Malformed input throws `CshareError('PROTOCOL')` and nothing else.
 */

/** The kinds of frame. Numbers are wire values: never renumber. */
export const FrameKind = {
  SEND: 0,
  REQUEST: 1,
  RESPONSE: 2,
  STREAM_ITEM: 3,
  STREAM_END: 4,
  SUBSCRIBE: 5,
  EVENT: 6,
  UNSUBSCRIBE: 7,
  ERROR: 8,
  BATCH: 9,
} as const;

/** One frame kind (a wire value). */
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** A structured payload value. `undefined` object properties are omitted on the wire. */
export type Value = null | boolean | number | string | Uint8Array | readonly Value[] | { readonly [key: string]: Value | undefined };

/** One decoded (non-batch) frame. */
export interface Frame {
  kind: Exclude<FrameKind, typeof FrameKind.BATCH>;
  /** This frame's sequence number, 1..2^32-1 (0 only in connection-level error frames). */
  seq: number;
  /** The sequence number this frame answers, 0 when it answers nothing. */
  replyTo: number;
  /** Message type (SEND, REQUEST), resource (SUBSCRIBE), or ''. */
  name: string;
  payload: Value;
}

/** Bounds applied when decoding (and encoding, for the frame size). */
export interface CodecLimits {
  /** Largest frame, batch included. */
  maxFrameBytes: number;
  /** Longest string value, in UTF-8 bytes (binary data goes in Uint8Arrays). */
  maxStringBytes: number;
  /** Longest frame name (message type or resource path), in UTF-8 bytes. */
  maxNameBytes: number;
  /** Most elements in one array. */
  maxArrayLength: number;
  /** Most properties in one object. */
  maxObjectKeys: number;
  /** Deepest nesting of arrays and objects. */
  maxDepth: number;
  /** Most values in one payload (bounds the memory a small frame of tiny values expands to). */
  maxValues: number;
  /** Most frames in one batch. */
  maxBatchFrames: number;
}

/** The default bounds: 16 MiB frames. */
export const DEFAULT_LIMITS: Readonly<CodecLimits> = Object.freeze({
  maxFrameBytes: 16 * 1024 * 1024,
  maxStringBytes: 1024 * 1024,
  maxNameBytes: 1024,
  maxArrayLength: 1_000_000,
  maxObjectKeys: 1024,
  maxDepth: 32,
  maxValues: 4_000_000,
  maxBatchFrames: 10_000,
});

const MAX_SEQ = 0xffffffff;
/**
 * Byte arrays at least this big, and at least 1/{@link VIEW_MAX_SHARE} of their frame, are
 * decoded as views of the frame (see `Reader.bytes`).
 */
const VIEW_MIN_BYTES = 1024;
const VIEW_MAX_SHARE = 16;
const MAX_VARUINT_BYTES = 8;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Frame kinds that carry a `replyTo`. */
export function hasReplyTo(kind: FrameKind): boolean {
  return (
    kind === FrameKind.RESPONSE ||
    kind === FrameKind.STREAM_ITEM ||
    kind === FrameKind.STREAM_END ||
    kind === FrameKind.EVENT ||
    kind === FrameKind.UNSUBSCRIBE ||
    kind === FrameKind.ERROR
  );
}

function protocolError(message: string, data: Record<string, unknown> = {}): CshareError {
  return new CshareError('PROTOCOL', `malformed frame: ${message}`, data);
}

// ---------------------------------------------------------------------------------------------
// Writing

/** A growable byte buffer (`size`: the first allocation; exact when known). */
class Writer {
  private buf: Uint8Array;
  private view: DataView;
  pos = 0;

  constructor(size = 256) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(n: number): void {
    this.ensure(1);
    this.buf[this.pos++] = n;
  }

  varuint(n: number): void {
    this.ensure(MAX_VARUINT_BYTES);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }

  f64(n: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, n, true);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.varuint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  string(s: string): void {
    // Most strings (keys, ids, digests, paths) are short: encoded in place behind a one-byte
    // length, without an intermediate array.
    if (s.length < 0x80 / 3) {
      this.ensure(1 + s.length * 3);
      const { written } = encoder.encodeInto(s, this.buf.subarray(this.pos + 1));
      this.buf[this.pos] = written;
      this.pos += 1 + written;
      return;
    }
    this.bytes(encoder.encode(s));
  }

  /**
   * The bytes written. The buffer itself when it is (nearly) full: a frame is short-lived, and
   * copying every frame out cost a relay serving 100 MB a copy of all of it.
   */
  finish(): Uint8Array {
    return this.buf.length - this.pos <= this.buf.length / 4 ? this.buf.subarray(0, this.pos) : this.buf.slice(0, this.pos);
  }
}

function writeValue(w: Writer, v: unknown, depth: number, limits: CodecLimits): void {
  if (depth > limits.maxDepth) throw new CshareError('PROTOCOL', `cannot encode: nesting deeper than ${limits.maxDepth}`);
  if (v === null || v === undefined) return w.u8(0);
  switch (typeof v) {
    case 'boolean':
      return w.u8(v ? 2 : 1);
    case 'number':
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) {
        if (v >= 0) {
          w.u8(3);
          w.varuint(v);
        } else {
          w.u8(4);
          w.varuint(-v);
        }
      } else {
        w.u8(5);
        w.f64(v);
      }
      return;
    case 'string':
      w.u8(6);
      return w.string(v);
    case 'object':
      break;
    default:
      throw new CshareError('PROTOCOL', `cannot encode a ${typeof v}`);
  }
  if (v instanceof Uint8Array) {
    w.u8(7);
    return w.bytes(v);
  }
  if (Array.isArray(v)) {
    w.u8(8);
    w.varuint(v.length);
    for (const item of v) writeValue(w, item, depth + 1, limits);
    return;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    throw new CshareError('PROTOCOL', `cannot encode an instance of ${(v as object).constructor?.name ?? 'a class'}`);
  }
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
  w.u8(9);
  w.varuint(entries.length);
  for (const [key, x] of entries) {
    w.string(key);
    writeValue(w, x, depth + 1, limits);
  }
}

/** Encodes one payload value on its own (used by tests and for nested blobs). */
export function encodeValue(v: Value, limits: CodecLimits = DEFAULT_LIMITS): Uint8Array {
  const w = new Writer();
  writeValue(w, v, 0, limits);
  return w.finish();
}

/**
 * Encodes one frame. Throws `FRAME_TOO_LARGE` if it is over `limits.maxFrameBytes` (a local
 * error for the caller; the connection stays up).
 */
export function encodeFrame(frame: Frame, version: number, limits: CodecLimits = DEFAULT_LIMITS): Uint8Array {
  const w = new Writer();
  w.varuint(version);
  w.u8(frame.kind);
  w.varuint(frame.seq);
  if (hasReplyTo(frame.kind)) w.varuint(frame.replyTo);
  w.string(frame.name);
  writeValue(w, frame.payload, 0, limits);
  const out = w.finish();
  if (out.length > limits.maxFrameBytes) {
    throw new CshareError('FRAME_TOO_LARGE', `message ${frame.name || frame.kind} is ${out.length} bytes, over the ${limits.maxFrameBytes}-byte frame limit`, {
      size: out.length,
      max: limits.maxFrameBytes,
    });
  }
  return out;
}

/** Wraps already-encoded frames into one batch frame (one transport write). */
export function encodeBatch(frames: readonly Uint8Array[], version: number): Uint8Array {
  let size = 2 * MAX_VARUINT_BYTES + 1;
  for (const f of frames) size += batchEntrySize(f);
  const w = new Writer(size);
  w.varuint(version);
  w.u8(FrameKind.BATCH);
  w.varuint(frames.length);
  for (const f of frames) w.bytes(f);
  return w.finish();
}

/** The bytes a frame adds to a batch (its length prefix and itself). */
export function batchEntrySize(frame: Uint8Array): number {
  let prefix = 1;
  for (let n = frame.length; n >= 0x80; n = Math.floor(n / 0x80)) prefix++;
  return prefix + frame.length;
}

// ---------------------------------------------------------------------------------------------
// Reading

/** A bounds-checked cursor over untrusted bytes. */
class Reader {
  pos = 0;
  values = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly limits: CodecLimits,
  ) {}

  get left(): number {
    return this.buf.length - this.pos;
  }

  u8(): number {
    if (this.pos >= this.buf.length) throw protocolError('unexpected end of frame');
    return this.buf[this.pos++]!;
  }

  varuint(max = Number.MAX_SAFE_INTEGER): number {
    let n = 0;
    let mul = 1;
    for (let i = 0; i < MAX_VARUINT_BYTES; i++) {
      const b = this.u8();
      n += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (n > max) throw protocolError(`number ${n} is over ${max}`);
        return n;
      }
      mul *= 0x80;
    }
    throw protocolError('varint longer than 8 bytes');
  }

  /** A length, bounded by `max` and by the bytes left, checked before any allocation. */
  length(max: number, what: string, minBytesEach = 1): number {
    const n = this.varuint();
    if (n > max) throw protocolError(`${what} of ${n} is over the limit of ${max}`);
    if (n * minBytesEach > this.left) throw protocolError(`${what} of ${n} runs past the end of the frame`);
    return n;
  }

  /**
   * A byte array of the frame: a view of the frame's bytes when it is big and most of the
   * frame (the content of a blob: copying it cost a join a copy of everything it fetched), a
   * copy otherwise, so that a value kept for long (a relay's queued event) holds at most 16
   * times its size of frame alive, whatever else a peer packed into that frame.
   */
  bytes(max: number, what: string): Uint8Array {
    const n = this.length(max, what);
    const view = n >= VIEW_MIN_BYTES && n * VIEW_MAX_SHARE >= this.buf.length;
    const out = view ? this.buf.subarray(this.pos, this.pos + n) : this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(max: number, what: string): string {
    const n = this.length(max, what);
    const view = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    try {
      return decoder.decode(view);
    } catch (err) {
      throw new CshareError('PROTOCOL', `malformed frame: ${what} is not valid UTF-8`, {}, { cause: err });
    }
  }

  f64(): number {
    if (this.left < 8) throw protocolError('unexpected end of frame');
    const n = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return n;
  }

  value(depth: number): Value {
    if (++this.values > this.limits.maxValues) throw protocolError(`more than ${this.limits.maxValues} values`);
    const tag = this.u8();
    switch (tag) {
      case 0:
        return null;
      case 1:
        return false;
      case 2:
        return true;
      case 3:
        return this.varuint();
      case 4: {
        const n = this.varuint();
        if (n === 0) throw protocolError('negative zero integer');
        return -n;
      }
      case 5:
        return this.f64();
      case 6:
        return this.string(this.limits.maxStringBytes, 'string');
      case 7:
        return this.bytes(this.limits.maxFrameBytes, 'byte array');
      case 8: {
        if (depth >= this.limits.maxDepth) throw protocolError(`nesting deeper than ${this.limits.maxDepth}`);
        const n = this.length(this.limits.maxArrayLength, 'array length');
        const out: Value[] = [];
        for (let i = 0; i < n; i++) out.push(this.value(depth + 1));
        return out;
      }
      case 9: {
        if (depth >= this.limits.maxDepth) throw protocolError(`nesting deeper than ${this.limits.maxDepth}`);
        const n = this.length(this.limits.maxObjectKeys, 'object size', 2);
        const out: Record<string, Value> = {};
        for (let i = 0; i < n; i++) {
          const key = this.string(this.limits.maxNameBytes, 'object key');
          // __proto__ would set the prototype instead of a property; duplicates are ambiguous.
          if (key === '__proto__') throw protocolError('object key __proto__');
          if (Object.prototype.hasOwnProperty.call(out, key)) throw protocolError(`duplicate object key ${JSON.stringify(key)}`);
          out[key] = this.value(depth + 1);
        }
        return out;
      }
      default:
        throw protocolError(`unknown value tag ${tag}`);
    }
  }
}

/** Decodes one payload value encoded by {@link encodeValue}. */
export function decodeValue(bytes: Uint8Array, limits: CodecLimits = DEFAULT_LIMITS): Value {
  const r = new Reader(bytes, limits);
  const v = r.value(0);
  if (r.left !== 0) throw protocolError(`${r.left} trailing bytes`);
  return v;
}

/** What can be read of a frame's frozen header even when the rest is malformed. */
export interface FrameHeader {
  version: number;
  kind: number;
  seq: number;
}

/**
 * Best-effort read of `version`, `kind` and `seq`, so that an error reply to a malformed frame
 * (or a frame of another protocol version) can name the request it answers. Never throws.
 */
export function peekHeader(bytes: Uint8Array): FrameHeader | undefined {
  try {
    const r = new Reader(bytes, DEFAULT_LIMITS);
    const version = r.varuint();
    const kind = r.u8();
    const seq = kind === FrameKind.BATCH ? 0 : r.varuint(MAX_SEQ);
    return { version, kind, seq };
  } catch {
    // Deliberately silent: callers fall back to an error reply that answers nothing.
    return undefined;
  }
}

function readFrameBody(r: Reader, kind: number): Frame {
  if (kind > FrameKind.ERROR) throw protocolError(`unknown frame kind ${kind}`);
  const k = kind as Frame['kind'];
  const seq = r.varuint(MAX_SEQ);
  const replyTo = hasReplyTo(k) ? r.varuint(MAX_SEQ) : 0;
  const name = r.string(r.limits.maxNameBytes, 'frame name');
  const payload = r.value(0);
  if (r.left !== 0) throw protocolError(`${r.left} trailing bytes`);
  return { kind: k, seq, replyTo, name, payload };
}

/**
 * Decodes one transport frame into the frames it carries (several for a batch).
 *
 * A frame of another protocol version throws `PROTOCOL` with `data.peerVersion`, except an
 * ERROR frame, whose layout is frozen and which is decoded whatever its version (so this
 * peer can read "upgrade" errors from newer and older peers).
 */
export function decodeFrames(bytes: Uint8Array, version: number, limits: CodecLimits = DEFAULT_LIMITS): Frame[] {
  if (bytes.length > limits.maxFrameBytes) {
    throw new CshareError('FRAME_TOO_LARGE', `frame of ${bytes.length} bytes is over the ${limits.maxFrameBytes}-byte limit`, {
      size: bytes.length,
      max: limits.maxFrameBytes,
    });
  }
  const r = new Reader(bytes, limits);
  const peerVersion = r.varuint();
  const kind = r.u8();
  if (peerVersion !== version && kind !== FrameKind.ERROR) {
    throw new CshareError('PROTOCOL', versionMismatchMessage(peerVersion, version), { peerVersion, version });
  }
  if (kind !== FrameKind.BATCH) return [readFrameBody(r, kind)];
  const count = r.length(limits.maxBatchFrames, 'batch size', 2);
  const frames: Frame[] = [];
  for (let i = 0; i < count; i++) {
    const inner = new Reader(r.bytes(limits.maxFrameBytes, 'batched frame'), limits);
    // Each inner frame has its own value budget; the batch as a whole is bounded by its bytes.
    const innerVersion = inner.varuint();
    const innerKind = inner.u8();
    if (innerVersion !== version && innerKind !== FrameKind.ERROR) {
      throw new CshareError('PROTOCOL', versionMismatchMessage(innerVersion, version), { peerVersion: innerVersion, version });
    }
    if (innerKind === FrameKind.BATCH) throw protocolError('batch inside a batch');
    frames.push(readFrameBody(inner, innerKind));
  }
  if (r.left !== 0) throw protocolError(`${r.left} trailing bytes after batch`);
  return frames;
}

/** The error a peer of another protocol version gets. */
export function versionMismatchMessage(peerVersion: number, version: number): string {
  const older = peerVersion < version ? 'the peer' : 'this side';
  return `peer speaks protocol v${peerVersion}, this cshare speaks v${version}: upgrade cshare on ${older} (npm install -g cshare@latest) so both speak the same version`;
}
