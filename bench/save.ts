/**
 * The live path on a real repository (`npm run bench -- save`, issue 20): with real `cshare`
 * processes on loopback, a relay, a `share --relay` of a copy of the repository and a live
 * `join`, it measures
 *
 *   share:  the join code (`sharing` event) and the end of the first upload, from the start
 *           of `share`, beside `git add -A` in a fresh clone of the same repository (index
 *           kept, and index removed: everything hashed);
 *   join:   `join --once` into an empty folder beside `git clone --no-local`, alternated;
 *   saves:  SAVES saves in place (`writeFileSync`) and SAVES saves by rename (a temporary file
 *           in the same folder renamed over the file, as most editors do), alternated, to
 *           files in different folders of the tree, each timed from the write until the
 *           joiner's copy on disk has the new bytes (polled every ~1 ms). Targets: p50 < 30 ms,
 *           p99 < 80 ms;
 *   commits: CHECKOUTS `git checkout`s through the repository's first-parent history on the
 *           sharer, back to back, then back to the start; timed until the joiner's tree equals
 *           the sharer's;
 *   memory: the peak RSS (VmHWM) of the relay, the sharer and the live joiner at the end.
 *
 * With `CSHARE_BENCH_BASE_BIN` (another build's `bin/cshare`, e.g. of main) a second sharer
 * and joiner run that build beside this one, and each save is made on both in turn, so the
 * two are measured under the same load.
 *
 * The repository is the first argument or `CSHARE_BENCH_REPO`: any path `git clone` accepts,
 * for example a clone of https://github.com/tldr-pages/tldr.git (38.5k small files). Without
 * one the benchmark says so and does nothing. `SAVES` (default 100 of each kind),
 * `CHECKOUTS` (default 150) and `ONCE_ROUNDS` (default 2) size it.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchEnv, BIN, type CshareProcess, out, peakRssMb, percentile, Processes, runToEnd, sleep } from './processes.js';

const SAVES = Number(process.env.SAVES ?? 100);
const CHECKOUTS = Number(process.env.CHECKOUTS ?? 150);
const ONCE_ROUNDS = Number(process.env.ONCE_ROUNDS ?? 2);
/** Another build's `bin/cshare` (e.g. main's), run beside this one and alternated with it. */
const BASE_BIN = process.env.CSHARE_BENCH_BASE_BIN;
const DEADLINE_MS = 10_000;
/** Quiet time after each arrival, so that one save's echo on the receiver settles. */
const GAP_MS = 60;

/** Polls `path` every ~1 ms until it holds `want`; elapsed ms, or null past the deadline. */
async function arrival(path: string, want: Buffer, t0: number): Promise<number | null> {
  for (;;) {
    let got: Buffer | undefined;
    try {
      got = fs.readFileSync(path);
    } catch (err) {
      // Not there yet, or being replaced: poll again.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const now = performance.now();
    if (got?.equals(want)) return now - t0;
    if (now - t0 > DEADLINE_MS) return null;
    await sleep(1);
  }
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', maxBuffer: 256 << 20 });
}

/** Up to `n` small text files of the tree, each in a different folder. */
function pickFiles(tree: string, n: number): string[] {
  const seen = new Set<string>();
  const picked: string[] = [];
  for (const p of git(tree, 'ls-files', '-z').split('\0')) {
    if (!/\.(md|txt|c|h|js|ts|json)$/.test(p) || seen.has(dirname(p))) continue;
    const st = fs.lstatSync(join(tree, p));
    if (!st.isFile() || st.size > 16_384) continue;
    seen.add(dirname(p));
    picked.push(p);
    if (picked.length >= n) break;
  }
  return picked;
}

const fmt = (xs: number[]) => `p50 ${percentile(xs, 50).toFixed(1)} ms, p99 ${percentile(xs, 99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms (n=${xs.length})`;

/**
 * Save number `i` of `rel` on `sharer`: in place when `i` is even, else by rename (a file
 * written beside it and renamed over it); ms until `joiner`'s copy has it, null if never.
 */
async function save(sharer: string, joiner: string, rel: string, i: number): Promise<number | null> {
  const path = join(sharer, rel);
  const text = Buffer.concat([fs.readFileSync(path), Buffer.from(`save ${i}\n`)]);
  const byRename = i % 2 === 1;
  const t0 = performance.now();
  if (byRename) {
    const tmp = join(dirname(path), `.${i}.cshare-bench~`);
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, path);
  } else fs.writeFileSync(path, text);
  const ms = await arrival(join(joiner, rel), text, t0);
  if (ms === null) out(`save ${i} (${byRename ? 'rename' : 'in place'}) of ${rel} in ${sharer} did not arrive within ${DEADLINE_MS} ms`);
  return ms;
}

/** Waits until `a` and `b` hold the same files (outside .git and .cshare); elapsed ms. */
async function sameTrees(a: string, b: string, t0: number, deadlineMs: number): Promise<number> {
  for (;;) {
    const r = await runToEnd('diff', ['-rq', '--no-dereference', '-x', '.git', '-x', '.cshare', a, b], { cwd: a, env: process.env });
    if (r.code === 0) return performance.now() - t0;
    if (performance.now() - t0 > deadlineMs) throw new Error(`trees still differ after ${deadlineMs} ms:\n${r.stdout.slice(0, 2000)}`);
    await sleep(200);
  }
}

/** One sharer and its live joiner, run by one build of cshare. */
interface Pair {
  name: string;
  bin: string;
  sharerDir: string;
  joinerDir: string;
  share?: CshareProcess;
  joiner?: CshareProcess;
  codeMs?: number;
  code?: string;
}

/** Starts `share --relay` for `pair` and times its join code and its first upload. */
async function startShare(procs: Processes, pair: Pair, addr: string, gitAddMs: number): Promise<void> {
  const t0 = performance.now();
  const share = procs.start(`share (${pair.name})`, ['share', '--relay', addr, '--json'], pair.sharerDir, pair.bin);
  pair.share = share;
  const sharing = await share.waitEvent('sharing', 600_000);
  pair.codeMs = sharing.at - t0;
  pair.code = sharing.json.codes.readWrite as string;
  const done = await share.waitFor((j) => j?.event === 'progress' && j.phase === 'upload' && j.done === j.total, 600_000);
  const upMs = done.at - t0;
  const mb = Number(done.json.bytes) / 1e6;
  out(`share (${pair.name}): join code after ${pair.codeMs.toFixed(0)} ms (${(pair.codeMs / gitAddMs).toFixed(2)}x git add -A); upload of ${mb.toFixed(1)} MB done after ${upMs.toFixed(0)} ms (${(mb / (upMs / 1000)).toFixed(1)} MB/s over the whole command)`);
}

/** Runs the benchmark on the repository named by the first argument or `CSHARE_BENCH_REPO`. */
export async function main(): Promise<void> {
  const repo = process.argv.slice(2).find((a) => a !== 'save' && !a.startsWith('-')) ?? process.env.CSHARE_BENCH_REPO;
  if (!repo) {
    out('save: no repository (CSHARE_BENCH_REPO=<path or URL>, e.g. a clone of https://github.com/tldr-pages/tldr.git); skipped');
    return;
  }
  const base = fs.realpathSync(fs.mkdtempSync(join(tmpdir(), 'cshare-bench-save-')));
  const procs = new Processes(benchEnv(join(base, 'home')));
  const pairs: Pair[] = [{ name: 'this build', bin: BIN, sharerDir: join(base, 'sharer'), joinerDir: join(base, 'joiner') }];
  if (BASE_BIN) pairs.push({ name: 'baseline', bin: BASE_BIN, sharerDir: join(base, 'sharer-base'), joinerDir: join(base, 'joiner-base') });
  try {
    out(`load: ${fs.readFileSync('/proc/loadavg', 'utf8').trim()}`);
    for (const pair of pairs) git(base, 'clone', '-q', repo, pair.sharerDir);
    const sharerDir = pairs[0]!.sharerDir;
    const files = Number(git(sharerDir, 'ls-files').split('\n').length - 1);
    const bytes = Number(git(sharerDir, 'ls-files', '-z').split('\0').filter(Boolean).reduce((n, p) => n + fs.lstatSync(join(sharerDir, p)).size, 0));
    out(`repository ${repo}: ${files} files, ${(bytes / 1e6).toFixed(1)} MB`);

    // git add -A in a fresh clone, with its index and without (everything hashed).
    const gitCopy = join(base, 'git-copy');
    git(base, 'clone', '-q', repo, gitCopy);
    const addKept = await runToEnd('git', ['add', '-A'], { cwd: gitCopy, env: process.env });
    fs.rmSync(join(gitCopy, '.git', 'index'));
    const addFresh = await runToEnd('git', ['add', '-A'], { cwd: gitCopy, env: process.env });
    out(`git add -A in a fresh clone: ${addKept.ms.toFixed(0)} ms (index kept), ${addFresh.ms.toFixed(0)} ms (index removed)`);

    const { proc: relay, addr } = await procs.relay(join(base, 'relay-data'), base);
    for (const pair of pairs) await startShare(procs, pair, addr, addKept.ms);
    const code = pairs[0]!.code!;

    // join --once beside git clone --no-local, alternated.
    const joins: number[] = [];
    const clones: number[] = [];
    let joinRss = 0;
    for (let round = 0; round < ONCE_ROUNDS; round++) {
      const c = await runToEnd('git', ['clone', '-q', '--no-local', repo, join(base, `clone-${round}`)], { cwd: base, env: process.env });
      clones.push(c.ms);
      const j = await runToEnd(process.execPath, [BIN, 'join', code, join(base, `once-${round}`), '--once', '--json'], { cwd: base, env: procs.env, timeoutMs: 600_000 });
      if (j.code !== 0) throw new Error(`join --once exited ${j.code}: ${j.stderr.slice(-2000)}`);
      joins.push(j.ms);
      joinRss = Math.max(joinRss, j.rssMb ?? 0);
      fs.rmSync(join(base, `clone-${round}`), { recursive: true, force: true });
      fs.rmSync(join(base, `once-${round}`), { recursive: true, force: true });
    }
    if (ONCE_ROUNDS > 0) {
      const ratio = percentile(joins, 50) / percentile(clones, 50);
      out(`join --once: ${joins.map((x) => x.toFixed(0)).join(', ')} ms; git clone --no-local: ${clones.map((x) => x.toFixed(0)).join(', ')} ms; ratio of medians ${ratio.toFixed(2)}; join --once peak RSS ${joinRss.toFixed(0)} MB`);
    }

    const picked = pickFiles(sharerDir, 20);
    for (const pair of pairs) {
      pair.joiner = procs.start(`join (${pair.name})`, ['join', pair.code!, pair.joinerDir, '--json'], base, pair.bin);
      await pair.joiner.waitEvent('joined', 600_000);
      for (const p of picked) if ((await arrival(join(pair.joinerDir, p), fs.readFileSync(join(pair.sharerDir, p)), performance.now())) === null) throw new Error(`joined, but ${p} differs`);
    }
    await sleep(1000);

    // Saves, alternated between the builds and between in place and by rename.
    const times = pairs.map(() => ({ inPlace: [] as number[], rename: [] as number[], lost: 0 }));
    for (let i = 0; i < 2 * SAVES; i++) {
      for (const [k, pair] of pairs.entries()) {
        const ms = await save(pair.sharerDir, pair.joinerDir, picked[i % picked.length]!, i);
        if (ms === null) {
          if (++times[k]!.lost >= 5) throw new Error(`${pair.name}: 5 saves lost; giving up`);
        } else (i % 2 === 1 ? times[k]!.rename : times[k]!.inPlace).push(ms);
        await sleep(GAP_MS);
      }
    }
    for (const [k, pair] of pairs.entries()) {
      out(`saves in place (${pair.name}): ${fmt(times[k]!.inPlace)}`);
      out(`saves by rename (${pair.name}): ${fmt(times[k]!.rename)}`);
    }

    let commitsMs = NaN;
    if (CHECKOUTS > 0) {
      git(sharerDir, 'checkout', '-q', '.');
      const start = git(sharerDir, 'rev-parse', 'HEAD').trim();
      const revs = git(sharerDir, 'rev-list', '--first-parent', '-n', String(CHECKOUTS), 'HEAD').trim().split('\n').reverse();
      const c0 = performance.now();
      for (const rev of revs) git(sharerDir, 'checkout', '-q', rev);
      git(sharerDir, 'checkout', '-q', start);
      commitsMs = await sameTrees(sharerDir, pairs[0]!.joinerDir, c0, 600_000);
      out(`commits: ${revs.length} checkouts and back; the joiner's tree equal after ${commitsMs.toFixed(0)} ms`);
    }

    const rss = (p?: CshareProcess) => peakRssMb(p?.child.pid)?.toFixed(0) ?? '?';
    out(`peak RSS: relay ${rss(relay)} MB; ${pairs.map((p) => `${p.name}: sharer ${rss(p.share)} MB, joiner ${rss(p.joiner)} MB`).join('; ')}; join --once ${joinRss.toFixed(0)} MB`);
    const t = times[0]!;
    const b = times[1];
    const ratio = (xs: number[], ys: number[] | undefined, p: number) => (ys ? (percentile(xs, p) / percentile(ys, p)).toFixed(2) : 'n/a');
    out(
      `RESULT save in_place_p50_ms=${percentile(t.inPlace, 50).toFixed(1)} in_place_p99_ms=${percentile(t.inPlace, 99).toFixed(1)} rename_p50_ms=${percentile(t.rename, 50).toFixed(1)} rename_p99_ms=${percentile(t.rename, 99).toFixed(1)} lost=${t.lost}` +
        ` in_place_p50_over_base=${ratio(t.inPlace, b?.inPlace, 50)} rename_p50_over_base=${ratio(t.rename, b?.rename, 50)}` +
        ` code_over_git_add=${(pairs[0]!.codeMs! / addKept.ms).toFixed(2)} commits_ms=${commitsMs.toFixed(0)} rss_relay_mb=${rss(relay)} rss_sharer_mb=${rss(pairs[0]!.share)} rss_joiner_mb=${rss(pairs[0]!.joiner)} rss_join_once_mb=${joinRss.toFixed(0)}`,
    );
  } finally {
    await procs.stopAll();
    fs.rmSync(base, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
