import { describe, expect, it } from 'vitest';
import { Replica } from '../../../src/core/Replica.js';
import { helloAsSharer } from '../../../src/sync/hello.js';
import { SyncSession, type SyncState } from '../../../src/sync/SyncSession.js';
import { RelayHarness } from '../relay/harness.js';
import { memSide } from './harness.js';

describe('compaction in a process that has not uploaded yet (chaos run, seed 4242)', () => {
  it('never folds away changes the relay has not acknowledged', async () => {
    const relay = new RelayHarness();
    const alice = await memSide(relay, 'sharer', 'alice');
    alice.fs.writeFile('first.txt', new TextEncoder().encode('1\n'));
    await alice.session.push();
    const saved: SyncState = { ...alice.state };
    alice.replica.close();

    // A new process: while offline, the watcher records many changes, enough for the
    // manifest log to be compacted.
    const replica = await Replica.open({ fs: alice.fs, kv: alice.kv, env: { USER: 'alice' }, home: '/mem/home' });
    for (let i = 0; i < 300; i++) {
      alice.fs.writeFile(`f${i}.txt`, new TextEncoder().encode(`file ${i}\n`));
      await replica.scan();
    }
    // Back online: the upload starts after the acknowledged seq.
    const conn = relay.connect();
    await helloAsSharer(conn, { replica, worktreeId: relay.worktreeId, secrets: relay.secrets, name: 'app' });
    const session = new SyncSession({ replica, conn, worktreeId: relay.worktreeId, access: 'rw', state: saved, saveState: async () => {} });
    await session.push();

    const bob = await memSide(relay, 'joiner', 'bob');
    await bob.session.catchUp();
    expect(bob.replica.fileCount()).toBe(301);
    expect(new TextDecoder().decode(bob.fs.readFile('f299.txt'))).toBe('file 299\n');
  });
});
