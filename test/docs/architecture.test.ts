/**
 * ARCHITECTURE.md and PROTOCOL.md against the code: each check fails when the documents and
 * the source drift apart (a store key family or a message added, renamed or dropped on one
 * side only, a document referred to that is not in the repository, an import across layers).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { cshareSchema } from '../../src/sync/schema.js';
import { HOLE, anchorOf, commentsOf, firstColumnNames, headings, importsOf, literalsOf, section, sourceFiles, sourceLiterals, type SourceLiteral } from './sourceScan.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (rel: string) => readFileSync(join(ROOT, rel), 'utf8');
const ARCHITECTURE = read('ARCHITECTURE.md');
const PROTOCOL = read('PROTOCOL.md');

// ---------------------------------------------------------------------------------------------
// Store keys

/**
 * A replica store key: a lower-case family name and a colon, no spaces (`meta:seq`,
 * `f:<>:snap`). Its family is its text before the first variable part (`f:`, `meta:x:`).
 * A key whose family is itself a variable the extraction cannot resolve is not seen.
 */
const REPLICA_KEY = /^[a-z]+:\S*$/;
/** A relay store key: a top-level segment, then a variable one or nothing (`wt/<>/head`, `wt/`). */
const RELAY_KEY = /^[a-z]+\/(?:<>|$)/;

/** Literals that look like store keys and are not, each with why. */
const NOT_KEYS: { file: string; text: string; why: string }[] = [
  { file: 'src/core/log.ts', text: 'cshare:<>', why: 'a debug namespace' },
  { file: 'src/sync/relay/Room.ts', text: 'b:<>', why: "the relay's in-memory offers of a blob (offers.ts), never stored" },
  { file: 'src/sync/relay/BlobWriter.ts', text: 'b/<>', why: 'an append group key (groupCommit.ts: what a batch rewrites), never stored' },
  { file: 'src/sync/relay/RelayStore.ts', text: 'f/<>', why: 'an append group key (groupCommit.ts: what a batch rewrites), never stored' },
  { file: 'src/editor/session.ts', text: 'editor:<>:<>', why: "an editor connection's origin (kept in its edits' op entries), not a key" },
];

const isException = (l: SourceLiteral) => NOT_KEYS.some((e) => e.file === l.file && e.text === l.text);

/** A replica key's family; undefined for the upper bound of a range (`m:u;`: `;` follows `:`). */
function replicaFamily(key: string): string | undefined {
  if (key.endsWith(';')) return undefined;
  const hole = key.indexOf(HOLE);
  return hole === -1 ? key : key.slice(0, hole);
}

/**
 * A relay key's family: its segments up to the first fixed one after a variable one
 * (`wt/<>/f/<>/<>` is `wt/<>/f`); undefined for the upper bound of a range (`wt/<>/~`).
 */
function relayFamily(key: string): string | undefined {
  const out: string[] = [];
  let variable = false;
  for (const seg of key.split('/')) {
    if (seg === '') break;
    if (seg === '~') return undefined;
    out.push(seg.includes(HOLE) ? HOLE : seg);
    if (seg.includes(HOLE)) variable = true;
    else if (variable) break;
  }
  return out.join('/');
}

/** The families of the keys in `lines`' tables, placeholders (`<seq>`) made {@link HOLE}. */
function documentedFamilies(lines: string[], family: (key: string) => string | undefined): Set<string> {
  return new Set(firstColumnNames(lines).flatMap((k) => family(k.replace(/<[^>]*>/g, HOLE)) ?? []));
}

/**
 * Every family in use is documented, or is the start of a range over documented ones (`f:`
 * before every `f:<fileId>...`, `wt/` before every `wt/<wt>/...`: `rangeOf` says what such a
 * family starts), and every documented family is in use.
 */
function compareFamilies(used: Map<string, string>, documented: Set<string>, rangeOf: (family: string) => string | undefined) {
  const covered = (f: string) => {
    const range = rangeOf(f);
    return documented.has(f) || (range !== undefined && [...documented].some((d) => d.startsWith(range)));
  };
  return {
    undocumented: [...used].filter(([f]) => !covered(f)).map(([f, at]) => `${f} (${at})`),
    unused: [...documented].filter((d) => !used.has(d)),
  };
}

function usedFamilies(pattern: RegExp, family: (key: string) => string | undefined): Map<string, string> {
  const used = new Map<string, string>();
  for (const l of sourceLiterals(ROOT, 'src')) {
    if (!pattern.test(l.text) || isException(l)) continue;
    const f = family(l.text);
    if (f !== undefined && !used.has(f)) used.set(f, `${l.file}:${l.line}`);
  }
  return used;
}

describe('store key layout (ARCHITECTURE.md)', () => {
  it('finds keys built as templates, from module constants and in conditionals, and not in comments', () => {
    const src = [
      "const PREFIX = 'zz:';",
      '// `yy:${x}` is a comment',
      'const a = `${PREFIX}${n}`;',
      "const b = `wt/${id}/${packed ? 'bq' : 'bc'}/${n}`;",
      "function c(which: 'un' | 're') { return `${which}:${n}`; }",
      "import { x } from 'node:fs';",
    ].join('\n');
    const keys = literalsOf('x.ts', src).map((l) => l.text).filter((t) => REPLICA_KEY.test(t) || RELAY_KEY.test(t));
    expect(keys).toEqual(['zz:', 'zz:<>', 'wt/<>/bq/<>', 'wt/<>/bc/<>', 'un:<>', 're:<>']);
    expect(relayFamily('wt/<>/f/<>/<>')).toBe('wt/<>/f');
    expect(relayFamily('wt/<>/~')).toBeUndefined();
    expect(replicaFamily('f:<>:u:<>.<>')).toBe('f:');
    expect(replicaFamily('m:u;')).toBeUndefined();
  });

  it('every replica key family in src/ is in the table, and every family in the table is used', () => {
    const used = usedFamilies(REPLICA_KEY, replicaFamily);
    const documented = documentedFamilies(section(ARCHITECTURE, 'Replica store keys'), replicaFamily);
    expect(used.size).toBeGreaterThan(20);
    expect(compareFamilies(used, documented, (f) => (f.endsWith(':') ? f : undefined))).toEqual({ undocumented: [], unused: [] });
  });

  it('every relay key family in src/ is in the table, and every family in the table is used', () => {
    const used = usedFamilies(RELAY_KEY, relayFamily);
    const documented = documentedFamilies(section(ARCHITECTURE, 'Relay store keys'), relayFamily);
    expect(used.size).toBeGreaterThan(10);
    expect(compareFamilies(used, documented, (f) => `${f}/`)).toEqual({ undocumented: [], unused: [] });
  });

  it('every literal listed as not a key is still in the source (the list does not rot)', () => {
    const all = sourceLiterals(ROOT, 'src');
    const missing = NOT_KEYS.filter((e) => !all.some((l) => l.file === e.file && l.text === e.text));
    expect(missing).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Messages

/** The `type` literals of a union type alias of schema.ts (`WorktreeEvent`, `SyncItem`). */
function unionTypes(alias: string): string[] {
  const sf = ts.createSourceFile('schema.ts', read('src/sync/schema.ts'), ts.ScriptTarget.Latest, true);
  const decl = sf.statements.find((s): s is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text === alias);
  if (!decl || !ts.isUnionTypeNode(decl.type)) throw new Error(`no union type ${alias} in schema.ts`);
  return decl.type.types.flatMap((t) => {
    if (!ts.isTypeLiteralNode(t)) return [];
    const type = t.members.find((m) => m.name && ts.isIdentifier(m.name) && m.name.text === 'type');
    return type && ts.isPropertySignature(type) && type.type && ts.isLiteralTypeNode(type.type) && ts.isStringLiteral(type.type.literal) ? [type.type.literal.text] : [];
  });
}

describe('messages (PROTOCOL.md)', () => {
  /** `### \`name\` (kind)` headings. */
  const documented = (kind: string) =>
    headings(PROTOCOL)
      .flatMap((h) => {
        const m = /^`([^`]+)` \(([a-z]+)\)$/.exec(h);
        return m && m[2] === kind ? [m[1]!] : [];
      })
      .sort();

  it('every request, stream and send of the schema has its section, and every section is in the schema', () => {
    expect(documented('request')).toEqual(Object.keys(cshareSchema.requests).sort());
    expect(documented('stream')).toEqual(Object.keys(cshareSchema.streams).sort());
    expect(documented('send')).toEqual(Object.keys(cshareSchema.sends).sort());
  });

  it('every event and every catch-up item type is in its table, and nothing else', () => {
    expect(firstColumnNames(section(PROTOCOL, 'Events')).sort()).toEqual(unionTypes('WorktreeEvent').sort());
    expect(firstColumnNames(section(PROTOCOL, 'Catch-up items')).sort()).toEqual(unionTypes('SyncItem').sort());
  });

  it('states the protocol version the code speaks', () => {
    expect(PROTOCOL).toContain(`\`PROTOCOL_VERSION\` = ${cshareSchema.version}`);
  });
});

// ---------------------------------------------------------------------------------------------
// References to documents

const DOCS = ['README.md', 'ARCHITECTURE.md', 'PROTOCOL.md', ...sourceFiles(ROOT, 'src').map((f) => join(dirname(f), 'README.md')).filter((f, i, all) => all.indexOf(f) === i && existsSync(join(ROOT, f)))];

/** The headings of a document of the repository, or undefined if there is no such file. */
function headingsOf(rel: string): string[] | undefined {
  return existsSync(join(ROOT, rel)) ? headings(read(rel)) : undefined;
}

describe('references to documents', () => {
  it('every *.md a comment in src/ names exists, with the section it quotes', () => {
    const broken: string[] = [];
    for (const file of sourceFiles(ROOT, 'src')) {
      for (const comment of commentsOf(file, read(file))) {
        // One line: a quoted section may go on after a line break and the comment's `*` or `//`.
        const flat = comment.replace(/\n\s*(?:\*(?!\/)|\/\/)?\s*/g, ' ');
        for (const m of flat.matchAll(/([\w./-]+\.md)\b(?:,? "([^"]+)")?/g)) {
          const doc = [m[1]!, normalize(join(dirname(file), m[1]!))].find((p) => existsSync(join(ROOT, p)));
          if (!doc) broken.push(`${file}: ${m[1]} does not exist`);
          else if (m[2] && !headingsOf(doc)!.some((h) => h.startsWith(m[2]!))) broken.push(`${file}: ${doc} has no section "${m[2]}"`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('every link of the documents leads to a file of the repository, and to a heading it has', () => {
    const broken: string[] = [];
    for (const doc of DOCS) {
      for (const m of read(doc).matchAll(/\]\(([^)\s]+)\)/g)) {
        const [target, anchor] = m[1]!.split('#') as [string, string | undefined];
        if (/^[a-z]+:/.test(target)) continue; // a web address
        const path = target === '' ? doc : normalize(join(dirname(doc), target));
        if (!existsSync(join(ROOT, path))) broken.push(`${doc}: ${m[1]} does not exist`);
        else if (anchor && path.endsWith('.md') && !headingsOf(path)!.some((h) => anchorOf(h) === anchor)) broken.push(`${doc}: ${path} has no heading #${anchor}`);
      }
    }
    expect(DOCS.length).toBeGreaterThan(5);
    expect(broken).toEqual([]);
  });

  it('every folder of src/ has a README.md or is described in its parent folder\'s', () => {
    const folders = [...new Set(sourceFiles(ROOT, 'src').map((f) => dirname(f)))];
    const bare = folders.filter((d) => !existsSync(join(ROOT, d, 'README.md')) && !(existsSync(join(ROOT, dirname(d), 'README.md')) && read(join(dirname(d), 'README.md')).includes(`\`${d.split('/').pop()}/\``)));
    expect(bare).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Layers

/** Packages `src/core` may use: none of them reads or writes anything outside memory. */
const CORE_PACKAGES = new Set(['yjs', 'fast-diff', 'ignore', 'debug', 'node:buffer', 'node:crypto', 'node:path']);

/** Packages that belong to one place (the README's layout): each with the folders that may import it. */
const PACKAGE_HOMES: [RegExp, string[]][] = [
  [/^(?:libp2p|@libp2p\/|@chainsafe\/|@multiformats\/|ws$)/, ['src/sync/libp2p/']],
  [/^level$/, ['src/store/level/']],
  [/^@parcel\/watcher$/, ['src/store/fs/']],
  [/^@oclif\//, ['src/commands/', 'src/cli/BaseCommand.ts']],
];

/** Where an import of `spec` from `file` leads: a source folder (`src/core/`), a file, or a package. */
function target(file: string, spec: string): { local: string } | { pkg: string } {
  if (!spec.startsWith('.')) return { pkg: spec };
  return { local: normalize(join(dirname(file), spec)).split('\\').join('/') };
}

describe('layers (ARCHITECTURE.md "Layers")', () => {
  const imports = sourceFiles(ROOT, 'src').flatMap((file) => importsOf(file, read(file)).map((spec) => ({ file, spec, to: target(file, spec) })));
  const crossing = (from: string, allowed: (to: string) => boolean) =>
    imports.filter((i) => i.file.startsWith(from) && 'local' in i.to && !allowed(i.to.local)).map((i) => `${i.file} imports ${i.spec}`);

  it('src/core imports only src/core and packages that do no I/O', () => {
    expect(imports.filter((i) => i.file.startsWith('src/core/')).length).toBeGreaterThan(100);
    expect(crossing('src/core/', (to) => to.startsWith('src/core/'))).toEqual([]);
    const packages = imports.filter((i) => i.file.startsWith('src/core/') && 'pkg' in i.to && !CORE_PACKAGES.has(i.spec));
    expect(packages.map((i) => `${i.file} imports ${i.spec} (if it does no I/O, add it to CORE_PACKAGES)`)).toEqual([]);
  });

  it('src/store imports only src/core and src/store', () => {
    expect(crossing('src/store/', (to) => to.startsWith('src/core/') || to.startsWith('src/store/'))).toEqual([]);
  });

  it('src/sync imports src/core, src/store, src/sync and src/editor (and the polyfills), never the CLI', () => {
    expect(crossing('src/sync/', (to) => /^src\/(?:core|store|sync|editor)\//.test(to) || to === 'src/cli/polyfills.js')).toEqual([]);
  });

  it('src/editor imports only src/core and itself: no store, no sync (its host is plugged in through editor/ports.ts)', () => {
    expect(imports.filter((i) => i.file.startsWith('src/editor/')).length).toBeGreaterThan(10);
    expect(crossing('src/editor/', (to) => /^src\/(?:core|editor)\//.test(to))).toEqual([]);
    const packages = imports.filter((i) => i.file.startsWith('src/editor/') && 'pkg' in i.to && !i.spec.startsWith('node:'));
    expect(packages.map((i) => `${i.file} imports ${i.spec}`)).toEqual([]);
  });

  it('src/sync/rpc imports only src/core and itself: the schema is its caller\'s (sync/connection.ts passes cshare\'s)', () => {
    expect(imports.filter((i) => i.file.startsWith('src/sync/rpc/')).length).toBeGreaterThan(10);
    expect(crossing('src/sync/rpc/', (to) => /^src\/(?:core|sync\/rpc)\//.test(to))).toEqual([]);
  });

  it('src/cli imports src/core, src/store, src/sync, src/editor and src/cli, never a command', () => {
    expect(imports.filter((i) => i.file.startsWith('src/cli/')).length).toBeGreaterThan(10);
    expect(crossing('src/cli/', (to) => /^src\/(?:core|store|sync|editor|cli)\//.test(to))).toEqual([]);
  });

  it('src/status (the status fast path) never imports a command, LevelDB or the store\'s opening', () => {
    expect(imports.filter((i) => i.file.startsWith('src/status/')).length).toBeGreaterThan(10);
    const allowed = (to: string) => /^src\/(?:core|store|sync|cli|status)\//.test(to) && !to.startsWith('src/store/level/') && to !== 'src/store/openWorktree.js';
    expect(crossing('src/status/', allowed)).toEqual([]);
  });

  it('libp2p, LevelDB, the watcher and oclif are each imported in one place only', () => {
    const strays = imports.flatMap((i) => {
      const home = PACKAGE_HOMES.find(([p]) => p.test(i.spec));
      return home && !home[1].some((h) => i.file.startsWith(h)) ? [`${i.file} imports ${i.spec}`] : [];
    });
    expect(strays).toEqual([]);
  });
});
