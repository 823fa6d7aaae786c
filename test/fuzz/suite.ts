import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { runSeed } from './harness.js';
import { LEGACY, type Features } from './world.js';

/** Seeds CI runs, split over the shard files so that vitest runs them on every core. */
export const CI_SEEDS = 500;
/** Fresh random seeds each CI run adds (split over the shards too): new interleavings every run. */
export const FRESH_SEEDS = 300;
const SHARDS = 2;

/**
 * Seeds that once failed and what was wrong: each runs in every CI run, with the optional
 * behaviours it failed with (`features`), so the cause stays fixed (a focused test of each
 * cause is under `test/sync/regressions/`). Without `features` the seed draws them as a fresh
 * seed does: naming them skips those draws, which changes the rest of some seeds' runs.
 */
export const REGRESSION_SEEDS: readonly { seed: number; cause: string; features?: Features }[] = [
  // A seq taken by an empty apply was reused after a crash: a change counted as acknowledged
  // was never uploaded (seqNeverReused.test.ts).
  ...[201241, 203419, 204340, 204451, 205638, 209689, 210718, 214130, 214174].map((seed) => ({ seed, cause: 'a seq reused after a crash', features: LEGACY })),
  // A file merged into one created at once was put back by every replica that had edited it,
  // won its path again and was merged again: no quiescence, or a text twice (createMerge.test.ts).
  ...[100, 347].map((seed) => ({ seed, cause: 'a merged create put back for ever', features: LEGACY })),
  { seed: 146, cause: 'a merged create put back: a text twice', features: { rules: false, saves: false, creates: true } },
  // A file made during a first join's catch-up at a shared path was recorded as an edit of the
  // shared file, replacing its text (createMerge.test.ts).
  { seed: 1, cause: 'a file never held here recorded as an edit', features: { rules: true, saves: false, creates: true } },
  // A killed apply left a file whose content the store lacked; a save during the next change
  // of it undid that change (recoveredContent.test.ts).
  { seed: 139, cause: 'content of a killed apply never stored', features: { rules: false, saves: true, creates: false } },
  // A file kept against a peer's file for its path was compared with a stale text digest:
  // the user's file was never recorded, and the two sides differed (conflicts.test.ts).
  { seed: 783462270, cause: 'a kept file hidden by a stale text digest', features: LEGACY },
  // A file that lost its path came back (an edit its merge had not seen) with a new lamport,
  // won, and made the winner lose in turn: the two merged into each other for ever, the file
  // doubling each round (revivedCreateLoser.test.ts).
  { seed: 783462238, cause: 'two files merging into each other for ever', features: LEGACY },
  // A save made on an older text of a file that lost its path, found as the winner was
  // written, was taken as made on the loser's text now and deleted what had arrived since
  // (createMerge.test.ts).
  { seed: 3000126, cause: 'a save of a file that lost its path diffed against its text now', features: { rules: false, saves: true, creates: true } },
  // An apply rewrote a file over an unrecorded save (kept to record next), and a save made on
  // what it wrote was taken as made on the text after the kept save (saveDuringApply.test.ts).
  { seed: 4000576, cause: 'a save made on what an apply wrote, after a displaced save', features: { rules: false, saves: true, creates: true } },
  // A save displaced by the apply that also merged its file into one created at once: the text
  // that file had on disk was not noted (its entry was already merged away when the doc's
  // updates came in), so the save was diffed against the text after the apply and replaced the
  // line that apply brought; merged into the winner, its own line came out garbled
  // (createMerge.test.ts). Features drawn from the seed (all three).
  { seed: 422409893, cause: 'a save displaced by the merge of its file diffed against the text after the apply' },
  // A file recorded before a first join (its record set aside by the join) kept its stat cache
  // entry's file id, unknown to the manifest: taken for a loser waiting to be replaced at a
  // shared path, it was never recorded (the seed itself is the test: it needs a crash between).
  { seed: 857023539, cause: 'a stat entry of a set-aside file taken for a shared one', features: { rules: true, saves: false, creates: true } },
  // An editor that had loaded a file created at once elsewhere saved its buffer after that file
  // lost the path (merged into the winner): taken as an edit of the winner, the save deleted
  // the winner's lines (createMerge.test.ts).
  { seed: 275384664, cause: "a stale buffer of the file that lost the path taken as the winner's edit" },
  // A late save into the file an apply replaced with one created at once (a writer had it
  // open): the replaced file had no version noted for that text (no update of it in the
  // apply), so the save was diffed against its text now and lost its line once merged into the
  // winner (apply.ts noteReplacedVersions). Features drawn from the seed (saves, creates).
  { seed: 501230963, cause: 'a late save into a file replaced by one created at once, diffed against its text now' },
  // A file an interrupted apply wrote (its content lost with the apply's commit) was edited
  // before the restart: taken for a file of the user's own, merged with the shared one, the
  // shared text twice (killedDuringApply.test.ts).
  { seed: 31001098, cause: 'an edit of a file a killed apply wrote, taken for a new file' },
  // The same, where the store lost the file's entry with the apply's commit too.
  { seed: 31000852, cause: 'an edit of a file a killed apply wrote, its entry lost too' },
  // That wait kept a save displaced by a write (known only in memory) from being recorded,
  // and wrote the file's missing content back over it: STORE_CORRUPT (found before landing).
  { seed: 42000453, cause: 'a displaced save made to wait for content not here' },
  // The fuzzer's model, not cshare: its random text edit split a `.gitignore` line into `*`, and
  // a journal file made after it was (rightly) never shared; such edits are now not made
  // (journalRules.test.ts). Features drawn from the seed (forcing them loses 275384697's run).
  ...[275384697, 8000663, 1532569260].map((seed) => ({ seed, cause: 'a random edit made a rule hiding journal files' })),
  // A typo made a .gitignore `*` on the replica that then created a journal file (8000214,
  // 8000251), or on a peer whose rules a resumed first join took (1657676038): the file was
  // rightly never shared, and the oracle counted its lines lost (journalRules.test.ts).
  ...[8000214, 8000251, 1657676038].map((seed) => ({ seed, cause: 'a typo made a rule that hides journal files' })),
  // A crash between a recorded delete (or rename) and the stat cache update left the path's
  // entry: the file that had lost the path to the deleted one was taken for this replica's,
  // found gone, and recorded as deleted (crashAfterRecord.test.ts).
  { seed: 9000138, cause: 'a stale stat entry after a crash: a delete nobody made', features: LEGACY },
  // (Its features drawn from the seed, as when it failed: forced, they draw nothing, and the
  // rest of the run differs.)
  { seed: 1177644441, cause: 'a stale stat entry after a crash: a delete nobody made' },
  // The relay broadcast a blob's event after those of later seqs (its upload resumed later): a
  // joiner caught up past the blob, whose fetch had failed, and never got the file's content
  // (eventOrder.test.ts).
  { seed: 1685738, cause: 'a blob event sent after later seqs, skipped on reconnecting', features: LEGACY },
  // Not a bug of cshare: the sharer's own rules (a `*` its user wrote) ignored its copy of a
  // journal file created at once elsewhere, kept unshared; the saves oracle wanted every line
  // on every replica (fixed in `saves.ts`).
  { seed: 6352490, cause: 'a journal file kept unshared where its own rules ignore it', features: { rules: true, saves: true, creates: true } },
  // Two replicas created one file with one text (one id): the edits of the other's doc came
  // before its entry, and the create recorded after them left the disk without them
  // (createOfKnownDoc.test.ts).
  { seed: 31000177, cause: "a create of a file whose peer's edits came first left them off the disk" },
];

/** Fresh seeds are drawn from here up, far above the fixed and regression ones. */
const FRESH_FROM = 1_000_000;
const FRESH_TO = 2 ** 31 - 1;

/**
 * Declares one seed per test for shard `shard`: its part of the CI seeds (`CSHARE_FUZZ_SEEDS`
 * changes how many), of the regression seeds, and of {@link FRESH_SEEDS} fresh ones, a
 * consecutive run from a random start (`CSHARE_FUZZ_FRESH` changes how many, 0: none;
 * `CSHARE_FUZZ_FRESH_FROM=<n>` replays a run's). The fresh range is printed, and each failure
 * names its seed and the replay command. `CSHARE_SEED=<n>` runs just that seed, in shard 0,
 * like `npm run fuzz -- --seed n`.
 */
export function convergenceShard(shard: number): void {
  const only = process.env.CSHARE_SEED;
  const total = Number(process.env.CSHARE_FUZZ_SEEDS ?? CI_SEEDS);
  const seeds: number[] = [];
  const regressions: (typeof REGRESSION_SEEDS)[number][] = [];
  const fresh: number[] = [];
  if (only !== undefined) {
    if (shard === 0) seeds.push(Number(only));
  } else {
    for (let seed = 1 + shard; seed <= total; seed += SHARDS) seeds.push(seed);
    regressions.push(...REGRESSION_SEEDS.filter((_, i) => i % SHARDS === shard));
    const count = Math.ceil(Number(process.env.CSHARE_FUZZ_FRESH ?? FRESH_SEEDS) / SHARDS);
    const given = process.env.CSHARE_FUZZ_FRESH_FROM;
    // Each shard draws its own start (they run in separate processes); a replay gives both.
    const from = given !== undefined ? Number(given) + shard * count : randomInt(FRESH_FROM, FRESH_TO - count);
    for (let i = 0; i < count; i++) fresh.push(from + i);
    if (fresh.length > 0) console.log(`convergence shard ${shard + 1}/${SHARDS}: fresh seeds ${fresh[0]}..${fresh.at(-1)} (replay one: npm run fuzz -- --seed S)`);
  }
  describe(`convergence under faults (shard ${shard + 1}/${SHARDS}: ${seeds.length} seeds, ${regressions.length} regression seeds, ${fresh.length} fresh seeds)`, () => {
    for (const seed of seeds) {
      // A failure's message carries the seed, the replay command and the last actions.
      it(`seed ${seed}`, async () => {
        await runSeed(seed);
      });
    }
    for (const { seed, cause, features } of regressions) {
      it(`regression seed ${seed} (${cause})`, async () => {
        await runSeed(seed, { features });
      });
    }
    for (const seed of fresh) {
      it(`fresh seed ${seed}`, async () => {
        await runSeed(seed);
      });
    }
    if (shard === 0 && only === undefined) {
      it('is deterministic: a seed replays to the same actions and the same files', async () => {
        const a = await runSeed(7);
        const b = await runSeed(7);
        expect(b.trace).toEqual(a.trace);
        expect(b.final).toBe(a.final);
        expect(b.fingerprint).toBe(a.fingerprint);
        expect(a.trace.length).toBeGreaterThan(20);
      });
    }
  });
}
