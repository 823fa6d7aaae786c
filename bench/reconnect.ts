/**
 * Reconnect benchmark (`npx tsx bench/reconnect.ts`): after being offline, a sharer uploads
 * only what the relay lacks, not the file's history.
 *
 *   1. `cshare relay` + live `share --relay --json`; 1,000 saves to one text file (typing-like
 *      inserts and a few deletes), each waited for until its `uploaded` line, so every save is
 *      its own change in the history (`BENCH_SAVES` overrides the count);
 *   2. SIGTERM the sharer, make one small edit, start a live `share --yes --json` again: the
 *      bytes of its `uploaded` line (the `--once` result carries a change count, not bytes);
 *   3. another small offline edit, then `share --once --yes --json`: its change count and the
 *      relay data dir's growth; finally a fresh `join --once` checks both edits reached the relay.
 *
 * The baseline from the same run is the whole history: the sum of the `bytes` of every
 * `uploaded` line before going offline (and, for scale, the relay data dir size). Prints the
 * ratio offline upload / history (lower is better), then one `RESULT reconnect ...` line.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchEnv, BIN, dirBytes, out, Processes, runToEnd } from './processes.js';
import { prng } from './tree.js';

const SAVES = Number(process.env.BENCH_SAVES ?? 1000);
const FILE = 'history.txt';

/** Runs the benchmark and returns its figures. */
export async function main(): Promise<{ historyBytes: number; onceRelayGrowth: number; liveBytes: number; ratio: number }> {
  const base = fs.realpathSync(fs.mkdtempSync(join(tmpdir(), 'cshare-bench-reconnect-')));
  const env = benchEnv(join(base, 'home'));
  const procs = new Processes(env);
  try {
    const wt = join(base, 'wt');
    fs.mkdirSync(wt);
    const rand = prng(7);
    const words = 'alpha beta gamma delta sync relay undo redo file tree edit save'.split(' ');
    let text = 'A file with a long history.\n';
    fs.writeFileSync(join(wt, FILE), text);
    const relayData = join(base, 'relay-data');
    const { addr } = await procs.relay(relayData, base);

    let sharer = procs.start('share', ['share', '--relay', addr, '--json'], wt);
    await sharer.waitEvent('sharing', 60_000);
    const t0 = performance.now();
    for (let i = 0; i < SAVES; i++) {
      // Typing-like: a few words inserted somewhere, now and then a short deletion.
      const at = Math.floor(rand() * (text.length + 1));
      if (rand() < 0.15 && text.length > 40) text = text.slice(0, at) + text.slice(at + 1 + Math.floor(rand() * 8));
      else text = `${text.slice(0, at)}${words[Math.floor(rand() * words.length)]} ${i}${rand() < 0.1 ? '\n' : ' '}${text.slice(at)}`;
      const from = sharer.lines.length;
      fs.writeFileSync(join(wt, FILE), text);
      await sharer.waitEvent('uploaded', 10_000, from);
    }
    const historyBytes = sharer.lines.filter((l) => l.json.event === 'uploaded').reduce((n, l) => n + (l.json.bytes as number), 0);
    const uploads = sharer.lines.filter((l) => l.json.event === 'uploaded').length;
    out(`history: ${SAVES} saves in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${uploads} uploads, ${historyBytes} bytes uploaded in all; file now ${Buffer.byteLength(text)} bytes`);
    const exit = await sharer.stop();
    if (exit !== 0) out(`note: the sharer exited with ${exit} on SIGTERM`);
    const relayBefore = dirBytes(relayData);
    out(`relay data dir: ${relayBefore} bytes`);

    // (2) One small offline edit; the restarted live sharer reports the bytes it uploads
    // (its `uploaded` line may come after `sharing`, so it is waited for).
    // Prepended, so the edit cannot miss (random inserts may have split any phrase by now).
    text = `offline edit 1\n${text}`;
    fs.writeFileSync(join(wt, FILE), text);
    sharer = procs.start('share (restart)', ['share', '--relay', addr, '--yes', '--json'], wt);
    const sharing = await sharer.waitEvent('sharing', 60_000);
    await sharer.waitEvent('uploaded', 5000).catch(() => out('live share --yes: no uploaded line within 5 s of starting'));
    const up = sharer.lines.filter((l) => l.json.event === 'uploaded');
    const liveBytes = up.reduce((n, l) => n + (l.json.bytes as number), 0);
    out(`live share --yes after one offline edit: ${up.length} uploaded line(s), ${liveBytes} bytes (${up.map((l) => `${JSON.stringify(l.json)} ${(l.at - sharing.at).toFixed(0)} ms after 'sharing'`).join(' ')})`);
    await sharer.stop();
    const relayBefore2 = dirBytes(relayData);

    // (3) Another offline edit, then share --once --yes: its change count and the relay's growth.
    text = `offline edit 2\n${text}`;
    fs.writeFileSync(join(wt, FILE), text);
    const once = await runToEnd(process.execPath, [BIN, 'share', '--relay', addr, '--once', '--yes', '--json'], { cwd: wt, env });
    if (once.code !== 0) throw new Error(`share --once --yes failed (exit ${once.code}): ${once.stdout}\n${once.stderr}`);
    const onceResult = JSON.parse(once.stdout);
    const onceRelayGrowth = dirBytes(relayData) - relayBefore2;
    out(`share --once --yes after one more offline edit: ${once.ms.toFixed(0)} ms, ${onceResult.uploaded} change(s) uploaded (result keys ${Object.keys(onceResult).join(',')}: no bytes); relay data dir grew ${onceRelayGrowth} bytes`);

    // Both offline edits must have reached the relay: a fresh join sees them.
    const check = join(base, 'check');
    const joined = await runToEnd(process.execPath, [BIN, 'join', sharing.json.codes.readOnly as string, check, '--once', '--json'], { cwd: base, env });
    if (joined.code !== 0) throw new Error(`join --once failed (exit ${joined.code}): ${joined.stdout}\n${joined.stderr}`);
    const seen = fs.readFileSync(join(check, FILE), 'utf8');
    const onDisk = fs.readFileSync(join(wt, FILE), 'utf8');
    const head = (t: string) => JSON.stringify(t.split('\n').slice(0, 2).join('\n'));
    out(`check: a fresh join --once ${seen === text ? 'has both offline edits' : `DIFFERS: joined starts ${head(seen)}, sharer's disk ${onDisk === text ? 'still has the edits' : `now starts ${head(onDisk)}`}`}`);
    if (seen !== text) out(`restarted sharer printed: ${sharer.lines.map((l) => JSON.stringify(l.json)).join(' ').slice(0, 1500)}`);

    const ratio = liveBytes / historyBytes;
    const relayRatio = onceRelayGrowth / relayBefore2;
    out(`offline edit upload / whole history: ${liveBytes} / ${historyBytes} bytes = ${ratio.toFixed(5)}; relay growth on --once / relay size: ${onceRelayGrowth} / ${relayBefore2} = ${relayRatio.toFixed(5)}`);
    out(`RESULT reconnect ratio=${ratio.toFixed(5)} upload_bytes=${liveBytes} history_bytes=${historyBytes} saves=${SAVES} once_changes=${onceResult.uploaded} once_relay_growth_bytes=${onceRelayGrowth} relay_bytes=${relayBefore2} relay_growth_ratio=${relayRatio.toFixed(5)}`);
    return { historyBytes, onceRelayGrowth, liveBytes, ratio };
  } finally {
    await procs.stopAll();
    fs.rmSync(base, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
