/**
 * Ingest benchmark: the automerge-paper trace (259,778 txns; from Martin Kleppmann's
 * automerge-perf, via josephg/editing-traces) applied one txn at a time.
 *
 * - cshare: keep a JS string, apply the txn's patches to it, then `FileDoc.setText(s)`
 *   (prefix/suffix diff + one Yjs transaction + update encoding + undo record), the path a
 *   save takes.
 * - yjs: the same patches applied directly as `ytext.delete`/`ytext.insert` in one
 *   transaction per txn: the floor for any Yjs-based design.
 *
 * Also measured: raw Yjs emitting an update per txn (what persisting each change costs in
 * Yjs alone) and plain JS string edits (part of cshare's path: the text a save reads).
 * Prints `RESULT ingest cshare_ms=… yjs_ms=… ratio=…` (target ratio <= 1.5), measured in
 * one run because these machines are too noisy for absolute thresholds.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import * as Y from 'yjs';
import { FileDoc } from '../src/core/FileDoc.js';

type Patch = [pos: number, del: number, ins: string];
interface Trace {
  endContent: string;
  txns: Array<{ patches: Patch[] }>;
}
/** A patch in UTF-16 units, converted before timing so both paths pay nothing for it. */
type Op = [pos: number, del: number, ins: string];

const TRACE = new URL('../../shared/traces/automerge-paper.json.gz', import.meta.url);

/**
 * Converts code-point patches to UTF-16 ops by replaying them on a string; while the text has
 * no surrogate pairs (automerge-paper never does) code points and UTF-16 units coincide.
 */
function toUtf16(trace: Trace): Op[][] {
  let s = '';
  let astral = false;
  return trace.txns.map((txn) =>
    txn.patches.map(([pos, del, ins]): Op => {
      astral ||= /[\uD800-\uDFFF]/.test(ins);
      let start = pos;
      let len = del;
      if (astral) {
        const cps = [...s];
        start = cps.slice(0, pos).join('').length;
        len = cps.slice(pos, pos + del).join('').length;
      }
      s = s.slice(0, start) + ins + s.slice(start + len);
      return [start, len, ins];
    }),
  );
}

function runCshare(txns: Op[][]): { ms: number; text: string; bytes: number } {
  const { doc } = FileDoc.create({ fileId: 'automerge-paper', clientId: 1, baseText: '' });
  let s = '';
  let bytes = 0;
  const start = performance.now();
  for (const ops of txns) {
    for (const [pos, del, ins] of ops) s = s.slice(0, pos) + ins + s.slice(pos + del);
    const change = doc.setText(s);
    if (change) bytes += change.update.byteLength;
  }
  const ms = performance.now() - start;
  const text = doc.text;
  doc.destroy();
  return { ms, text, bytes };
}

function runYjs(txns: Op[][], withUpdates: boolean): { ms: number; text: string } {
  const doc = new Y.Doc();
  const ytext = doc.getText('content');
  let bytes = 0;
  // Any design that persists or sends each change must have Yjs encode its update.
  if (withUpdates) doc.on('update', (u: Uint8Array) => (bytes += u.byteLength));
  const start = performance.now();
  for (const ops of txns) {
    doc.transact(() => {
      for (const [pos, del, ins] of ops) {
        if (del > 0) ytext.delete(pos, del);
        if (ins.length > 0) ytext.insert(pos, ins);
      }
    });
  }
  const ms = performance.now() - start;
  const text = ytext.toString();
  doc.destroy();
  if (withUpdates && bytes === 0) throw new Error('no updates were emitted');
  return { ms, text };
}

function runString(txns: Op[][]): number {
  let s = '';
  const start = performance.now();
  for (const ops of txns) for (const [pos, del, ins] of ops) s = s.slice(0, pos) + ins + s.slice(pos + del);
  const ms = performance.now() - start;
  if (s.length < 0) throw new Error('unreachable'); // keeps `s` alive
  return ms;
}

/** Runs the benchmark and prints its figures; returns them too, for `bench/run.ts`. */
export async function main(): Promise<{ cshareMs: number; yjsMs: number; ratio: number }> {
  const trace = JSON.parse(gunzipSync(readFileSync(TRACE)).toString('utf8')) as Trace;
  const txns = toUtf16(trace);
  const out = (line: string): boolean => process.stdout.write(`${line}\n`);
  out(`automerge-paper: ${txns.length} txns, ${trace.endContent.length} chars at the end`);
  const stringMs = runString(txns);
  out(`plain JS string edits: ${stringMs.toFixed(0)} ms`);
  const yjs = runYjs(txns, false);
  out(`raw Yjs (insert/delete per patch): ${yjs.ms.toFixed(0)} ms`);
  const yjsUpdates = runYjs(txns, true);
  out(`raw Yjs emitting an update per txn: ${yjsUpdates.ms.toFixed(0)} ms`);
  const cshare = runCshare(txns);
  out(`cshare (string + setText per txn): ${cshare.ms.toFixed(0)} ms, ${(cshare.bytes / 1024 / 1024).toFixed(1)} MiB of updates`);
  if (yjs.text !== trace.endContent || cshare.text !== trace.endContent) throw new Error('a replay did not reach endContent');
  const ratio = cshare.ms / yjs.ms;
  const ratioUpdates = cshare.ms / yjsUpdates.ms;
  out(
    `RESULT ingest cshare_ms=${cshare.ms.toFixed(0)} yjs_ms=${yjs.ms.toFixed(0)} yjs_updates_ms=${yjsUpdates.ms.toFixed(0)} string_ms=${stringMs.toFixed(0)} ratio=${ratio.toFixed(2)} ratio_vs_yjs_updates=${ratioUpdates.toFixed(2)} target=1.5`,
  );
  return { cshareMs: cshare.ms, yjsMs: yjs.ms, ratio };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
