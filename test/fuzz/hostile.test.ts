import { afterAll, describe, expect, it } from 'vitest';
import { HostileWorld } from './hostileWorld.js';

/**
 * The convergence fuzzer's hostile-peer mode (issue 15 "Proof"; see `hostileWorld.ts`): honest
 * replicas on real directories stay confined to their worktrees, stay live and converge while
 * a hostile peer sends them random malicious changes. `CSHARE_HOSTILE_SEED=<n>` replays one
 * seed; `CSHARE_HOSTILE_SEEDS=<n>` runs more.
 */
const only = process.env.CSHARE_HOSTILE_SEED;
const seeds = only !== undefined ? [Number(only)] : Array.from({ length: Number(process.env.CSHARE_HOSTILE_SEEDS ?? 24) }, (_, i) => 1 + i);

describe('hostile peer fuzz: confined, live, converging', () => {
  const totals = { runs: 0, writes: 0, blocked: 0, refused: 0 };
  for (const seed of seeds) {
    it(`seed ${seed}`, async () => {
      const r = await new HostileWorld(seed).run(40);
      totals.runs++;
      totals.writes += r.writes;
      totals.blocked += r.blocked;
      totals.refused += r.refused;
      expect(r.writes).toBeGreaterThan(0);
    }, 60_000);
  }
  // The runs did meet what they are about: paths left alone and entries refused.
  afterAll(() => {
    if (totals.runs < seeds.length || seeds.length < 10) return;
    expect(totals.blocked).toBeGreaterThan(seeds.length);
    expect(totals.refused).toBeGreaterThan(seeds.length);
    process.stdout.write(`hostile fuzz: ${totals.runs} runs, ${totals.writes} fenced writes, ${totals.blocked} paths left alone, ${totals.refused} entries refused\n`);
  });
});
