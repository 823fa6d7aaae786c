import { expect, it } from 'vitest';
import { MemFs } from '../../helpers/MemFs.js';
import { localSide, textOf } from './harness.js';

const enc = new TextEncoder();
const text = textOf;
/** A replica named `name` over the in-memory worktree `fs`, with a memory store. */
const open = async (name: string, fs: MemFs) => (await localSide(name, fs)).replica;

// Convergence fuzz seed 1657676038: a peer's `.gitignore` change (a `*` made by a typo) reached
// a replica before its watcher had recorded a journal file its user had just created. The scan
// before that apply covered the `.gitignore` alone, so the file was first looked at under the
// peer's rules, which can only make more paths ignored here: the save was never shared, and
// whether it was depended on a race with the watcher. A save made before a rule arrives was
// made under the rules it found, and is shared as a file shared before a rule was added is.
it("a new file saved before a peer's ignore rule arrives is recorded and shared, not ignored by that rule", async () => {
  const aliceFs = new MemFs('/mem/alice');
  const alice = await open('alice', aliceFs);
  aliceFs.writeFile('.gitignore', enc.encode('*.log\n'));
  aliceFs.writeFile('a.txt', enc.encode('a\n'));
  await alice.scan();
  const first = await alice.changesSince(-1);
  const bobFs = new MemFs('/mem/bob');
  const bob = await open('bob', bobFs);
  await bob.applyChanges(first.changes, { replica: alice.identity.replicaId, author: 'alice' }, { adoptRules: true });
  expect(text(bobFs, '.gitignore')).toBe('*.log\n');

  // Bob saves a new file; before his watcher records it, Alice's new rule arrives.
  bobFs.writeFile('j/notes.txt', enc.encode('bob\n'));
  aliceFs.writeFile('.gitignore', enc.encode('*.log\n*\n'));
  await alice.scan();
  const rule = await alice.changesSince(first.upTo);
  expect(rule.changes.files.length).toBe(1);
  const bobSince = (await bob.changesSince(-1)).upTo;
  await bob.applyChanges(rule.changes, { replica: alice.identity.replicaId, author: 'alice' });
  expect(text(bobFs, '.gitignore')).toBe('*.log\n*\n');

  await bob.scan();
  const mine = await bob.changesSince(bobSince);
  await alice.applyChanges(mine.changes, { replica: bob.identity.replicaId, author: 'bob' });
  expect(text(aliceFs, 'j/notes.txt')).toBe('bob\n');
  // And the rule holds for what is saved after it came.
  bobFs.writeFile('j/later.txt', enc.encode('later\n'));
  await bob.scan();
  const after = await bob.changesSince(mine.upTo);
  await alice.applyChanges(after.changes, { replica: bob.identity.replicaId, author: 'bob' });
  expect(text(aliceFs, 'j/later.txt')).toBeUndefined();
});
