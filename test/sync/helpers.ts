import { Prng } from '../../src/sync/prng.js';
import type { Value } from '../../src/sync/rpc/codec.js';

/** The seed of a randomized test: `CSHARE_SEED=<n>` replays one. Printed in failure messages. */
export function testSeed(fallback: number): number {
  const env = process.env.CSHARE_SEED;
  return env ? Number(env) : fallback;
}

/** Polls `cond` until it holds or `timeoutMs` passes (no sleeps as synchronisation). */
export async function waitFor(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A random payload value: every tag of the codec, nested, with binary fields. */
export function randomValue(rng: Prng, depth = 0): Value {
  const k = rng.int(depth > 3 ? 7 : 9);
  switch (k) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2: {
      const r = rng.int(6);
      if (r === 0) return rng.int(128);
      if (r === 1) return rng.int(2 ** 31) * (rng.chance(0.5) ? -1 : 1);
      if (r === 2) return Number.MAX_SAFE_INTEGER - rng.int(10);
      if (r === 3) return -Number.MAX_SAFE_INTEGER + rng.int(10);
      if (r === 4) return rng.pick([NaN, Infinity, -Infinity, -0, 0.5, 1e300, -1e-300]);
      return (rng.next() - 0.5) * 1e6;
    }
    case 3:
      return randomString(rng);
    case 4:
    case 5:
      return rng.bytes(rng.chance(0.1) ? rng.int(5000) : rng.int(40));
    case 6:
      return rng.int(100);
    case 7: {
      const n = rng.int(6);
      return Array.from({ length: n }, () => randomValue(rng, depth + 1));
    }
    default: {
      const out: Record<string, Value> = {};
      const n = rng.int(6);
      for (let i = 0; i < n; i++) {
        const key = randomString(rng);
        if (key !== '__proto__') out[key] = randomValue(rng, depth + 1);
      }
      return out;
    }
  }
}

function randomString(rng: Prng): string {
  const alphabet = ['a', 'b', 'Z', '0', '/', ' ', 'é', '日', '😀', '\n', '\0'];
  const n = rng.int(12);
  let s = '';
  for (let i = 0; i < n; i++) s += rng.pick(alphabet);
  return s;
}

/** Flips, inserts, deletes or truncates bytes of a frame. */
export function mutate(rng: Prng, frame: Uint8Array): Uint8Array {
  const bytes = Array.from(frame);
  const edits = 1 + rng.int(4);
  for (let i = 0; i < edits; i++) {
    const op = rng.int(5);
    const at = rng.int(bytes.length + 1);
    if (op === 0 && bytes.length > 0) bytes[at % bytes.length] = rng.int(256);
    else if (op === 1) bytes.splice(at, 0, rng.int(256));
    else if (op === 2) bytes.splice(at, 1);
    else if (op === 3) bytes.length = at;
    else bytes.splice(at, 0, 0xff, 0xff, 0xff, 0xff, 0x0f);
  }
  return Uint8Array.from(bytes);
}
