import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Replica } from '../../src/core/Replica.js';
import type { KvStore } from '../../src/core/ports.js';
import { NodeFs } from '../../src/store/fs/NodeFs.js';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { helloAsJoiner, helloAsSharer } from '../../src/sync/hello.js';
import { SyncSession, type SessionEvent, type SyncState } from '../../src/sync/SyncSession.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { treeOf } from '../helpers/tree.js';
import { RelayHarness } from '../sync/relay/harness.js';
import { waitFor } from '../sync/helpers.js';
import { FaultyFs, FaultyKv } from './helpers.js';

/**
 * Disk full and unwritable files while a replica applies remote changes: a clear error, the
 * store stays consistent (it reopens with its history), and the change is applied once the
 * fault is gone, exactly once (no text doubled by a half-applied first attempt).
 */

const read = (root: string, rel: string) => readFileSync(join(root, rel), 'utf8');

async function open(root: string, kv: KvStore, name: string): Promise<{ replica: Replica; fs: FaultyFs }> {
  const home = `${root}/.no-home`;
  const fs = new FaultyFs(new NodeFs(root));
  const replica = await Replica.open({ fs, kv, env: { USER: name, HOME: home }, home });
  return { replica, fs };
}

/** Alice's changes since `since`, as she would send them. */
async function changesOf(alice: Replica, since: number) {
  alice.keepLogAfter(since);
  await alice.scan();
  return alice.changesSince(since);
}

async function errorOf(p: Promise<unknown>): Promise<{ code?: string; message: string; data?: Record<string, unknown> }> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err as { code?: string; message: string; data?: Record<string, unknown> },
  );
}

describe('disk full and unwritable files while applying remote changes', () => {
  it.each(['ENOSPC', 'EACCES'] as const)('%s on one file: IO error, earlier writes rolled back, store reopens, applied once the fault is gone with no doubled text', async (code) => {
    const rootA = tempDir();
    const rootB = tempDir();
    const { replica: alice } = await open(rootA, new MemoryStore(), 'alice');
    const kvB = new MemoryStore();
    const { replica: bob, fs } = await open(rootB, kvB, 'bob');
    writeTree(rootA, { 'a.txt': 'one\n', 'm.txt': 'middle\n', 'z.txt': 'last\n' });
    const first = await changesOf(alice, -1);
    await bob.applyChanges(first.changes, { replica: 'alice', author: 'alice' });
    expect(treeOf(rootB)).toEqual(treeOf(rootA));

    // Alice edits all three; Bob's disk refuses the middle one.
    writeTree(rootA, { 'a.txt': 'one\ntwo\n', 'm.txt': 'middle\nmore\n', 'z.txt': 'last\nreally\n' });
    const second = await changesOf(alice, first.upTo);
    fs.fault = { code, path: /^m\.txt$/ };
    const err = await errorOf(bob.applyChanges(second.changes, { replica: 'alice', author: 'alice' }));
    expect(err.code).toBe('IO');
    expect(err.data?.errno).toBe(code);
    expect(err.message).toMatch(/could not apply the changes of alice/);
    expect(err.message).toMatch(code === 'ENOSPC' ? /no space left/ : /permission denied/);
    expect(fs.refused).toBeGreaterThan(0);
    // a.txt was written before m.txt failed, and was put back: disk and store agree.
    expect(read(rootB, 'a.txt')).toBe('one\n');
    expect(read(rootB, 'm.txt')).toBe('middle\n');
    expect(read(rootB, 'z.txt')).toBe('last\n');
    expect((await bob.scan()).recorded).toEqual([]);

    // The store reopens with its history.
    const { replica: reopened } = await open(rootB, kvB, 'bob');
    expect((await reopened.log()).map((op) => `${op.kind} ${op.path}`).sort()).toEqual(['create a.txt', 'create m.txt', 'create z.txt']);
    reopened.close();

    // Space returns: the same changes apply, once.
    fs.fault = null;
    await bob.applyChanges(second.changes, { replica: 'alice', author: 'alice' });
    expect(treeOf(rootB)).toEqual(treeOf(rootA));
    expect(read(rootB, 'a.txt')).toBe('one\ntwo\n');
    expect((await bob.scan()).recorded).toEqual([]);
    // And Bob's next edit merges back into Alice's text without doubling anything.
    writeFileSync(join(rootB, 'a.txt'), 'one\ntwo\nthree\n');
    const back = await changesOf(bob, -1);
    await alice.applyChanges(back.changes, { replica: 'bob', author: 'bob' });
    expect(read(rootA, 'a.txt')).toBe('one\ntwo\nthree\n');
    expect(read(rootA, 'm.txt')).toBe('middle\nmore\n');
  });

  it('ENOSPC from the store at commit: IO error, files rolled back, nothing half-stored, applied once space returns', async () => {
    const rootA = tempDir();
    const rootB = tempDir();
    const { replica: alice } = await open(rootA, new MemoryStore(), 'alice');
    const kvB = new FaultyKv(new MemoryStore());
    const { replica: bob } = await open(rootB, kvB, 'bob');
    writeTree(rootA, { 'a.txt': 'alpha\n', 'bin.dat': new Uint8Array([0, 1, 2, 0]) });
    const first = await changesOf(alice, -1);
    await bob.applyChanges(first.changes, { replica: 'alice', author: 'alice' });
    writeTree(rootA, { 'a.txt': 'alpha\nbeta\n', 'new.txt': 'new\n', 'bin.dat': new Uint8Array([9, 9, 0]) });
    const second = await changesOf(alice, first.upTo);

    kvB.full = true;
    const err = await errorOf(bob.applyChanges(second.changes, { replica: 'alice', author: 'alice' }, { scanFirst: false }));
    expect(err.code).toBe('IO');
    expect(err.data?.errno).toBe('ENOSPC');
    expect(kvB.refused).toBe(1);
    expect(read(rootB, 'a.txt')).toBe('alpha\n');
    expect(treeOf(rootB)['new.txt']).toBeUndefined();
    expect([...readFileSync(join(rootB, 'bin.dat'))]).toEqual([0, 1, 2, 0]);

    // The store holds the first change only, and reopens.
    const { replica: reopened } = await open(rootB, kvB.inner, 'bob');
    expect((await reopened.log()).map((op) => `${op.kind} ${op.path}`).sort()).toEqual(['create a.txt', 'create bin.dat']);
    expect(reopened.fileCount()).toBe(2);
    reopened.close();

    kvB.full = false;
    await bob.applyChanges(second.changes, { replica: 'alice', author: 'alice' });
    expect(treeOf(rootB)).toEqual(treeOf(rootA));
    expect((await bob.scan()).recorded).toEqual([]);
  });

  it('ENOSPC from the store during a scan does not lose the local change: it is recorded once space returns', async () => {
    const root = tempDir();
    const kv = new FaultyKv(new MemoryStore());
    const { replica } = await open(root, kv, 'bob');
    writeTree(root, { 'a.txt': 'a\n' });
    await replica.scan();
    writeTree(root, { 'a.txt': 'a\nb\n', 'c.txt': 'c\n' });
    kv.full = true;
    expect((await errorOf(replica.scan())).message).toMatch(/No space left/);
    kv.full = false;
    const { recorded } = await replica.scan();
    expect(recorded.map((c) => `${c.kind} ${c.path}`).sort()).toEqual(['create c.txt', 'edit a.txt']);
    const { changes } = await replica.changesSince(-1);
    const rootC = tempDir();
    const { replica: carol } = await open(rootC, new MemoryStore(), 'carol');
    await carol.applyChanges(changes, { replica: 'bob', author: 'bob' });
    expect(treeOf(rootC)).toEqual(treeOf(root));
  });
});

describe('disk faults during sync through the relay', () => {
  interface Side {
    root: string;
    replica: Replica;
    fs: FaultyFs;
    session: SyncSession;
    state: SyncState;
    events: SessionEvent[];
  }

  async function side(relay: RelayHarness, role: 'sharer' | 'joiner', name: string): Promise<Side> {
    const root = tempDir();
    const { replica, fs } = await open(root, new MemoryStore(), name);
    const state: SyncState = { relaySeq: 0, acked: role === 'sharer' ? -1 : 0 };
    const conn = relay.connect();
    const hello =
      role === 'sharer'
        ? await helloAsSharer(conn, { replica, worktreeId: relay.worktreeId, secrets: relay.secrets, name: 'app' })
        : await helloAsJoiner(conn, { replica, worktreeId: relay.worktreeId, secret: relay.secrets.readWrite });
    const events: SessionEvent[] = [];
    const session = new SyncSession({ replica, conn, worktreeId: relay.worktreeId, access: hello.access!, state, saveState: async () => {}, onEvent: (e) => events.push(e) });
    return { root, replica, fs, session, state, events };
  }

  it('catch-up into an unwritable file fails with IO and keeps relaySeq; the next catch-up applies it', async () => {
    const relay = new RelayHarness();
    const alice = await side(relay, 'sharer', 'alice');
    writeTree(alice.root, { 'a.txt': 'a\n', 'locked.txt': 'secret\n', 'z.txt': 'z\n' });
    await alice.session.push();
    const bob = await side(relay, 'joiner', 'bob');
    bob.fs.fault = { code: 'EACCES', path: /^locked\.txt$/ };
    const err = await errorOf(bob.session.catchUp());
    expect(err.code).toBe('IO');
    expect(err.data?.errno).toBe('EACCES');
    expect(bob.state.relaySeq).toBe(0);
    expect(treeOf(bob.root)).toEqual({});
    bob.fs.fault = null;
    await bob.session.catchUp();
    expect(treeOf(bob.root)).toEqual(treeOf(alice.root));
    expect(bob.state.relaySeq).toBe(await relay.store.head(relay.worktreeId));
    relay.close();
  });

  it('a live change that hits a full disk ends the live loop without moving relaySeq past it; reconnecting applies it', async () => {
    const relay = new RelayHarness();
    const alice = await side(relay, 'sharer', 'alice');
    writeTree(alice.root, { 'a.txt': 'a\n' });
    await alice.session.push();
    const bob = await side(relay, 'joiner', 'bob');
    const live = bob.session.live();
    await waitFor(() => bob.state.relaySeq > 0 && treeOf(bob.root)['a.txt'] !== undefined, 5000, 'the first catch-up');
    bob.fs.fault = { code: 'ENOSPC' };
    writeTree(alice.root, { 'b.txt': 'b\n' });
    await alice.session.push();
    // The manifest change that creates b.txt comes last in the push.
    const failedSeq = await relay.store.head(relay.worktreeId);
    // Then a change that would apply fine: it must not move relaySeq past the failed one.
    bob.fs.fault = { code: 'ENOSPC', path: /^b\.txt$/ };
    writeTree(alice.root, { 'c.txt': 'c\n' });
    await alice.session.push();
    await live;
    expect(bob.events.some((e) => e.type === 'error' && e.code === 'IO' && /no space left/.test(e.message))).toBe(true);
    expect(bob.state.relaySeq).toBeLessThan(failedSeq);
    expect(treeOf(bob.root)['b.txt']).toBeUndefined();

    // What the sync loop does next: reconnect and catch up (same connection here).
    bob.fs.fault = null;
    await bob.session.catchUp();
    expect(treeOf(bob.root)).toEqual(treeOf(alice.root));
    relay.close();
  });
});
