/**
 * Text that came from elsewhere (paths, peer and author names, messages that quote them) made
 * safe for a terminal. A peer can name a file `\e]0;pwned\a` or `\e[2K\e[1Aok`: printed as is,
 * that rewrites the title, the clipboard (OSC 52) or lines already on screen. Every control
 * character (C0, DEL, C1), and the Unicode controls that reorder or break what is shown
 * (bidirectional overrides and isolates, line and paragraph separators), is written as an
 * escape instead, as git's `core.quotePath` does. `--json` output needs none of this: JSON
 * escapes C0 itself, and machines do not interpret the rest.
 */

const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g');
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeChar(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const code = ch.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * A path or name as shown to people: unchanged if it is harmless, else in double quotes with
 * every control character escaped (and `"` and `\` escaped inside the quotes), like git.
 */
export function shown(value: string): string {
  if (!UNSAFE.test(value)) return value;
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`).replace(UNSAFE_ALL, escapeChar)}"`;
}

/** A message (one line) with every control character escaped, for people. */
export function shownText(text: string): string {
  return UNSAFE.test(text) ? text.replace(UNSAFE_ALL, escapeChar) : text;
}

/**
 * `n` and the noun for it, singular or plural (`1 file`, `2 files`, `0 files`): human output
 * counts things the way people write them. `plural` for nouns that do not just take an `s`.
 */
export function counted(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

/** Bytes for which git's `core.quotePath` writes a named escape instead of an octal one. */
const GIT_NAMED: Record<number, string> = { 7: 'a', 8: 'b', 9: 't', 10: 'n', 11: 'v', 12: 'f', 13: 'r', 0x22: '"', 0x5c: '\\' };

/**
 * A path as git prints it with `core.quotePath` on (its default): unchanged if every byte is
 * printable ASCII, else in double quotes with `"`, `\` and the C escapes (`\t`, `\n`...)
 * named, and every other control byte and every byte of a non-ASCII character (UTF-8) as a
 * three-digit octal escape (`"caf\303\251"`). Comparable with `git status` and
 * `git log --stat`, and safe on a terminal: nothing a peer names a file can move the cursor
 * or reorder the line.
 */
export function gitQuoted(path: string): string {
  if (!/[\x00-\x1f"\\\x7f-\uffff]/.test(path)) return path;
  let out = '"';
  for (const byte of new TextEncoder().encode(path)) {
    const named = GIT_NAMED[byte];
    if (named !== undefined) out += `\\${named}`;
    else if (byte < 0x20 || byte >= 0x7f) out += `\\${byte.toString(8).padStart(3, '0')}`;
    else out += String.fromCharCode(byte);
  }
  return `${out}"`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * A time as `git log` prints a date (`Tue Dec 1 23:35:46 2026 +0000`): in the local time zone
 * (`TZ`), with its offset and no zone name, the day of the month unpadded. git shows the
 * offset its author had, which is the local one for changes made on this machine.
 */
export function gitDate(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  const offset = -d.getTimezoneOffset();
  const zone = `${offset < 0 ? '-' : '+'}${two(Math.floor(Math.abs(offset) / 60))}${two(Math.abs(offset) % 60)}`;
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${d.getDate()} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()} ${zone}`;
}
