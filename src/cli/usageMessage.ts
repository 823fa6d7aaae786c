/**
 * oclif's parse errors, as one line in cshare's words. oclif writes them over several lines
 * ("Parsing --max-count \n\tExpected an integer but received: abc\nSee more help with
 * --help"); every cshare error is one line, and cutting oclif's to its first line left
 * "Parsing --max-count" and "Missing 1 required arg:" with the reason cut off.
 */

/** What the message needs to know of the command that refused its arguments. */
export interface UsageContext {
  /** The command's name (`log`). */
  id: string;
  /** Its positional arguments, in order, with their descriptions. */
  args: Record<string, { description?: string }>;
  /** Its flags' short names by long name (`max-count` -> `n`). */
  chars?: Record<string, string | undefined>;
}

const ANSI = /\x1b\[[0-9;]*m/g;

/** One line that says what is wrong with the command line and where the help is. */
export function usageMessage(raw: string, ctx: UsageContext): string {
  const help = `see cshare ${ctx.id} --help`;
  const lines = raw
    .replace(ANSI, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^See more help with --help$/.test(l));
  const [first = '', ...rest] = lines;
  const argList = Object.keys(ctx.args).map((a) => `[${a.toUpperCase()}]`).join(' ');
  let m: RegExpExecArray | null;
  if ((m = /^Missing (\d+) required args?:?$/.exec(first))) {
    const named = rest.map((l) => l.split(/\s{2,}/)).map(([name = '', desc]) => `<${name.toUpperCase()}>${desc ? ` (${desc})` : ''}`);
    return `missing ${named.length > 0 ? named.join(', ') : `${m[1]} ${m[1] === '1' ? 'argument' : 'arguments'}`}: cshare ${ctx.id} ${Object.keys(ctx.args).map((a) => `<${a.toUpperCase()}>`).join(' ')}; ${help}`;
  }
  if ((m = /^Unexpected arguments?: (.*)$/.exec(first))) {
    const takes = argList ? `it takes ${argList}` : 'it takes no arguments';
    return `unexpected argument ${m[1]} for cshare ${ctx.id} (${takes}); ${help}`;
  }
  if ((m = /^Nonexistent flags?: (.*)$/.exec(first))) return `unknown flag ${m[1]} for cshare ${ctx.id}; ${help}`;
  if ((m = /^Parsing --([\w-]+)$/.exec(first))) {
    const char = ctx.chars?.[m[1]!];
    const flag = `--${m[1]}${char ? ` (-${char})` : ''}`;
    return `${flag}: ${lowerFirst(rest.join('; ') || 'invalid value')}; ${help}`;
  }
  if ((m = /^Flag --([\w-]+) expects a value$/.exec(first))) return `--${m[1]} needs a value; ${help}`;
  // oclif's `exclusive`: "The following error occurred:\n  --relay=x cannot also be provided when using --serve".
  const excl = rest.map((l) => /^--([\w-]+)(?:=.*)? cannot also be provided when using --([\w-]+)$/.exec(l)).find((x) => x !== null);
  if (excl) return `--${excl[1]} and --${excl[2]} cannot be used together; ${help}`;
  const text = [first, ...rest].join(' ').replace(/:\s*$/, '');
  return `${lowerFirst(text)}; ${help}`;
}

function lowerFirst(s: string): string {
  return /^[A-Z][a-z]/.test(s) ? s[0]!.toLowerCase() + s.slice(1) : s;
}
