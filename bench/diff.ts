/**
 * Diff benchmark: a ~1 MB text file of many lines, one line changed, `FileDoc.setText`
 * (prefix/suffix search + diff + one Yjs transaction) timed as the median of 100 saves.
 * Baseline in the same run: the plain JS string replace of that line. Target: median < 5 ms.
 * Prints `RESULT diff setText_median_ms=… replace_median_ms=… ratio=…`.
 *
 * Then large saves of the same file (issue 14, item 12): a save changing 5 places far apart
 * (a `git pull`) and a whole-file change of line endings, each timed as the median of 10
 * saves with what it recorded (chars inserted + deleted: small means it was not recorded as
 * one replace of its span). Baseline: splitting the file into lines, the one pass over the
 * text any line diff needs. Prints `RESULT diff-large place5_median_ms=… place5_changed=…
 * crlf_median_ms=… crlf_changed=… split_median_ms=…`.
 */
import { pathToFileURL } from 'node:url';
import { FileDoc } from '../src/core/FileDoc.js';

const RUNS = 100;
const TARGET_BYTES = 1024 * 1024;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** A code-like file: numbered lines of varied length, so no two lines are equal. */
function makeFile(): { text: string; lines: string[] } {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < TARGET_BYTES; i++) {
    const line = `  const value${i} = compute(${i % 97}, "${'x'.repeat(i % 40)}"); // line ${i}\n`;
    lines.push(line);
    size += line.length;
  }
  return { text: lines.join(''), lines };
}

/** Like a file read: TextDecoder yields a flat string, not a rope of concatenations. */
function asRead(s: string): string {
  return new TextDecoder().decode(new TextEncoder().encode(s));
}

/** Runs the benchmark and prints its figures; returns them too, for `bench/run.ts`. */
export async function main(): Promise<{ medianMs: number; baselineMs: number; ratio: number }> {
  const out = (line: string): boolean => process.stdout.write(`${line}\n`);
  const { text, lines } = makeFile();
  const at = lines.length >> 1;
  let offset = 0;
  for (let i = 0; i < at; i++) offset += lines[i]!.length;
  const oldLine = lines[at]!;
  // Each save changes the same line to a new value; versions are made before timing.
  const versions = Array.from({ length: RUNS + 1 }, (_, k) => asRead(`${text.slice(0, offset)}  edited(${k});\n${text.slice(offset + oldLine.length)}`));
  const { doc } = FileDoc.create({ fileId: 'bench-diff', clientId: 1, baseText: text });
  out(`file: ${text.length} chars, ${lines.length} lines; changing line ${at}`);

  const times: number[] = [];
  for (let k = 0; k <= RUNS; k++) {
    const start = performance.now();
    const change = doc.setText(versions[k]!);
    const ms = performance.now() - start;
    // The diff stays inside the changed line (a char diff of it may give a few small ops).
    if (!change || change.inserted + change.deleted > 200) throw new Error(`save ${k}: the diff is not confined to the changed line`);
    if (k > 0) times.push(ms); // the first save also warms up the JIT
  }
  if (doc.text !== versions[RUNS]) throw new Error('doc text does not match the last save');

  const baseline: number[] = [];
  let sink = 0;
  for (let k = 0; k <= RUNS; k++) {
    const start = performance.now();
    const next = text.replace(oldLine, `  edited(${k});\n`);
    sink += next.charCodeAt(offset);
    const ms = performance.now() - start;
    if (k > 0) baseline.push(ms);
  }
  if (sink === 0) throw new Error('unreachable');

  const medianMs = median(times);
  const baselineMs = median(baseline);
  const ratio = medianMs / baselineMs;
  out(`setText median ${medianMs.toFixed(3)} ms (max ${Math.max(...times).toFixed(3)} ms); string replace median ${baselineMs.toFixed(3)} ms`);
  out(`RESULT diff setText_median_ms=${medianMs.toFixed(3)} replace_median_ms=${baselineMs.toFixed(3)} ratio=${ratio.toFixed(1)} target_ms=5`);
  doc.destroy();

  const large = largeSaves(text, lines);
  out(`5-place save: median ${large.place5.ms.toFixed(1)} ms, ${large.place5.changed} chars inserted+deleted; line endings to CRLF: median ${large.crlf.ms.toFixed(1)} ms, ${large.crlf.changed} chars; split into lines ${large.splitMs.toFixed(2)} ms`);
  out(`RESULT diff-large place5_median_ms=${large.place5.ms.toFixed(1)} place5_changed=${large.place5.changed} crlf_median_ms=${large.crlf.ms.toFixed(1)} crlf_changed=${large.crlf.changed} split_median_ms=${large.splitMs.toFixed(2)}`);
  return { medianMs, baselineMs, ratio };
}

const LARGE_RUNS = 10;

/**
 * Times `setText` of `next` on a fresh doc of `text`, LARGE_RUNS times (a fresh doc each, so
 * every save diffs the same pair); the median, and what the save recorded.
 */
function timeSave(text: string, next: string): { ms: number; changed: number } {
  const times: number[] = [];
  let changed = 0;
  for (let k = 0; k <= LARGE_RUNS; k++) {
    const { doc } = FileDoc.create({ fileId: 'bench-diff-large', clientId: 1, baseText: text });
    const start = performance.now();
    const change = doc.setText(next);
    const ms = performance.now() - start;
    if (doc.text !== next || !change) throw new Error('a large save did not reach its text');
    changed = change.inserted + change.deleted;
    doc.destroy();
    if (k > 0) times.push(ms);
  }
  return { ms: median(times), changed };
}

/** The large-save figures of {@link main}. */
function largeSaves(text: string, lines: string[]): { place5: { ms: number; changed: number }; crlf: { ms: number; changed: number }; splitMs: number } {
  const edited = lines.slice();
  for (let p = 1; p <= 5; p++) {
    const at = Math.floor((lines.length * (2 * p - 1)) / 10);
    edited[at] = `  pulled(${p}); // from upstream\n${lines[at]!.replace('compute', 'computeFast')}`;
  }
  const place5 = timeSave(text, asRead(edited.join('')));
  const crlf = timeSave(text, asRead(text.replaceAll('\n', '\r\n')));
  const split: number[] = [];
  for (let k = 0; k <= LARGE_RUNS; k++) {
    const start = performance.now();
    const n = text.split('\n').length;
    const ms = performance.now() - start;
    if (n !== lines.length + 1) throw new Error('unexpected line count');
    if (k > 0) split.push(ms);
  }
  return { place5, crlf, splitMs: median(split) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
