// Fails (exit 1) when a file of the repository refers to something outside it: a relative
// path that climbs out of the checkout (the traces used to be read from a `shared/` folder
// beside it, which a user's clone does not have), or an absolute path under a home, project
// or scratch folder (work, home, tmp and the like). Run by `.ci/run` before the suite;
// `node scripts/check-self-contained.mjs [repo]` (default: this checkout). Plain Node, no
// dependencies, so it runs before `npm ci`.
//
// What it reads: every file git tracks or would track (untracked, not ignored) under src/,
// test/, bench/, scripts/ and the root's build and test configs. What it flags, per line:
//   - a string literal starting with `./` or `../` that, resolved against the file's folder,
//     leaves the repository (a template literal up to its first `${`);
//   - any mention of a folder named shared one or more levels up, however built;
//   - a string literal that is an absolute path under a folder where people keep checkouts,
//     data or scratch files, or under the repository's own parent.
// A line that needs such a literal as data (not a file it reads: a path a test hands to a
// parser, say) says so with the comment `self-contained: not a path read`.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Folders of the repository whose files are checked, and the root configs beside them. */
const SCOPE = ['src', 'test', 'bench', 'scripts', 'package.json', 'vitest.config.ts', 'tsconfig.json', 'tsconfig.build.json'];
/** Top-level folders where checkouts, home folders, data and scratch files live. */
const OUTSIDE_ROOTS = ['work', 'home', 'Users', 'root', 'mnt', 'media', 'srv', 'opt', 'data', 'tmp', 'var/tmp', 'workspace', 'builds'];
const ALLOW = 'self-contained: not a path read';
// Built so that this file does not match itself.
const SHARED_UP = new RegExp(['\\.\\.', '[\\\\/]+shared\\b'].join(''));
// '...', "..." and `...` literals (no escapes across quotes; good enough for paths).
const LITERAL = /'([^'\n]*)'|"([^"\n]*)"|`([^`]*)`/g;

/**
 * The problems found in the repository at `root`: `file:line: why`, one a line.
 * @param {string} root
 * @returns {string[]}
 */
export function findOutsideReferences(root) {
  const abs = resolve(root);
  const files = execFileSync('git', ['-C', abs, 'ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', ...SCOPE], { encoding: 'utf8' }).split('\0').filter(Boolean);
  // The repository's parent (and its parent's parent) are outside it whatever they are called.
  const parents = [dirname(abs), dirname(dirname(abs))].filter((p) => p !== sep && p.length > 1);
  const problems = [];
  for (const file of files) {
    const bytes = readFileSync(join(abs, file));
    if (bytes.includes(0)) continue; // binary (a compressed trace, say)
    const dir = dirname(join(abs, file));
    bytes.toString('utf8').split('\n').forEach((line, i) => {
      if (line.includes(ALLOW)) return;
      const at = `${file}:${i + 1}`;
      if (SHARED_UP.test(line)) problems.push(`${at}: refers to a 'shared' folder outside the repository: ${line.trim()}`);
      for (const m of line.matchAll(LITERAL)) {
        const text = (m[1] ?? m[2] ?? m[3] ?? '').split('${')[0];
        const why = outsideLiteral(text, { root: abs, dir, parents });
        if (why) problems.push(`${at}: ${why}: ${JSON.stringify(text)}`);
      }
    });
  }
  return problems;
}

/**
 * Why the literal `text` names a place outside the repository, or undefined if it does not.
 * @param {string} text
 * @param {{ root: string, dir: string, parents: string[] }} where
 */
function outsideLiteral(text, { root, dir, parents }) {
  if (text.startsWith('./') || text.startsWith('../')) {
    const target = resolve(dir, text);
    const rel = relative(root, target);
    if (rel === '..' || rel.startsWith(`..${sep}`)) return 'a relative path that leaves the repository';
    return undefined;
  }
  if (!text.startsWith('/')) return undefined;
  if (text === root || text.startsWith(`${root}/`)) return 'an absolute path (of this checkout: use a path relative to the file)';
  if (parents.some((p) => text === p || text.startsWith(`${p}/`))) return "an absolute path beside the repository";
  if (OUTSIDE_ROOTS.some((r) => text === `/${r}` || text.startsWith(`/${r}/`))) return 'an absolute path outside the repository';
  return undefined;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url));
  const problems = findOutsideReferences(root);
  for (const p of problems) console.error(p);
  if (problems.length > 0) {
    console.error(`\n${problems.length} ${problems.length === 1 ? 'reference' : 'references'} to files outside the repository: everything the code, tests and benchmarks read must ship in it (test fixtures go to test/fixtures/). A literal that is data, not a file read, is marked with the comment '${ALLOW}'.`);
    process.exit(1);
  }
  console.log('self-contained: nothing under src/, test/, bench/ or scripts/ refers outside the repository');
}
