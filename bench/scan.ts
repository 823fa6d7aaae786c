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
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes the tree: nested dirs, mostly text of mixed sizes, some binaries, a .gitignore. */
function generate(root: string): { files: number; bytes: number } {
  const rand = prng(42);
  const words = 'const let function return import export class interface type async await yield value index path file scan tree hash'.split(' ');
  const lines: string[] = [];
  for (let i = 0; i < 4000; i++) lines.push(Array.from({ length: 3 + Math.floor(rand() * 10) }, () => words[Math.floor(rand() * words.length)]).join(' '));
  const pool = Buffer.from(lines.join('\n') + '\n');
  const binPool = Buffer.alloc(2 * 1024 * 1024);
  for (let i = 0; i < binPool.length; i++) binPool[i] = Math.floor(rand() * 256);

  const dirs: string[] = [''];
  for (let i = 0; i < 150; i++) {
    const parent = dirs[Math.floor(rand() * dirs.length)]!;
    const d = parent === '' ? `d${i}` : `${parent}/d${i}`;
    if (d.split('/').length > 5) continue;
    dirs.push(d);
    fs.mkdirSync(join(root, d), { recursive: true });
  }
  fs.writeFileSync(join(root, '.gitignore'), '*.log\ntmp/\nnode_modules/\n');
  let bytes = 0;
  for (let i = 0; i < FILES; i++) {
    const dir = dirs[Math.floor(rand() * dirs.length)]!;
    const binary = rand() < 0.05;
    // Text: 0.5–30 KB, skewed small; binary: 10–100 KB. About 100 MB in all.
    const size = binary ? 10_000 + Math.floor(rand() * 90_000) : 500 + Math.floor(rand() * rand() * 30_000);
    const pool_ = binary ? binPool : pool;
    const off = Math.floor(rand() * (pool_.length - size));
    const header = Buffer.from(`// file ${i}\n`);
    const body = Buffer.concat([header, pool_.subarray(off, off + size)]);
    const name = binary ? `f${i}.bin` : `f${i}.${['ts', 'js', 'md', 'json', 'txt'][i % 5]}`;
    fs.writeFileSync(join(root, dir, name), body);
    bytes += body.length;
  }
  // Some ignored content, which both tools must skip.
  fs.mkdirSync(join(root, 'tmp'), { recursive: true });
  for (let i = 0; i < 50; i++) fs.writeFileSync(join(root, 'tmp', `t${i}.dat`), pool.subarray(0, 5000));
  for (let i = 0; i < 50; i++) fs.writeFileSync(join(root, `l${i}.log`), pool.subarray(0, 1000));
  return { files: FILES + 1, bytes };
}

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
    const gen = generate(tree);
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
