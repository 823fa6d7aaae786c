/**
 * Real-repository benchmark (`npm run bench -- repos [path…]`, or the paths in
 * `CSHARE_BENCH_REPOS`, separated by `:`): `status`, first `scan`, a rescan and `files --json`
 * as whole `bin/cshare` processes against the git command that does the same work, on a
 * fresh copy of each repository, alternated in one run (these machines are noisy) and
 * reported as medians and ratios, with cshare's peak RSS. Each path is a git repository
 * (a work tree or a bare mirror); the corpus of issue 20 is
 *
 *   git clone https://github.com/tldr-pages/tldr    (~38,500 small files, docs)
 *   git clone https://github.com/babel/babel        (~27,700 files, JS monorepo)
 *   git clone https://github.com/git/git            (~4,800 files, C)
 *
 * The copy is what a developer's tree holds besides the checkout (see {@link addDeveloperFiles}):
 * untracked files, and ignored dependency and build folders, ignored through
 * `.git/info/exclude`. Nothing here reads outside the paths it is given and its temp folder.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { BIN, median, out, runToEnd, type Finished } from './processes.js';

const RUNS = Number(process.env.CSHARE_BENCH_RUNS ?? 5);
/** Files edited for the "10 files edited" rows. */
const EDITED = 10;

/** The environment of every measured command: no user config, a fixed git identity. */
function benchEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'bench',
    GIT_AUTHOR_EMAIL: 'bench@cshare.invalid',
    GIT_COMMITTER_NAME: 'bench',
    GIT_COMMITTER_EMAIL: 'bench@cshare.invalid',
    NO_COLOR: '1',
  };
}

function git(cwd: string, env: NodeJS.ProcessEnv, args: string[]): string {
  return execFileSync('git', args, { cwd, env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
}

/**
 * What a developer's tree holds besides the checkout: untracked notes and scratch files in a
 * few directories, and ignored folders (a `node_modules`-like tree of 3,000 files in 300
 * directories, each package with its own `.gitignore`, and a `build/` output), ignored by
 * `.git/info/exclude` as a developer would (`.cshare/` too, so `git add -A` leaves the store).
 */
function addDeveloperFiles(dir: string): void {
  fs.appendFileSync(join(dir, '.git/info/exclude'), '\n/node_modules/\n/build/\n.cshare/\n*.local.txt\n');
  for (let p = 0; p < 300; p++) {
    const pkg = join(dir, 'node_modules', `pkg-${p}`, 'lib');
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(join(dir, 'node_modules', `pkg-${p}`, '.gitignore'), 'coverage/\n*.log\n');
    for (let f = 0; f < 10; f++) fs.writeFileSync(join(pkg, `m${f}.js`), `module.exports = ${p * 10 + f};\n`.repeat(20));
  }
  fs.mkdirSync(join(dir, 'build/out'), { recursive: true });
  for (let f = 0; f < 200; f++) fs.writeFileSync(join(dir, 'build/out', `o${f}.o`), Buffer.alloc(2048, f));
  const dirs = trackedDirs(dir).slice(0, 20);
  dirs.forEach((d, i) => {
    fs.writeFileSync(join(dir, d, `notes-${i}.md`), `# notes ${i}\n\nthings to do in ${d}\n`);
    fs.writeFileSync(join(dir, d, `scratch-${i}.local.txt`), `ignored scratch ${i}\n`);
  });
}

/** Directories holding tracked files, spread over the tree (deterministic). */
function trackedDirs(dir: string): string[] {
  const all = [...new Set(git(dir, process.env, ['ls-files']).split('\n').filter(Boolean).map((p) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '.')))].sort();
  const step = Math.max(1, Math.floor(all.length / 20));
  return all.filter((_, i) => i % step === 0);
}

/** `EDITED` tracked text files spread over the tree, the same each time. */
function filesToEdit(dir: string): string[] {
  const files = git(dir, process.env, ['ls-files', '-s']).split('\n').filter((l) => l.startsWith('100644 ')).map((l) => l.slice(l.indexOf('\t') + 1));
  const texts = files.filter((p) => /\.(md|js|ts|c|h|txt|json|yml|sh)$/.test(p));
  const step = Math.floor(texts.length / EDITED);
  return Array.from({ length: EDITED }, (_, i) => texts[i * step]!);
}

function edit(dir: string, paths: string[], round: number): void {
  for (const p of paths) fs.appendFileSync(join(dir, p), `edited in round ${round}\n`);
}

/** One measured command: its label, how to run it, and its times (ms) and peak RSS (MB). */
interface Row {
  label: string;
  cshare: string;
  git: string;
  csMs: number[];
  gitMs: number[];
  csRss: number[];
}

async function timed(cwd: string, env: NodeJS.ProcessEnv, cmd: string[]): Promise<Finished> {
  const r = await runToEnd(cmd[0]!, cmd.slice(1), { cwd, env, timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`${cmd.join(' ')} in ${cwd} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return r;
}

/**
 * `git hash-object --stdin-paths` stops at a path that is a directory: a symlink to one
 * (tldr's `pages.en`) or a submodule (git's `sha1collisiondetection`). The baseline leaves the
 * tracked ones out, so that git hashes every file as cshare does.
 */
function filesBaseline(dir: string, env: NodeJS.ProcessEnv): string {
  const links = git(dir, env, ['ls-files', '-s']).split('\n').filter((l) => l.startsWith('120000 ') || l.startsWith('160000 ')).map((l) => l.slice(l.indexOf('\t') + 1));
  const toDirs = links.filter((p) => fs.statSync(join(dir, p), { throwIfNoEntry: false })?.isDirectory());
  if (toDirs.length === 0) return 'git ls-files -co --exclude-standard | git hash-object --stdin-paths >/dev/null';
  fs.writeFileSync(join(dir, '.git/bench-dir-links'), toDirs.join('\n') + '\n');
  return 'git ls-files -co --exclude-standard | grep -vxF -f .git/bench-dir-links | git hash-object --stdin-paths >/dev/null';
}

/** Measures one repository; prints its table. */
async function benchRepo(source: string, work: string): Promise<Row[]> {
  const env = benchEnv(join(work, 'home'));
  fs.mkdirSync(env.HOME!, { recursive: true });
  const template = join(work, 'template');
  execFileSync('git', ['clone', '-q', '--no-hardlinks', source, template], { env, stdio: 'inherit' });
  addDeveloperFiles(template);
  const tracked = git(template, env, ['ls-files']).split('\n').filter(Boolean).length;
  const listed = git(template, env, ['ls-files', '-co', '--exclude-standard']).split('\n').filter(Boolean).length;
  out(`\n### ${basename(source.replace(/\/(repo|\.git)\/?$/, ''))}: ${tracked} tracked files, ${listed} listed by git ls-files -co --exclude-standard, ${RUNS} runs`);
  // A copy made as a developer's would be: new inodes and ctimes, so neither tool's cache of
  // the clone's stats holds and both read every file once.
  let copies = 0;
  const freshCopy = () => {
    const to = join(work, `copy-${copies++}`);
    execFileSync('cp', ['-a', template, to]);
    return to;
  };
  const cs = (args: string[]) => [process.execPath, BIN, ...args];
  const rows: Row[] = [];
  const row = (label: string, cshare: string, gitCmd: string): Row => {
    const r = { label, cshare, git: gitCmd, csMs: [], gitMs: [], csRss: [] };
    rows.push(r);
    return r;
  };
  const both = async (r: Row, round: number, runCs: () => Promise<Finished>, runGit: () => Promise<Finished>) => {
    // Alternate which goes first, so that neither always gets the warmer cache.
    const pair = round % 2 === 0 ? [runCs, runGit] : [runGit, runCs];
    for (const f of pair) {
      const res = await f();
      if (f === runCs) {
        r.csMs.push(res.ms);
        if (res.rssMb !== undefined) r.csRss.push(res.rssMb);
      } else r.gitMs.push(res.ms);
    }
  };
  const sh = (cmd: string) => ['sh', '-c', cmd];

  // Startup alone.
  const version = row('startup', 'cshare --version', 'git --version');
  for (let i = 0; i < RUNS; i++) await both(version, i, () => timed(work, env, cs(['--version'])), () => timed(work, env, ['git', '--version']));

  // First scan: each in a fresh copy.
  const first = row('first scan, fresh copy', 'cshare scan', 'git add -A');
  for (let i = 0; i < RUNS; i++) {
    const a = freshCopy();
    const b = freshCopy();
    await both(first, i, () => timed(a, env, cs(['scan'])), () => timed(b, env, ['git', 'add', '-A']));
    fs.rmSync(b, { recursive: true, force: true });
    if (i < RUNS - 1) fs.rmSync(a, { recursive: true, force: true });
  }
  // The last scanned copy is the tree of the other rows; git's index brought up to date there.
  const tree = join(work, `copy-${copies - 2}`);
  git(tree, env, ['add', '-A']);
  git(tree, env, ['commit', '-q', '-m', 'developer tree']);
  await timed(tree, env, cs(['status']));
  await timed(tree, env, ['git', 'status', '--porcelain']);

  const status = row('status, unchanged tree', 'cshare status', 'git status --porcelain');
  for (let i = 0; i < RUNS; i++) await both(status, i, () => timed(tree, env, cs(['status'])), () => timed(tree, env, ['git', 'status', '--porcelain']));

  const filesCmd = filesBaseline(tree, env);
  const files = row('files --json', 'cshare files --json', filesCmd.replace(/ >\/dev\/null$/, ''));
  for (let i = 0; i < RUNS; i++) await both(files, i, () => timed(tree, env, cs(['files', '--json'])), () => timed(tree, env, sh(filesCmd)));

  const edited = filesToEdit(tree);
  const status10 = row(`status, ${EDITED} files edited`, 'cshare status', 'git status --porcelain');
  for (let i = 0; i < RUNS; i++) {
    edit(tree, edited, i);
    await both(status10, i, () => timed(tree, env, cs(['status'])), () => timed(tree, env, ['git', 'status', '--porcelain']));
  }
  const rescan = row(`rescan, ${EDITED} files edited`, 'cshare scan', 'git add -A');
  for (let i = 0; i < RUNS; i++) {
    edit(tree, edited, RUNS + i);
    await both(rescan, i, () => timed(tree, env, cs(['scan'])), () => timed(tree, env, ['git', 'add', '-A']));
  }
  printTable(rows);
  return rows;
}

function printTable(rows: Row[]): void {
  out('| command | cshare median | git median | ratio | cshare peak RSS |');
  out('|---|---|---|---|---|');
  for (const r of rows) {
    const c = median(r.csMs);
    const g = median(r.gitMs);
    const rss = r.csRss.length ? `${Math.max(...r.csRss).toFixed(0)} MB` : '?';
    out(`| ${r.label}: \`${r.cshare}\` vs \`${r.git}\` | ${(c / 1000).toFixed(2)} s | ${(g / 1000).toFixed(2)} s | ${(c / g).toFixed(2)}x | ${rss} |`);
  }
}

/** Runs the benchmark on the paths given (or `CSHARE_BENCH_REPOS`). */
export async function main(paths: string[] = []): Promise<void> {
  const given = paths.length ? paths : (process.env.CSHARE_BENCH_REPOS ?? '').split(':').filter(Boolean);
  if (given.length === 0) {
    out('repos: no repositories given. Pass paths (npm run bench -- repos <path>…) or CSHARE_BENCH_REPOS=a:b:c;');
    out('the corpus of issue 20 is:');
    out('  git clone https://github.com/tldr-pages/tldr');
    out('  git clone https://github.com/babel/babel');
    out('  git clone https://github.com/git/git');
    return;
  }
  out(`load before: ${fs.readFileSync('/proc/loadavg', 'utf8').trim()}`);
  const results: string[] = [];
  for (const p of given) {
    const work = fs.mkdtempSync(join(tmpdir(), 'cshare-bench-repos-'));
    try {
      const rows = await benchRepo(resolve(p), work);
      const ratio = (r: Row) => (median(r.csMs) / median(r.gitMs)).toFixed(2);
      results.push(`${basename(resolve(p).replace(/\/(repo|\.git)\/?$/, ''))}:${rows.map((r) => `${r.label.replace(/[^a-z0-9]+/gi, '_')}=${ratio(r)}`).join(',')}`);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
  out(`load after: ${fs.readFileSync('/proc/loadavg', 'utf8').trim()}`);
  out(`RESULT repos ${results.join(' ')}`);
}
