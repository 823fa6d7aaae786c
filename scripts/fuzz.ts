/**
 * The convergence fuzzer outside vitest (`npm run fuzz`): `--seeds N` runs seeds 1..N (or
 * `--from F` on), `--seed S` replays one seed and prints its actions as they happen (`--trace`:
 * and each replica's store writes: op entries, manifest updates, seq and sync state). Each seed
 * draws which optional behaviours it uses (different ignore rules, saves at awkward moments,
 * concurrent creates); `--features rules,saves,creates` turns on just those, `--legacy` none
 * (the fuzzer as it ran before them, as the regression seeds run). Exits 1 if any seed fails;
 * each failure prints its seed, its replay command and its last actions. See
 * `test/fuzz/convergence.test.ts` for what is checked and the fault model.
 */
import { FuzzFailure, runSeed } from '../test/fuzz/harness.js';
import { LEGACY, type Features } from '../test/fuzz/world.js';
import { intFlag } from './args.js';

const one = intFlag('seed');
const from = one ?? intFlag('from') ?? 1;
const count = one !== undefined ? 1 : (intFlag('seeds') ?? 500);
const traceStore = process.argv.includes('--trace');
const verbose = one !== undefined || traceStore || process.argv.includes('--verbose');
const steps = intFlag('steps');
let features: Partial<Features> | undefined = process.argv.includes('--legacy') ? LEGACY : undefined;
const named = process.argv.indexOf('--features');
if (named >= 0) {
  const on = new Set((process.argv[named + 1] ?? '').split(','));
  features = { rules: on.has('rules'), saves: on.has('saves'), creates: on.has('creates') };
}

const started = Date.now();
const failed: number[] = [];
const totals: Record<string, number> = {};
for (let seed = from; seed < from + count; seed++) {
  try {
    const result = await runSeed(seed, { verbose, steps, traceStore, features });
    for (const [k, v] of Object.entries(result.stats)) totals[k] = (totals[k] ?? 0) + v;
  } catch (err) {
    failed.push(seed);
    process.stdout.write(`\n${err instanceof FuzzFailure ? err.message : (err as Error)?.stack}\n`);
  }
  if (!verbose && (seed - from + 1) % 50 === 0) process.stdout.write(`${seed - from + 1}/${count} seeds, ${failed.length} failed, ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
const secs = ((Date.now() - started) / 1000).toFixed(1);
process.stdout.write(`\n${count - failed.length}/${count} seeds passed in ${secs} s${failed.length ? `; failed: ${failed.join(' ')}` : ''}\n`);
process.stdout.write(`faults and events: ${JSON.stringify(totals)}\n`);
process.exit(failed.length > 0 ? 1 : 0);
