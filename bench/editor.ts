/**
 * Editor benchmark (`npm run bench -- editor`): how fast typing in one Neovim reaches another
 * Neovim's buffer through `cshare relay` on loopback, with real processes: a relay, a live
 * `share` and a live `join`, and one headless Neovim on each worktree running the plugin
 * (editors/nvim) through the real `cshare editor` bridge.
 *
 *   keystroke:  KEYS single keystrokes typed in insert mode in Neovim A (one at a time, 20 ms
 *               apart), each timed from `nvim_input` until Neovim B's buffer has it (B pushes
 *               its changed lines with rpcnotify from an on_lines hook: no polling);
 *   disk:       50 in-place saves of another file on A's disk (not open in an editor), each
 *               timed until B's disk has it: the save-to-disk path, for comparison;
 *   typists:    A and B both type 20 characters per second into one file for SECONDS s (A on
 *               its first line, B at the end of its last), each keystroke timed until the other
 *               buffer has it; the latency of the first 10 s against the last 10 s, then both
 *               buffers must be equal (0 divergence) and, after `:w` on both, both disks.
 *
 * Targets: keystroke p50 < 10 ms, p99 < 30 ms; typists: 0 divergence, end no worse than start.
 * CSHARE_BENCH_EDITOR_KEYS and CSHARE_BENCH_EDITOR_SECONDS shorten or lengthen it.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Nvim } from '../test/helpers/nvim.js';
import { stageReport, type Mark } from './editorStages.js';
import { BIN, benchEnv, edit, initialText, out, percentile, Processes, sleep, type CshareProcess } from './processes.js';

const KEYS = Number(process.env.CSHARE_BENCH_EDITOR_KEYS ?? 300);
const SECONDS = Number(process.env.CSHARE_BENCH_EDITOR_SECONDS ?? 60);
const DISK_SAVES = 50;
const CPS = 20;
const DEADLINE_MS = 5_000;
const TARGET_P50 = 10;
const TARGET_P99 = 30;
const FILE = 'notes.txt';
const OTHER = 'other.txt';

/** The latest text of each line of a buffer as its on_lines hook pushed it, with waiters. */
class Mirror {
  readonly lines = new Map<number, string>();
  private waiters: (() => void)[] = [];

  update(first: number, lines: string[]): void {
    lines.forEach((l, i) => this.lines.set(first + i, l));
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** Resolves with the time `cond` first held (checked at every update), or null after `ms`. */
  async when(cond: () => boolean, ms: number): Promise<number | null> {
    const deadline = performance.now() + ms;
    while (!cond()) {
      const left = deadline - performance.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return performance.now();
  }
}

/** Polls `path` every ~2 ms until it holds `want`; the elapsed ms, or null after the deadline. */
async function onDisk(path: string, want: string, t0: number): Promise<number | null> {
  for (;;) {
    let got: string | undefined;
    try {
      got = fs.readFileSync(path, 'utf8');
    } catch {
      // Not there yet (or being replaced): poll again.
    }
    const now = performance.now();
    if (got === want) return now - t0;
    if (now - t0 > 10_000) return null;
    await sleep(2);
  }
}

/** Starts Neovim on `file` of worktree `wt` with the plugin on the real bridge; waits until the buffer is live. */
async function editorOn(name: string, wt: string, home: string, env: NodeJS.ProcessEnv): Promise<{ nvim: Nvim; mirror: Mirror }> {
  const nvim = await Nvim.start({ name, cwd: wt, home, env, setup: { cmd: [process.execPath, BIN, 'editor'], name, trace_stages: true } });
  await nvim.command(`edit ${FILE}`);
  await nvim.until(async () => (await nvim.lua("local _, d = require('cshare').doc_of(vim.api.nvim_get_current_buf()); return d and d.state or ''")) === 'live', 30_000, async () => `${name}: the buffer never became live; told ${JSON.stringify(await nvim.notes())}; ${JSON.stringify(await nvim.lua("local out = {} for root, s in pairs(require('cshare').sessions) do out[root] = {ready = s.ready, docs = vim.tbl_map(function(d) return d.state end, s.docs)} end return {out, vim.api.nvim_buf_get_name(0)}"))}`);
  const mirror = new Mirror();
  await nvim.watchLines((first, lines) => mirror.update(first, lines));
  return { nvim, mirror };
}

/** The length of line `row` of `nvim`'s current buffer. */
async function lineLength(nvim: Nvim, row: number): Promise<number> {
  return nvim.lua<number>('return #vim.api.nvim_buf_get_lines(0, ..., ... + 1, false)[1]', [row]);
}

function figures(xs: number[]): { n: number; p50: number; p99: number; max: number } {
  return { n: xs.length, p50: percentile(xs, 50), p99: percentile(xs, 99), max: xs.length ? Math.max(...xs) : NaN };
}

const fmt = (f: { n: number; p50: number; p99: number; max: number }) => `${f.n} samples, p50 ${f.p50.toFixed(2)} ms, p99 ${f.p99.toFixed(2)} ms, max ${f.max.toFixed(1)} ms`;

/** Keystrokes typed one at a time in A (insert mode at the start of line 0) until B has each. */
async function keystrokes(a: Nvim, b: { nvim: Nvim; mirror: Mirror }, count: number): Promise<{ times: number[]; windows: [number, number][]; lost: number }> {
  await a.command('normal! gg0');
  await a.input('i');
  const times: number[] = [];
  // [typed, seen] of each timed keystroke on the monotonic clock of the stage marks
  // (editorStages.ts): performance.now() plus this process's constant offset to it.
  const windows: [number, number][] = [];
  const mono = Number(process.hrtime.bigint()) / 1e6 - performance.now();
  let lost = 0;
  const base = await lineLength(b.nvim, 0);
  for (let i = 0; i < count + 20; i++) {
    const want = base + i + 1;
    const t0 = performance.now();
    await a.input('k');
    const at = await b.mirror.when(() => (b.mirror.lines.get(0) ?? '').length >= want, DEADLINE_MS);
    if (at === null) {
      lost++;
      if (lost >= 5) throw new Error('5 keystrokes did not arrive; giving up');
    } else if (i >= 20) {
      // The first 20 warm the path up.
      times.push(at - t0);
      windows.push([mono + t0, mono + at]);
    }
    await sleep(20);
  }
  await a.input('<Esc>');
  return { times, windows, lost };
}

/** Both type CPS characters per second for `seconds`; each keystroke timed until the other buffer has it. */
async function typists(a: { nvim: Nvim; mirror: Mirror }, b: { nvim: Nvim; mirror: Mirror }, seconds: number): Promise<{ start: number[]; end: number[]; lost: number }> {
  await a.nvim.command('normal! gg0');
  await a.nvim.input('i');
  const lastRow = (await b.nvim.lua<number>('return vim.api.nvim_buf_line_count(0)')) - 1;
  await b.nvim.command('normal! G$');
  await b.nvim.input('a');
  const samples: { at: number; ms: number }[] = [];
  let lost = 0;
  const pending: Promise<void>[] = [];
  // The other buffer's line grows by one per keystroke of this side (nobody else types there).
  const baseA = await lineLength(b.nvim, 0);
  const baseB = await lineLength(a.nvim, lastRow);
  const type = async (who: Nvim, other: Mirror, row: number, want: number, key: string, tStart: number) => {
    const typedAt = performance.now();
    await who.input(key);
    const at = await other.when(() => (other.lines.get(row) ?? '').length >= want, DEADLINE_MS);
    if (at === null) lost++;
    else samples.push({ at: typedAt - tStart, ms: at - typedAt });
  };
  const t0 = performance.now();
  const total = seconds * CPS;
  for (let k = 0; k < total; k++) {
    // Both sides on the same 50 ms grid, B half a period after A.
    const due = t0 + (k * 1000) / CPS;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    pending.push(type(a.nvim, b.mirror, 0, baseA + k + 1, 'a', t0));
    await sleep(1000 / CPS / 2);
    pending.push(type(b.nvim, a.mirror, lastRow, baseB + k + 1, 'b', t0));
  }
  await Promise.all(pending);
  await a.nvim.input('<Esc>');
  await b.nvim.input('<Esc>');
  const window = Math.min(10, seconds / 3) * 1000;
  return {
    start: samples.filter((s) => s.at < window).map((s) => s.ms),
    end: samples.filter((s) => s.at >= seconds * 1000 - window).map((s) => s.ms),
    lost,
  };
}

/** Runs the benchmark and returns its figures. */
export async function main(): Promise<Record<string, number>> {
  const base = fs.realpathSync(fs.mkdtempSync(join(tmpdir(), 'cshare-bench-editor-')));
  // Every process marks the stages of the live path (src/core/stages.ts).
  const env = { ...benchEnv(join(base, 'home')), DEBUG: 'cshare:stage' };
  const procs = new Processes(env);
  const editors: Nvim[] = [];
  try {
    const lines = initialText();
    const text0 = `${lines.join('\n')}\n`;
    const wtA = join(base, 'a');
    const wtB = join(base, 'b');
    fs.mkdirSync(wtA);
    fs.writeFileSync(join(wtA, FILE), text0);
    fs.writeFileSync(join(wtA, OTHER), text0);
    const { proc: relay, addr } = await procs.relay(join(base, 'relay-data'), base);
    const sharer: CshareProcess = procs.start('share', ['share', '--relay', addr, '--json'], wtA);
    const sharing = await sharer.waitEvent('sharing', 60_000);
    const joiner = procs.start('join', ['join', sharing.json.codes.readWrite as string, wtB, '--json'], base);
    await joiner.waitEvent('joined', 60_000);
    if ((await onDisk(join(wtB, OTHER), text0, performance.now())) === null) throw new Error('the join never had the files');

    const a = await editorOn('A', wtA, join(base, 'nvim-a'), env);
    editors.push(a.nvim);
    const b = await editorOn('B', wtB, join(base, 'nvim-b'), env);
    editors.push(b.nvim);

    const keys = await keystrokes(a.nvim, b, KEYS);
    const k = figures(keys.times);
    out(`keystroke A -> B buffer: ${fmt(k)}, ${keys.lost} lost; ratio to target p50 ${(k.p50 / TARGET_P50).toFixed(2)}, p99 ${(k.p99 / TARGET_P99).toFixed(2)}`);
    const nvimMarks = async (n: Nvim) => ((await n.lua<[string, number][] | null>("return require('cshare.trace').stages")) ?? []).map(([name, at]) => ({ name, at }) as Mark);
    const report = stageReport(keys.windows, { 'A nvim': await nvimMarks(a.nvim), 'A daemon': [...sharer.stages], relay: [...relay.stages], 'B daemon': [...joiner.stages], 'B nvim': await nvimMarks(b.nvim) });
    for (const line of report) out(line);

    const disk: number[] = [];
    for (let i = 0; i < DISK_SAVES; i++) {
      const text = edit(lines, i);
      const t0 = performance.now();
      fs.writeFileSync(join(wtA, OTHER), text);
      const ms = await onDisk(join(wtB, OTHER), text, t0);
      if (ms === null) throw new Error(`save ${i} of ${OTHER} never reached B's disk`);
      disk.push(ms);
      await sleep(50);
    }
    const d = figures(disk);
    out(`save-to-disk A -> B disk (${OTHER}, not open): ${fmt(d)}`);

    const t = await typists(a, b, SECONDS);
    const ts = figures(t.start);
    const te = figures(t.end);
    out(`two typists, ${CPS} chars/s each for ${SECONDS} s: first 10 s ${fmt(ts)}; last 10 s ${fmt(te)}; ${t.lost} lost`);
    let ta = '';
    let tb = '';
    const settled = await a.nvim
      .until(async () => (ta = await a.nvim.text()) === (tb = await b.nvim.text()), 20_000)
      .then(() => true)
      .catch(() => false);
    const divergence = settled ? 0 : Math.abs(ta.length - tb.length) || 1;
    const refusedOf = (n: Nvim) => n.lua<number>("local _, d = require('cshare').doc_of(vim.api.nvim_get_current_buf()); return d and d.refused or -1");
    out(`two typists: applyEdits refused (a keystroke was on its way): A ${await refusedOf(a.nvim)}, B ${await refusedOf(b.nvim)}`);
    out(`two typists: buffers ${settled ? 'equal' : `DIVERGED (A ${ta.length} chars, B ${tb.length})`}`);
    await a.nvim.command('write');
    await b.nvim.command('write');
    const disksEqual = (await onDisk(join(wtB, FILE), ta, performance.now())) !== null && (await onDisk(join(wtA, FILE), ta, performance.now())) !== null;
    out(`two typists: after :w on both, both disks ${disksEqual ? 'equal the buffers' : 'DIFFER'}`);

    const r = {
      keystroke_p50_ms: k.p50,
      keystroke_p99_ms: k.p99,
      keystroke_p50_ratio: k.p50 / TARGET_P50,
      keystroke_p99_ratio: k.p99 / TARGET_P99,
      disk_p50_ms: d.p50,
      disk_p99_ms: d.p99,
      typists_start_p50_ms: ts.p50,
      typists_end_p50_ms: te.p50,
      typists_start_p99_ms: ts.p99,
      typists_end_p99_ms: te.p99,
      typists_end_over_start_p50: te.p50 / ts.p50,
      divergence,
      disks_equal: disksEqual ? 1 : 0,
      lost: keys.lost + t.lost,
    };
    out(`RESULT editor ${Object.entries(r).map(([key, v]) => `${key}=${Number.isInteger(v) ? v : v.toFixed(3)}`).join(' ')}`);
    return r;
  } finally {
    await Promise.all(editors.map((n) => n.stop()));
    await procs.stopAll();
    fs.rmSync(base, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
