/**
 * A small reader for git config files (`~/.gitconfig`, `.git/config`): enough to find
 * `core.excludesFile`, `user.name` and friends without spawning git.
 *
 * Supported: `[section]`, `[section "subsection"]`, the old `[section.subsection]` form,
 * `key = value`, bare `key` (boolean true), `#`/`;` comments, double-quoted values with
 * `\" \\ \n \t \b` escapes, and lines continued with a trailing backslash. Section and key
 * names compare case-insensitively, subsections case-sensitively, like git. This file parses
 * one file's text: `[include]` and `[includeIf]` are ordinary keys here, and are followed by
 * `readGitConfigFiles` (`gitConfigFiles.ts`), which reads the files git reads.
 */

/** Parsed git config: every value of every key, in file order. */
export interface GitConfig {
  /** The last value of `name` (`section.key` or `section.subsection.key`), as git does. */
  get(name: string): string | undefined;
  /** Every value of `name`, in order. */
  getAll(name: string): string[];
}

/** Normalises `section[.subsection].key`: section and key lower-cased, subsection kept. */
function normaliseName(name: string): string {
  const first = name.indexOf('.');
  const last = name.lastIndexOf('.');
  if (first < 0) return name.toLowerCase();
  const section = name.slice(0, first).toLowerCase();
  const key = name.slice(last + 1).toLowerCase();
  if (first === last) return `${section}.${key}`;
  return `${section}.${name.slice(first + 1, last)}.${key}`;
}

/** Parses the value part of a `key = value` line (after `=`), handling quotes and comments. */
function parseValue(raw: string): string {
  let out = '';
  let pendingSpace = '';
  let quoted = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '\\' && i + 1 < raw.length) {
      const n = raw[++i]!;
      out += pendingSpace + (n === 'n' ? '\n' : n === 't' ? '\t' : n === 'b' ? '\b' : n);
      pendingSpace = '';
      continue;
    }
    if (c === '"') {
      out += pendingSpace;
      pendingSpace = '';
      quoted = !quoted;
      continue;
    }
    if (!quoted && (c === '#' || c === ';')) break;
    if (!quoted && (c === ' ' || c === '\t')) {
      // Inner unquoted whitespace is kept, trailing whitespace is dropped.
      if (out.length > 0) pendingSpace += c;
      continue;
    }
    out += pendingSpace + c;
    pendingSpace = '';
  }
  return out;
}

/** One `name = value` of a config file: `section[.subsection].key`, section and key lower-cased. */
export type GitConfigEntry = readonly [name: string, value: string];

/** Parses the text of a git config file. Malformed lines are skipped, as a lenient reader. */
export function parseGitConfig(text: string): GitConfig {
  return gitConfigOf(parseGitConfigEntries(text));
}

/** The entries of a git config file's text, in file order (see {@link parseGitConfig}). */
export function parseGitConfigEntries(text: string): GitConfigEntry[] {
  const entries: GitConfigEntry[] = [];
  // Join continuation lines first: a value ending in an unescaped backslash goes on.
  const lines = text.replace(/^\uFEFF/, '').replace(/\\\r?\n/g, '').split(/\r?\n/);
  let section = '';
  for (const rawLine of lines) {
    let line = rawLine.trim();
    if (line === '' || line[0] === '#' || line[0] === ';') continue;
    if (line[0] === '[') {
      const m = /^\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]/.exec(line);
      if (!m) {
        section = '';
        continue;
      }
      const name = m[1]!;
      if (m[2] !== undefined) section = `${name.toLowerCase()}.${m[2].replace(/\\(.)/g, '$1')}`;
      // `[section.sub]` is the deprecated form; git lower-cases its subsection too.
      else section = name.toLowerCase();
      line = line.slice(m[0].length).trim();
      if (line === '' || line[0] === '#' || line[0] === ';') continue;
    }
    if (section === '') continue;
    const m = /^([A-Za-z][A-Za-z0-9-]*)\s*(=(.*))?$/.exec(line);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    entries.push([`${section}.${key}`, m[2] === undefined ? 'true' : parseValue(m[3]!)]);
  }
  return entries;
}

/** A {@link GitConfig} over entries in file order (later values win). */
export function gitConfigOf(entries: readonly GitConfigEntry[]): GitConfig {
  const values = new Map<string, string[]>();
  for (const [name, value] of entries) {
    const list = values.get(name);
    if (list) list.push(value);
    else values.set(name, [value]);
  }
  return {
    get(name: string): string | undefined {
      const list = values.get(normaliseName(name));
      return list ? list[list.length - 1] : undefined;
    },
    getAll(name: string): string[] {
      return [...(values.get(normaliseName(name)) ?? [])];
    },
  };
}

/**
 * Merges configs in increasing precedence (later files win), as git reads system, global,
 * then repository config.
 */
export function mergeGitConfigs(configs: GitConfig[]): GitConfig {
  return {
    get(name: string): string | undefined {
      for (let i = configs.length - 1; i >= 0; i--) {
        const v = configs[i]!.get(name);
        if (v !== undefined) return v;
      }
      return undefined;
    },
    getAll(name: string): string[] {
      return configs.flatMap((c) => c.getAll(name));
    },
  };
}

/** Expands a leading `~` or `~/` to `home`, as git does for path-valued settings. `~user/` is left alone. */
export function expandHome(path: string, home: string | undefined): string {
  if (home === undefined) return path;
  if (path === '~') return home;
  if (path.startsWith('~/')) return home.replace(/\/+$/, '') + path.slice(1);
  return path;
}

/**
 * A git boolean setting: `true`/`yes`/`on`/`1` (or a bare key) is true, `false`/`no`/`off`/`0`
 * or empty is false, anything else (or unset) is `fallback`.
 */
export function gitBool(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  const v = value.toLowerCase();
  if (v === 'true' || v === 'yes' || v === 'on' || v === '1') return true;
  if (v === 'false' || v === 'no' || v === 'off' || v === '0' || v === '') return false;
  return fallback;
}
