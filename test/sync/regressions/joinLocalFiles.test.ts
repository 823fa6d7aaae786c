import { describe, expect, it } from 'vitest';
import { MemFs } from '../../helpers/MemFs.js';
import { RelayHarness } from '../relay/harness.js';
import { memSide, round } from './harness.js';

const text = (s: string) => new TextEncoder().encode(s);

describe('joining a directory that already holds files (convergence fuzz, seed 11)', () => {
  it('shares the files that exist only on the joiner, and every later change of the joiner', async () => {
    const relay = new RelayHarness();
    const alice = await memSide(relay, 'sharer', 'alice');
    alice.fs.writeFile('shared.txt', text('shared\n'));
    await alice.session.push();
    const bobFs = new MemFs('/mem/bob');
    bobFs.writeFile('mine.txt', text('only on bob\n'));
    bobFs.writeFile('shared.txt', text('shared\n'));
    const bob = await memSide(relay, 'joiner', 'bob', bobFs);
    await bob.session.catchUp();
    await round(alice, bob);
    bob.fs.writeFile('later.txt', text('made after joining\n'));
    await round(alice, bob);
    expect(alice.fs.snapshot()).toEqual(bob.fs.snapshot());
    expect(alice.fs.files()).toEqual(['later.txt', 'mine.txt', 'shared.txt']);
  });
});
