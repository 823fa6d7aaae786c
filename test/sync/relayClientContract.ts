import { afterEach, describe, expect, it } from 'vitest';
import { gitBlobId } from '../../src/core/digest.js';
import type { RelayClient } from '../../src/sync/client/RelayClient.js';
import { hashSecret, type ShareSecrets } from '../../src/sync/joinCode.js';
import type { HistoryEntry, SyncItem, WorktreeEvent } from '../../src/sync/schema.js';
import { waitFor } from './helpers.js';
import { collect, manifestUpdate, rejection, textUpdate } from './relay/harness.js';

/** A relay and a way to open connections to it, for one run of the contract. */
export interface ContractRelay {
  worktreeId: string;
  secrets: ShareSecrets;
  /** A new connection (no hello yet) from `peer`, for `worktreeId` (this relay's by default). */
  connect(opts?: { peer?: string; worktreeId?: string }): RelayClient;
  close(): void;
}

/** The first `need` event of `feed` (peers coming and going are skipped). */
async function nextNeed(feed: AsyncIterable<WorktreeEvent>): Promise<WorktreeEvent | undefined> {
  for await (const e of feed) if (e.type === 'need') return e;
  return undefined;
}

const history = (path: string): HistoryEntry => ({ seq: 1, kind: 'create', time: 1_700_000_000_000, author: 'alice', fileId: 'f1', path, inserted: 1, deleted: 0 });

/**
 * What every {@link RelayClient} must do, whatever carries it (as automerge-repo's
 * `runNetworkAdapterTests`): run against the RPC client over `MemoryTransport` to a real
 * `RelayService`, and against the in-memory twin (`RelayClient.test.ts`).
 */
export function runRelayClientContract(name: string, make: () => ContractRelay): void {
  describe(`RelayClient contract: ${name}`, () => {
    let relay: ContractRelay;
    afterEach(() => relay?.close());

    /** A sharer that registered the worktree, and a joiner with the read-write code. */
    async function sharerAndJoiner(): Promise<{ alice: RelayClient; bob: RelayClient }> {
      relay = make();
      const alice = relay.connect({ peer: 'pa' });
      const hello = await alice.hello({ role: 'sharer', secret: relay.secrets.readWrite, replicaId: 'alice', name: 'alice', register: { readOnlyHash: hashSecret(relay.secrets.readOnly), name: 'app' } });
      expect(hello).toMatchObject({ ok: true, access: 'rw', created: true, seq: 0 });
      const bob = relay.connect({ peer: 'pb' });
      expect(await bob.hello({ role: 'joiner', secret: relay.secrets.readWrite, replicaId: 'bob', name: 'bob' })).toMatchObject({ ok: true, access: 'rw', seq: 0 });
      return { alice, bob };
    }

    it('upload then catch-up returns it: every kind, in seq order, by its uploader, then the head', async () => {
      const { alice, bob } = await sharerAndJoiner();
      const manifest = manifestUpdate({ f1: 'a.txt' });
      const [u1, u2] = [textUpdate('one\n', 11), textUpdate('two\n', 12)];
      const small = new TextEncoder().encode('binary\0content');
      // Without a file id, and over a chunk: goes up in pieces.
      const big = new Uint8Array(2 * 1024 * 1024 + 5);
      for (let i = 0; i < big.length; i++) big[i] = i % 251;
      expect(alice.stored).toBe(0);
      await alice.uploadManifest([manifest]);
      expect(alice.stored).toBe(1);
      await alice.uploadFileUpdates('f1', [u1, u2]);
      expect(alice.stored).toBe(3);
      await alice.uploadBlob({ digest: gitBlobId(small), bytes: small, fileId: 'f2' });
      await alice.uploadBlob({ digest: gitBlobId(big), bytes: big });
      expect(await alice.uploadHistory([history('a.txt')])).toBeGreaterThan(0);
      // What the relay acknowledged storing, for a relay that later loses it (catchUp.ts).
      expect(alice.stored).toBe(6);
      expect(bob.stored).toBe(0);

      const items = await collect(bob.catchUp(0));
      expect(items.map((i) => [i.type, i.seq])).toEqual([['manifest', 1], ['file-update', 2], ['file-update', 3], ['blob', 4], ['blob', 5], ['history', 6], ['head', 6]]);
      const [m, f1, f2, b1, b2, h] = items as Exclude<SyncItem, { type: 'head' }>[];
      expect(items.slice(0, -1).every((i) => 'by' in i && i.by === 'alice')).toBe(true);
      expect(m).toMatchObject({ update: manifest });
      expect([f1, f2]).toMatchObject([{ fileId: 'f1', update: u1 }, { fileId: 'f1', update: u2 }]);
      expect([b1, b2]).toMatchObject([{ digest: gitBlobId(small), size: small.byteLength }, { digest: gitBlobId(big), size: big.byteLength }]);
      expect(h).toMatchObject({ entries: [history('a.txt')] });
      expect(await collect(bob.catchUp(4))).toHaveLength(3);
      expect(await collect(bob.catchUp(6))).toEqual([{ type: 'head', seq: 6 }]);

      // Compared by their git blob ids: a deep comparison of megabytes takes minutes.
      expect(gitBlobId(await bob.fetchBlob(gitBlobId(big)))).toBe(gitBlobId(big));
      const both = await bob.fetchBlobs([{ digest: gitBlobId(small), size: small.byteLength }, { digest: gitBlobId(big), size: big.byteLength }]);
      expect([...both].map(([d, bytes]) => [d, gitBlobId(bytes)]).sort()).toEqual([[gitBlobId(small), gitBlobId(small)], [gitBlobId(big), gitBlobId(big)]].sort());
    });

    it('an offer answers what the relay lacks', async () => {
      const { alice } = await sharerAndJoiner();
      const stored = new TextEncoder().encode('stored');
      await alice.uploadBlob({ digest: gitBlobId(stored), bytes: stored, fileId: 'f1' });
      const answers = await collect(alice.offer([
        { path: 'stored.bin', fileId: 'f1', digest: gitBlobId(stored) },
        { path: 'missing.bin', fileId: 'f2', digest: gitBlobId(new TextEncoder().encode('missing')) },
      ]));
      expect(answers.flatMap((a) => a.entries.map((e) => e.fileId))).toEqual(['f1', 'f2']);
      expect(answers.flatMap((a) => a.need)).toEqual(['f2']);
    });

    it('live events arrive in seq order, to the other connections only, with peers coming and going', async () => {
      const { alice, bob } = await sharerAndJoiner();
      const events: WorktreeEvent[] = [];
      const own: WorktreeEvent[] = [];
      const feed = bob.subscribe();
      const aliceFeed = alice.subscribe();
      await Promise.all([feed.ready, aliceFeed.ready]);
      const reading = (async () => {
        for await (const e of feed) events.push(e);
      })();
      const aliceReading = (async () => {
        for await (const e of aliceFeed) own.push(e);
      })();
      const blob = new TextEncoder().encode('blob');
      await alice.uploadManifest([manifestUpdate({ f1: 'a.txt' }), manifestUpdate({ f2: 'b.txt' }, 8)]);
      await alice.uploadFileUpdates('f1', [textUpdate('x', 21), textUpdate('y', 22), textUpdate('z', 23)]);
      await alice.uploadBlob({ digest: gitBlobId(blob), bytes: blob, fileId: 'f3' });
      await alice.uploadHistory([history('a.txt')]);
      const carol = relay.connect({ peer: 'pc' });
      await carol.hello({ role: 'joiner', secret: relay.secrets.readOnly, replicaId: 'carol', name: 'carol' });
      await waitFor(() => events.length >= 9, 5000, 'the live events');
      // A new feed starts with who is here already.
      expect(events[0]).toEqual({ type: 'peer-joined', replicaId: 'alice', name: 'alice', role: 'sharer' });
      expect(own[0]).toEqual({ type: 'peer-joined', replicaId: 'bob', name: 'bob', role: 'joiner' });
      const changes = events.filter((e) => e.type !== 'peer-joined');
      expect(changes.map((e) => e.type)).toEqual(['manifest', 'manifest', 'file-update', 'file-update', 'file-update', 'blob', 'history']);
      expect(changes.map((e) => ('seq' in e ? e.seq : -1))).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(changes.every((e) => 'by' in e && e.by === 'alice')).toBe(true);
      // Carol has the read-only code: the others are told.
      expect(events.at(-1)).toEqual({ type: 'peer-joined', replicaId: 'carol', name: 'carol', role: 'joiner', readOnly: true });
      // The uploader hears of others, never of its own changes.
      await waitFor(() => own.length >= 2, 5000, "carol's arrival on alice's feed");
      expect(own.slice(1)).toEqual([{ type: 'peer-joined', replicaId: 'carol', name: 'carol', role: 'joiner', readOnly: true }]);
      carol.close();
      await waitFor(() => events.length >= 10, 5000, 'peer-left');
      expect(events.at(-1)).toEqual({ type: 'peer-left', replicaId: 'carol' });
      feed.unsubscribe();
      aliceFeed.unsubscribe();
      await Promise.all([reading, aliceReading]);
    });

    it('presence goes to the others with the sender\'s replica id, is replayed to a late subscriber after its peer-joined events, and is dropped when its sender leaves', async () => {
      const { alice, bob } = await sharerAndJoiner();
      const state = { path: 'src/a.ts', selections: [{ anchor: Uint8Array.of(1, 2, 3), head: Uint8Array.of(4, 5) }], line: 7, column: 2 };
      const bobEvents: WorktreeEvent[] = [];
      const own: WorktreeEvent[] = [];
      const feed = bob.subscribe();
      const aliceFeed = alice.subscribe();
      await Promise.all([feed.ready, aliceFeed.ready]);
      const reading = (async () => {
        for await (const e of feed) bobEvents.push(e);
      })();
      let aliceEnd: unknown;
      const aliceReading = (async () => {
        for await (const e of aliceFeed) own.push(e);
      })().catch((err: unknown) => (aliceEnd = err));
      await alice.sendPresence(state);
      await waitFor(() => bobEvents.some((e) => e.type === 'presence'), 5000, "alice's presence");
      expect(bobEvents.filter((e) => e.type === 'presence')).toEqual([{ type: 'presence', replicaId: 'alice', state }]);

      // A read-only joiner may send it too; it comes later, and gets both states after who is here.
      const carol = relay.connect({ peer: 'pc' });
      await carol.hello({ role: 'joiner', secret: relay.secrets.readOnly, replicaId: 'carol', name: 'carol' });
      await bob.sendPresence(null);
      const carolEvents: WorktreeEvent[] = [];
      const carolFeed = carol.subscribe();
      await carolFeed.ready;
      const carolReading = (async () => {
        for await (const e of carolFeed) carolEvents.push(e);
      })();
      await waitFor(() => carolEvents.length >= 4, 5000, "carol's first events");
      expect(carolEvents.slice(0, 2).map((e) => e.type)).toEqual(['peer-joined', 'peer-joined']);
      expect(carolEvents.slice(2, 4).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
        { type: 'presence', replicaId: 'alice', state },
        { type: 'presence', replicaId: 'bob' },
      ]);
      await carol.sendPresence({ ...state, path: 'b.txt', line: 1 });
      await waitFor(() => bobEvents.some((e) => e.type === 'presence' && e.replicaId === 'carol'), 5000, "carol's presence");
      // Nobody hears its own presence back.
      expect(own.filter((e) => e.type === 'presence').map((e) => (e as { replicaId: string }).replicaId).sort()).toEqual(['bob', 'carol']);

      // Alice leaves: a later subscriber hears nothing of her, not even her last state.
      alice.close();
      await waitFor(() => bobEvents.some((e) => e.type === 'peer-left' && e.replicaId === 'alice'), 5000, "alice's departure");
      const late = relay.connect({ peer: 'pd' });
      await late.hello({ role: 'joiner', secret: relay.secrets.readWrite, replicaId: 'dave', name: 'dave' });
      const lateFeed = late.subscribe();
      await lateFeed.ready;
      const lateEvents: WorktreeEvent[] = [];
      const lateReading = (async () => {
        for await (const e of lateFeed) lateEvents.push(e);
      })();
      await waitFor(() => lateEvents.length >= 4, 5000, "dave's first events");
      expect(lateEvents.some((e) => 'replicaId' in e && e.replicaId === 'alice')).toBe(false);
      expect(lateEvents.filter((e) => e.type === 'presence').map((e) => (e as { replicaId: string }).replicaId).sort()).toEqual(['bob', 'carol']);
      // Presence is never logged: nothing to catch up on.
      expect(await collect(late.catchUp(0))).toEqual([{ type: 'head', seq: 0 }]);
      for (const f of [feed, carolFeed, lateFeed]) f.unsubscribe();
      await Promise.all([reading, carolReading, lateReading, aliceReading]);
      expect(aliceEnd).toMatchObject({ code: 'CONNECTION_CLOSED' });
    });

    it('a blob nobody has is NOT_FOUND; a batch fetch leaves it out', async () => {
      const { bob } = await sharerAndJoiner();
      const digest = gitBlobId(new TextEncoder().encode('nowhere'));
      const err = await rejection(bob.fetchBlob(digest));
      // Clearly: its own code, and the blob named.
      expect(err.code).toBe('NOT_FOUND');
      expect(err.message).toContain(digest);
      expect((await bob.fetchBlobs([{ digest, size: 7 }])).size).toBe(0);
    });

    it('a blob offered but not uploaded yet is asked of its offerer (need), and arrives', async () => {
      const { alice, bob } = await sharerAndJoiner();
      const bytes = new TextEncoder().encode('wanted');
      const digest = gitBlobId(bytes);
      const feed = alice.subscribe();
      await feed.ready;
      expect((await collect(alice.offer([{ path: 'w.bin', fileId: 'fw', digest }]))).flatMap((a) => a.need)).toEqual(['fw']);
      const fetched = bob.fetchBlob(digest);
      expect(await nextNeed(feed)).toEqual({ type: 'need', digest });
      await alice.uploadBlob({ digest, bytes, fileId: 'fw' });
      expect(await fetched).toEqual(bytes);
    });

    it('an unknown worktree or a wrong secret is refused as UNAUTHORIZED; a read-only code cannot write', async () => {
      const { alice } = await sharerAndJoiner();
      expect(await alice.worktreeName(relay.secrets.readOnly)).toBe('app');
      const hello = { role: 'joiner' as const, replicaId: 'mallory', name: 'mallory' };
      const wrong = await rejection(relay.connect({ peer: 'pm' }).hello({ ...hello, secret: new Uint8Array(32).fill(7) }));
      expect(wrong.code).toBe('UNAUTHORIZED');
      const unknown = await rejection(relay.connect({ peer: 'pm', worktreeId: 'no-such-worktree' }).hello({ ...hello, secret: relay.secrets.readWrite }));
      expect(unknown).toMatchObject({ code: 'UNAUTHORIZED', message: wrong.message });
      expect((await rejection(relay.connect({ peer: 'pm' }).worktreeName(new Uint8Array(32).fill(7)))).code).toBe('UNAUTHORIZED');
      expect((await rejection(collect(relay.connect({ peer: 'pm' }).catchUp(0)))).code).toBe('UNAUTHORIZED');
      const sharerRo = await rejection(relay.connect({ peer: 'pm' }).hello({ ...hello, role: 'sharer', secret: relay.secrets.readOnly }));
      expect(sharerRo.code).toBe('FORBIDDEN');

      const reader = relay.connect({ peer: 'pr' });
      expect(await reader.hello({ ...hello, replicaId: 'reader', secret: relay.secrets.readOnly })).toMatchObject({ access: 'ro' });
      expect((await rejection(reader.uploadManifest([manifestUpdate({ f1: 'a.txt' })]))).code).toBe('FORBIDDEN');
      expect(await collect(reader.catchUp(0))).toEqual([{ type: 'head', seq: 0 }]);
    });

    it('a closed connection rejects its pending calls, and every later one, with CONNECTION_CLOSED', async () => {
      const { alice, bob } = await sharerAndJoiner();
      const digest = gitBlobId(new TextEncoder().encode('never uploaded'));
      const feed = alice.subscribe();
      await feed.ready;
      await collect(alice.offer([{ path: 'n.bin', fileId: 'fn', digest }]));
      // Waits for alice, who never uploads it.
      const pending = bob.fetchBlob(digest);
      const bobFeed = bob.subscribe();
      await bobFeed.ready;
      expect(await nextNeed(feed)).toEqual({ type: 'need', digest });
      bob.close();
      expect((await rejection(pending)).code).toBe('CONNECTION_CLOSED');
      expect((await rejection(collect(bobFeed))).code).toBe('CONNECTION_CLOSED');
      expect((await rejection(() => bob.uploadManifest([manifestUpdate({ f1: 'a.txt' })]))).code).toBe('CONNECTION_CLOSED');
      expect((await rejection(() => collect(bob.catchUp(0)))).code).toBe('CONNECTION_CLOSED');
    });
  });
}
