/**
 * What `bin/cshare` does with the command line before oclif loads: the parts of git's command
 * line that oclif has no notion of, answered in a few milliseconds.
 *
 * - `cshare`, `cshare help`, `-h` and `--help` alone print {@link overview}; `help <command>`
 *   and `<command> -h` the command's help; `-v`, `--version` and `version` the version.
 * - `-C <dir>` (and `--cwd`, `--json`) before the command, as in `git -C dir status`: the
 *   process changes to `<dir>` first, so relative paths in the arguments are taken from there
 *   too, as git does.
 * - A word that is no command is a usage error in the format of every other error (one
 *   `error: ...` line on stderr, or the one JSON object with `--json`), with the nearest
 *   command as a suggestion ("did you mean status?"), exit code 2.
 * - A current directory that was deleted under the shell is said plainly, with what to do.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CshareError } from '../core/errors.js';
import { shownText } from '../core/display.js';

/** Every command, grouped as the overview lists them, with its one-line summary. */
export const COMMAND_GROUPS: readonly { title: string; commands: readonly (readonly [string, string])[] }[] = [
  {
    title: 'Share and join',
    commands: [
      ['share', 'share this folder: print join codes, then sync every save until stopped'],
      ['join', 'join a shared folder from its code and keep it in sync both ways'],
      ['unshare', 'stop the running share or join of this folder'],
      ['relay', 'run a relay that stores shared folders, so joiners can come later'],
    ],
  },
  {
    title: 'Look and undo',
    commands: [
      ['status', 'this folder, its replica, sharing and unrecorded changes'],
      ['files', 'list what would be shared (like git ls-files)'],
      ['log', 'who changed what and when, newest first (-p for the text)'],
      ['scan', 'record every change since the last scan'],
      ['undo', 'revert your most recent change, keeping everyone else\'s'],
      ['redo', 're-apply what the last undo reverted'],
      ['restore', 'bring back a deleted file from history'],
    ],
  },
  {
    title: 'Editors',
    commands: [['editor', 'connect an editor plugin to the running share or join (stdio, EDITOR-API.md)']],
  },
];

/** The names of every command. */
export const COMMANDS: readonly string[] = COMMAND_GROUPS.flatMap((g) => g.commands.map(([name]) => name));

/** Words people coming from git (or elsewhere) type, and the command that does it here. */
const HINTS: Record<string, string> = { clone: 'join', 'ls-files': 'files', ls: 'files', stop: 'unshare', history: 'log', commit: 'scan', add: 'scan' };

/** What {@link prepare} decided: print text and exit, or run a command through oclif. */
export type Plan = { exit: number; stdout?: string; stderr?: string } | { argv: string[] };

/** Where the package lives (its README is the documentation). */
function packageRoot(): string {
  return fileURLToPath(new URL('../..', import.meta.url));
}

function version(): string {
  const pkg = JSON.parse(readFileSync(resolve(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** What `cshare` alone, `cshare help` and `cshare --help` print: commands, quick start, docs. */
export function overview(): string {
  const lines = ['cshare: share a folder for real-time collaborative editing, from any editor', '', 'usage: cshare [-C <dir>] <command> [<args>] [--json]', ''];
  for (const g of COMMAND_GROUPS) {
    lines.push(g.title);
    for (const [name, summary] of g.commands) lines.push(`  ${name.padEnd(9)} ${summary}`);
    lines.push('');
  }
  lines.push(
    'Quick start',
    '  cshare share                 in the folder to share: prints two join codes',
    '  cshare join <code> [dir]     on another machine: a copy that stays in sync',
    '  cshare status                what is shared, with whom, and what changed',
    '',
    `"cshare help <command>" or "cshare <command> --help" shows a command's flags and examples.`,
    `Documentation: ${resolve(packageRoot(), 'README.md')}`,
  );
  return `${lines.join('\n')}\n`;
}

/** Edit distance (insert, delete, substitute, swap two neighbours) between two short words. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The commands `word` was most likely meant to be (nearest first; none when nothing is close). */
export function suggestCommands(word: string): string[] {
  const w = word.toLowerCase();
  if (HINTS[w]) return [HINTS[w]];
  if (COMMANDS.includes(w)) return [w];
  const prefixed = COMMANDS.filter((c) => w.length >= 2 && c.startsWith(w));
  if (prefixed.length > 0) return prefixed;
  const scored = COMMANDS.map((c) => ({ c, d: editDistance(w, c) })).filter((x) => x.d <= Math.max(1, Math.floor(x.c.length / 3)));
  const best = Math.min(...scored.map((x) => x.d));
  return scored.filter((x) => x.d === best).map((x) => x.c);
}

/** A usage error printed as every command prints one. */
function usage(message: string, json: boolean, data: Record<string, unknown> = {}): Plan {
  return failure(new CshareError('USAGE', message, data), json);
}

function failure(err: CshareError, json: boolean): Plan {
  if (json) return { exit: err.exitCode, stdout: `${JSON.stringify(err.toJSON())}\n` };
  const word = process.stderr.isTTY && !process.env.NO_COLOR ? '\x1b[31merror\x1b[39m' : 'error';
  return { exit: err.exitCode, stderr: `${word}: ${shownText(err.message)}\n` };
}

/** Global options before the command: `-C <dir>` (repeatable, each relative to the last), `--cwd`, `--json`. */
function leadingOptions(argv: readonly string[]): { dirs: string[]; json: boolean; rest: string[]; bad?: string } {
  const dirs: string[] = [];
  let json = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') json = true;
    else if (a === '-C' || a === '--cwd') {
      const dir = argv[++i];
      if (dir === undefined) return { dirs, json, rest: [], bad: `${a} needs a folder: cshare -C <dir> <command>` };
      dirs.push(dir);
    } else if (a.startsWith('--cwd=')) dirs.push(a.slice('--cwd='.length));
    else if (a.startsWith('-C') && a.length > 2) dirs.push(a.slice(2));
    else break;
  }
  return { dirs, json: json || argv.includes('--json'), rest: argv.slice(i) };
}

/**
 * Decides what `cshare argv...` does before oclif loads, and changes to the `-C` folder given
 * before the command. Returns text to print and an exit code, or the arguments for oclif.
 */
export function prepare(argv: readonly string[]): Plan {
  const { dirs, json, rest, bad } = leadingOptions(argv);
  if (bad) return usage(bad, json);
  for (const dir of dirs) {
    try {
      process.chdir(dir);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'ENOTDIR' ? 'is not a folder' : e.code === 'ENOENT' ? 'does not exist' : `cannot be entered (${e.code ?? e.message})`;
      return failure(new CshareError('NOT_A_DIRECTORY', `cannot change to ${dir}: it ${why}`, { path: dir }), json);
    }
  }
  try {
    process.cwd();
  } catch (err) {
    // The shell's folder was removed (or moved) under it; every path would resolve against nothing.
    return failure(
      new CshareError('NOT_A_DIRECTORY', 'the current folder no longer exists (it was deleted or moved away): cd to an existing folder, or name one with cshare -C <dir>', {}, { cause: err }),
      json,
    );
  }
  const [first, ...tail] = rest;
  if (first === undefined || ((first === '-h' || first === '--help') && tail.length === 0)) return { exit: 0, stdout: overview() };
  if (first === '-v' || first === '--version' || first === 'version') {
    const v = version();
    return { exit: 0, stdout: json ? `${JSON.stringify({ ok: true, version: v, node: process.version })}\n` : `cshare version ${v} (node ${process.version}, ${process.platform}-${process.arch})\n` };
  }
  if (first === 'help') {
    const topic = tail.find((a) => a !== '--json');
    if (topic === undefined || topic === 'help') return { exit: 0, stdout: overview() };
    if (!COMMANDS.includes(topic)) return unknownCommand(topic, json);
    return { argv: [topic, '--help'] };
  }
  if (!COMMANDS.includes(first)) {
    if (first.startsWith('-')) return usage(`unknown option ${first} before the command; the options that go before it are -C <dir> and --json (see cshare help)`, json, { option: first });
    return unknownCommand(first, json);
  }
  return { argv: [first, ...tail] };
}

function unknownCommand(word: string, json: boolean): Plan {
  const near = suggestCommands(word);
  const hint = near.length === 0 ? 'cshare help lists the commands' : `did you mean ${near.join(' or ')}?`;
  return usage(`"${word}" is not a cshare command; ${hint}`, json, { command: word, ...(near.length ? { suggestions: near } : {}) });
}
