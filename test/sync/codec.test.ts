import { describe, expect, it } from 'vitest';
import { CshareError } from '../../src/core/errors.js';
import {
  DEFAULT_LIMITS,
  FrameKind,
  decodeFrames,
  decodeValue,
  encodeBatch,
  encodeFrame,
  encodeValue,
  peekHeader,
  type Frame,
} from '../../src/sync/rpc/codec.js';
import { Prng } from '../../src/sync/prng.js';
import { mutate, randomValue, testSeed } from './helpers.js';

function expectProtocolError(fn: () => unknown, pattern?: RegExp): CshareError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CshareError);
    expect((err as CshareError).code).toBe('PROTOCOL');
    if (pattern) expect((err as CshareError).message).toMatch(pattern);
    return err as CshareError;
  }
  throw new Error('expected a PROTOCOL error');
}

/** Hand-built bytes: varuints must be small here. */
const raw = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);

describe('codec', () => {
  it('decodes a blob that is most of its frame as a view, and small or minor byte arrays as copies', () => {
    const blob = new Uint8Array(64 * 1024).map((_, i) => i % 251);
    const small = new Uint8Array(100).fill(7);
    const minor = new Uint8Array(2048).fill(9);
    const frame = (payload: Frame['payload'], seq: number): Uint8Array => encodeFrame({ kind: FrameKind.SEND, seq, replyTo: 0, name: 'x', payload }, 1);
    const bytes = encodeBatch([frame({ data: blob, tag: small }, 1), ...Array.from({ length: 40 }, (_, i) => frame({ data: minor }, i + 2))], 1);
    const [first, ...rest] = decodeFrames(bytes, 1);
    const got = (first!.payload as { data: Uint8Array; tag: Uint8Array });
    expect(got.data).toEqual(blob);
    expect(got.tag).toEqual(small);
    // The blob is a view (no copy of the bulk of the data); the 100 bytes are their own array.
    expect(got.data.byteLength).toBeLessThan(got.data.buffer.byteLength);
    expect(got.tag.buffer.byteLength).toBe(100);
    // 2 KiB in a frame of ~2 KiB is a view of that frame, whose bytes were copied out of the
    // 200 KiB batch: no value keeps more than 16 times its size of the batch alive.
    for (const f of rest) {
      const d = (f.payload as { data: Uint8Array }).data;
      expect(d).toEqual(minor);
      expect(d.buffer.byteLength).toBeLessThanOrEqual(16 * d.byteLength);
    }
  });

  it('round-trips random payloads (property, seeded)', () => {
    const seed = testSeed(0xc0dec);
    const rng = new Prng(seed);
    for (let i = 0; i < 3000; i++) {
      const v = randomValue(rng);
      expect(decodeValue(encodeValue(v)), `seed ${seed}, case ${i}`).toEqual(v);
    }
  });

  it('round-trips every frame kind, alone and batched', () => {
    const rng = new Prng(testSeed(7));
    const frames: Frame[] = [];
    for (const kind of [0, 1, 2, 3, 4, 5, 6, 7, 8] as const) {
      frames.push({ kind, seq: 1 + rng.int(0xfffffffe), replyTo: [2, 3, 4, 6, 7, 8].includes(kind) ? 0xffffffff : 0, name: kind === 5 ? '/worktrees/abc' : 'ping', payload: randomValue(rng) });
    }
    for (const f of frames) expect(decodeFrames(encodeFrame(f, 1), 1)).toEqual([f]);
    const batch = encodeBatch(frames.map((f) => encodeFrame(f, 1)), 1);
    expect(decodeFrames(batch, 1)).toEqual(frames);
  });

  it('omits undefined properties and keeps binary exact', () => {
    const blob = new Uint8Array([0, 1, 2, 255]);
    expect(decodeValue(encodeValue({ a: undefined, b: blob }))).toEqual({ b: blob });
    const decoded = decodeValue(encodeValue(blob)) as Uint8Array;
    expect(decoded).toBeInstanceOf(Uint8Array);
    expect(Array.from(decoded)).toEqual([0, 1, 2, 255]);
  });

  it('refuses to encode what it cannot represent', () => {
    expect(() => encodeValue(new Date() as never)).toThrow(CshareError);
    expect(() => encodeValue((() => 1) as never)).toThrow(CshareError);
    const deep: unknown[] = [];
    let cur = deep;
    for (let i = 0; i < 40; i++) cur.push((cur = []));
    expect(() => encodeValue(deep as never)).toThrow(/nesting/);
  });

  it('bounds every length before trusting it', () => {
    // A string claiming 2^40 bytes: rejected without allocating.
    expectProtocolError(() => decodeValue(raw(6, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20)), /limit|past the end/);
    // A byte array longer than what is left.
    expectProtocolError(() => decodeValue(raw(7, 100, 1, 2)), /past the end/);
    // An array of a million nulls claimed in four bytes.
    expectProtocolError(() => decodeValue(raw(8, 0xc0, 0x84, 0x3d, 0)), /past the end/);
    // Over the configured bounds.
    const limits = { ...DEFAULT_LIMITS, maxStringBytes: 3, maxArrayLength: 2, maxObjectKeys: 1, maxDepth: 2, maxValues: 5 };
    expectProtocolError(() => decodeValue(encodeValue('abcd'), limits), /limit/);
    expectProtocolError(() => decodeValue(encodeValue([1, 2, 3]), limits), /limit/);
    expectProtocolError(() => decodeValue(encodeValue({ a: 1, b: 2 }), limits), /limit/);
    expectProtocolError(() => decodeValue(encodeValue([[[1]]]), limits), /nesting/);
    expectProtocolError(() => decodeValue(encodeValue([[1, 2], [3, 4]]), { ...limits, maxDepth: 5 }), /values/);
  });

  it('rejects malformed values with PROTOCOL', () => {
    expectProtocolError(() => decodeValue(raw()), /end of frame/);
    expectProtocolError(() => decodeValue(raw(42)), /unknown value tag/);
    expectProtocolError(() => decodeValue(raw(0, 0)), /trailing/);
    expectProtocolError(() => decodeValue(raw(6, 2, 0xc3, 0x28)), /UTF-8/);
    expectProtocolError(() => decodeValue(raw(3, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01)), /varint/);
    expectProtocolError(() => decodeValue(raw(4, 0)), /negative zero/);
    expectProtocolError(() => decodeValue(raw(5, 1, 2)), /end of frame/);
    // __proto__ and duplicate keys.
    expectProtocolError(() => decodeValue(raw(9, 1, 9, ...new TextEncoder().encode('__proto__'), 0)), /__proto__/);
    expectProtocolError(() => decodeValue(raw(9, 2, 1, 97, 0, 1, 97, 0)), /duplicate/);
  });

  it('rejects malformed frames with PROTOCOL', () => {
    expectProtocolError(() => decodeFrames(raw(1, 12, 1, 0, 0), 1), /unknown frame kind/);
    expectProtocolError(() => decodeFrames(raw(1, 9, 1, 2, 1, 9), 1), /batch inside a batch|past the end/);
    const inner = encodeBatch([encodeFrame({ kind: 0, seq: 1, replyTo: 0, name: 'x', payload: null }, 1)], 1);
    expectProtocolError(() => decodeFrames(encodeBatch([inner], 1), 1), /batch inside a batch/);
    // Sequence numbers are uint32.
    expectProtocolError(() => decodeFrames(raw(1, 0, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 0), 1), /over/);
  });

  it('names the versions on a mismatch, but reads error frames of any version', () => {
    const f: Frame = { kind: FrameKind.REQUEST, seq: 5, replyTo: 0, name: 'ping', payload: { time: 1 } };
    const err = expectProtocolError(() => decodeFrames(encodeFrame(f, 2), 1), /peer speaks protocol v2, this cshare speaks v1: upgrade/);
    expect(err.data.peerVersion).toBe(2);
    expect(peekHeader(encodeFrame(f, 2))).toEqual({ version: 2, kind: FrameKind.REQUEST, seq: 5 });
    const e: Frame = { kind: FrameKind.ERROR, seq: 1, replyTo: 5, name: '', payload: { code: 'PROTOCOL', message: 'upgrade' } };
    expect(decodeFrames(encodeFrame(e, 7), 1)).toEqual([e]);
  });

  it('bounds frame size on both sides', () => {
    const limits = { ...DEFAULT_LIMITS, maxFrameBytes: 100 };
    const big: Frame = { kind: FrameKind.SEND, seq: 1, replyTo: 0, name: 'x', payload: new Uint8Array(200) };
    expect(() => encodeFrame(big, 1, limits)).toThrow(expect.objectContaining({ code: 'FRAME_TOO_LARGE' }));
    expect(() => decodeFrames(encodeFrame(big, 1), 1, limits)).toThrow(expect.objectContaining({ code: 'FRAME_TOO_LARGE' }));
  });

  it('fuzz: random and mutated frames only ever throw PROTOCOL', () => {
    const seed = testSeed(0xf022);
    const rng = new Prng(seed);
    const limits = { ...DEFAULT_LIMITS, maxFrameBytes: 64 * 1024 };
    const valid: Uint8Array[] = [];
    for (let i = 0; i < 50; i++) {
      const kind = rng.int(9) as Frame['kind'];
      valid.push(encodeFrame({ kind, seq: rng.int(1000), replyTo: rng.int(1000), name: 'file/fetch', payload: randomValue(rng) }, 1));
    }
    valid.push(encodeBatch(valid.slice(0, 10), 1));
    let decoded = 0;
    for (let i = 0; i < 5000; i++) {
      const input = rng.chance(0.3) ? rng.bytes(rng.int(64)) : mutate(rng, rng.pick(valid));
      try {
        decodeFrames(input, 1, limits);
        decoded++;
      } catch (err) {
        if (!(err instanceof CshareError) || (err.code !== 'PROTOCOL' && err.code !== 'FRAME_TOO_LARGE')) {
          throw new Error(`seed ${seed} case ${i}: decoder threw ${String(err)}`);
        }
      }
      expect(peekHeader(input) === undefined || typeof peekHeader(input) === 'object').toBe(true);
    }
    // The mutations are not all fatal: some still decode, so both paths are exercised.
    expect(decoded).toBeGreaterThan(0);
  });
});
