import { expect, it } from 'vitest';
import { MemFs } from '../../helpers/MemFs.js';
import { localSide, textOf } from './harness.js';

const enc = new TextEncoder();
const text = textOf;
/** A replica named `name` over the in-memory worktree `fs`, with a memory store. */
const open = async (name: string, fs: MemFs) => (await localSide(name, fs)).replica;

// Convergence fuzz seed 31000177: two replicas created `src/.gitignore` with the same text while
// apart, so both files got the same id (derived from path and content) and the same base; one
// then edited it. The other's first join recorded its own files again after the catch-up, which
// had brought the edit of that id's doc but not yet its manifest entry: its create was recorded
// as the base text alone, the disk kept that, and the peer's entry, when it came, lost to the
// later create and wrote nothing. The edit was in both stores and on one disk only, for good.
it('a file created here with the id of a file whose edits came first gets those edits on disk, as a merge of two concurrent creates would', async () => {
  const aliceFs = new MemFs('/mem/alice');
  const alice = await open('alice', aliceFs);
  aliceFs.writeFile('notes.txt', enc.encode('a\n'));
  await alice.scan();
  aliceFs.writeFile('notes.txt', enc.encode('a\nalice\n'));
  await alice.scan();
  const all = await alice.changesSince(-1);
  const origin = { replica: alice.identity.replicaId, author: 'alice' };

  // Bob gets the file's doc first, then creates the same file with the same first text.
  const bobFs = new MemFs('/mem/bob');
  const bob = await open('bob', bobFs);
  await bob.applyChanges({ manifest: [], files: all.changes.files, blobs: all.changes.blobs }, origin);
  expect(text(bobFs, 'notes.txt')).toBeUndefined();
  bobFs.writeFile('notes.txt', enc.encode('a\n'));
  await bob.scan();
  expect(text(bobFs, 'notes.txt')).toBe('a\nalice\n');

  // The manifest entry arrives late and changes nothing; Bob's create reaches Alice.
  await bob.applyChanges({ manifest: all.changes.manifest, files: [], blobs: [] }, origin);
  expect(text(bobFs, 'notes.txt')).toBe('a\nalice\n');
  const mine = await bob.changesSince(-1);
  await alice.applyChanges(mine.changes, { replica: bob.identity.replicaId, author: 'bob' });
  expect(text(aliceFs, 'notes.txt')).toBe('a\nalice\n');
  // Nothing left unrecorded: the disk is what both stores say.
  expect((await bob.status()).changed).toEqual([]);
  expect((await alice.status()).changed).toEqual([]);

  // A save from the buffer Bob created the file with is an edit of that text: Alice's line stays.
  bobFs.writeFile('notes.txt', enc.encode('a\nbob\n'));
  await bob.scan();
  expect(text(bobFs, 'notes.txt')).toContain('alice\n');
  expect(text(bobFs, 'notes.txt')).toContain('bob\n');
});
