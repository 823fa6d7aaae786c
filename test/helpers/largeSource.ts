/**
 * Large source files and concurrent multi-place edits of them, with `git merge-file` as the
 * oracle of how two non-conflicting versions merge (issue 14, item 12).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tmp.js';

/** mulberry32: a small seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TYPES = ['int', 'size_t', 'char *', 'struct node *', 'uint32_t'];
const NAMES = ['count', 'len', 'buf', 'node', 'next', 'flags', 'total', 'err'];

/**
 * A C-like file of about `bytes` chars, as lines with their newlines: functions of numbered
 * statements (so most lines are unique), closing braces and blank lines (so some repeat).
 */
export function cSourceLines(opts: { seed: number; bytes: number }): string[] {
  const rand = prng(opts.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const lines: string[] = ['#include <stdio.h>\n', '#include "tree.h"\n', '\n'];
  let size = 0;
  for (let f = 0; size < opts.bytes; f++) {
    const fn = [`static ${pick(TYPES)}fn_${f}(${pick(TYPES)}${pick(NAMES)}, int n)\n`, '{\n'];
    for (let s = 2 + Math.floor(rand() * 12); s > 0; s--) {
      const name = pick(NAMES);
      fn.push(`\t${name}_${f}_${s} = ${pick(NAMES)} + ${Math.floor(rand() * 1000)}; /* step ${s} of ${f} */\n`);
      if (rand() < 0.2) fn.push(`\tif (${name}_${f}_${s} < 0)\n`, '\t\treturn -1;\n');
    }
    fn.push('\treturn 0;\n', '}\n', '\n');
    for (const line of fn) size += line.length;
    lines.push(...fn);
  }
  return lines;
}

/** One line-level edit: at line `at`, `del` lines replaced by `ins`. */
export interface LineEdit {
  at: number;
  del: number;
  ins: string[];
}

/** Applies line edits (at distinct, non-overlapping places) to `lines`. */
export function applyLineEdits(lines: readonly string[], edits: readonly LineEdit[]): string {
  const out = lines.slice();
  for (const e of [...edits].sort((x, y) => y.at - x.at)) out.splice(e.at, e.del, ...e.ins);
  return out.join('');
}

/** The first statement line (one with a `/* step` comment) at or after `from`. */
export function statementAt(lines: readonly string[], from: number): number {
  for (let i = from; i < lines.length; i++) if (lines[i]!.includes('/* step')) return i;
  throw new Error(`no statement line after ${from}`);
}

/**
 * Edits in the style of a `git pull`: five places spread over the file (a changed line, an
 * inserted block, deleted lines, two changed lines, an inserted line), at these fractions.
 */
export function pullEdits(lines: readonly string[], fractions = [0.1, 0.3, 0.5, 0.7, 0.9]): LineEdit[] {
  const at = fractions.map((f) => statementAt(lines, Math.floor(lines.length * f)));
  return [
    { at: at[0]!, del: 1, ins: [lines[at[0]!]!.replace(' + ', ' - ')] },
    { at: at[1]!, del: 0, ins: ['\t/* upstream: check the bounds first */\n', '\tif (n > LIMIT)\n', '\t\treturn -2;\n'] },
    { at: at[2]!, del: 2, ins: [] },
    { at: at[3]!, del: 2, ins: [lines[at[3]!]!.replace(';', ' * 2;'), lines[at[3]! + 1]!.replace('\t', '\t\t')] },
    { at: at[4]!, del: 0, ins: ['\tlog_debug("upstream");\n'] },
  ];
}

/**
 * A collaborator's edits between the places of {@link pullEdits}, one per fraction, in turn:
 * text typed inside a line, a line inserted, a line deleted, a word changed.
 */
export function localEdits(lines: readonly string[], fractions = [0.2, 0.4, 0.6, 0.8]): LineEdit[] {
  const kinds: Array<(at: number) => LineEdit> = [
    (at) => ({ at, del: 1, ins: [lines[at]!.replace(' /* step', ' /* typed by bob */ /* step')] }),
    (at) => ({ at, del: 0, ins: ['\tassert(n >= 0); /* bob */\n'] }),
    (at) => ({ at, del: 1, ins: [] }),
    (at) => ({ at, del: 1, ins: [lines[at]!.replace(/= (\w+)/, '= bob_$1')] }),
  ];
  return fractions.map((f, k) => kinds[k % kinds.length]!(statementAt(lines, Math.floor(lines.length * f))));
}

/**
 * What `git merge-file -p ours base theirs` makes of three versions; `conflicts` is git's
 * count (its exit code), so a test can check that its edits merge cleanly in git's sense.
 */
export function gitMergeFile(opts: { base: string; ours: string; theirs: string }): { text: string; conflicts: number } {
  const dir = tempDir('cshare-merge-');
  for (const name of ['base', 'ours', 'theirs'] as const) writeFileSync(join(dir, name), opts[name]);
  const r = spawnSync('git', ['merge-file', '-p', join(dir, 'ours'), join(dir, 'base'), join(dir, 'theirs')], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: dir },
  });
  if (r.error) throw r.error;
  // git exits with the number of conflicts (at most 127), or 255 on an error.
  if (r.status === null || r.status > 127) throw new Error(`git merge-file failed: ${r.stderr}`);
  return { text: r.stdout, conflicts: r.status };
}
