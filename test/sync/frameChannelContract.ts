import { describe, expect, it } from 'vitest';
import type { FrameChannel } from '../../src/sync/rpc/transport.js';
import { waitFor } from './helpers.js';

/** Two connected channels for one run of the contract, and the limit both sides enforce. */
export interface ContractPair {
  a: FrameChannel;
  b: FrameChannel;
  /** Largest frame `send` accepts; one byte more must be refused with `FRAME_TOO_LARGE`. */
  maxFrameBytes: number;
}

/**
 * A frame whose bytes say which frame it is: `i` in the first four bytes (when they fit), then
 * a pattern seeded by `i`, so a frame that arrives cut, merged, swapped or corrupted shows.
 */
export function numbered(i: number, size: number): Uint8Array {
  const f = new Uint8Array(size);
  for (let k = 0; k < size; k++) f[k] = (i * 31 + k * 7) & 0xff;
  if (size >= 4) new DataView(f.buffer).setUint32(0, i);
  return f;
}

/** True if `f` is exactly `numbered(i, size)`. Checked by hand: `toEqual` on MiBs is slow. */
function isNumbered(f: Uint8Array, i: number, size: number): boolean {
  if (f.length !== size) return false;
  const want = numbered(i, size);
  for (let k = 0; k < size; k++) if (f[k] !== want[k]) return false;
  return true;
}

/** Reads `ch` to its end into `into` (each frame as received). */
async function drain(ch: FrameChannel, into: Uint8Array[]): Promise<void> {
  for await (const f of ch.frames) into.push(f);
}

/** Settles with the outcome of `p` as a value, so a test can assert how it ended. */
async function outcome(p: Promise<unknown>): Promise<{ ok: true } | { ok: false; err: unknown }> {
  try {
    await p;
    return { ok: true };
  } catch (err) {
    return { ok: false, err };
  }
}

/**
 * What every {@link FrameChannel} must do, whatever carries the frames (as automerge-repo's
 * `runNetworkAdapterTests`): run against `MemoryTransport` and a real libp2p stream between
 * two loopback nodes (`FrameChannel.contract.test.ts`). The memory twin stands in for libp2p
 * in most sync tests, so every behaviour here is one those tests rely on.
 */
export function runFrameChannelContract(name: string, makePair: () => Promise<ContractPair>): void {
  describe(`FrameChannel contract: ${name}`, () => {
    it('delivers many frames of varied sizes whole and in order, 0 bytes and the limit included', async () => {
      const { a, b, maxFrameBytes } = await makePair();
      const sizes: number[] = [0, 1, 0, 3, 4, 255, 256, 65_535, 65_536, 65_537, 1_000_003, 0, maxFrameBytes - 1, maxFrameBytes, 7];
      for (let i = 0; i < 300; i++) sizes.push((i * 7919) % 5000);
      const got: Uint8Array[] = [];
      const reader = drain(b, got);
      for (const [i, n] of sizes.entries()) await a.send(numbered(i, n));
      await waitFor(() => got.length === sizes.length, 30_000, `${sizes.length} frames`);
      expect(got.map((f) => f.length)).toEqual(sizes);
      const wrong = sizes.map((n, i) => i).filter((i) => !isNumbered(got[i]!, i, sizes[i]!));
      expect(wrong).toEqual([]);
      a.close();
      await reader;
    });

    it('carries frames both ways at once, each direction in order', async () => {
      const { a, b } = await makePair();
      const count = 500;
      const atA: Uint8Array[] = [];
      const atB: Uint8Array[] = [];
      const readers = Promise.all([drain(a, atA), drain(b, atB)]);
      const sendAll = async (ch: FrameChannel, seed: number): Promise<void> => {
        for (let i = 0; i < count; i++) await ch.send(numbered(seed + i, 16 + ((i * 37) % 2000)));
      };
      await Promise.all([sendAll(a, 0), sendAll(b, 100_000)]);
      await waitFor(() => atA.length === count && atB.length === count, 30_000, 'frames both ways');
      expect(atB.every((f, i) => isNumbered(f, i, 16 + ((i * 37) % 2000)))).toBe(true);
      expect(atA.every((f, i) => isNumbered(f, 100_000 + i, 16 + ((i * 37) % 2000)))).toBe(true);
      b.close();
      await readers;
    });

    for (const closer of ['a', 'b'] as const) {
      it(`sees a close from ${closer === 'a' ? 'the dialling' : 'the accepting'} end at both ends: reads end, later sends fail`, async () => {
        const pair = await makePair();
        const [closing, other] = closer === 'a' ? [pair.a, pair.b] : [pair.b, pair.a];
        const atClosing: Uint8Array[] = [];
        const atOther: Uint8Array[] = [];
        // Both reads are pending (nothing was sent) when the close comes.
        const closingRead = drain(closing, atClosing);
        const otherRead = drain(other, atOther);
        await closing.send(numbered(1, 10));
        await waitFor(() => atOther.length === 1, 10_000, 'the frame before close');
        closing.close(new Error('done here'));
        await closingRead;
        await otherRead;
        await closing.closed;
        await other.closed;
        expect(atOther.map((f) => f.length)).toEqual([10]);
        expect(atClosing).toEqual([]);
        for (const ch of [closing, other]) {
          const sent = await outcome(ch.send(numbered(2, 10)));
          expect(sent.ok).toBe(false);
          if (!sent.ok) expect(sent.err).toMatchObject({ code: 'CONNECTION_CLOSED' });
        }
        // Idempotent: a second close changes nothing and throws nothing.
        closing.close();
        other.close();
      });
    }

    it('lets the frames sent before close out, in order, before the other end sees the end', async () => {
      const { a, b } = await makePair();
      const got: Uint8Array[] = [];
      const reader = drain(b, got);
      // Not awaited: close() must still let these out.
      const sends = Array.from({ length: 200 }, (_, i) => a.send(numbered(i, 100)));
      a.close();
      await Promise.all(sends);
      await reader;
      expect(got.length).toBe(200);
      expect(got.every((f, i) => isNumbered(f, i, 100))).toBe(true);
    });

    it('refuses a frame over the limit with FRAME_TOO_LARGE and keeps carrying the next frames', async () => {
      const { a, b, maxFrameBytes } = await makePair();
      const got: Uint8Array[] = [];
      const reader = drain(b, got);
      await a.send(numbered(0, 10));
      const refused = await outcome(a.send(numbered(1, maxFrameBytes + 1)));
      expect(refused.ok).toBe(false);
      if (!refused.ok) expect(refused.err).toMatchObject({ code: 'FRAME_TOO_LARGE', data: { size: maxFrameBytes + 1, max: maxFrameBytes } });
      await a.send(numbered(2, 10));
      await a.send(numbered(3, maxFrameBytes));
      await b.send(numbered(4, 10));
      await waitFor(() => got.length === 3, 30_000, 'the frames after the refused one');
      expect(got.map((f) => f.length)).toEqual([10, 10, maxFrameBytes]);
      expect(isNumbered(got[1]!, 2, 10) && isNumbered(got[2]!, 3, maxFrameBytes)).toBe(true);
      const atA: Uint8Array[] = [];
      const readerA = drain(a, atA);
      await waitFor(() => atA.length === 1, 10_000, 'the frame the other way');
      a.close();
      await Promise.all([reader, readerA]);
    });

    it('loses no frame to a slow reader: the fast sender is held back or buffered, never dropped', async () => {
      const { a, b } = await makePair();
      // 4 MiB: past MemoryTransport's capacity and yamux's window, below what libp2p buffers
      // unread before it resets the stream (see FrameChannel's doc).
      const count = 4096;
      const size = 1024;
      let sent = 0;
      let read = 0;
      let mostAhead = 0;
      let closedEarly = false;
      void b.closed.then(() => (closedEarly = read < count));
      const sender = (async () => {
        for (let i = 0; i < count; i++) {
          await a.send(numbered(i, size));
          sent++;
          mostAhead = Math.max(mostAhead, sent - read);
        }
      })();
      const got: Uint8Array[] = [];
      // A slow reader: one event-loop turn per frame, against a sender that only awaits `send`.
      for await (const f of b.frames) {
        got.push(f);
        read++;
        await new Promise((r) => setImmediate(r));
        if (got.length === count) break;
      }
      await sender;
      expect(closedEarly).toBe(false);
      expect(got.length).toBe(count);
      expect(got.every((f, i) => isNumbered(f, i, size))).toBe(true);
      // The sender did get ahead, so the reader really was the slow one.
      expect(mostAhead).toBeGreaterThan(1);
      a.close();
      await b.closed;
    });
  });
}
