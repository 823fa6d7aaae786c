/**
 * Diff benchmark: a ~1 MB text file of many lines, one line changed, `FileDoc.setText`
 * (prefix/suffix search + diff + one Yjs transaction) timed as the median of 100 saves.
 * Baseline in the same run: the plain JS string replace of that line. Target: median < 5 ms.
 * Prints `RESULT diff setText_median_ms=… replace_median_ms=… ratio=…`.
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
  return { medianMs, baselineMs, ratio };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
