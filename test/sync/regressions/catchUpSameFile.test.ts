import { describe, expect, it } from 'vitest';
import { FileDoc } from '../../../src/core/FileDoc.js';
import { Replica } from '../../../src/core/Replica.js';
import { RelayHarness } from '../relay/harness.js';
import { memSide } from './harness.js';

const text = (s: string) => new TextEncoder().encode(s);
const read = (b: Uint8Array | undefined) => new TextDecoder().decode(b);

describe('a catch-up carrying several updates of one file (convergence fuzz, seed 9)', () => {
  it('stores every update, so the file doc rebuilt after a restart has the whole text', async () => {
    const relay = new RelayHarness();
    const alice = await memSide(relay, 'sharer', 'alice');
    alice.fs.writeFile('f.txt', text('one\n'));
    await alice.session.push();
    const bob = await memSide(relay, 'joiner', 'bob');
    await bob.session.catchUp();
    // Two uploads: two relay seqs, so one catch-up with two entries for f.txt.
    alice.fs.writeFile('f.txt', text('one\ntwo\n'));
    await alice.session.push();
    alice.fs.writeFile('f.txt', text('one\ntwo\nthree\n'));
    await alice.session.push();
    await bob.session.catchUp();
    expect(read(bob.fs.readFile('f.txt'))).toBe('one\ntwo\nthree\n');

    bob.replica.close();
    const reopened = await Replica.open({ fs: bob.fs, kv: bob.kv, env: { USER: 'bob' }, home: '/mem/home' });
    const { fileId, updates } = await reopened.fileHistory('f.txt');
    const doc = FileDoc.load({ fileId, clientId: 5, updates });
    expect(doc.text).toBe('one\ntwo\nthree\n');
    // And a scan after the restart sees nothing to record.
    expect((await reopened.scan()).recorded).toEqual([]);
  });
});
