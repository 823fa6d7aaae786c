/**
 * Checkout benchmark (`npx tsx bench/checkout.ts`, issue 16): a git repository with two
 * branches that differ in every one of 3000 small text files is shared live through a
 * `cshare relay` on loopback and joined live; then `git checkout` switches the sharer's
 * worktree between the branches, alternately, and each switch is timed from the start of
 * `git checkout` until the joiner's disk equals the sharer's (every file's bytes, polled
 * every ~20 ms by `lstat`, reading only files that changed, 60 s deadline).
 *
 * Target: under 3 s per checkout (issue 16; 11–15 s before), timed from the start of `git
 * checkout`; the time from its end is printed too (on a loaded 2-core machine git itself
 * takes 1–5 s to write 3000 files). `CSHARE_BENCH_PROF=<dir>` runs the relay, the sharer
 * and the joiner with `--cpu-prof` into that folder and keeps their debug logs there
 * (`CSHARE_BENCH_LOGS=<dir>`: the logs only). Also counted: the `error`
 * events either side printed (must be none: a checkout is normal use) and how many
 * `applied` events the joiner printed per checkout (one batch is the goal). Prints the
 * figures of each run, their medians, and one `RESULT checkout ...` line.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchEnv, median, out, Processes, sleep } from './processes.js';

const FILES = 3000;
const RUNS = 6;
const DEADLINE_MS = 60_000;
const TARGET_MS = 3000;

/** The text of file `i` on `branch`: a few hundred bytes, different on each branch. */
export function checkoutText(i: number, branch: string): string {
  const lines: string[] = [];
  for (let l = 0; l < 8; l++) lines.push(`${branch} file ${i} line ${l}: ${'x'.repeat((i * 7 + l) % 40)}`);
  return `${lines.join('\n')}\n`;
}

/** The path of file `i` (30 folders of 100 files). */
export function checkoutPath(i: number): string {
  return `d${String(i % 30).padStart(2, '0')}/f${String(i).padStart(4, '0')}.txt`;
}

/** Whether every one of the `FILES` files in `dir` holds `branch`'s text. */
function treeIs(dir: string, branch: string, files: number): boolean {
  for (let i = 0; i < files; i++) {
    let got: string;
    try {
      got = fs.readFileSync(join(dir, checkoutPath(i)), 'utf8');
    } catch {
      return false;
    }
    if (got !== checkoutText(i, branch)) return false;
  }
  return true;
}

/**
 * Waits until every one of the `files` files in `dir` holds `branch`'s text. Each poll (every
 * ~20 ms) looks only at the files not yet seen right, and reads one only when its `lstat`
 * changed since it was last read: reading all 3000 files every 20 ms took a core of this
 * 2-core machine and moved every file's access time (a journal write each), slowing the
 * joiner's own file creations it was timing. A full pass confirms the end.
 */
async function untilTreeIs(dir: string, branch: string, files: number, deadline: number, what: string): Promise<void> {
  const pending = new Map<number, string>();
  for (let i = 0; i < files; i++) pending.set(i, '');
  for (;;) {
    for (const [i, seen] of pending) {
      const p = join(dir, checkoutPath(i));
      const st = fs.lstatSync(p, { bigint: true, throwIfNoEntry: false });
      const key = st ? `${st.ino}:${st.mtimeNs}:${st.size}` : 'missing';
      if (key === seen) continue;
      pending.set(i, key);
      let got: string | undefined;
      try {
        got = fs.readFileSync(p, 'utf8');
      } catch {
        got = undefined;
      }
      if (got === checkoutText(i, branch)) pending.delete(i);
    }
    if (pending.size === 0 && treeIs(dir, branch, files)) return;
    if (pending.size === 0) for (let i = 0; i < files; i++) pending.set(i, '');
    if (performance.now() > deadline) throw new Error(what);
    await sleep(20);
  }
}

/** Runs the benchmark and returns its figures. */
export async function main(opts: { files?: number; runs?: number } = {}): Promise<{ medianMs: number; times: number[]; afterGitMs: number[]; errors: number }> {
  const files = opts.files ?? FILES;
  const runs = opts.runs ?? RUNS;
  const base = fs.realpathSync(fs.mkdtempSync(join(tmpdir(), 'cshare-bench-checkout-')));
  const env = benchEnv(join(base, 'home'));
  const gitEnv = { ...env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@x', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@x' };
  const procs = new Processes(env);
  // CSHARE_BENCH_PROF=<dir>: the sharer and the joiner write CPU profiles there (where the time goes).
  // CSHARE_BENCH_LOGS=<dir>: their debug logs only (a profile slows them by 10-30%).
  const logsOnly = process.env.CSHARE_BENCH_LOGS;
  const prof = process.env.CSHARE_BENCH_PROF ?? logsOnly;
  const profiled = prof ? new Processes({ ...env, DEBUG: 'cshare:*,-cshare:diff,-cshare:save,-cshare:rpc*' }, logsOnly ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}`]) : procs;
  const git = (args: string[]) => execFileSync('git', args, { cwd: tree, env: gitEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const tree = join(base, 'tree');
  try {
    fs.mkdirSync(tree);
    git(['init', '-q', '-b', 'main']);
    const writeBranch = (branch: string) => {
      for (let i = 0; i < files; i++) {
        const p = join(tree, checkoutPath(i));
        fs.mkdirSync(join(p, '..'), { recursive: true });
        fs.writeFileSync(p, checkoutText(i, branch));
      }
      git(['add', '-A']);
      git(['commit', '-q', '-m', branch]);
    };
    writeBranch('main');
    git(['checkout', '-q', '-b', 'other']);
    writeBranch('other');
    git(['checkout', '-q', 'main']);
    out(`tree: ${files} files; branches main and other differ in every file`);

    const { addr } = await profiled.relay(join(base, 'relay-data'), base);
    const sharer = profiled.start('share', ['share', '--relay', addr, '--json'], tree);
    if (prof) sharer.child.stderr!.on('data', (d: string) => fs.appendFileSync(join(prof, 'sharer.log'), d));
    const sharing = await sharer.waitEvent('sharing', 120_000);
    const joined = join(base, 'joined');
    const joiner = profiled.start('join', ['join', sharing.json.codes.readWrite, joined, '--json'], base);
    if (prof) joiner.child.stderr!.on('data', (d: string) => fs.appendFileSync(join(prof, 'joiner.log'), d));
    await joiner.waitEvent('joined', 120_000);
    const t0 = performance.now();
    while (!treeIs(joined, 'main', files)) {
      if (performance.now() - t0 > DEADLINE_MS) throw new Error('the joiner never had the main branch');
      await sleep(50);
    }
    out(`joined: ${files} files in sync`);

    const times: number[] = [];
    /** From the end of `git checkout` (it takes 1–5 s itself on a loaded 2-core machine). */
    const afterGit: number[] = [];
    let errors = 0;
    let branch = 'main';
    for (let run = 0; run < runs; run++) {
      branch = branch === 'main' ? 'other' : 'main';
      const fromS = sharer.lines.length;
      const fromJ = joiner.lines.length;
      const start = performance.now();
      git(['checkout', '-q', branch]);
      const checkedOut = performance.now() - start;
      if (prof) out(`run ${run}: git checkout began at ${new Date(Date.now() - checkedOut).toISOString()}`);
      await untilTreeIs(joined, branch, files, start + DEADLINE_MS, `run ${run}: checkout of ${branch} did not reach the joiner within ${DEADLINE_MS} ms`);
      const ms = performance.now() - start;
      times.push(ms);
      afterGit.push(ms - checkedOut);
      // Let the echo settle (the joiner's watcher, the sharer's recheck) before counting.
      await sleep(1500);
      const errs = [...sharer.lines.slice(fromS), ...joiner.lines.slice(fromJ)].filter((l) => l.json.event === 'error');
      errors += errs.length;
      const appliedLines = joiner.lines.slice(fromJ).filter((l) => l.json.event === 'applied');
      const uploadedLines = sharer.lines.slice(fromS).filter((l) => l.json.event === 'uploaded');
      // Where the time goes: when the sharer's uploads and the joiner's applies began and ended.
      const span = (ls: typeof appliedLines) => (ls.length ? `${(ls[0]!.at - start).toFixed(0)}–${(ls.at(-1)!.at - start).toFixed(0)} ms` : 'none');
      out(`run ${run}: checkout ${branch} (git ${checkedOut.toFixed(0)} ms) on the joiner's disk after ${ms.toFixed(0)} ms; sharer uploaded in ${uploadedLines.length} push(es) (${span(uploadedLines)}), joiner applied it in ${appliedLines.length} event(s) (${span(appliedLines)}); ${errs.length} error(s)${errs.length ? `: ${errs.map((e) => e.json.message).join(' | ')}` : ''}`);
    }
    if (prof) fs.writeFileSync(join(prof, 'stderr.txt'), `sharer:\n${sharer.stderr}\njoiner:\n${joiner.stderr}`);
    const m = median(times);
    out(`RESULT checkout files=${files} runs=${runs} median_ms=${m.toFixed(0)} min_ms=${Math.min(...times).toFixed(0)} max_ms=${Math.max(...times).toFixed(0)} after_git_median_ms=${median(afterGit).toFixed(0)} errors=${errors} ratio=${(m / TARGET_MS).toFixed(2)}`);
    return { medianMs: m, times, afterGitMs: afterGit, errors };
  } finally {
    await procs.stopAll();
    if (profiled !== procs) await profiled.stopAll();
    fs.rmSync(base, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const files = Number(process.argv.find((a) => a.startsWith('--files='))?.slice(8) ?? FILES);
  const runs = Number(process.argv.find((a) => a.startsWith('--runs='))?.slice(7) ?? RUNS);
  await main({ files, runs });
}
