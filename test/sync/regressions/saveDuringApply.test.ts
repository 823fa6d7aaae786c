import { expect, it } from 'vitest';
import { Replica } from '../../../src/core/Replica.js';
import { MemoryStore } from '../../../src/store/memory/MemoryStore.js';
import { MemFs } from '../../helpers/MemFs.js';
import { FuzzFs } from '../../fuzz/FuzzFs.js';

/** A worktree whose next read of one file sees it empty: a scan catching an in-place save between its truncate and its write. */
class TornFs extends MemFs {
  tornOnce: string | undefined;
  override readFile(rel: string): Uint8Array | undefined {
    if (rel === this.tornOnce) {
      this.tornOnce = undefined;
      return new Uint8Array();
    }
    return super.readFile(rel);
  }
}

const text = (s: string) => new TextEncoder().encode(s);
/** A replica named `name` over the in-memory worktree `fs`, with a memory store. */
const open = (name: string, fs: MemFs) => Replica.open({ fs, kv: new MemoryStore(), env: { USER: name }, home: '/mem/home' });
const origin = { replica: 'alice', author: 'alice' };

// Found by the multi-process chaos run (test/e2e/chaos.test.ts, seed 21): the scan before an
// apply read a file half way through an in-place save (empty) and recorded that as deleting
// everything; the apply then wrote the merged text over the completed save, so the deletion
// of every acknowledged line in the file became permanent on every replica.
it('an apply does not overwrite a file saved after the scan that preceded it; the save is recorded and merged', async () => {
  const aliceFs = new MemFs('/mem/alice');
  const alice = await open('alice', aliceFs);
  aliceFs.writeFile('notes.txt', text('one\ntwo\n'));
  await alice.scan();
  const first = await alice.changesSince(-1);
  const bobFs = new TornFs('/mem/bob');
  const bob = await open('bob', bobFs);
  await bob.applyChanges(first.changes, origin);

  aliceFs.writeFile('notes.txt', text('one\ntwo\nalice\n'));
  await alice.scan();
  const edit = await alice.changesSince(first.upTo);

  bobFs.writeFile('notes.txt', text('bob\none\ntwo\n'));
  bobFs.tornOnce = 'notes.txt';
  // The scan hashed a torn read (its stat cache says empty) but recorded the completed save;
  // the apply, finding other content than the stat cache says, takes it for a save made since
  // and records it again (nothing new) before merging: the file keeps both sides' lines.
  await bob.applyChanges(edit.changes, origin);
  expect(new TextDecoder().decode(bobFs.readFile('notes.txt'))).toBe('bob\none\ntwo\nalice\n');
});

/** A worktree where the user saves `path` right after cshare read it (once armed). */
class SaveAfterReadFs extends MemFs {
  armed: { path: string; save: string } | undefined;
  override readFile(rel: string): Uint8Array | undefined {
    const bytes = super.readFile(rel);
    const a = this.armed;
    if (a?.path === rel) {
      this.armed = undefined;
      this.writeFile(rel, text(a.save));
    }
    return bytes;
  }
}

// Convergence fuzz seed 150: an apply that left a file as it was (its text did not change)
// took its stat for the stat cache after reading it; a save that landed in between was vouched
// for with the old content and never recorded, so it was never shared.
it('a save that lands after an apply read a file it leaves as it was is recorded by the next scan', async () => {
  const aliceFs = new MemFs('/mem/alice');
  const alice = await open('alice', aliceFs);
  aliceFs.writeFile('notes.txt', text('one\n'));
  await alice.scan();
  const first = await alice.changesSince(-1);
  const bobFs = new SaveAfterReadFs('/mem/bob');
  const bob = await open('bob', bobFs);
  await bob.applyChanges(first.changes, origin);

  // Alice adds a line and takes it out again: a change of the file that leaves its text as it was.
  aliceFs.writeFile('notes.txt', text('one\ntwo\n'));
  await alice.scan();
  aliceFs.writeFile('notes.txt', text('one\n'));
  await alice.scan();
  const undone = await alice.changesSince(first.upTo);
  bobFs.armed = { path: 'notes.txt', save: 'one\nbob\n' };
  await bob.applyChanges(undone.changes, origin, { scanFirst: false });
  expect(bobFs.armed).toBeUndefined();
  const { recorded } = await bob.scan();
  expect(recorded.map((r) => `${r.kind} ${r.path}`)).toEqual(['edit notes.txt']);
  expect(new TextDecoder().decode(bobFs.readFile('notes.txt'))).toBe('one\nbob\n');
});

// Convergence fuzz seed 4000576: an apply rewrote a file whose text it did not change (a file
// created at once elsewhere lost the path to it) over an editor's save it had not recorded yet,
// keeping the save to record next, and a journal append read what the apply wrote and saved at
// once. The displaced save was recorded first; the append, taken as made on the text after
// that save, replaced the save's line.
it('a save made on what an apply wrote, after the apply displaced an unrecorded save, keeps both saves', async () => {
  const carolFs = new MemFs('/mem/carol');
  const carol = await open('carol', carolFs);
  const bobFs = new FuzzFs('/mem/bob', { now: 1_000_000_000_000 });
  const bob = await open('bob', bobFs);
  // Bob's notes.txt wins the path (he records another file first: a later lamport time).
  bobFs.writeFile('other.txt', text('1\n'));
  await bob.scan();
  bobFs.writeFile('notes.txt', text('one\n'));
  await bob.scan();
  carolFs.writeFile('notes.txt', text('carol\n'));
  await carol.scan();
  const created = await carol.changesSince(-1);
  // Bob's editor saves (not scanned yet); the apply's write displaces it, and a journal append
  // lands on what the write placed.
  bobFs.writeFile('notes.txt', text('one\nbob editor\n'));
  bobFs.hook = (point, rel) => {
    if (point !== 'placed' || rel !== 'notes.txt') return undefined;
    bobFs.hook = undefined;
    bobFs.writeFile(rel, text(`${new TextDecoder().decode(bobFs.readFile(rel))}bob append\n`));
    return undefined;
  };
  await bob.applyChanges(created.changes, { replica: carol.identity.replicaId, author: 'carol' }, { scanFirst: false });
  expect(bobFs.hook).toBeUndefined();
  await bob.scan();
  const final = new TextDecoder().decode(bobFs.readFile('notes.txt'));
  for (const line of ['one', 'bob editor', 'bob append']) expect(final.split('\n').filter((l) => l === line)).toHaveLength(1);
});
