import { describe, expect, it } from 'vitest';
import { runSeed } from './harness.js';

/** Seeds CI runs, split over the shard files so that vitest runs them on every core. */
export const CI_SEEDS = 500;
const SHARDS = 2;

/**
 * Declares one seed per test for shard `shard` of the CI seeds (`CSHARE_FUZZ_SEEDS` changes
 * how many). `CSHARE_SEED=<n>` runs just that seed, in shard 0, like `npm run fuzz -- --seed n`.
 */
export function convergenceShard(shard: number): void {
  const only = process.env.CSHARE_SEED;
  const total = Number(process.env.CSHARE_FUZZ_SEEDS ?? CI_SEEDS);
  const seeds: number[] = [];
  if (only !== undefined) {
    if (shard === 0) seeds.push(Number(only));
  } else {
    for (let seed = 1 + shard; seed <= total; seed += SHARDS) seeds.push(seed);
  }
  describe(`convergence under faults (shard ${shard + 1}/${SHARDS}: ${seeds.length} seeds)`, () => {
    for (const seed of seeds) {
      // A failure's message carries the seed, the replay command and the last actions.
      it(`seed ${seed}`, async () => {
        await runSeed(seed);
      });
    }
    if (shard === 0 && only === undefined) {
      it('is deterministic: a seed replays to the same actions and the same files', async () => {
        const a = await runSeed(7);
        const b = await runSeed(7);
        expect(b.trace).toEqual(a.trace);
        expect(b.final).toBe(a.final);
        expect(b.fingerprint).toBe(a.fingerprint);
        expect(a.trace.length).toBeGreaterThan(20);
      });
    }
  });
}
