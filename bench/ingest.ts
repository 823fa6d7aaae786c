/**
 * Ingest benchmark: the automerge-paper trace (259,778 txns; from Martin Kleppmann's
 * automerge-perf, via josephg/editing-traces) applied one txn at a time.
 *
 * Every side runs the same replay loop: the "editor" applies the txn's patches to a JS
 * string and flattens it (V8 builds `a.slice() + b + a.slice()` as a rope; a file read gives
 * a flat string, see `asRead` in bench/diff.ts). That is workload generation and is never
 * timed. Then, timed with `performance.now()` around that call alone:
 *
 * - cshare: `FileDoc.setText(s)`: prefix/suffix diff against the last text, one Yjs
 *   transaction, the update to persist and send, the undo record. The path a save takes.
 * - raw Yjs: the same patches applied directly as `ytext.delete`/`ytext.insert` in one
 *   transaction per txn; once plain, once also producing each txn's update (the 'update'
 *   event), as any replica that persists or sends its changes must. The latter is the
 *   same job as cshare's minus the diff and the undo record: the headline baseline.
 *
 * All docs are configured alike: `gc: false` (cshare needs tombstones for selective undo)
 * and client id 1. The sides run interleaved for several rounds (machines here are shared
 * and noisy) and medians are reported; the ratios are measured in one process because
 * absolute thresholds mean nothing on such machines. Also printed for information: raw Yjs
 * with updates when the process runs no replay loop (no editor garbage or cache pressure).
 *
 * Prints `RESULT ingest cshare_ms=… yjs_updates_ms=… ratio=…` (target ratio <= 1.5).
 * `INGEST_ROUNDS` sets the number of rounds (default 3).
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import * as Y from 'yjs';
import { FileDoc, type IdRange, type OwnChange } from '../src/core/FileDoc.js';

type Patch = [pos: number, del: number, ins: string];
interface Trace {
  endContent: string;
  txns: Array<{ patches: Patch[] }>;
}

/**
 * The trace's patches in UTF-16 units (converted before any timing, so no side pays for it),
 * in flat arrays: txn `t` is patches `start[t]` to `start[t + 1]`. Flat arrays leave the
 * collector almost nothing to trace; the parsed JSON (a million small arrays) is dropped.
 */
interface Workload {
  end: string;
  count: number;
  start: Int32Array;
  pos: Int32Array;
  del: Int32Array;
  ins: string[];
}

// Ships with the repository (CC BY 4.0; attribution in its README).
const TRACE = new URL('../test/fixtures/traces/automerge-paper.json.gz', import.meta.url);
const CLIENT_ID = 1;

/**
 * Converts code-point patches to UTF-16 ops by replaying them on a string; while the text has
 * no surrogate pairs (automerge-paper never does) code points and UTF-16 units coincide.
 */
function loadWorkload(): Workload {
  const trace = JSON.parse(gunzipSync(readFileSync(TRACE)).toString('utf8')) as Trace;
  const total = trace.txns.reduce((n, txn) => n + txn.patches.length, 0);
  const w: Workload = {
    end: trace.endContent,
    count: trace.txns.length,
    start: new Int32Array(trace.txns.length + 1),
    pos: new Int32Array(total),
    del: new Int32Array(total),
    ins: new Array<string>(total),
  };
  let s = '';
  let astral = false;
  let i = 0;
  trace.txns.forEach((txn, t) => {
    w.start[t] = i;
    for (const [pos, del, ins] of txn.patches) {
      astral ||= /[\uD800-\uDFFF]/.test(ins);
      let at = pos;
      let len = del;
      if (astral) {
        const cps = [...s];
        at = cps.slice(0, pos).join('').length;
        len = cps.slice(pos, pos + del).join('').length;
      }
      s = s.slice(0, at) + ins + s.slice(at + len);
      w.pos[i] = at;
      w.del[i] = len;
      w.ins[i] = ins;
      i++;
    }
  });
  w.start[w.count] = i;
  return w;
}

/** The editor's side of txn `t`: the new file content, flat like a file read. Never timed. */
function edit(w: Workload, t: number, s: string): string {
  let out = s;
  for (let i = w.start[t]!; i < w.start[t + 1]!; i++) out = out.slice(0, w.pos[i]) + w.ins[i] + out.slice(w.pos[i]! + w.del[i]!);
  out.charCodeAt(0); // flattens the rope in place (V8)
  return out;
}

interface Run {
  /** Sum of the timed calls only. */
  ms: number;
  text: string;
  updates: number;
  bytes: number;
}

function sumLen(ranges: IdRange[]): number {
  let n = 0;
  for (const r of ranges) n += r[2];
  return n;
}

/**
 * cshare's side. With `keep`, also returns every change (kept outside the timed call) so the
 * caller can check the updates on another replica.
 */
function runCshare(w: Workload, keep: OwnChange[] | null): Run {
  const { doc } = FileDoc.create({ fileId: 'automerge-paper', clientId: CLIENT_ID, baseText: '' });
  let s = '';
  let ms = 0;
  let updates = 0;
  let bytes = 0;
  for (let t = 0; t < w.count; t++) {
    s = edit(w, t, s);
    const t0 = performance.now();
    const change = doc.setText(s);
    ms += performance.now() - t0;
    if (change) {
      updates++;
      bytes += change.update.byteLength;
      // The undo record must cover exactly what the change inserted and deleted.
      if (sumLen(change.record.insertions) !== change.inserted || sumLen(change.record.deletions) !== change.deleted) {
        throw new Error(`txn ${updates}: the undo record does not match the change`);
      }
      keep?.push(change);
    }
  }
  const text = doc.text;
  doc.destroy();
  if (text !== w.end) throw new Error('cshare did not reach endContent');
  return { ms, text, updates, bytes };
}

/** Raw Yjs's side, with or without the replay loop running alongside (untimed). */
function runYjs(w: Workload, opts: { updates: boolean; replay: boolean }): Run {
  const doc = new Y.Doc({ gc: false });
  doc.clientID = CLIENT_ID;
  const ytext = doc.getText('content');
  let updates = 0;
  let bytes = 0;
  let last: Uint8Array | null = null;
  if (opts.updates) {
    doc.on('update', (u: Uint8Array) => {
      last = u;
      updates++;
      bytes += u.byteLength;
    });
  }
  let s = '';
  let ms = 0;
  for (let t = 0; t < w.count; t++) {
    if (opts.replay) s = edit(w, t, s);
    const from = w.start[t]!;
    const to = w.start[t + 1]!;
    const t0 = performance.now();
    doc.transact(() => {
      for (let i = from; i < to; i++) {
        if (w.del[i]! > 0) ytext.delete(w.pos[i]!, w.del[i]!);
        if (w.ins[i]!.length > 0) ytext.insert(w.pos[i]!, w.ins[i]!);
      }
    });
    ms += performance.now() - t0;
  }
  const text = ytext.toString();
  doc.destroy();
  if (text !== w.end) throw new Error('raw Yjs did not reach endContent');
  if (opts.replay && s !== w.end) throw new Error('the replay loop did not reach endContent');
  if (opts.updates && last === null) throw new Error('no updates were emitted');
  return { ms, text, updates, bytes };
}

/** The replay loop alone: what the editor costs (not counted on any side). */
function runReplay(w: Workload): number {
  let s = '';
  const start = performance.now();
  for (let t = 0; t < w.count; t++) s = edit(w, t, s);
  const ms = performance.now() - start;
  if (s.length < 0) throw new Error('unreachable'); // keeps `s` alive
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Runs the benchmark and prints its figures; returns them too, for `bench/run.ts`. */
export async function main(): Promise<{ cshareMs: number; yjsMs: number; yjsUpdatesMs: number; ratio: number; ratioVsPlainYjs: number }> {
  const w = loadWorkload();
  const rounds = Math.max(1, Number(process.env.INGEST_ROUNDS ?? 3) || 3);
  const out = (line: string): boolean => process.stdout.write(`${line}\n`);
  const f = (ms: number): string => ms.toFixed(0);
  out(`automerge-paper: ${w.count} txns, ${w.end.length} chars at the end; ${rounds} interleaved rounds`);
  out('timed: cshare = the setText calls only; raw Yjs = the transactions only (with the update encoding when on)');
  out(`every side runs the same untimed replay loop (patches applied to a JS string, flattened); all docs gc:false, client id ${CLIENT_ID}`);

  // Once, outside any timing: every update cshare produced, applied on a fresh replica,
  // must rebuild the same text and state.
  const changes: OwnChange[] = [];
  const first = runCshare(w, changes);
  const replica = FileDoc.load({ fileId: 'automerge-paper', clientId: 2, updates: changes.map((c) => c.update) });
  if (replica.text !== w.end) throw new Error('the updates cshare produced do not rebuild endContent on another replica');
  replica.destroy();
  changes.length = 0;
  out(`check: ${first.updates} updates (${(first.bytes / 1024 / 1024).toFixed(1)} MiB), each undo record matching its change, rebuild endContent on a fresh replica`);

  const sides = {
    yjs: () => runYjs(w, { updates: false, replay: true }),
    yjsUpdates: () => runYjs(w, { updates: true, replay: true }),
    cshare: () => runCshare(w, null),
  };
  const names = Object.keys(sides) as Array<keyof typeof sides>;
  const times: Record<keyof typeof sides, number[]> = { yjs: [], yjsUpdates: [], cshare: [] };
  for (let r = 0; r < rounds; r++) {
    // Rotate the order so that no side always runs first (or right after the same one).
    const order = names.map((_, i) => names[(i + r) % names.length]!);
    for (const name of order) times[name].push(sides[name]().ms);
    out(`round ${r + 1}: raw Yjs ${f(times.yjs[r]!)} ms, raw Yjs + update ${f(times.yjsUpdates[r]!)} ms, cshare ${f(times.cshare[r]!)} ms`);
  }
  const yjsMs = median(times.yjs);
  const yjsUpdatesMs = median(times.yjsUpdates);
  const cshareMs = median(times.cshare);
  const ratio = cshareMs / yjsUpdatesMs;
  const ratioVsPlainYjs = cshareMs / yjsMs;

  // For information: the baseline in a process doing nothing else (no editor garbage to
  // collect, caches its own), which flatters it against a side that must read the text.
  const alone = median([0, 1].map(() => runYjs(w, { updates: true, replay: false }).ms));
  const replayMs = runReplay(w);

  out(`median raw Yjs (transactions only): ${f(yjsMs)} ms`);
  out(`median raw Yjs producing each txn's update: ${f(yjsUpdatesMs)} ms`);
  out(`median cshare setText (diff + transaction + update + undo record): ${f(cshareMs)} ms`);
  out(`ratio cshare / raw Yjs + per-txn update (headline, same job, same doc config): ${ratio.toFixed(2)} (target 1.5)`);
  out(`ratio cshare / raw Yjs plain (no update produced): ${ratioVsPlainYjs.toFixed(2)}`);
  out(`info: raw Yjs + update with no replay loop in the process: ${f(alone)} ms (cshare / it: ${(cshareMs / alone).toFixed(2)}); replay loop alone: ${f(replayMs)} ms`);
  out(
    `RESULT ingest cshare_ms=${f(cshareMs)} yjs_updates_ms=${f(yjsUpdatesMs)} yjs_ms=${f(yjsMs)} ratio=${ratio.toFixed(2)} ratio_vs_plain_yjs=${ratioVsPlainYjs.toFixed(2)} yjs_updates_alone_ms=${f(alone)} replay_ms=${f(replayMs)} target=1.5`,
  );
  return { cshareMs, yjsMs, yjsUpdatesMs, ratio, ratioVsPlainYjs };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
