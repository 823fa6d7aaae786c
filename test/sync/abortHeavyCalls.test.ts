import { describe, expect, it } from 'vitest';
import { CshareError } from '../../src/core/errors.js';
import { MemFs } from '../helpers/MemFs.js';
import { link, localSide, textOf } from './regressions/harness.js';

/**
 * Issue 17, point 7: Ctrl-C reaches the heavy calls a session or a command makes on the
 * replica (`applyChanges`, `status`, `undo`): an aborted call rejects with the stop's reason
 * at its next step, and leaves nothing half done. In memory: a worktree that presses Ctrl-C
 * itself at a chosen moment.
 */

/** An in-memory worktree that aborts `stop` when `when(op, path)` first says so. */
class StoppingFs extends MemFs {
  when: ((op: string, rel: string) => boolean) | undefined;
  readonly stop = new AbortController();
  /** Writes and removals that reached the disk after the stop. */
  readonly afterStop: string[] = [];

  private check(op: string, rel: string): void {
    if (this.stop.signal.aborted) this.afterStop.push(`${op} ${rel}`);
    else if (this.when?.(op, rel)) this.stop.abort(new CshareError('INTERNAL', 'interrupted'));
  }

  override readdir(rel: string) {
    this.check('readdir', rel);
    return super.readdir(rel);
  }

  override writeFile(rel: string, data: Uint8Array, mode?: number): void {
    this.check('write', rel);
    super.writeFile(rel, data, mode);
  }

  override remove(rel: string): void {
    this.check('remove', rel);
    super.remove(rel);
  }
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Every file of `fs` with its text. */
function texts(fs: MemFs): Record<string, string | undefined> {
  return Object.fromEntries(fs.files().map((p) => [p, textOf(fs, p)]));
}

/** What `p` rejects with (fails if it resolves). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => expect.unreachable('it resolved'),
    (e: unknown) => e,
  );
}

describe('an aborted heavy call rejects at its next step and leaves no partial state', () => {
  it("applyChanges stopped during its writes: rejects with the stop's reason, the disk and the store as before, and the same changes apply later", async () => {
    const alice = await localSide('alice');
    const bobFs = new StoppingFs('/mem/bob');
    const bob = await localSide('bob', bobFs);
    const send = link(alice, bob);
    alice.fs.writeFile('a.txt', enc('alpha\n'));
    alice.fs.writeFile('b.txt', enc('bravo\n'));
    await send();
    expect(texts(bobFs)).toEqual({ 'a.txt': 'alpha\n', 'b.txt': 'bravo\n' });
    const before = await bob.replica.status();

    // Alice deletes a, edits b and creates c; bob is stopped once a is removed.
    alice.fs.remove('a.txt');
    alice.fs.writeFile('b.txt', enc('bravo, edited\n'));
    alice.fs.writeFile('c.txt', enc('charlie\n'));
    await alice.replica.scan();
    const { changes } = await alice.replica.changesSince(-1);
    const origin = { replica: alice.replica.identity.replicaId, author: 'alice' };
    bobFs.when = (op, rel) => op === 'remove' && rel === 'a.txt';
    const signal = bobFs.stop.signal;
    const err = await rejection(bob.replica.applyChanges(changes, origin, { signal }));
    expect(signal.aborted).toBe(true);
    expect(err).toBe(signal.reason);
    // Nothing but the rollback touched the disk after the stop: a is back, b and c untouched.
    expect(bobFs.afterStop).toEqual(['write a.txt']);
    expect(texts(bobFs)).toEqual({ 'a.txt': 'alpha\n', 'b.txt': 'bravo\n' });
    const after = await bob.replica.status();
    expect(after.files).toBe(before.files);
    expect(after.changed).toEqual([]);

    // Applied again without a stop: all of it.
    bobFs.when = undefined;
    await bob.replica.applyChanges(changes, origin);
    expect(texts(bobFs)).toEqual({ 'b.txt': 'bravo, edited\n', 'c.txt': 'charlie\n' });
    expect((await bob.replica.status()).changed).toEqual([]);
  });

  it('applyChanges with a signal already aborted does nothing at all', async () => {
    const alice = await localSide('alice');
    const bobFs = new StoppingFs('/mem/bob');
    const bob = await localSide('bob', bobFs);
    alice.fs.writeFile('a.txt', enc('alpha\n'));
    await alice.replica.scan();
    const { changes } = await alice.replica.changesSince(-1);
    bobFs.stop.abort(new CshareError('INTERNAL', 'interrupted'));
    await expect(bob.replica.applyChanges(changes, { replica: alice.replica.identity.replicaId, author: 'alice' }, { signal: bobFs.stop.signal })).rejects.toBe(bobFs.stop.signal.reason);
    expect(texts(bobFs)).toEqual({});
    expect(bobFs.afterStop).toEqual([]);
    expect((await bob.replica.status()).files).toBe(0);
  });

  it("status stopped during its walk of the tree rejects with the stop's reason", async () => {
    const fs = new StoppingFs('/mem/w');
    const side = await localSide('w', fs);
    for (let i = 0; i < 20; i++) fs.writeFile(`d${i}/f.txt`, enc(`${i}\n`));
    await side.replica.scan();
    let dirs = 0;
    fs.when = (op) => op === 'readdir' && ++dirs === 5;
    expect(await rejection(side.replica.status({ signal: fs.stop.signal }))).toBe(fs.stop.signal.reason);
    // It stopped there: far fewer folders read than the tree has.
    expect(fs.afterStop.filter((op) => op.startsWith('readdir')).length).toBeLessThan(15);
    fs.when = undefined;
    expect((await side.replica.status()).files).toBe(20);
  });

  it("undo stopped during the scan before it rejects with the stop's reason and reverts nothing; undo after it does", async () => {
    const fs = new StoppingFs('/mem/w');
    const side = await localSide('w', fs);
    fs.writeFile('a.txt', enc('one\n'));
    await side.replica.scan();
    fs.writeFile('a.txt', enc('one\ntwo\n'));
    await side.replica.scan();
    const logged = (await side.replica.log()).length;
    fs.when = (op) => op === 'readdir';
    expect(await rejection(side.replica.undo({ path: 'a.txt', signal: fs.stop.signal }))).toBe(fs.stop.signal.reason);
    expect(textOf(fs, 'a.txt')).toBe('one\ntwo\n');
    expect((await side.replica.log()).length).toBe(logged);
    fs.when = undefined;
    await side.replica.undo({ path: 'a.txt' });
    expect(textOf(fs, 'a.txt')).toBe('one\n');
  });
});
