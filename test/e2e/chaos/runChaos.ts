/**
 * One multi-process chaos run (issue 4): real `cshare relay`, `share` and two `join`
 * processes on loopback; for `seconds`, a seeded driver makes random saves on every side
 * (`ChaosDriver`) while another stream of the same seed SIGKILLs a random process every few
 * seconds and restarts it after a random pause (`ChaosCluster`). Then the faults stop, every
 * process is started, and the run waits until every worktree is identical and every process
 * is connected with nothing unrecorded or unacknowledged; the time that takes is "time to
 * converge". Finally `checkChaos` checks that no acknowledged save is missing.
 *
 * The seed fixes the sequence of actions and of faults and their pauses; what each action
 * finds on disk, and so the exact run, also depends on process timing.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { callControl } from '../../../src/sync/control.js';
import type { OpEntry } from '../../../src/core/history.js';
import { Prng } from '../../../src/sync/prng.js';
import { tempDir } from '../../helpers/tmp.js';
import { treeOf } from '../../helpers/tree.js';
import { ChaosCluster, ROLES, SIDES, type Role, type Side } from './ChaosCluster.js';
import { ChaosDriver, type SaveCounts } from './ChaosDriver.js';
import { checkChaos, type CheckReport, type SideRecord } from './checkChaos.js';

/** Knobs of a run. */
export interface ChaosOptions {
  seed: number;
  /** Duration of the faults phase. */
  seconds: number;
  /** How long the processes may take to converge once the faults stop (default 120 s). */
  settleSeconds?: number;
  /** Pause between two saves, ms (default 20-250). */
  saveGapMs?: [number, number];
  /** Pause between two kills, ms (default 1500-5000). */
  killGapMs?: [number, number];
  /** How long a killed process stays down, ms (default 100-3000). */
  downMs?: [number, number];
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** What a passing run did. */
export interface ChaosResult {
  seed: number;
  base: string;
  saves: SaveCounts;
  kills: Record<Role, number>;
  confirmRefusals: number;
  convergeMs: number;
  checks: CheckReport;
  /** `error` events the processes printed, by code (reconnects and the like). */
  errorEvents: Record<string, number>;
  /** Exit codes on the final SIGTERM. */
  exitCodes: Partial<Record<Role, number | null>>;
  summary: string;
}

/** A run that found a problem: the reasons, the seed and the last actions. */
export class ChaosFailure extends Error {
  constructor(
    readonly seed: number,
    readonly reasons: string[],
    trace: string[],
    base: string,
  ) {
    super(
      `chaos run failed for seed ${seed}:\n  ${reasons.slice(0, 30).join('\n  ')}${reasons.length > 30 ? `\n  ... and ${reasons.length - 30} more` : ''}\n` +
        `  worktrees: ${base} (every action in trace.log)\n  replay: npm run chaos -- --seed ${seed}\n  last actions:\n    ${trace.slice(-40).join('\n    ')}`,
    );
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const between = (rng: Prng, [lo, hi]: [number, number]) => lo + rng.int(hi - lo + 1);

/** Runs one chaos run; throws {@link ChaosFailure} when a property fails. */
export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const log = opts.log ?? (() => {});
  const base = tempDir('cshare-chaos-');
  const saveRng = new Prng(opts.seed);
  const faultRng = new Prng((opts.seed ^ 0x9e3779b9) >>> 0);
  const trace: string[] = [];
  let cluster: ChaosCluster | undefined;
  const t0 = Date.now();
  const stamp = () => `${((Date.now() - t0) / 1000).toFixed(2).padStart(7)}s`;
  const note = (line: string) => {
    trace.push(`${stamp()} ${line}`);
    appendFileSync(join(base, 'trace.log'), `${trace.at(-1)}\n`);
    if (trace.length > 400) trace.splice(0, 100);
  };
  const roots: Record<Side, string> = { alice: join(base, 'alice'), bob: join(base, 'bob'), carol: join(base, 'carol') };
  const driver = new ChaosDriver(saveRng, roots, join(base, 'scratch'), (s) => cluster?.isUp(s) ?? false, () => Date.now() - t0);
  const fail = (reasons: string[]) => new ChaosFailure(opts.seed, reasons, trace, base);

  try {
    log(`chaos: seed ${opts.seed}, ${opts.seconds} s of faults, worktrees in ${base}`);
    cluster = await ChaosCluster.create(base, (root) => driver.seed(root));
    const c = cluster;
    note('relay, share, two joins: up');

    // Faults phase: saves and kills until the deadline.
    const end = Date.now() + opts.seconds * 1000;
    const kills: Record<Role, number> = { relay: 0, alice: 0, bob: 0, carol: 0 };
    const restarts = new Map<Role, NodeJS.Timeout>();
    const driverErrors: string[] = [];
    const saves = (async () => {
      while (Date.now() < end) {
        try {
          note(driver.step());
        } catch (err) {
          driverErrors.push(`a save failed: ${(err as Error).message}`);
          note(`save failed: ${(err as Error).message}`);
        }
        await sleep(between(saveRng, opts.saveGapMs ?? [20, 250]));
      }
    })();
    const faults = (async () => {
      for (;;) {
        await sleep(between(faultRng, opts.killGapMs ?? [1500, 5000]));
        const down = between(faultRng, opts.downMs ?? [100, 3000]);
        const role = faultRng.pick(ROLES);
        if (Date.now() >= end) return;
        if (!c.isUp(role)) continue;
        await c.kill(role);
        kills[role]++;
        note(`KILL ${role} (down ${down} ms)`);
        restarts.set(
          role,
          setTimeout(() => {
            restarts.delete(role);
            note(`restart ${role}`);
            c.up(role);
          }, down),
        );
      }
    })();
    await Promise.all([saves, faults]);

    // Settle: no more faults, everything running, wait for convergence.
    for (const t of restarts.values()) clearTimeout(t);
    const stoppedAt = Date.now();
    note('faults stopped; starting every process');
    for (const role of ROLES) c.up(role);
    const deadline = stoppedAt + (opts.settleSeconds ?? 120) * 1000;
    const why = await settle(c, deadline);
    if (why) throw fail([`no convergence within ${opts.settleSeconds ?? 120} s after the faults stopped: ${why}`, ...crashReasons(c), ...driverErrors]);
    const convergeMs = Date.now() - stoppedAt;
    note(`converged in ${convergeMs} ms`);

    // What each side recorded and what the relay acknowledged, then stop everything.
    const records = {} as Record<Side, SideRecord>;
    for (const side of SIDES) {
      const status = (await callControl(roots[side], 'status', {}, 30_000))?.result as { replica: { id: string } } | undefined;
      const history = (await callControl(roots[side], 'log', { patches: true }, 60_000))?.result as { changes: OpEntry[] } | undefined;
      if (!status || !history) throw fail([`${side}'s process stopped answering after convergence`]);
      const acked = c.lines(side).filter((l) => l.event === 'uploaded').map((l) => Number(l.upTo));
      records[side] = { replicaId: status.replica.id, log: history.changes, ackedUpTo: Math.max(-1, ...acked) };
    }
    const unclean: string[] = [];
    const exitCodes = await c.stopAll(unclean);
    const trees = SIDES.map((s) => JSON.stringify(treeOf(roots[s])));
    const reasons = [...crashReasons(c), ...driverErrors];
    if (trees.some((t) => t !== trees[0])) reasons.push(`worktrees differ after the processes stopped: ${treeDiff(roots)}`);
    const checks = checkChaos(driver, roots.alice, records);
    reasons.push(...checks.failures);
    if (reasons.length > 0) throw fail(reasons);

    const errorEvents: Record<string, number> = {};
    // What the errors other than dropped connections said (each message once, a few at most).
    const said = new Set<string>();
    for (const role of ROLES) {
      for (const l of c.lines(role)) {
        if (l.event !== 'error') continue;
        errorEvents[String(l.code)] = (errorEvents[String(l.code)] ?? 0) + 1;
        if (l.code !== 'CONNECTION_CLOSED' && said.size < 5) said.add(`${role} ${String(l.code)}: ${String(l.message)}`);
      }
    }
    const s = driver.counts;
    const killTotal = Object.values(kills).reduce((a, b) => a + b, 0);
    const summary = [
      `chaos seed ${opts.seed}: ${opts.seconds} s of faults`,
      `  saves: ${s.saves} (${s.markers} marker inserts in shared text, ${s.concurrentPairs} concurrent pairs, ${s.sharedCreates + s.ownedCreates} creates, ${s.ownedEdits} owned edits, ${s.binaryWrites} binary writes, ${s.renames} renames, ${s.deletes} deletes, ${s.chmods} chmods, ${s.freeOps} free-for-all ops; ${s.offlineSaves} made while the side's process was down; ${s.staleRetries} marker save(s) redone because cshare wrote the file between the driver's read and its save)`,
      `  kills (SIGKILL): ${killTotal} (relay ${kills.relay}, alice/share ${kills.alice}, bob/join ${kills.bob}, carol/join ${kills.carol}); share and join resumes refused without --yes: ${c.confirmRefusals}`,
      `  converged ${(convergeMs / 1000).toFixed(1)} s after the faults stopped`,
      `  markers: ${checks.markers}, acknowledged ${checks.acknowledged} (all present, none twice); recorded but not acknowledged ${checks.recordedNotAcked}; overwritten by a remote change before any scan saw them ${checks.overwrittenBeforeRecorded}`,
      `  error events: ${JSON.stringify(errorEvents)}; exit codes on SIGTERM: ${JSON.stringify(exitCodes)}`,
      ...[...said].map((m) => `    ${m}`),
      ...unclean.map((u) => `  ${u}`),
    ].join('\n');
    return { seed: opts.seed, base, saves: { ...s }, kills, confirmRefusals: c.confirmRefusals, convergeMs, checks, errorEvents, exitCodes, summary };
  } finally {
    await cluster?.stopAll();
  }
}

/**
 * Waits until every side's process is connected with nothing unrecorded, unacknowledged or
 * uploading, and all worktrees are identical, twice in a row a second apart. Returns why not
 * when `deadline` passes.
 */
async function settle(c: ChaosCluster, deadline: number): Promise<string | undefined> {
  let last = '';
  let stableSince: string | undefined;
  for (;;) {
    if (Date.now() > deadline) return last;
    await sleep(stableSince ? 1000 : 300);
    const statuses = await Promise.all(
      SIDES.map(async (side) => {
        try {
          return (await callControl(c.roots[side], 'status', {}, 10_000))?.result as { connected?: boolean; changed: unknown[]; unacknowledged?: number; uploading?: number } | undefined;
        } catch (err) {
          return { error: (err as Error).message } as never;
        }
      }),
    );
    const busy = SIDES.filter((_, i) => {
      const s = statuses[i];
      return !s || !s.connected || s.changed.length > 0 || s.unacknowledged !== 0 || (s.uploading ?? 0) > 0;
    });
    if (busy.length > 0) {
      last = `not settled: ${busy.map((side) => `${side} ${JSON.stringify(statuses[SIDES.indexOf(side)] ?? 'not answering')}`).join('; ')}`;
      stableSince = undefined;
      continue;
    }
    const trees = SIDES.map((s) => JSON.stringify(treeOf(c.roots[s])));
    if (trees.some((t) => t !== trees[0])) {
      last = `worktrees differ: ${treeDiff(c.roots)}`;
      stableSince = undefined;
      continue;
    }
    if (stableSince === trees[0]) return undefined;
    stableSince = trees[0];
  }
}

function crashReasons(c: ChaosCluster): string[] {
  return c.crashes.map((x) => `CRASH: ${x.role} exited by itself (code ${x.code}, signal ${x.signal}) at ${(x.atMs / 1000).toFixed(1)} s; last lines:\n${x.lastLines}\nstderr:\n${x.stderr}`);
}

/** The paths on which the worktrees disagree (up to 10), with who has what. */
function treeDiff(roots: Record<Side, string>): string {
  const trees = SIDES.map((s) => treeOf(roots[s]));
  const paths = new Set(trees.flatMap((t) => Object.keys(t)));
  const diffs: string[] = [];
  for (const p of [...paths].sort()) {
    const vals = trees.map((t) => t[p]);
    if (vals.every((v) => v === vals[0])) continue;
    diffs.push(`${p}: ${SIDES.map((s, i) => `${s}=${vals[i] === undefined ? 'absent' : `${vals[i]!.slice(0, 2)}${Buffer.from(vals[i]!.slice(2), 'base64').length}B#${hash(vals[i]!)}`}`).join(' ')}`);
  }
  return `${diffs.length} path(s): ${diffs.slice(0, 10).join('; ')}`;
}

function hash(s: string): string {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) >>> 0;
  return h.toString(16);
}
