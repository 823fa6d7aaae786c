import { readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Replica } from '../../src/core/Replica.js';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { helloAsJoiner, helloAsSharer } from '../../src/sync/hello.js';
import { SYNC_PAGE_ITEMS, type SyncItem } from '../../src/sync/schema.js';
import { SyncLoop } from '../../src/sync/SyncLoop.js';
import { SyncSession, type SessionEvent, type SyncState } from '../../src/sync/SyncSession.js';
import { openReplica } from '../helpers/replica.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { treeOf } from '../helpers/tree.js';
import { waitFor } from './helpers.js';
import { RelayHarness } from './relay/harness.js';

const read = (root: string, rel: string) => readFileSync(join(root, rel), 'utf8');

interface Side {
  root: string;
  replica: Replica;
  session: SyncSession;
  state: SyncState;
}

async function side(relay: RelayHarness, role: 'sharer' | 'joiner' | 'ro', name: string, state: SyncState = { relaySeq: 0, acked: 0 }, root = tempDir()): Promise<Side> {
  const { replica } = await openReplica(root, new MemoryStore(), name);
  if (role === 'sharer' && state.acked === 0 && state.relaySeq === 0) state.acked = -1;
  const conn = relay.connect();
  const hello =
    role === 'sharer'
      ? await helloAsSharer(conn, { replica, worktreeId: relay.worktreeId, secrets: relay.secrets, name: 'app' })
      : await helloAsJoiner(conn, { replica, worktreeId: relay.worktreeId, secret: role === 'ro' ? relay.secrets.readOnly : relay.secrets.readWrite });
  const session = new SyncSession({ replica, conn, worktreeId: relay.worktreeId, access: hello.access!, state, saveState: async () => {} });
  return { root, replica, session, state };
}

/** One round: everyone uploads, then everyone catches up. */
async function round(...sides: Side[]): Promise<void> {
  for (const s of sides) await s.session.push();
  for (const s of sides) await s.session.catchUp();
}

describe('sync sessions through the relay service', () => {
  it('sharer and two joiners: create, edit, delete, rename and concurrent edits reach everyone', async () => {
    const relay = new RelayHarness();
    const alice = await side(relay, 'sharer', 'alice');
    writeTree(alice.root, { 'src/app.ts': 'let a = 1;\n', 'bin.dat': new Uint8Array([0, 9, 8]), 'README.md': '# app\n' });
    await alice.session.push();
    const bob = await side(relay, 'joiner', 'bob');
    const carol = await side(relay, 'joiner', 'carol');
    await bob.session.catchUp();
    await carol.session.catchUp();
    expect(treeOf(bob.root)).toEqual(treeOf(alice.root));
    expect(treeOf(carol.root)).toEqual(treeOf(alice.root));

    writeFileSync(join(bob.root, 'src/app.ts'), 'let a = 1;\nlet b = 2;\n');
    rmSync(join(carol.root, 'bin.dat'));
    renameSync(join(alice.root, 'README.md'), join(alice.root, 'docs.md'));
    writeTree(carol.root, { 'new.txt': 'from carol\n' });
    await round(alice, bob, carol);
    await round(alice, bob, carol);
    expect(treeOf(alice.root)).toEqual(treeOf(bob.root));
    expect(treeOf(carol.root)).toEqual(treeOf(bob.root));
    expect(Object.keys(treeOf(alice.root)).sort()).toEqual(['docs.md', 'new.txt', 'src/app.ts']);

    // Concurrent edits of one file merge.
    writeFileSync(join(alice.root, 'src/app.ts'), '// alice\nlet a = 1;\nlet b = 2;\n');
    writeFileSync(join(bob.root, 'src/app.ts'), 'let a = 1;\nlet b = 2;\n// bob\n');
    await round(alice, bob, carol);
    await round(alice, bob, carol);
    for (const s of [alice, bob, carol]) expect(read(s.root, 'src/app.ts')).toBe('// alice\nlet a = 1;\nlet b = 2;\n// bob\n');
  });

  it('refuses the edits of a read-only joiner and keeps its local copy', async () => {
    const relay = new RelayHarness();
    const alice = await side(relay, 'sharer', 'alice');
    writeTree(alice.root, { 'f.txt': 'original\n' });
    await alice.session.push();
    const ro = await side(relay, 'ro', 'reader');
    await ro.session.catchUp();
    expect(read(ro.root, 'f.txt')).toBe('original\n');
    writeFileSync(join(ro.root, 'f.txt'), 'vandalised\n');
    expect(await ro.session.push()).toBe(0);
    await alice.session.catchUp();
    expect(read(alice.root, 'f.txt')).toBe('original\n');
    // A write attempted anyway is refused by the relay, not just skipped by the client.
    const conn = relay.connect();
    await helloAsJoiner(conn, { replica: ro.replica, worktreeId: relay.worktreeId, secret: relay.secrets.readOnly });
    await expect(conn.request('manifest/upload', { worktreeId: relay.worktreeId, updates: [] })).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('a new joiner gets everything after the sharer has gone, and a rejoin fetches only what changed', async () => {
    const relay = new RelayHarness();
    const alice = await side(relay, 'sharer', 'alice');
    writeTree(alice.root, { 'a.txt': 'a\n', 'b.txt': 'b\n' });
    await alice.session.push();
    const bob = await side(relay, 'joiner', 'bob');
    await bob.session.catchUp();
    const bobState = { ...bob.state };
    writeFileSync(join(alice.root, 'a.txt'), 'a2\n');
    await alice.session.push();
    // Alice quits; Dave joins later and gets the latest state from the relay.
    const dave = await side(relay, 'joiner', 'dave');
    await dave.session.catchUp();
    expect(treeOf(dave.root)).toEqual(treeOf(alice.root));
    // Bob comes back with his saved state: only the one change arrives.
    const applied = await bob.session.catchUp();
    expect(applied.map((c) => `${c.kind} ${c.path}`)).toEqual(['edit a.txt']);
    expect(bob.state.relaySeq).toBeGreaterThan(bobState.relaySeq);
  });

  it("a catch-up skips the replica's own changes (a sharer's first one after its upload lists them all) and applies the others", async () => {
    const relay = new RelayHarness();
    const alice = await side(relay, 'sharer', 'alice');
    writeTree(alice.root, Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}.txt`, `file ${i}\n`])));
    await alice.session.push();
    const bob = await side(relay, 'joiner', 'bob');
    await bob.session.catchUp();
    writeFileSync(join(bob.root, 'f3.txt'), 'bob was here\n');
    await bob.session.push();
    // As a sharer's first live catch-up after its upload: from before its own changes.
    alice.state.relaySeq = 0;
    const origins: string[] = [];
    const apply = alice.replica.applyChanges.bind(alice.replica);
    alice.replica.applyChanges = (changes, origin, ...rest) => {
      origins.push(origin.replica);
      return apply(changes, origin, ...rest);
    };
    const before = alice.state.relaySeq;
    const applied = await alice.session.catchUp();
    expect(applied.map((c) => `${c.kind} ${c.path}`)).toEqual(['edit f3.txt']);
    // Only bob's change was handed to the replica: none of alice's own 30 creates.
    expect(origins).toEqual([bob.replica.identity.replicaId]);
    expect(alice.state.relaySeq).toBeGreaterThan(before);
    expect(read(alice.root, 'f3.txt')).toBe('bob was here\n');
  });

  it('orders a first upload by the files being worked on, and reads nothing for it when there is nothing to order', async () => {
    const relay = new RelayHarness();
    const alice = await side(relay, 'sharer', 'alice');
    writeTree(alice.root, { 'a.txt': 'a\n', 'b.bin': new Uint8Array([0, 1, 2, 3]), 'c.txt': 'c\n' });
    const reads: string[] = [];
    const aliceRecent = alice.replica.recentFileIds.bind(alice.replica);
    alice.replica.recentFileIds = (ms) => (reads.push('alice'), aliceRecent(ms));
    let announced = 0;
    await alice.session.push({ afterManifest: () => void announced++ });
    expect(reads).toEqual(['alice']);
    const bob = await side(relay, 'joiner', 'bob');
    await bob.session.catchUp();
    const recent = bob.replica.recentFileIds.bind(bob.replica);
    bob.replica.recentFileIds = (ms) => (reads.push('bob'), recent(ms));
    // A joiner's first push after its catch-up: nothing of its own to upload.
    await bob.session.push({ afterManifest: () => void announced++ });
    expect(reads).toEqual(['alice']);
    expect(announced).toBe(2);
  });

  it('after one small offline edit on a long history, uploads about the size of the edit', async () => {
    const relay = new RelayHarness();
    const events: { bytes: number }[] = [];
    const alice = await side(relay, 'sharer', 'alice');
    (alice.session as unknown as { opts: { onEvent: (e: { type: string; bytes?: number }) => void } }).opts.onEvent = (e) => {
      if (e.type === 'uploaded') events.push({ bytes: e.bytes! });
    };
    let text = '';
    for (let i = 0; i < 200; i++) {
      text += `line ${i}\n`;
      writeTree(alice.root, { 'log.txt': text });
      await alice.session.push();
    }
    writeTree(alice.root, { 'log.txt': text.replace('line 100', 'LINE 100') });
    await alice.session.push();
    const last = events.at(-1)!.bytes;
    const total = events.reduce((n, e) => n + e.bytes, 0);
    // The edit's Yjs update, and its log entry for the other replicas' history (~150 bytes).
    expect(last).toBeLessThan(400);
    expect(total).toBeGreaterThan(20 * last);
    const bob = await side(relay, 'joiner', 'bob');
    await bob.session.catchUp();
    expect(read(bob.root, 'log.txt')).toBe(text.replace('line 100', 'LINE 100'));
  });

  it('offers content before uploading it: blobs the relay already has are not sent again', async () => {
    const relay = new RelayHarness();
    const root = tempDir();
    const big = new Uint8Array(200_000).map((_, i) => (i * 7) % 256);
    writeTree(root, { 'a.bin': big, 'b.txt': 'hello\n'.repeat(1000) });
    const uploads: number[] = [];
    const onEvent = (e: { type: string; bytes?: number }) => {
      if (e.type === 'uploaded') uploads.push(e.bytes!);
    };
    const first = await side(relay, 'sharer', 'alice', { relaySeq: 0, acked: -1 }, root);
    (first.session as unknown as { opts: { onEvent: typeof onEvent } }).opts.onEvent = onEvent;
    await first.session.push();
    expect(uploads[0]).toBeGreaterThan(big.byteLength);
    // The same worktree shared again from scratch (its acknowledged state lost): the offer
    // finds both blobs on the relay, so only the manifest goes up.
    const again = await side(relay, 'sharer', 'alice', { relaySeq: 0, acked: -1 }, root);
    (again.session as unknown as { opts: { onEvent: typeof onEvent } }).opts.onEvent = onEvent;
    await again.session.push();
    expect(uploads[1]).toBeLessThan(2000);
    const bob = await side(relay, 'joiner', 'bob');
    await bob.session.catchUp();
    expect(treeOf(bob.root)).toEqual(treeOf(root));
  });

  it('a joiner gets files the sharer has not uploaded yet: the relay asks the sharer for them during its upload (need)', async () => {
    const relay = new RelayHarness(new MemoryStore(), { service: { needTimeoutMs: 4000 } });
    const root = tempDir();
    const files: Record<string, string> = {};
    for (let i = 0; i < 150; i++) files[`src/f${i}.txt`] = `file ${i}\n`.repeat(40);
    writeTree(root, files);
    // Dated a month back: none is a file being worked on, so all upload after the join code.
    const old = new Date(Date.now() - 30 * 24 * 3600_000);
    for (const rel of Object.keys(files)) utimesSync(join(root, rel), old, old);
    const { replica } = await openReplica(root, new MemoryStore(), 'alice');
    // The sharer's background upload is held (every file/upload waits), so whatever the
    // joiner gets must come through `need`, answered with blob/upload beside it.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const events: SessionEvent[] = [];
    let announce!: () => void;
    const sharing = new Promise<void>((r) => (announce = r));
    const ac = new AbortController();
    const loop = new SyncLoop({
      replica, worktreeId: relay.worktreeId, state: { relaySeq: 0, acked: -1 }, saveState: async () => {}, signal: ac.signal,
      connect: async () => {
        const conn = relay.connect();
        const request = conn.request.bind(conn);
        conn.request = (async (name: string, payload: unknown, opts: unknown) => {
          if (name === 'file/upload') await held;
          return (request as (n: string, p: unknown, o: unknown) => Promise<unknown>)(name, payload, opts);
        }) as typeof conn.request;
        const hello = await helloAsSharer(conn, { replica, worktreeId: relay.worktreeId, secrets: relay.secrets, name: 'app' });
        return { conn, access: hello.access! };
      },
      onEvent: (e) => events.push(e),
      onInSync: () => announce(),
    });
    const running = loop.run();
    try {
      await sharing;
      const bob = await side(relay, 'joiner', 'bob');
      await bob.session.catchUp();
      expect(treeOf(bob.root)).toEqual(treeOf(root));
      expect(events.filter((e) => e.type === 'uploaded')).toEqual([]);
      release();
      await waitFor(() => events.some((e) => e.type === 'uploaded'), 10_000, 'the upload to finish');
    } finally {
      release();
      ac.abort();
      await running;
    }
  });
});

describe('catch-up in pages', () => {
  it('pages carry the logged items in seq order, at most SYNC_PAGE_ITEMS each, the head last; a catch-up from them gives the tree', async () => {
    const relay = new RelayHarness();
    const alice = await side(relay, 'sharer', 'alice');
    writeTree(alice.root, Object.fromEntries(Array.from({ length: 700 }, (_, i) => [`d${i % 9}/f${i}.txt`, `file ${i}\n`])));
    await alice.session.push();

    const conn = relay.connect();
    await helloAsJoiner(conn, { replica: alice.replica, worktreeId: relay.worktreeId, secret: relay.secrets.readOnly });
    const pages: SyncItem[][] = [];
    for await (const page of conn.requestStream('worktree/sync-pages', { worktreeId: relay.worktreeId, after: 0 })) pages.push(page.items);
    const items = pages.flat();
    expect(items.length).toBeGreaterThan(700);
    expect(pages.length).toBeGreaterThan(1);
    expect(pages.every((p) => p.length > 0 && p.length <= SYNC_PAGE_ITEMS)).toBe(true);
    const seqs = items.map((item) => item.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(items.at(-1)).toEqual({ type: 'head', seq: await relay.store.head(relay.worktreeId) });
    expect(items.filter((item) => item.type === 'head')).toHaveLength(1);

    const { replica } = await openReplica(tempDir(), new MemoryStore(), 'bob');
    const c = relay.connect();
    const hello = await helloAsJoiner(c, { replica, worktreeId: relay.worktreeId, secret: relay.secrets.readWrite });
    const session = new SyncSession({ replica, conn: c, worktreeId: relay.worktreeId, access: hello.access!, state: { relaySeq: 0, acked: 0 }, saveState: async () => {} });
    await session.catchUp();
    expect(treeOf(replica.root)).toEqual(treeOf(alice.root));
  });
});
