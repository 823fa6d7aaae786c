import { expect, it } from 'vitest';
import { gitBlobId } from '../../../src/core/digest.js';
import { Replica } from '../../../src/core/Replica.js';
import { MemoryStore } from '../../../src/store/memory/MemoryStore.js';
import { FreezingKv } from '../../helpers/freezingKv.js';
import { MemFs } from '../../helpers/MemFs.js';
import { waitFor } from '../helpers.js';

const enc = new TextEncoder();
const origin = { replica: 'r-alice', author: 'alice' };

// Convergence fuzz seed 139 (saves): a process was killed after an apply wrote a new file and
// before its store took the file's content (a blob, in the batch the crash stopped). The next
// process left the file, which is the entry's content, but the store never got the blob: the
// next change of that text was merged into a doc that did not know what the disk held, so a
// save that landed during that apply was taken as an edit of the changed text, and undid the
// change.
it('a file an interrupted apply wrote is adopted with its content, and a save during the next apply is merged from it', async () => {
  const aliceFs = new MemFs('/mem/alice');
  const alice = await Replica.open({ fs: aliceFs, kv: new MemoryStore(), env: { USER: 'alice' }, home: '/mem/home' });
  aliceFs.writeFile('notes.txt', enc.encode('one\n'));
  await alice.scan();
  const created = await alice.changesSince(-1);

  // Bob gets the entry first, its content later (as a catch-up sends them), and is killed
  // while the apply that brings the content has written the file but not committed.
  const bobFs = new MemFs('/mem/bob');
  const disk = new MemoryStore();
  const frozen = new FreezingKv(disk);
  const first = await Replica.open({ fs: bobFs, kv: frozen as unknown as MemoryStore, env: { USER: 'bob' }, home: '/mem/home' });
  await first.applyChanges({ ...created.changes, blobs: [] }, origin);
  frozen.freezeAfter = 'meta:applying';
  void first.applyChanges({ manifest: [], files: [], blobs: created.changes.blobs }, origin);
  await waitFor(() => bobFs.lstat('notes.txt') !== undefined, 5000, 'the file to reach the disk');

  const bob = await Replica.open({ fs: bobFs, kv: disk, env: { USER: 'bob' }, home: '/mem/home' });
  expect(new TextDecoder().decode(bobFs.readFile('notes.txt'))).toBe('one\n');
  expect(await bob.hasBlob(gitBlobId(enc.encode('one\n')))).toBe(true);

  // Alice adds a line; bob's user saves one of his right after the apply began (its scan is done).
  aliceFs.writeFile('notes.txt', enc.encode('one\nalice\n'));
  await alice.scan();
  const edit = await alice.changesSince(created.upTo);
  bobFs.writeFile('notes.txt', enc.encode('one\nbob\n'));
  await bob.applyChanges(edit.changes, origin, { scanFirst: false });
  const text = new TextDecoder().decode(bobFs.readFile('notes.txt'));
  expect(text.split('\n').sort()).toEqual(['', 'alice', 'bob', 'one']);
});
