import { describe, expect, it } from 'vitest';
import type { KvBatchOp } from '../../../src/core/ports.js';
import { MemoryStore } from '../../../src/store/memory/MemoryStore.js';
import { FreezingKv } from '../../helpers/freezingKv.js';
import { MemFs } from '../../helpers/MemFs.js';
import { waitFor } from '../helpers.js';
import { link, localSide, textOf, type Side } from './harness.js';

const enc = new TextEncoder();
const text = (fs: MemFs, path: string) => textOf(fs, path) ?? '';
/** A replica named `name` over `kv` and an in-memory worktree (`fs`). */
const side = (name: string, kv: MemoryStore | FreezingKv = new MemoryStore(), fs?: MemFs) => localSide(name, fs, kv);

/** Does this batch record a change of `kind` (an `o:` entry)? */
function records(ops: readonly KvBatchOp[], kind: string): boolean {
  return ops.some((op) => op.type === 'put' && op.key.startsWith('o:') && new TextDecoder().decode(op.value).includes(`"kind":"${kind}"`));
}

/**
 * Bob's scan records a change of `kind`, and the process dies as that batch is written, before
 * the rest of the stat cache is: resolves with bob reopened on what reached his store.
 */
async function killedAfterRecording(bob: Side, kv: FreezingKv, kind: string): Promise<Side> {
  let written = false;
  kv.freezeAfterBatch = (ops) => (written ||= records(ops, kind));
  void bob.replica.scan(); // hangs for good at its next write, as a killed process would
  await waitFor(() => written, 5000, `the ${kind} to be recorded`);
  return side(bob.name, kv.inner, bob.fs);
}

/**
 * Alice's b.md and bob's, created at once: bob's wins the path, alice's waits behind it in
 * bob's manifest (her replica merges it into bob's when it hears of his).
 */
async function concurrentCreates(): Promise<{ alice: Side; bob: Side; kv: FreezingKv }> {
  const kv = new FreezingKv(new MemoryStore());
  const [alice, bob] = await Promise.all([side('alice'), side('bob', kv)]);
  alice.fs.writeFile('b.md', enc.encode('from alice\n'));
  await alice.replica.scan();
  // A change of bob's first: his b.md is the later by Lamport time, and wins.
  bob.fs.writeFile('x.txt', enc.encode('x\n'));
  await bob.replica.scan();
  bob.fs.writeFile('b.md', enc.encode('from bob\n'));
  await bob.replica.scan();
  await link(alice, bob)();
  expect(text(bob.fs, 'b.md')).toBe('from bob\n');
  return { alice, bob, kv };
}

describe('a process killed between recording a change and bringing its stat cache up to date (convergence fuzz)', () => {
  // Seed 9000138: the stat cache still said bob held b.md; his next scan took alice's file,
  // now the one at the path, for his, found it gone, and recorded a delete of it.
  it('a file deleted here: the file that had lost its path to it is not recorded as deleted, and is written', async () => {
    const { alice, bob: before, kv } = await concurrentCreates();
    before.fs.remove('b.md');
    const bob = await killedAfterRecording(before, kv, 'delete');
    const { recorded } = await bob.replica.scan();
    expect(recorded).toEqual([]);
    expect(text(bob.fs, 'b.md')).toBe('from alice\n');
    await link(bob, alice)();
    expect(text(alice.fs, 'b.md')).toBe('from alice\n');
  });

  // Seed 1177644441: the same after a rename of the winner away from the path.
  it('a file moved away here: the file that had lost its path to it is not recorded as deleted, and is written', async () => {
    const { alice, bob: before, kv } = await concurrentCreates();
    before.fs.rename('b.md', 'c.md');
    const bob = await killedAfterRecording(before, kv, 'rename');
    const { recorded } = await bob.replica.scan();
    expect(recorded).toEqual([]);
    expect(text(bob.fs, 'b.md')).toBe('from alice\n');
    expect(text(bob.fs, 'c.md')).toBe('from bob\n');
    await link(bob, alice)();
    expect(text(alice.fs, 'b.md')).toBe('from alice\n');
    expect(text(alice.fs, 'c.md')).toBe('from bob\n');
  });

  // Without a stat cache entry, a save of a file this replica created was taken for a file
  // the entry never was: recorded as a second create at its path.
  it('a file created here and saved after the restart: the save is an edit of it', async () => {
    const kv = new FreezingKv(new MemoryStore());
    const before = await side('bob', kv);
    before.fs.writeFile('n.txt', enc.encode('one\n'));
    const bob = await killedAfterRecording(before, kv, 'create');
    bob.fs.writeFile('n.txt', enc.encode('one\ntwo\n'));
    const { recorded } = await bob.replica.scan();
    expect(recorded.map((c) => `${c.kind} ${c.path}`)).toEqual(['edit n.txt']);
  });
});
