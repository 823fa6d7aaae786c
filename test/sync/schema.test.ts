import { describe, expect, it } from 'vitest';
import { MAX_UPDATES_PER_MESSAGE, MESSAGE_BYTES, PROTOCOL_VERSION, checkPeerProtocol, cshareSchema, messageSlices, worktreeResource } from '../../src/sync/schema.js';
import { decodeValue, encodeValue, type Value } from '../../src/sync/rpc/codec.js';

const digest = 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391';
const roundTrip = (v: unknown): unknown => decodeValue(encodeValue(v as Value));

describe('schema validators', () => {
  const hello = { protocol: 1, replicaId: 'r1', name: 'alice', role: 'sharer' };

  it('accept well-formed messages, also after a trip through the codec', () => {
    const ok: [(v: unknown) => boolean, unknown][] = [
      [cshareSchema.requests.hello.request, hello],
      [cshareSchema.requests.hello.request, { ...hello, worktreeId: 'w1', secretProof: new Uint8Array(32) }],
      [cshareSchema.requests.hello.response, { ok: true, relayId: 'relay-1' }],
      [cshareSchema.requests['manifest/offer'].request, { worktreeId: 'w', entries: [{ path: 'src/a.ts', fileId: 'f1', digest, vector: Uint8Array.of(1) }] }],
      [cshareSchema.requests['manifest/offer'].response, { need: ['f1'] }],
      [cshareSchema.requests['file/upload'].request, { worktreeId: 'w', fileId: 'f', updates: [Uint8Array.of(1)] }],
      [cshareSchema.requests['file/upload'].request, { worktreeId: 'w', fileId: 'f', blob: Uint8Array.of(1) }],
      [cshareSchema.event, { type: 'manifest', update: Uint8Array.of(1) }],
      [cshareSchema.event, { type: 'file-update', fileId: 'f', digest }],
      [cshareSchema.event, { type: 'peer-joined', replicaId: 'r', name: 'bob', role: 'joiner' }],
      [cshareSchema.event, { type: 'peer-left', replicaId: 'r' }],
      [cshareSchema.requests.hello.request, { ...hello, worktreeId: 'w1', secretProof: new Uint8Array(16), register: { readOnlyHash: new Uint8Array(32), name: 'app' } }],
      [cshareSchema.requests.hello.response, { ok: true, relayId: 'relay-1', access: 'ro', seq: 3, created: false }],
      [cshareSchema.requests['file/upload'].response, { ok: true, seq: 4 }],
      [cshareSchema.requests['manifest/upload'].request, { worktreeId: 'w', updates: [Uint8Array.of(0, 0)] }],
      [cshareSchema.requests['manifest/upload'].response, { ok: true, seq: 1 }],
      [cshareSchema.requests['blob/upload'].request, { worktreeId: 'w', digest, size: 10, offset: 8, data: Uint8Array.of(1, 2) }],
      [cshareSchema.requests['blob/upload'].request, { worktreeId: 'w', digest, size: 0, offset: 0, data: new Uint8Array() }],
      [cshareSchema.requests['blob/upload'].response, { ok: true, received: 10, seq: 2 }],
      [cshareSchema.streams['worktree/sync-pages'].request, { worktreeId: 'w', after: 0 }],
      [cshareSchema.streams['worktree/sync-pages'].item, { items: [{ type: 'file-update', seq: 2, fileId: 'f', update: Uint8Array.of(1), by: 'r' }, { type: 'blob', seq: 3, digest, size: 0, by: 'r' }, { type: 'head', seq: 3 }] }],
      [cshareSchema.streams['worktree/sync-pages'].item, { items: [] }],
      [cshareSchema.streams['blob/fetch'].request, { worktreeId: 'w', digest }],
      [cshareSchema.streams['blob/fetch'].item, { digest, offset: 0, size: 2, data: Uint8Array.of(1, 2) }],
      [cshareSchema.event, { type: 'manifest', update: Uint8Array.of(1), seq: 1, by: 'r' }],
      [cshareSchema.event, { type: 'blob', digest, size: 1, seq: 1, by: 'r' }],
      [cshareSchema.event, { type: 'need', digest }],
      [cshareSchema.event, { type: 'need', fileId: 'f' }],
    ];
    for (const [guard, msg] of ok) {
      expect(guard(msg), JSON.stringify(msg)).toBe(true);
      expect(guard(roundTrip(msg)), JSON.stringify(msg)).toBe(true);
    }
  });

  it('reject wrong types, unknown fields, unsafe paths and ids, and inconsistent messages', () => {
    const offer = (path: string): unknown => ({ worktreeId: 'w', entries: [{ path, fileId: 'f', digest }] });
    const bad: [(v: unknown) => boolean, unknown][] = [
      [cshareSchema.requests.hello.request, { ...hello, extra: 1 }],
      [cshareSchema.requests.hello.request, { ...hello, role: 'admin' }],
      [cshareSchema.requests.hello.request, { ...hello, replicaId: '' }],
      [cshareSchema.requests.hello.request, { ...hello, protocol: 1.5 }],
      [cshareSchema.requests.hello.request, { protocol: 1 }],
      [cshareSchema.requests.hello.request, null],
      [cshareSchema.requests.hello.request, [hello]],
      ...['/etc/passwd', '../x', 'a/../b', 'a//b', 'a/./b', 'a\\b', 'a\0b', ''].map((p): [(v: unknown) => boolean, unknown] => [cshareSchema.requests['manifest/offer'].request, offer(p)]),
      [cshareSchema.requests['manifest/offer'].request, { worktreeId: 'w', entries: [{ path: 'a', fileId: 'f', digest: 'xyz' }] }],
      [cshareSchema.requests['manifest/offer'].request, { worktreeId: 'w/..', entries: [] }],
      [cshareSchema.requests['file/upload'].request, { worktreeId: 'w', fileId: 'f' }],
      [cshareSchema.requests['file/upload'].request, { worktreeId: 'w', fileId: 'f', blob: Uint8Array.of(1), updates: [] }],
      [cshareSchema.requests['file/upload'].request, { worktreeId: 'w', fileId: 'f', updates: ['text'] }],
      [cshareSchema.event, { type: 'peer-left' }],
      [cshareSchema.requests['blob/upload'].request, { worktreeId: 'w', digest, size: 10, offset: 9, data: Uint8Array.of(1, 2) }],
      [cshareSchema.requests['blob/upload'].request, { worktreeId: 'w', digest, size: 10, offset: 0, data: new Uint8Array() }],
      [cshareSchema.requests['blob/upload'].request, { worktreeId: 'w', digest, size: 2 ** 21, offset: 0, data: new Uint8Array(2 ** 20 + 1) }],
      [cshareSchema.requests['manifest/upload'].request, { worktreeId: 'w', updates: 'x' }],
      [cshareSchema.streams['worktree/sync-pages'].request, { worktreeId: 'w', after: -1 }],
      [cshareSchema.streams['worktree/sync-pages'].item, { items: [{ type: 'head' }] }],
      [cshareSchema.streams['worktree/sync-pages'].item, { type: 'head', seq: 3 }],
      [cshareSchema.event, { type: 'need' }],
      [cshareSchema.event, { type: 'need', fileId: 'f', digest }],
      [cshareSchema.event, { type: 'nope', replicaId: 'r' }],
    ];
    for (const [guard, msg] of bad) expect(guard(msg), JSON.stringify(msg, (_k, v) => (v instanceof Uint8Array ? '<bytes>' : v))).toBe(false);
  });

  it('refuses a hello of another protocol version with an upgrade message', () => {
    expect(() => checkPeerProtocol({ ...hello, protocol: PROTOCOL_VERSION } as never)).not.toThrow();
    expect(() => checkPeerProtocol({ ...hello, protocol: PROTOCOL_VERSION + 1 } as never)).toThrow(new RegExp(`peer speaks protocol v${PROTOCOL_VERSION + 1}, this cshare speaks v${PROTOCOL_VERSION}: upgrade`));
  });

  it('names resources', () => {
    expect(worktreeResource('w1')).toBe('/worktrees/w1');
  });

  it('has presence as its one fire-and-forget message and none of the messages protocol 3 removed', () => {
    expect(cshareSchema.version).toBe(PROTOCOL_VERSION);
    expect(Object.keys(cshareSchema.sends)).toEqual(['presence']);
    const names = [...Object.keys(cshareSchema.requests), ...Object.keys(cshareSchema.streams)];
    for (const gone of ['ping', 'worktree/sync', 'file/fetch', 'file/update']) expect(names).not.toContain(gone);
  });
});

describe('presence validators', () => {
  const pos = (n: number) => new Uint8Array(n).fill(7);
  const state = { path: 'src/a.ts', selections: [{ anchor: pos(12), head: pos(12) }], line: 3, column: 5 };
  const send = cshareSchema.sends.presence;

  it('accept a state, no state, the bounds themselves, also after a trip through the codec', () => {
    const ok: [(v: unknown) => boolean, unknown][] = [
      [send, { worktreeId: 'w', state }],
      [send, { worktreeId: 'w' }],
      [send, { worktreeId: 'w', state: { path: 'a', selections: [], line: 1 } }],
      [send, { worktreeId: 'w', state: { ...state, selections: Array.from({ length: 64 }, () => ({ anchor: pos(256), head: pos(256) })), line: 2 ** 32 } }],
      [cshareSchema.event, { type: 'presence', replicaId: 'r', state }],
      [cshareSchema.event, { type: 'presence', replicaId: 'r' }],
    ];
    for (const [guard, msg] of ok) {
      expect(guard(msg), JSON.stringify(msg)).toBe(true);
      expect(guard(roundTrip(msg)), JSON.stringify(msg)).toBe(true);
    }
  });

  it('reject bad bytes, too many selections, hostile paths, bad lines and unknown fields', () => {
    const bad: unknown[] = [
      // Positions: not bytes, or over 256 bytes.
      { ...state, selections: [{ anchor: 'abc', head: pos(1) }] },
      { ...state, selections: [{ anchor: [1, 2, 3], head: pos(1) }] },
      { ...state, selections: [{ anchor: pos(257), head: pos(1) }] },
      { ...state, selections: [{ anchor: pos(1), head: pos(257) }] },
      { ...state, selections: [{ anchor: pos(1) }] },
      { ...state, selections: [{ anchor: pos(1), head: pos(1), extra: pos(1) }] },
      // Too many selections.
      { ...state, selections: Array.from({ length: 65 }, () => ({ anchor: pos(1), head: pos(1) })) },
      // Hostile paths, as every path.
      ...['/etc/passwd', '../x', 'a/../b', 'a//b', 'a/./b', 'a\\b', 'a\0b', '', 'x'.repeat(4097)].map((path) => ({ ...state, path })),
      // Lines and columns: 1-based integers.
      { ...state, line: 0 },
      { ...state, line: 1.5 },
      { ...state, line: 2 ** 32 + 1 },
      { ...state, column: 0 },
      { ...state, line: undefined },
      { ...state, spoofedBy: 'alice' },
    ];
    for (const s of bad) expect(send({ worktreeId: 'w', state: s }), JSON.stringify(s, (_k, v) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v))).toBe(false);
    // The sender does not name itself: the relay does, from its hello.
    expect(send({ worktreeId: 'w', replicaId: 'alice', state })).toBe(false);
    expect(send({ worktreeId: 'w/..', state })).toBe(false);
    expect(send({ worktreeId: 'w', state: null })).toBe(false);
    expect(cshareSchema.event({ type: 'presence', state })).toBe(false);
    expect(cshareSchema.event({ type: 'presence', replicaId: 'r', state: { ...state, path: '../x' } })).toBe(false);
  });
});

describe('messageSlices', () => {
  it('keeps each message under the count and byte bounds, in order, a too-big item alone', () => {
    const mb = 1024 * 1024;
    const items = [1, 1, 1, 3, 1, 9, 1, 1, 1, 1, 1].map((n, i) => ({ i, bytes: n * mb }));
    const slices = messageSlices(items, 3, (x) => x.bytes);
    expect(slices.flat()).toEqual(items);
    expect(slices.map((s) => s.map((x) => x.i))).toEqual([[0, 1, 2], [3, 4], [5], [6, 7, 8], [9, 10]]);
    for (const s of slices) expect(s.length === 1 || s.reduce((n, x) => n + x.bytes, 0) <= MESSAGE_BYTES).toBe(true);
    // 100,000 files' manifest updates (50 of 340 KB) no longer go up as one 17 MB message.
    const manifest = Array.from({ length: 50 }, () => new Uint8Array(340 * 1024));
    const parts = messageSlices(manifest, MAX_UPDATES_PER_MESSAGE, (u) => u.byteLength);
    expect(parts.length).toBe(5);
    expect(Math.max(...parts.map((p) => p.reduce((n, u) => n + u.byteLength, 0)))).toBeLessThanOrEqual(MESSAGE_BYTES);
    expect(messageSlices([], 3, () => 1)).toEqual([]);
  });
});

