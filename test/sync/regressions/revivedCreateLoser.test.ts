import { describe, expect, it } from 'vitest';
import { RelayHarness } from '../relay/harness.js';
import { memSide } from './harness.js';

const text = (s: string) => new TextEncoder().encode(s);
const read = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

describe('a file that lost its path to a concurrent create, edited elsewhere before the merge was seen (convergence fuzz, seed 783462238)', () => {
  it('comes back only to be merged again, once: the path keeps its winner, and no text doubles', async () => {
    const relay = new RelayHarness();
    const alice = await memSide(relay, 'sharer', 'alice');
    alice.fs.writeFile('c.txt', text('one\n'));
    await alice.session.push();
    const bob = await memSide(relay, 'joiner', 'bob');
    const carol = await memSide(relay, 'joiner', 'carol');
    await bob.session.catchUp();
    await carol.session.catchUp();

    // Bob creates d.txt (after another file: his claim on the path is the later one).
    bob.fs.writeFile('x.txt', text('x\n'));
    await bob.replica.scan();
    bob.fs.writeFile('d.txt', text('bob\n'));
    await bob.session.push();
    // Alice renames c.txt to d.txt at the same time, and uploads it.
    alice.fs.rename('c.txt', 'd.txt');
    await alice.session.push();
    // Carol edits c.txt, then hears of both (her edit not uploaded yet).
    carol.fs.writeFile('c.txt', text('one\ncarol\n'));
    await carol.replica.scan();
    await carol.session.catchUp();
    // Alice hears of Bob's d.txt: hers lost the path, so she merges its text into his.
    await alice.session.catchUp();
    await alice.session.push();
    // Carol hears of that merge, whose delete did not see her edit: the file comes back.
    for (let i = 0; i < 6; i++) for (const s of [carol, alice, bob]) {
      await s.session.push();
      await s.session.catchUp();
    }
    const texts = [alice, bob, carol].map((s) => read(s.fs.readFile('d.txt')));
    expect(texts[1]).toBe(texts[0]);
    expect(texts[2]).toBe(texts[0]);
    const d = texts[0]!;
    expect(d).toContain('bob\n');
    expect(d).toContain('carol\n');
    // Each line once: neither text appended twice.
    expect(d.split('\n').filter((l) => l === 'one')).toHaveLength(1);
    expect(d.length).toBeLessThan(40);
    for (const s of [alice, bob, carol]) expect(s.fs.readFile('c.txt')).toBeUndefined();
  });
});
