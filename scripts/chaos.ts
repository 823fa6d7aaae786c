/**
 * The multi-process chaos run outside vitest (`npm run chaos`): `--seconds N` of faults
 * (default 120), `--seed S` (default: random, printed), `--runs R` runs one after another
 * (seeds S, S+1, ...). Exits 1 if a run fails; a failure prints its seed, its replay command,
 * the reasons and the last actions, and keeps its worktrees for inspection. See
 * `test/e2e/chaos/runChaos.ts` for what is done and checked.
 */
import { ChaosFailure, runChaos } from '../test/e2e/chaos/runChaos.js';
import { intFlag } from './args.js';

const seconds = intFlag('seconds') ?? 120;
const first = intFlag('seed') ?? Math.floor(Math.random() * 2 ** 31);
const runs = intFlag('runs') ?? 1;
const verbose = process.argv.includes('--verbose');
let failed = 0;
for (let seed = first; seed < first + runs; seed++) {
  try {
    const r = await runChaos({ seed, seconds, settleSeconds: intFlag('settle'), log: verbose ? (l) => process.stdout.write(`${l}\n`) : undefined });
    process.stdout.write(`${r.summary}\n`);
  } catch (err) {
    failed++;
    process.stdout.write(`${err instanceof ChaosFailure ? err.message : (err as Error)?.stack}\n`);
  }
}
if (runs > 1) process.stdout.write(`${runs - failed}/${runs} runs passed\n`);
process.exit(failed > 0 ? 1 : 0);
