/**
 * Per-stage latencies of the editor benchmark's keystrokes (bench/editor.ts): the stage marks
 * of the plugin in each Neovim (`require('cshare.trace').stages`), of the share, join and relay
 * processes (`DEBUG=cshare:stage`, `src/core/stages.ts`), all in ms of the machine's monotonic
 * clock, are lined up
 * with each keystroke's window (typed in A .. seen in B's buffer). Keystrokes go one at a time,
 * so the first mark of each stage after the previous stage, inside the window, is that
 * keystroke's.
 */
import { percentile } from './processes.js';

/** A stage mark: its name and ms of the monotonic clock. */
export interface Mark {
  name: string;
  at: number;
}

/** Where the marks of one side come from. */
export type Source = 'A nvim' | 'A daemon' | 'relay' | 'B daemon' | 'B nvim';

/** The path of a keystroke from A's Neovim to B's buffer, stage by stage, in order. */
export const PATH: readonly (readonly [Source, string])[] = [
  ['A nvim', 'nvim-on_bytes'],
  ['A nvim', 'nvim-didChange-sent'],
  ['A daemon', 'daemon-didChange'],
  ['A daemon', 'daemon-edit-locked'],
  ['A daemon', 'daemon-edit-planned'],
  ['A daemon', 'daemon-edit-batched'],
  ['A daemon', 'daemon-edit-committed'],
  ['A daemon', 'daemon-upload-send'],
  ['relay', 'relay-upload-in'],
  ['relay', 'relay-stored'],
  ['B daemon', 'daemon-update-in'],
  ['B daemon', 'daemon-apply-locked'],
  ['B daemon', 'daemon-apply-scanned'],
  ['B daemon', 'daemon-doc-changed'],
  ['B daemon', 'daemon-applyEdit-sent'],
  ['B nvim', 'nvim-read'],
  // Not 'nvim-applyEdit-done': the on_lines notification the benchmark waits for leaves
  // during nvim_buf_set_text, before the plugin is done, so "seen" often comes first.
  ['B nvim', 'nvim-applyEdit-in'],
];

/** The first mark named `name` in `marks` (sorted by time) at or after `from` and before `to`. */
function first(marks: readonly Mark[], name: string, from: number, to: number): number | undefined {
  let lo = 0;
  let hi = marks.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (marks[mid]!.at < from) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < marks.length && marks[i]!.at <= to; i++) if (marks[i]!.name === name) return marks[i]!.at;
  return undefined;
}

/**
 * The time each keystroke spent from one stage to the next (`typed -> <first stage>`, ...,
 * `<last stage> -> seen`), as lines of p50 / p99 ms, and how many keystrokes had every mark.
 * `windows` are the keystrokes' [typed, seen] on the same clock.
 */
export function stageReport(windows: readonly [number, number][], marks: Record<Source, Mark[]>): string[] {
  for (const list of Object.values(marks)) list.sort((x, y) => x.at - y.at);
  const names = ['typed', ...PATH.map(([src, name]) => `${src}: ${name}`), 'seen in B'];
  const deltas: number[][] = names.slice(1).map(() => []);
  let complete = 0;
  // Where the chains of the other keystrokes broke: a stage not marked in their window.
  const missing = new Map<string, number>();
  for (const [t0, t1] of windows) {
    const times: number[] = [t0];
    for (const [src, name] of PATH) {
      const at = first(marks[src], name, times[times.length - 1]!, t1);
      if (at === undefined) {
        missing.set(`${src}: ${name}`, (missing.get(`${src}: ${name}`) ?? 0) + 1);
        break;
      }
      times.push(at);
    }
    if (times.length !== PATH.length + 1) continue;
    times.push(t1);
    complete++;
    for (let i = 1; i < times.length; i++) deltas[i - 1]!.push(times[i]! - times[i - 1]!);
  }
  const broke = [...missing].map(([stage, n]) => `${stage} ${n}`).join(', ');
  const lines = [`stages of ${complete} of ${windows.length} keystrokes (p50 / p99 ms)${broke ? `; the others lack a mark of ${broke}` : ''}:`];
  deltas.forEach((ds, i) => lines.push(`  ${names[i]} -> ${names[i + 1]}: ${percentile(ds, 50).toFixed(2)} / ${percentile(ds, 99).toFixed(2)}`));
  return lines;
}
