/**
 * Join benchmark (`npx tsx bench/join.ts`): a generated tree of 10,000 files / ~100 MB is
 * uploaded to a `cshare relay` on loopback with `share --once`, then `join --once` into an
 * empty directory is timed against `git clone --no-local` of the same tree committed in a git
 * repo (both real processes, both reading warm page caches). The joined tree must equal the
 * source byte for byte (a sha1 per file), and so must the clone.
 *
 * Prints both times, the ratio join / clone (target at most 3), the `share --once` time and
 * the peak RSS of each process, then one `RESULT join ...` line.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchEnv, BIN, dirBytes, median, out, peakRssMb, Processes, runToEnd } from './processes.js';
import { compareDigests, digestTree, generateTree } from './tree.js';

const FILES = 10_000;
const CLONE_RUNS = 3;
const TARGET_RATIO = 3;

/** sha1 per file of what git tracks in `repo` (the set cshare shares: no secrets here). */
function trackedDigests(repo: string, env: NodeJS.ProcessEnv): Map<string, string> {
  const list = execFileSync('git', ['ls-files', '-z'], { cwd: repo, env, maxBuffer: 64 * 1024 * 1024 }).toString('utf8').split('\0').filter(Boolean);
  return new Map(list.map((p) => [p, createHash('sha1').update(fs.readFileSync(join(repo, p))).digest('hex')]));
}

/** Runs the benchmark and returns its figures. */
export async function main(): Promise<{ joinMs: number; cloneMs: number; ratio: number; shareMs: number }> {
  const base = fs.realpathSync(fs.mkdtempSync(join(tmpdir(), 'cshare-bench-join-')));
  const env = benchEnv(join(base, 'home'));
  const gitEnv = { ...env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@x', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@x' };
  const procs = new Processes(env);
  try {
    const tree = join(base, 'tree');
    fs.mkdirSync(tree);
    const gen = generateTree(tree, FILES);
    out(`tree: ${gen.files} files, ${(gen.bytes / 1e6).toFixed(1)} MB`);

    const git = (cwd: string, args: string[]) => execFileSync('git', args, { cwd, env: gitEnv, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
    git(tree, ['init', '-q']);
    git(tree, ['add', '-A']);
    git(tree, ['commit', '-q', '-m', 'bench']);
    const want = trackedDigests(tree, env);
    out(`git: ${want.size} tracked files`);

    const relayData = join(base, 'relay-data');
    const { proc: relay, addr } = await procs.relay(relayData, base);
    const shared = await runToEnd(process.execPath, [BIN, 'share', '--relay', addr, '--once', '--json'], { cwd: tree, env });
    if (shared.code !== 0) throw new Error(`share --once failed (exit ${shared.code}): ${shared.stdout}\n${shared.stderr}`);
    const result = JSON.parse(shared.stdout);
    const code = result.codes?.readOnly as string | undefined;
    if (!code) throw new Error(`share --once printed no code: ${shared.stdout}`);
    out(`share --once: ${shared.ms.toFixed(0)} ms, ${result.uploaded} change(s) uploaded, peak RSS ${shared.rssMb?.toFixed(0) ?? '?'} MB; relay data ${(dirBytes(relayData) / 1e6).toFixed(1)} MB`);

    const target = join(base, 'joined');
    fs.mkdirSync(target);
    // Dirty pages from the previous step are flushed first, so neither side pays for the other's writes.
    execFileSync('sync');
    const joined = await runToEnd(process.execPath, [BIN, 'join', code, target, '--once', '--json'], { cwd: base, env });
    if (joined.code !== 0) throw new Error(`join --once failed (exit ${joined.code}): ${joined.stdout}\n${joined.stderr}`);
    const relayRss = peakRssMb(relay.child.pid);
    out(`join --once: ${joined.ms.toFixed(0)} ms, peak RSS ${joined.rssMb?.toFixed(0) ?? '?'} MB; relay peak RSS ${relayRss?.toFixed(0) ?? '?'} MB`);
    const joinDiffs = compareDigests(want, digestTree(target));
    if (joinDiffs.length > 0) throw new Error(`joined tree differs from the source:\n  ${joinDiffs.join('\n  ')}`);
    out(`verified: joined tree equals the source (${want.size} files, sha1 each)`);

    const clones: number[] = [];
    let cloneRss = 0;
    for (let run = 0; run < CLONE_RUNS; run++) {
      const dest = join(base, `clone${run}`);
      execFileSync('sync');
      const c = await runToEnd('git', ['clone', '-q', '--no-local', tree, dest], { cwd: base, env: gitEnv });
      if (c.code !== 0) throw new Error(`git clone failed: ${c.stderr}`);
      clones.push(c.ms);
      cloneRss = Math.max(cloneRss, c.rssMb ?? 0);
      if (run === 0) {
        const cloneDiffs = compareDigests(want, digestTree(dest));
        if (cloneDiffs.length > 0) throw new Error(`clone differs from the source:\n  ${cloneDiffs.join('\n  ')}`);
      }
      // Kept until the end: deleting 100 MB between runs (the disk is mounted with discard)
      // slowed the next clone by seconds, and the join ran with no deletion before it.
    }
    const cloneMs = median(clones);
    const ratio = joined.ms / cloneMs;
    out(`git clone --no-local: median ${cloneMs.toFixed(0)} ms of ${CLONE_RUNS} (${clones.map((c) => c.toFixed(0)).join(', ')}), peak RSS ${cloneRss.toFixed(0)} MB`);
    out(`join / clone = ${ratio.toFixed(2)} (target <= ${TARGET_RATIO})`);
    out(
      `RESULT join ratio=${ratio.toFixed(3)} join_ms=${joined.ms.toFixed(0)} clone_ms=${cloneMs.toFixed(0)} share_once_ms=${shared.ms.toFixed(0)}` +
        ` join_rss_mb=${joined.rssMb?.toFixed(0) ?? '?'} share_rss_mb=${shared.rssMb?.toFixed(0) ?? '?'} relay_rss_mb=${relayRss?.toFixed(0) ?? '?'} clone_rss_mb=${cloneRss.toFixed(0)}`,
    );
    return { joinMs: joined.ms, cloneMs, ratio, shareMs: shared.ms };
  } finally {
    await procs.stopAll();
    fs.rmSync(base, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
