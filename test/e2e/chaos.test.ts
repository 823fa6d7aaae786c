/**
 * The short multi-process chaos run in `npm test` (issue 4): real relay, share and two join
 * processes, random saves on every side and SIGKILLs of every kind of process for
 * `CSHARE_CHAOS_SECONDS` (default 25) seconds, then every worktree identical and no
 * acknowledged save missing. A random seed each run, printed; replay one with
 * `CSHARE_CHAOS_SEED=<seed>` or `npm run chaos -- --seed <seed>`. What is checked, and what
 * "acknowledged" means: `test/e2e/chaos/checkChaos.ts`.
 */
import { afterEach, expect, it } from 'vitest';
import { stopAll } from '../helpers/procs.js';
import { runChaos } from './chaos/runChaos.js';

afterEach(stopAll);

it('relay, sharer and joiners killed at random while every side saves: identical worktrees, no acknowledged save lost', async () => {
  const seed = Number(process.env.CSHARE_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const seconds = Number(process.env.CSHARE_CHAOS_SECONDS ?? 25);
  const r = await runChaos({ seed, seconds, settleSeconds: 90 });
  process.stdout.write(`${r.summary}\n`);
  // The run exercised what it is meant to: saves of every kind, offline ones, and kills.
  expect(r.saves.markers).toBeGreaterThan(20);
  expect(r.saves.concurrentPairs).toBeGreaterThan(0);
  expect(Object.values(r.kills).reduce((a, b) => a + b, 0)).toBeGreaterThan(2);
  expect(r.checks.acknowledged).toBeGreaterThan(0);
}, 240_000);
