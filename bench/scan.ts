/**
 * Scan benchmark (`npx tsx bench/scan.ts`): a generated tree of 10,000 files / ~100 MB.
 *
 *   cold: `scanWorktree` with an empty stat cache (reads and hashes everything) against
 *         `git add -A` in a fresh copy of the same tree (fresh `git init`);
 *   warm: a rescan with the cache from the cold scan against `git status --porcelain` after
 *         committing the git copy.
 *
 * Prints medians, the ratios (cshare / git; lower is better) and peak RSS, then one
 * `RESULT scan ...` line. Ratios rather than absolute times, because these machines are noisy.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { scanWorktree, type CachedStat, type ScanResult } from '../src/core/Scanner.js';
import { NodeFs } from '../src/store/fs/NodeFs.js';
import { generateTree } from './tree.js';

const FILES = 10_000;
const RUNS = 3;

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Deterministic PRNG so every run measures the same tree. */
function gitIn(cwd: string, env: NodeJS.ProcessEnv, args: string[]): void {
  execFileSync('git', args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
}

function timeMs(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const BIN = fileURLToPath(new URL('../bin/cshare', import.meta.url));

/** Runs `cshare args` as a real process; wall time and (with GNU time) peak RSS in MB. */
function cshareProcess(cwd: string, env: NodeJS.ProcessEnv, args: string[]): { ms: number; rssMb?: number } {
  const gnuTime = fs.existsSync('/usr/bin/time');
  const cmd = gnuTime ? '/usr/bin/time' : process.execPath;
  const argv = gnuTime ? ['-f', 'RSSKB=%M', process.execPath, BIN, ...args] : [BIN, ...args];
  let stderr = '';
  const ms = timeMs(() => {
    const r = spawnSync(cmd, argv, { cwd, env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(`cshare ${args.join(' ')} failed: ${r.stderr}`);
    stderr = r.stderr;
  });
  const m = /RSSKB=(\d+)/.exec(stderr);
  return { ms, rssMb: m ? Number(m[1]) / 1024 : undefined };
}

/**
 * The same comparison for the whole command, as a user runs it: process start, oclif, the
 * store, the scan and the JSON output, against git's own commands.
 */
function cliFigures(tree: string, gitCopy: string, env: NodeJS.ProcessEnv, gitAddMs: number): void {
  const cliEnv = { ...env, NO_COLOR: '1', USER: 'bench' };
  const coldFiles: number[] = [];
  let rss = 0;
  for (let run = 0; run < RUNS; run++) {
    fs.rmSync(join(tree, '.cshare'), { recursive: true, force: true });
    const r = cshareProcess(tree, cliEnv, ['files', '--json']);
    coldFiles.push(r.ms);
    rss = Math.max(rss, r.rssMb ?? 0);
  }
  const warmFiles: number[] = [];
  const gitStatus: number[] = [];
  for (let run = 0; run < RUNS + 2; run++) {
    gitStatus.push(timeMs(() => gitIn(gitCopy, env, ['status', '--porcelain'])));
    const r = cshareProcess(tree, cliEnv, ['files', '--json']);
    warmFiles.push(r.ms);
    rss = Math.max(rss, r.rssMb ?? 0);
  }
  fs.rmSync(join(tree, '.cshare'), { recursive: true, force: true });
  const record = cshareProcess(tree, cliEnv, ['scan', '--json']);
  const rescan = cshareProcess(tree, cliEnv, ['scan', '--json']);
  const coldMs = median(coldFiles);
  const warmMs = median(warmFiles);
  const statusMs = median(gitStatus);
  out(`command: cold \`cshare files\` ${coldMs.toFixed(0)} ms vs git add -A ${gitAddMs.toFixed(0)} ms; warm ${warmMs.toFixed(0)} ms vs git status ${statusMs.toFixed(1)} ms`);
  out(`command: first \`cshare scan\` (records all files) ${record.ms.toFixed(0)} ms, peak RSS ${record.rssMb?.toFixed(0) ?? '?'} MB; rescan ${rescan.ms.toFixed(0)} ms`);
  out(`RESULT scan-command cold_ratio=${(coldMs / gitAddMs).toFixed(3)} warm_ratio=${(warmMs / statusMs).toFixed(3)} files_rss_mb=${rss.toFixed(0)} record_ms=${record.ms.toFixed(0)} record_rss_mb=${record.rssMb?.toFixed(0) ?? '?'}`);
}

/** Runs the benchmark and returns its figures. */
export async function main(): Promise<{ coldRatio: number; warmRatio: number; rssMb: number }> {
  const base = fs.realpathSync(fs.mkdtempSync(join(tmpdir(), 'cshare-bench-scan-')));
  try {
    const tree = join(base, 'tree');
    fs.mkdirSync(tree);
    const home = join(base, 'home');
    fs.mkdirSync(home);
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), GIT_CONFIG_NOSYSTEM: '1' };
    const gen = generateTree(tree, FILES);
    out(`tree: ${gen.files} files, ${(gen.bytes / 1e6).toFixed(1)} MB`);
    // Files younger than the racy window are (rightly) re-read by the next scan; let the
    // tree age past it so the warm figure measures the steady state.
    await new Promise((r) => setTimeout(r, 3200));

    const fsys = new NodeFs(tree);
    const cold: number[] = [];
    const coldCpu: number[] = [];
    const gitAdd: number[] = [];
    let last: ScanResult | undefined;
    for (let run = 0; run < RUNS; run++) {
      last = undefined; // let the previous result go before measuring the next
      const copy = join(base, `git${run}`);
      execFileSync('cp', ['-a', tree, copy]);
      gitIn(copy, env, ['init', '-q']);
      gitAdd.push(timeMs(() => gitIn(copy, env, ['add', '-A'])));
      if (run < RUNS - 1) fs.rmSync(copy, { recursive: true, force: true });
      const cpu0 = process.cpuUsage();
      cold.push(timeMs(() => (last = scanWorktree({ fs: fsys, statCache: new Map(), env: {}, home }))));
      const cpu = process.cpuUsage(cpu0);
      coldCpu.push((cpu.user + cpu.system) / 1000);
    }
    const result = last!;
    out(`cold scan: ${result.files.length} files, counts ${JSON.stringify(result.counts)}, ${result.errors.length} errors`);

    const cache = new Map<string, CachedStat>(result.files.map((f) => [f.path, f.stat]));
    const gitCopy = join(base, `git${RUNS - 1}`);
    gitIn(gitCopy, { ...env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@x', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@x' }, ['commit', '-q', '-m', 'bench']);
    gitIn(gitCopy, env, ['status', '--porcelain']); // lets git refresh its index once
    const warm: number[] = [];
    const gitStatus: number[] = [];
    let warmResult: ScanResult | undefined;
    for (let run = 0; run < RUNS + 2; run++) {
      gitStatus.push(timeMs(() => gitIn(gitCopy, env, ['status', '--porcelain'])));
      warm.push(timeMs(() => (warmResult = scanWorktree({ fs: fsys, statCache: cache, env: {}, home }))));
    }
    out(`warm scan: counts ${JSON.stringify(warmResult!.counts)}`);

    const coldMs = median(cold);
    const gitAddMs = median(gitAdd);
    const warmMs = median(warm);
    const gitStatusMs = median(gitStatus);
    const rssMb = process.resourceUsage().maxRSS / 1024;
    out(`cold: cshare ${coldMs.toFixed(0)} ms (cpu ${median(coldCpu).toFixed(0)} ms) vs git add -A ${gitAddMs.toFixed(0)} ms`);
    out(`warm: cshare ${warmMs.toFixed(1)} ms vs git status ${gitStatusMs.toFixed(1)} ms`);
    const coldRatio = coldMs / gitAddMs;
    const warmRatio = warmMs / gitStatusMs;
    out(`RESULT scan cold_ratio=${coldRatio.toFixed(3)} warm_ratio=${warmRatio.toFixed(3)} rss_mb=${rssMb.toFixed(0)}`);
    cliFigures(tree, gitCopy, env, gitAddMs);
    return { coldRatio, warmRatio, rssMb };
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
