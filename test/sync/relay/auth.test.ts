import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { gitBlobId } from '../../../src/core/digest.js';
import { hashSecret, newShareSecrets, worktreeIdToString } from '../../../src/sync/joinCode.js';
import { PROTOCOL_VERSION } from '../../../src/sync/schema.js';
import type { KvStore } from '../../../src/core/ports.js';
import { RelayHarness, STORAGES, type HarnessStorage, collect, loggedItems, entry, manifestUpdate, rejection, textUpdate } from './harness.js';

const harnesses: RelayHarness[] = [];
/** A relay on the storage of the `describe.each` running (see `STORAGES`). */
let storage: HarnessStorage = 'store';
function relay(kv?: KvStore, opts: ConstructorParameters<typeof RelayHarness>[1] = {}): RelayHarness {
  const h = new RelayHarness(kv, { storage, ...opts });
  harnesses.push(h);
  return h;
}
afterEach(() => {
  for (const h of harnesses.splice(0)) h.close();
});

describe.each(STORAGES)('relay: hello and access, on %s', (_name, kind) => {
  beforeAll(() => {
    storage = kind;
  });

  it('registers a worktree for its sharer, resumes it, and lets joiners in with either secret', async () => {
    const h = relay();
    const a = h.connect();
    await expect(h.shareHello(a)).resolves.toEqual({ ok: true, relayId: 'relay-test', access: 'rw', seq: 0, created: true });
    const again = h.connect();
    await expect(h.shareHello(again, 'alice2')).resolves.toMatchObject({ access: 'rw', created: false });
    const reg = await h.store.getWorktree(h.worktreeId);
    expect(reg?.name).toBe('app');
    // Only hashes are stored.
    expect(Buffer.from(reg!.readWriteHash).equals(h.secrets.readWrite)).toBe(false);
    await expect(h.joinHello(h.connect(), 'bob', h.secrets.readWrite)).resolves.toMatchObject({ ok: true, access: 'rw' });
    await expect(h.joinHello(h.connect(), 'carol', h.secrets.readOnly)).resolves.toMatchObject({ ok: true, access: 'ro' });
  });

  it('refuses a wrong secret, an unknown worktree and a missing secret', async () => {
    const h = relay();
    await h.sharer();
    const wrong = await rejection(h.joinHello(h.connect(), 'bob', new Uint8Array(16).fill(7)));
    expect(wrong.code).toBe('UNAUTHORIZED');
    expect(wrong.message).toMatch(/no worktree with that join code/);
    // A sharer cannot take over an existing worktree id by "registering" it again.
    const c = h.connect();
    const hijack = await rejection(
      c.request('hello', {
        protocol: PROTOCOL_VERSION,
        worktreeId: h.worktreeId,
        secretProof: new Uint8Array(16).fill(1),
        replicaId: 'mallory',
        name: 'm',
        role: 'sharer',
        register: { readOnlyHash: new Uint8Array(32), name: 'x' },
      }),
    );
    expect(hijack.code).toBe('UNAUTHORIZED');
    // An unknown worktree gets the very same answer: nobody learns which worktrees exist.
    const unknown = await rejection(h.joinHello(h.connect(), 'bob', h.secrets.readWrite, 'joiner', 'nosuchworktree'));
    expect({ code: unknown.code, message: unknown.message }).toEqual({ code: wrong.code, message: wrong.message });
    const bare = await rejection(h.connect().request('hello', { protocol: PROTOCOL_VERSION, worktreeId: h.worktreeId, replicaId: 'bob', name: 'bob', role: 'joiner' }));
    expect(bare.code).toBe('UNAUTHORIZED');
    const old = await rejection(h.connect().request('hello', { protocol: PROTOCOL_VERSION + 1, worktreeId: h.worktreeId, secretProof: h.secrets.readWrite, replicaId: 'bob', name: 'bob', role: 'joiner' }));
    expect(old.code).toBe('PROTOCOL');
    expect(old.message).toMatch(/upgrade/);
  });

  it('answers nothing but worktree/info before hello, and hello only once', async () => {
    const h = relay();
    await h.sharer();
    const c = h.connect();
    const W = h.worktreeId;
    await expect(c.request('worktree/info', { worktreeId: W, secretProof: h.secrets.readOnly })).resolves.toEqual({ name: 'app' });
    const calls: (() => Promise<unknown>)[] = [
      () => c.request('manifest/offer', { worktreeId: W, entries: [] }),
      () => c.request('manifest/upload', { worktreeId: W, updates: [manifestUpdate({ f1: 'a' })] }),
      () => c.request('file/upload', { worktreeId: W, fileId: 'f1', updates: [textUpdate('x')] }),
      () => c.request('blob/upload', { worktreeId: W, digest: gitBlobId(Uint8Array.of(1)), size: 1, offset: 0, data: Uint8Array.of(1) }),
      () => collect(loggedItems(c, { worktreeId: W, after: 0 })),
      () => collect(c.requestStream('blob/fetch', { worktreeId: W, digest: gitBlobId(Uint8Array.of(1)) })),
      () => collect(c.subscribe(`/worktrees/${W}`)),
    ];
    for (const call of calls) expect((await rejection(call)).code).toBe('UNAUTHORIZED');
    await h.joinHello(c, 'bob', h.secrets.readOnly);
    expect((await rejection(h.joinHello(c, 'bob', h.secrets.readWrite))).code).toBe('PROTOCOL');
    expect(await h.store.head(W)).toBe(0);
  });

  it('binds a connection to its worktree', async () => {
    const h = relay();
    const other = relay();
    await other.sharer();
    const a = await h.sharer();
    const W2 = other.worktreeId;
    // Both relays share nothing here, but the binding check comes first anyway.
    const err = await rejection(a.request('manifest/offer', { worktreeId: W2, entries: [] }));
    expect(err.code).toBe('FORBIDDEN');
    expect((await rejection(collect(loggedItems(a, { worktreeId: 'someoneelse', after: 0 })))).code).toBe('FORBIDDEN');
    expect((await rejection(collect(a.subscribe('/worktrees/someoneelse')))).code).toBe('FORBIDDEN');
  });

  it('refuses every write made with a read-only code, and sharing with one', async () => {
    const h = relay();
    await h.sharer();
    const ro = await h.joiner('carol', 'ro');
    const W = h.worktreeId;
    const writes: (() => Promise<unknown>)[] = [
      () => ro.request('manifest/offer', { worktreeId: W, entries: [{ path: 'a.txt', fileId: 'f1', digest: entry('a').digest }] }),
      () => ro.request('manifest/upload', { worktreeId: W, updates: [manifestUpdate({ f1: 'a' })] }),
      () => ro.request('file/upload', { worktreeId: W, fileId: 'f1', updates: [textUpdate('x')] }),
      () => ro.request('file/upload', { worktreeId: W, fileId: 'f1', blob: Uint8Array.of(1) }),
      () => ro.request('blob/upload', { worktreeId: W, digest: gitBlobId(Uint8Array.of(1)), size: 1, offset: 0, data: Uint8Array.of(1) }),
    ];
    for (const w of writes) {
      const err = await rejection(w);
      expect(err.code).toBe('FORBIDDEN');
      expect(err.message).toMatch(/this join code is read-only/);
    }
    // Reads work, and show that nothing was written.
    const items = await collect(loggedItems(ro, { worktreeId: W, after: 0 }));
    expect(items).toEqual([{ type: 'head', seq: 0 }]);
    const sharing = await rejection(h.shareHello(h.connect(), 'carol', h.secrets.readOnly));
    expect(sharing.code).toBe('FORBIDDEN');
    expect(sharing.message).toMatch(/this join code is read-only/);
  });

  it('keeps worktrees apart: a digest stored for one is still needed by another', async () => {
    const h = relay();
    const a = await h.sharer();
    const blob = Uint8Array.of(1, 2, 3);
    await a.request('file/upload', { worktreeId: h.worktreeId, fileId: 'f1', blob });
    const s2 = newShareSecrets();
    const W2 = worktreeIdToString(s2.worktreeId);
    const m = h.connect();
    await m.request('hello', {
      protocol: PROTOCOL_VERSION,
      worktreeId: W2,
      secretProof: s2.readWrite,
      replicaId: 'mallory',
      name: 'mallory',
      role: 'sharer',
      register: { readOnlyHash: hashSecret(s2.readOnly), name: 'other' },
    });
    // Otherwise an offer could "prove" a digest it does not have and then fetch the content.
    await expect(m.request('manifest/offer', { worktreeId: W2, entries: [{ path: 'x', fileId: 'f1', digest: gitBlobId(blob) }] })).resolves.toEqual({ need: ['f1'] });
    expect((await rejection(collect(m.requestStream('blob/fetch', { worktreeId: W2, digest: gitBlobId(blob) })))).code).toBe('NOT_FOUND');
    expect((await rejection(collect(m.requestStream('blob/fetch', { worktreeId: h.worktreeId, digest: gitBlobId(blob) })))).code).toBe('FORBIDDEN');
  });

  it('bounds connections per worktree, per kind of peer', async () => {
    const h = relay(undefined, { service: { sessions: { maxReadOnly: 1 } } });
    await h.sharer();
    const b = await h.joiner('bob', 'ro');
    expect((await rejection(h.joinHello(h.connect('carol'), 'carol', h.secrets.readOnly))).code).toBe('OVERLOADED');
    // Readers filling their pool take nothing from the writers'.
    await h.joiner('dave', 'rw');
    b.close();
    await b.closed;
    // The slot frees once the relay sees the close.
    const deadline = Date.now() + 5000;
    for (;;) {
      const res = await h.joinHello(h.connect('carol'), 'carol', h.secrets.readOnly).catch((err: { code?: string }) => err);
      if ('ok' in res) break;
      expect(res.code).toBe('OVERLOADED');
      if (Date.now() > deadline) throw new Error('the slot was never freed');
      await new Promise((r) => setTimeout(r, 5));
    }
  });

  it('bounds subscriptions per connection', async () => {
    const h = relay(undefined, { server: { maxSubscriptions: 8 } });
    const a = await h.sharer();
    const subs = Array.from({ length: 50 }, () => a.subscribe(`/worktrees/${h.worktreeId}`));
    const results = await Promise.allSettled(subs.map((s) => s.ready));
    const refused = results.filter((r) => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(8);
    for (const r of refused) expect((r as PromiseRejectedResult).reason.code).toBe('OVERLOADED');
    // The connection still works.
    await expect(a.request('manifest/offer', { worktreeId: h.worktreeId, entries: [] })).resolves.toEqual({ need: [] });
    for (const s of subs) s.unsubscribe();
  });
});
