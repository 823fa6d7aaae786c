/**
 * Runs every benchmark in turn (`npm run bench`, or `npm run bench -- scan diff` for some;
 * `npm run bench -- repos <path>…` gives the repositories of the real-repository benchmark).
 * Each prints its figures and a `RESULT` line with ratios against a baseline measured in the
 * same run, because these machines are too noisy for absolute thresholds.
 */
const all: Record<string, () => Promise<unknown>> = {
  checkout: async () => (await import('./checkout.js')).main(),
  diff: async () => (await import('./diff.js')).main(),
  ingest: async () => (await import('./ingest.js')).main(),
  join: async () => (await import('./join.js')).main(),
  propagation: async () => (await import('./propagation.js')).main(),
  save: async () => (await import('./save.js')).main(),
  repos: async () => (await import('./repos.js')).main(repoPaths),
  reconnect: async () => (await import('./reconnect.js')).main(),
  scan: async () => (await import('./scan.js')).main(),
};

const args = process.argv.slice(2).filter((a) => !a.startsWith('-'));
// Everything after `repos` is its repositories, not more benchmark names.
const at = args.indexOf('repos');
const repoPaths = at >= 0 ? args.slice(at + 1) : [];
const wanted = at >= 0 ? args.slice(0, at + 1) : args;
for (const name of wanted.length ? wanted : Object.keys(all)) {
  const run = all[name];
  if (!run) {
    process.stderr.write(`unknown benchmark ${name}; known: ${Object.keys(all).join(', ')}\n`);
    process.exit(2);
  }
  process.stdout.write(`\n== ${name} ==\n`);
  await run();
}
