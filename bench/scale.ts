/**
 * Scale run (`npm run bench:scale`, or `npx tsx bench/scale.ts --files 3000 --joiners 5
 * --saves 20` to try it small), with real `cshare` processes on loopback:
 *
 *   big tree: a generated worktree of `--files` files (default 100,000, ~10 KB each: ~1 GB),
 *             dated 30 days back except 20 files (a checkout with a few files being edited:
 *             share uploads files modified in the last day before printing the code),
 *             committed to git. A `cshare relay` and a live `share --relay --json` in the
 *             tree: the time from starting the sharer to its `sharing` line (the join codes)
 *             and to its first `uploaded` line (the whole initial upload acknowledged). Then
 *             `join --once` into an empty directory, timed under GNU time (peak RSS), and the
 *             joined tree checked against git's blob hash of every tracked file. Peak RSS
 *             (VmHWM) of the sharer and relay, read while they run.
 *   rescan:   with the sharer stopped, `cshare status --json` (a rescan: one `lstat` per file
 *             and directory against the status cache, like `git status` against its index)
 *             against `git status --porcelain` in the same tree: one warm-up run each (the
 *             first status after the sharer stopped opens the store and writes the status
 *             view; git refreshes its index), then the median of {@link RESCAN_RUNS} (the
 *             first of them scans the whole tree against the view and writes the cache).
 *   fan-out:  a small tree (200 files) shared through a new relay to `--joiners` live `join`
 *             processes (default 50); `--saves` small saves (default 100) of one file on the
 *             sharer, each timed until the new content is on disk in every joiner (polled).
 *             p50/p99 over saves of the slowest joiner's time, and p50/p99 of all arrivals.
 *
 * Targets: peak RSS under 500 MB for the sharer, the relay and the joiner; rescan at most 2x
 * `git status`. Ratios are measured / target (at most 1 meets it). Every process is stopped
 * and the temporary directory removed on the way out, on failure and on SIGINT/SIGTERM too.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchEnv, BIN, type CshareProcess, dirBytes, edit, initialText, median, out, peakRssMb, percentile, Processes, runToEnd, sleep } from './processes.js';
import { generateTree } from './tree.js';

const TARGET_RSS_MB = 500;
/** How far back the generated files are dated, and how many keep today's date. */
const AGE_MS = 30 * 24 * 60 * 60 * 1000;
const RECENT_FILES = 20;
const TARGET_RESCAN_RATIO = 2;
const RESCAN_RUNS = 7;
const FAN_FILES = 200;
const FILE = 'notes.txt';
/** Deadline for one save to reach every joiner. */
const SAVE_DEADLINE_MS = 30_000;
/** Quiet time after each save has arrived everywhere, so the joiners' own rescans settle. */
const GAP_MS = 100;

/** What the command line can change. */
export interface ScaleOptions {
  files: number;
  joiners: number;
  saves: number;
}

/** Parses `--files N`, `--joiners N`, `--saves N` (or `--files=N`). */
export function parseScaleArgs(argv: string[]): ScaleOptions {
  const opts: ScaleOptions = { files: 100_000, joiners: 50, saves: 100 };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(files|joiners|saves)(?:=(.*))?$/.exec(argv[i]!);
    if (!m) throw new Error(`unknown argument ${argv[i]}; usage: scale.ts [--files N] [--joiners N] [--saves N]`);
    const raw = m[2] ?? argv[++i];
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${m[1]} needs a positive integer, got ${raw}`);
    opts[m[1] as keyof ScaleOptions] = n;
  }
  return opts;
}

/** Every regular file under `root` by relative path, skipping `.git` and `.cshare`. */
function listFiles(root: string): string[] {
  const files: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (e.name !== '.git' && e.name !== '.cshare') walk(r);
      } else files.push(r);
    }
  };
  walk('');
  return files;
}

/**
 * Differences between the files git tracks in `repo` and the files in `dir` (at most 10
 * listed): missing, extra, or content whose git blob hash differs. git hashes the joined
 * files itself (`hash-object --stdin-paths`), so a 1 GB tree is checked in one pass in C and
 * the source is not read again. The generated tree has no symlinks, so a file is compared as
 * a file.
 */
function compareWithGit(repo: string, dir: string, env: NodeJS.ProcessEnv): { tracked: number; diffs: string[] } {
  const want = new Map<string, string>();
  for (const rec of execFileSync('git', ['ls-files', '-s', '-z'], { cwd: repo, env, maxBuffer: 256 * 1024 * 1024 }).toString('utf8').split('\0')) {
    const m = /^\d+ ([0-9a-f]{40}) \d+\t(.*)$/s.exec(rec);
    if (m) want.set(m[2]!, m[1]!);
  }
  const got = listFiles(dir);
  const hashes = got.length ? execFileSync('git', ['hash-object', '--no-filters', '--stdin-paths'], { cwd: dir, env, input: `${got.join('\n')}\n`, maxBuffer: 256 * 1024 * 1024 }).toString('utf8').trim().split('\n') : [];
  const diffs: string[] = [];
  const seen = new Set<string>();
  got.forEach((p, i) => {
    seen.add(p);
    const w = want.get(p);
    if (w === undefined) diffs.push(`extra ${p}`);
    else if (w !== hashes[i]) diffs.push(`differs ${p}`);
  });
  for (const p of want.keys()) if (!seen.has(p)) diffs.push(`missing ${p}`);
  return { tracked: want.size, diffs: diffs.slice(0, 10).concat(diffs.length > 10 ? [`... ${diffs.length - 10} more`] : []) };
}

function mb(x: number | undefined): string {
  return x === undefined ? '?' : x.toFixed(0);
}

/**
 * Polls `paths` every ~2 ms until each holds `want`: the ms from `t0` at which each did, or
 * null for those that had not by `t0 + deadlineMs`.
 */
async function untilAll(paths: string[], want: string, t0: number, deadlineMs: number): Promise<(number | null)[]> {
  const times: (number | null)[] = paths.map(() => null);
  let left = paths.length;
  for (;;) {
    for (let i = 0; i < paths.length; i++) {
      if (times[i] !== null) continue;
      let got: string | undefined;
      try {
        got = fs.readFileSync(paths[i]!, 'utf8');
      } catch {
        // Not there yet (or being replaced): poll again.
      }
      if (got === want) {
        times[i] = performance.now() - t0;
        left--;
      }
    }
    if (left === 0 || performance.now() - t0 > deadlineMs) return times;
    await sleep(2);
  }
}

/** Figures of the big-tree part. */
interface BigFigures {
  files: number;
  bytes: number;
  codeMs: number;
  uploadMs: number;
  shareRss?: number;
  joinMs: number;
  joinRss?: number;
  relayRss?: number;
  rescanMs: number;
  firstStatusMs: number;
  gitStatusMs: number;
  /** `cshare --version`: the start-up every command pays. */
  startMs: number;
  rescanChanged: number;
}

/** Steps 1–4: share and join the big tree, then time a rescan against `git status`. */
async function bigTree(base: string, procs: Processes, env: NodeJS.ProcessEnv, files: number): Promise<BigFigures> {
  const gitEnv = { ...env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@x', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@x' };
  const git = (cwd: string, args: string[]) => execFileSync('git', args, { cwd, env: gitEnv, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024 }).toString('utf8');
  // 3–12 ms per file was measured for 3k–10k files on a busy machine; a deadline only stops a
  // hang, so it is generous (100 minutes for 100k files).
  const deadline = Math.max(120_000, files * 60);

  const tree = join(base, 'tree');
  fs.mkdirSync(tree);
  let t = performance.now();
  const gen = generateTree(tree, files);
  out(`tree: ${gen.files} files, ${(gen.bytes / 1e6).toFixed(1)} MB, generated in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  // A share uploads files modified in the last day before it prints the code: a tree written
  // a second ago would go up whole first. Dated back like a checkout, bar a few being edited.
  const old = new Date(Date.now() - AGE_MS);
  listFiles(tree).forEach((p, i) => {
    if (i % Math.max(1, Math.floor(gen.files / RECENT_FILES)) !== 0) fs.utimesSync(join(tree, p), old, old);
  });
  t = performance.now();
  git(tree, ['init', '-q']);
  // cshare's store is not part of the tree: git status should not list (or walk) it.
  fs.appendFileSync(join(tree, '.git', 'info', 'exclude'), '.cshare/\n');
  git(tree, ['add', '-A']);
  git(tree, ['commit', '-q', '-m', 'bench']);
  out(`git: committed in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const relayData = join(base, 'relay-data');
  const { proc: relay, addr } = await procs.relay(relayData, base);
  execFileSync('sync');
  const t0 = performance.now();
  const sharer = procs.start('share', ['share', '--relay', addr, '--json'], tree);
  const sharing = await sharer.waitEvent('sharing', deadline);
  const codeMs = sharing.at - t0;
  out(`share: join code after ${codeMs.toFixed(0)} ms (${sharing.json.files} files)`);
  // The first `uploaded` line ends the initial push: every change acknowledged by the relay.
  const uploaded = await sharer.waitEvent('uploaded', deadline);
  const uploadMs = uploaded.at - t0;
  out(`share: upload complete after ${uploadMs.toFixed(0)} ms (${uploaded.json.changes} changes, ${(uploaded.json.bytes / 1e6).toFixed(1)} MB); relay data ${(dirBytes(relayData) / 1e6).toFixed(1)} MB`);

  const target = join(base, 'joined');
  fs.mkdirSync(target);
  execFileSync('sync');
  const code = sharing.json.codes.readOnly as string;
  const joined = await runToEnd(process.execPath, [BIN, 'join', code, target, '--once', '--json'], { cwd: base, env, timeoutMs: deadline });
  if (joined.code !== 0) throw new Error(`join --once failed (exit ${joined.code}): ${joined.stdout}\n${joined.stderr.slice(-4000)}`);
  const shareRss = peakRssMb(sharer.child.pid);
  const relayRss = peakRssMb(relay.child.pid);
  out(`join --once: ${joined.ms.toFixed(0)} ms, peak RSS ${mb(joined.rssMb)} MB`);
  out(`peak RSS: sharer ${mb(shareRss)} MB, relay ${mb(relayRss)} MB, joiner ${mb(joined.rssMb)} MB (target < ${TARGET_RSS_MB} each)`);
  // The sharer first, so it closes its store cleanly while the relay still answers.
  const sharerExit = await sharer.stop(60_000);
  if (sharerExit !== 0) out(`share: exited with ${sharerExit} on SIGTERM; stderr tail:\n${sharer.stderr.slice(-2000)}`);
  await relay.stop();

  t = performance.now();
  const check = compareWithGit(tree, target, gitEnv);
  if (check.diffs.length > 0) throw new Error(`joined tree differs from the source:\n  ${check.diffs.join('\n  ')}`);
  out(`verified: joined tree equals the source (${check.tracked} files, git blob hash each, ${((performance.now() - t) / 1000).toFixed(1)} s)`);

  // Rescan of the unchanged tree: the first run of each warms caches (and git's index).
  execFileSync('sync');
  const status = () => runToEnd(process.execPath, [BIN, 'status', '--json'], { cwd: tree, env, timeoutMs: deadline });
  const gitStatus = () => runToEnd('git', ['status', '--porcelain'], { cwd: tree, env: gitEnv, timeoutMs: deadline });
  const rescans: number[] = [];
  const gits: number[] = [];
  let rescanChanged = 0;
  let statusRss: number | undefined;
  let firstStatusMs = 0;
  for (let run = 0; run <= RESCAN_RUNS; run++) {
    const s = await status();
    if (s.code !== 0) throw new Error(`cshare status failed (exit ${s.code}): ${s.stdout}\n${s.stderr.slice(-4000)}`);
    const g = await gitStatus();
    if (g.code !== 0) throw new Error(`git status failed: ${g.stderr}`);
    if (g.stdout.trim()) throw new Error(`git status is not clean:\n${g.stdout.slice(0, 2000)}`);
    const changed = (JSON.parse(s.stdout).changed as unknown[]).length;
    rescanChanged = Math.max(rescanChanged, changed);
    statusRss = Math.max(statusRss ?? 0, s.rssMb ?? 0);
    if (run === 0) {
      firstStatusMs = s.ms;
      continue;
    }
    rescans.push(s.ms);
    gits.push(g.ms);
  }
  const rescanMs = median(rescans);
  const gitStatusMs = median(gits);
  // For scale: what any cshare command pays before it opens the store (Node and oclif).
  const floors: number[] = [];
  for (let run = 0; run < RESCAN_RUNS; run++) floors.push((await runToEnd(process.execPath, [BIN, '--version'], { cwd: tree, env })).ms);
  const startMs = median(floors);
  out(`rescan: cshare status ${rescanMs.toFixed(0)} ms (${rescans.map((x) => x.toFixed(0)).join(', ')}), peak RSS ${mb(statusRss)} MB; git status ${gitStatusMs.toFixed(0)} ms (${gits.map((x) => x.toFixed(0)).join(', ')})`);
  out(`rescan / git status = ${(rescanMs / gitStatusMs).toFixed(2)} (target <= ${TARGET_RESCAN_RATIO}); start-up floor \`cshare --version\` ${startMs.toFixed(0)} ms; warm-up status ${firstStatusMs.toFixed(0)} ms (the first after the sharer stopped: opens the store and writes the status view)`);
  if (rescanChanged > 0) out(`WARNING: cshare status reported ${rescanChanged} changed file(s) in a tree that did not change`);
  return { files: gen.files, bytes: gen.bytes, codeMs, uploadMs, shareRss, joinMs: joined.ms, joinRss: joined.rssMb, relayRss, rescanMs, firstStatusMs, gitStatusMs, startMs, rescanChanged };
}

/** Figures of the fan-out part. */
interface FanFigures {
  joinAllMs: number;
  lastP50: number;
  lastP99: number;
  eachP50: number;
  eachP99: number;
  timeouts: number;
  relayRss?: number;
  shareRss?: number;
  joinerRssMax?: number;
}

/** Step 5: one small tree, `joiners` live joiners, `saves` saves timed to all of them. */
async function fanOut(base: string, procs: Processes, joiners: number, saves: number): Promise<FanFigures> {
  const src = join(base, 'fan-sharer');
  fs.mkdirSync(src);
  generateTree(src, FAN_FILES, 7);
  const lines = initialText();
  const text0 = `${lines.join('\n')}\n`;
  fs.writeFileSync(join(src, FILE), text0);

  const { proc: relay, addr } = await procs.relay(join(base, 'fan-relay-data'), base);
  const sharer = procs.start('share (fan-out)', ['share', '--relay', addr, '--json'], src);
  const sharing = await sharer.waitEvent('sharing', 120_000);
  await sharer.waitEvent('uploaded', 120_000);
  const code = sharing.json.codes.readWrite as string;

  // All at once, as a class would: 2 cores load `joiners` Node processes, so allow time.
  const t0 = performance.now();
  const dirs = Array.from({ length: joiners }, (_, i) => join(base, `fan-joiner${i}`));
  const js: CshareProcess[] = dirs.map((d, i) => procs.start(`join ${i}`, ['join', code, d, '--json'], base));
  await Promise.all(js.map((j) => j.waitEvent('joined', 120_000 + joiners * 5_000)));
  const paths = dirs.map((d) => join(d, FILE));
  const first = await untilAll(paths, text0, performance.now(), 60_000);
  if (first.some((x) => x === null)) throw new Error(`${first.filter((x) => x === null).length} joiner(s) joined but never had ${FILE}`);
  const joinAllMs = performance.now() - t0;
  out(`fan-out: ${joiners} joiners of ${FAN_FILES + 2} files joined and in sync after ${joinAllMs.toFixed(0)} ms`);
  await sleep(1000); // let the joins' first scans and presence events settle

  const last: number[] = [];
  const each: number[] = [];
  let timeouts = 0;
  for (let i = 0; i < saves; i++) {
    const text = edit(lines, i);
    const ts = performance.now();
    fs.writeFileSync(join(src, FILE), text);
    const times = await untilAll(paths, text, ts, SAVE_DEADLINE_MS);
    const late = times.filter((x) => x === null).length;
    for (const x of times) each.push(x ?? SAVE_DEADLINE_MS);
    last.push(late > 0 ? SAVE_DEADLINE_MS : Math.max(...(times as number[])));
    if (late > 0) {
      timeouts += late;
      out(`fan-out: save ${i} did not reach ${late} joiner(s) within ${SAVE_DEADLINE_MS} ms`);
      // Let it arrive (or give up) before the next save, so one loss does not cascade.
      await untilAll(paths, text, performance.now(), SAVE_DEADLINE_MS);
      if (timeouts >= 5 * joiners) throw new Error(`fan-out: ${timeouts} arrivals lost; giving up`);
    }
    await sleep(GAP_MS);
  }
  const relayRss = peakRssMb(relay.child.pid);
  const shareRss = peakRssMb(sharer.child.pid);
  const joinerRss = js.map((j) => peakRssMb(j.child.pid)).filter((x): x is number => x !== undefined);
  const joinerRssMax = joinerRss.length ? Math.max(...joinerRss) : undefined;
  const f: FanFigures = {
    joinAllMs, timeouts, relayRss, shareRss, joinerRssMax,
    lastP50: percentile(last, 50), lastP99: percentile(last, 99), eachP50: percentile(each, 50), eachP99: percentile(each, 99),
  };
  out(`fan-out: ${saves} saves to ${joiners} joiners; slowest joiner per save p50 ${f.lastP50.toFixed(1)} ms, p99 ${f.lastP99.toFixed(1)} ms, max ${Math.max(...last).toFixed(1)} ms`);
  out(`fan-out: every arrival (${each.length}) p50 ${f.eachP50.toFixed(1)} ms, p99 ${f.eachP99.toFixed(1)} ms; ${timeouts} timeout(s)`);
  out(`fan-out: peak RSS relay ${mb(relayRss)} MB, sharer ${mb(shareRss)} MB, joiners max ${mb(joinerRssMax)} MB`);
  return f;
}

/** Runs the scale run and returns its figures. */
export async function main(opts: ScaleOptions = { files: 100_000, joiners: 50, saves: 100 }): Promise<{ big: BigFigures; fan: FanFigures }> {
  const base = fs.realpathSync(fs.mkdtempSync(join(tmpdir(), 'cshare-bench-scale-')));
  const env = benchEnv(join(base, 'home'));
  const procs = new Processes(env);
  const cleanup = async () => {
    await procs.stopAll();
    fs.rmSync(base, { recursive: true, force: true });
  };
  // Ctrl-C or a kill would skip `finally`: stop the processes and remove the tree here too.
  // The handler stays installed (repeats ignored): Ctrl-C reaches this process twice, from the
  // terminal and relayed by tsx, and tsx exits at once on a signal nobody listens to.
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    out(`${sig}: stopping processes and removing ${base}`);
    void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    out(`scale: --files ${opts.files} --joiners ${opts.joiners} --saves ${opts.saves} in ${base}`);
    const big = await bigTree(base, procs, env, opts.files);
    await procs.stopAll();
    const fan = await fanOut(base, procs, opts.joiners, opts.saves);
    const r = (x: number | undefined, target: number) => (x === undefined ? '?' : (x / target).toFixed(3));
    out(
      `RESULT scale files=${big.files} mb=${(big.bytes / 1e6).toFixed(0)} code_ms=${big.codeMs.toFixed(0)} upload_ms=${big.uploadMs.toFixed(0)} join_ms=${big.joinMs.toFixed(0)}` +
        ` share_rss_mb=${mb(big.shareRss)} relay_rss_mb=${mb(big.relayRss)} join_rss_mb=${mb(big.joinRss)}` +
        ` share_rss_ratio=${r(big.shareRss, TARGET_RSS_MB)} relay_rss_ratio=${r(big.relayRss, TARGET_RSS_MB)} join_rss_ratio=${r(big.joinRss, TARGET_RSS_MB)}` +
        ` rescan_ms=${big.rescanMs.toFixed(0)} git_status_ms=${big.gitStatusMs.toFixed(0)} rescan_ratio=${(big.rescanMs / big.gitStatusMs).toFixed(3)} rescan_target_ratio=${r(big.rescanMs / big.gitStatusMs, TARGET_RESCAN_RATIO)} rescan_changed=${big.rescanChanged} start_ms=${big.startMs.toFixed(0)} first_status_ms=${big.firstStatusMs.toFixed(0)}` +
        ` joiners=${opts.joiners} saves=${opts.saves} fan_join_ms=${fan.joinAllMs.toFixed(0)} fan_last_p50_ms=${fan.lastP50.toFixed(1)} fan_last_p99_ms=${fan.lastP99.toFixed(1)}` +
        ` fan_each_p50_ms=${fan.eachP50.toFixed(1)} fan_each_p99_ms=${fan.eachP99.toFixed(1)} fan_timeouts=${fan.timeouts}` +
        ` fan_relay_rss_mb=${mb(fan.relayRss)} fan_share_rss_mb=${mb(fan.shareRss)} fan_join_rss_max_mb=${mb(fan.joinerRssMax)}`,
    );
    return { big, fan };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main(parseScaleArgs(process.argv.slice(2)));
