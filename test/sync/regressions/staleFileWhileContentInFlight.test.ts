import { expect, it } from 'vitest';
import { Replica } from '../../../src/core/Replica.js';
import { MemoryStore } from '../../../src/store/memory/MemoryStore.js';
import { MemFs } from '../../helpers/MemFs.js';

const open = (name: string, fs: MemFs) => Replica.open({ fs, kv: new MemoryStore(), env: { USER: name }, home: '/mem/home' });
const origin = { replica: 'alice', author: 'alice' };
const bytes = (s: string) => new TextEncoder().encode(s);

// Found by the multi-process chaos run (test/e2e/chaos.test.ts): a replica that had applied
// an edit's manifest entry but not yet its new content (a catch-up applies the entries first
// and fetches content after, scanning in between; or it was killed between the two)
// recorded, on that scan, the previous version still on its disk as its own new file. That
// create was newer than the edit, so the edit was lost on every replica and the old content
// came back.
it('the previous version of a file, on disk while its new content is in flight, is not recorded as a local create', async () => {
  const aliceFs = new MemFs('/mem/alice');
  const alice = await open('alice', aliceFs);
  aliceFs.writeFile('data.bin', new Uint8Array([0, 1, 2]));
  await alice.scan();
  const first = await alice.changesSince(-1);

  const bobFs = new MemFs('/mem/bob');
  const bob = await open('bob', bobFs);
  await bob.applyChanges(first.changes, origin);
  expect([...bobFs.readFile('data.bin')!]).toEqual([0, 1, 2]);

  // Alice overwrites the binary; bob gets the manifest entry now and the blob later.
  aliceFs.writeFile('data.bin', new Uint8Array([0, 9, 9, 9]));
  await alice.scan();
  const edit = await alice.changesSince(first.upTo);
  expect(edit.changes.blobs).toHaveLength(1);
  await bob.applyChanges({ ...edit.changes, blobs: [] }, origin);
  expect((await bob.scan()).recorded).toEqual([]);

  await bob.applyChanges({ manifest: [], files: [], blobs: edit.changes.blobs }, origin);
  expect([...bobFs.readFile('data.bin')!]).toEqual([0, 9, 9, 9]);
  expect((await bob.scan()).recorded).toEqual([]);
  expect((await bob.changesSince(0)).changes.manifest).toEqual([]);
});

it('a binary that became text: the old binary on disk is not recorded while the text is in flight', async () => {
  const aliceFs = new MemFs('/mem/alice');
  const alice = await open('alice', aliceFs);
  aliceFs.writeFile('f.dat', new Uint8Array([0, 1]));
  await alice.scan();
  const first = await alice.changesSince(-1);
  const bobFs = new MemFs('/mem/bob');
  const bob = await open('bob', bobFs);
  await bob.applyChanges(first.changes, origin);

  aliceFs.writeFile('f.dat', bytes('now text\n'));
  await alice.scan();
  const edit = await alice.changesSince(first.upTo);
  await bob.applyChanges({ ...edit.changes, blobs: [] }, origin);
  expect((await bob.scan()).recorded).toEqual([]);
  await bob.applyChanges({ manifest: [], files: [], blobs: edit.changes.blobs }, origin);
  expect(new TextDecoder().decode(bobFs.readFile('f.dat')!)).toBe('now text\n');
});
