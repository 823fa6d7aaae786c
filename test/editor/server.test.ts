/**
 * The editor server over a real Unix socket, against a fake host (fakeHost.ts): the protocol
 * of EDITOR-API.md with scripted editors, and every kind of bad input.
 */
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { editorSocketPath, serveEditor, type EditorServer } from '../../src/editor/server.js';
import { until } from '../helpers/procs.js';
import { tempDir } from '../helpers/tmp.js';
import { EditorClient } from './client.js';
import { FakeHost } from './fakeHost.js';

let server: EditorServer | undefined;
const clients: EditorClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.end();
  await server?.close();
  server = undefined;
});

async function setup(opts: { readOnly?: boolean; limits?: { maxQueue: number; maxRefused: number } } = {}) {
  const root = tempDir();
  mkdirSync(join(root, '.cshare'));
  const host = new FakeHost(root, opts.readOnly);
  server = await serveEditor({ host, limits: opts.limits });
  const client = async () => {
    const c = await EditorClient.connect(server!.path);
    clients.push(c);
    return c;
  };
  return { host, client, root };
}

describe('editor server', () => {
  it('listens on .cshare/editor.sock, owner-only', async () => {
    const { root } = await setup();
    expect(server!.path).toBe(join(root, '.cshare', 'editor.sock'));
    expect(statSync(server!.path).mode & 0o777).toBe(0o600);
  });

  it('a worktree whose socket path would be too long gets one in the temp dir, named by its root', () => {
    const deep = join('/tmp', 'x'.repeat(120));
    const path = editorSocketPath(deep);
    expect(path.startsWith(tmpdir())).toBe(true);
    expect(Buffer.byteLength(path)).toBeLessThan(100);
    expect(editorSocketPath(join('/tmp', 'y'.repeat(120)))).not.toBe(path);
    expect(editorSocketPath('/tmp/w')).toBe('/tmp/w/.cshare/editor.sock');
  });

  it('negotiates the position encoding (the first one asked that it speaks; utf-16 when none)', async () => {
    const { client, root } = await setup();
    const a = await client();
    const r = await a.request('initialize', { clientName: 'nvim', positionEncodings: ['utf-7', 'utf-8', 'utf-16'] });
    expect(r.result).toMatchObject({ protocolVersion: 1, positionEncoding: 'utf-8', root, replicaId: 'r-test', role: 'sharer', readOnly: false, peers: [] });
    const b = await client();
    expect((await b.request('initialize', { clientName: 'x' })).result!.positionEncoding).toBe('utf-16');
    const c = await client();
    expect((await c.request('initialize', { positionEncodings: ['utf-32'] })).result!.positionEncoding).toBe('utf-32');
    await until(() => a.notifications.some((n) => n.method === 'status'));
    expect(a.notifications.find((n) => n.method === 'status')!.params).toEqual({ connection: 'online', role: 'sharer', readOnly: false, peers: 0 });
  });

  it('a request before initialize is -32002; an unknown method -32601', async () => {
    const { client } = await setup();
    const a = await client();
    expect((await a.request('didOpen', { path: 'a.txt', version: 1, text: '' })).error).toMatchObject({ code: -32002 });
    await a.initialize();
    expect((await a.request('frobnicate', {})).error).toMatchObject({ code: -32601 });
  });

  it('types both ways in utf-8: the editor edits are recorded, a remote edit reaches the buffer as applyEdit', async () => {
    const { host, client } = await setup();
    host.files.set('a.txt', 'héllo 😀\nwörld\n');
    const a = await client();
    await a.initialize(['utf-8']);
    expect((await a.open('a.txt', 'héllo 😀\nwörld\n')).result).toEqual({ state: 'live', version: 1 });
    // After the emoji (UTF-16 offset 8), line 0, byte 11.
    a.type('a.txt', 8, 8, '!');
    await until(() => host.files.get('a.txt') === 'héllo 😀!\nwörld\n');
    expect(host.edits.at(-1)!.edits).toEqual([{ from: 8, to: 8, insert: '!' }]);
    host.remote('a.txt', { pos: 10, del: 'w', ins: 'W' });
    await until(() => a.buffers.get('a.txt')!.text === 'héllo 😀!\nWörld\n');
    // Applied, not echoed back as an edit.
    expect(host.edits).toHaveLength(1);
  });

  it('two editors with one file open get each other\'s edits; concurrent typing ends equal', async () => {
    const { host, client } = await setup();
    host.files.set('f.txt', 'one\r\ntwo\r\n');
    const a = await client();
    const b = await client();
    await a.initialize(['utf-16']);
    await b.initialize(['utf-32']);
    await a.open('f.txt', 'one\r\ntwo\r\n');
    await b.open('f.txt', 'one\r\ntwo\r\n');
    for (let i = 0; i < 30; i++) {
      a.type('f.txt', 0, 0, `a${i}`);
      b.type('f.txt', b.buffers.get('f.txt')!.text.length, b.buffers.get('f.txt')!.text.length, `中${i}\r\n`);
      if (i % 7 === 0) host.remote('f.txt', { pos: 0, del: '', ins: '🎉' });
    }
    await until(() => a.buffers.get('f.txt')!.text === host.files.get('f.txt') && b.buffers.get('f.txt')!.text === host.files.get('f.txt'), 10_000, () => JSON.stringify([a.buffers.get('f.txt'), b.buffers.get('f.txt'), host.files.get('f.txt')]));
    const text = host.files.get('f.txt')!;
    expect(text).toContain('a29');
    expect(text).toContain('中29\r\n');
    expect(text.split('🎉')).toHaveLength(6);
  });

  it('an applyEdit refused is sent again on the newer version', async () => {
    const { host, client } = await setup();
    host.files.set('r.txt', 'abc');
    const a = await client();
    await a.initialize();
    await a.open('r.txt', 'abc');
    a.refuse = true;
    host.remote('r.txt', { pos: 3, del: '', ins: 'X' });
    await until(() => a.notifications.length >= 0 && a.buffers.get('r.txt')!.text === 'abc');
    a.type('r.txt', 0, 0, '>');
    a.refuse = false;
    await until(() => a.buffers.get('r.txt')!.text === '>abcX', 5000, () => JSON.stringify(a.buffers.get('r.txt')));
    await until(() => host.files.get('r.txt') === '>abcX');
  });

  it('bad ranges, stale versions, bad paths, non-objects: JSON-RPC errors, and the document is unchanged', async () => {
    const { host, client } = await setup();
    host.files.set('a.txt', 'abc\n');
    const a = await client();
    await a.initialize();
    await a.open('a.txt', 'abc\n', 5);
    const change = (line: number, character: number) => ({ range: { start: { line, character }, end: { line, character } }, text: 'x' });
    expect((await a.request('didChange', { path: 'a.txt', version: 6, changes: [change(0, 9)] })).error).toMatchObject({ code: -32602, data: { resync: true } });
    expect((await a.request('didChange', { path: 'a.txt', version: 6, changes: [change(7, 0)] })).error).toMatchObject({ code: -32602, data: { resync: true } });
    expect((await a.request('didChange', { path: 'a.txt', version: 5, changes: [change(0, 0)] })).error).toMatchObject({ code: -32602, data: { resync: true } });
    expect((await a.request('didChange', { path: 'a.txt', version: 6, changes: 'nope' })).error).toMatchObject({ code: -32602 });
    expect((await a.request('didChange', { path: 'a.txt', version: 6, changes: [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: '\ud800' }] })).error).toMatchObject({ code: -32602 });
    expect((await a.request('didChange', { path: 'a.txt', version: 6, changes: [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: 'a\u0000b' }] })).error).toMatchObject({ code: -32602, data: { resync: true } });
    for (const path of ['../etc/passwd', '/abs', 'a/../../b', 7, null, 'a\\b']) {
      expect((await a.request('didOpen', { path, version: 1, text: '' })).error, String(path)).toMatchObject({ code: -32602, data: { code: 'BAD_PATH' } });
    }
    expect((await a.request('didOpen', [])).error).toMatchObject({ code: -32602 });
    expect((await a.request('didChange', { path: 'b.txt', version: 9, changes: [] })).error).toMatchObject({ code: -32602, data: { resync: true } });
    expect(host.files.get('a.txt')).toBe('abc\n');
    expect(host.edits).toEqual([]);
    // Still working after all of it.
    a.type('a.txt', 0, 0, 'Z');
    await until(() => host.files.get('a.txt') === 'Zabc\n');
  });

  it('an ignored path is unshared; a path the replica lacks is waiting', async () => {
    const { client } = await setup();
    const a = await client();
    await a.initialize();
    expect((await a.open('ignored/x.log', 'x')).result).toEqual({ state: 'unshared', version: 1 });
    expect((await a.open('new.txt', '')).result).toEqual({ state: 'waiting', version: 1 });
    expect((await a.request('didChange', { path: 'new.txt', version: 2, changes: [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: 'hi' }] })).result).toEqual({});
  });

  it('a waiting document follows the buffer and turns live when the file arrives (same text: nothing to merge; other text: reconciled)', async () => {
    const { host, client } = await setup();
    const a = await client();
    await a.initialize();
    expect((await a.open('new.txt', '')).result).toEqual({ state: 'waiting', version: 1 });
    await a.reply(a.type('new.txt', 0, 0, 'hi'));
    host.arrive('new.txt', 'hi');
    a.type('new.txt', 2, 2, '!');
    await until(() => host.files.get('new.txt') === 'hi!');
    expect(a.buffers.get('new.txt')!.text).toBe('hi!');

    // Untouched since it was opened: the buffer takes the file as it arrives.
    expect((await a.open('n3.txt', '')).result).toEqual({ state: 'waiting', version: 1 });
    host.arrive('n3.txt', 'from a peer\n');
    await until(() => a.buffers.get('n3.txt')!.text === 'from a peer\n');
    expect(host.files.get('n3.txt')).toBe('from a peer\n');

    // Typed into while waiting: recorded and merged (the fake merges by taking the buffer's text).
    expect((await a.open('n2.txt', 'ab')).result).toEqual({ state: 'waiting', version: 1 });
    await a.reply(a.type('n2.txt', 2, 2, 'c'));
    host.arrive('n2.txt', 'xyz');
    await until(() => host.files.get('n2.txt') === 'abc');
    host.remote('n2.txt', { pos: 3, del: '', ins: 'D' });
    await until(() => a.buffers.get('n2.txt')!.text === 'abcD');
    a.type('n2.txt', 0, 0, '>');
    await until(() => host.files.get('n2.txt') === '>abcD');
  });

  it('invalid UTF-8 is a parse error; a body over 16 MiB is answered and the connection closed; other editors go on', async () => {
    const { host, client } = await setup();
    host.files.set('a.txt', 'abc');
    const a = await client();
    const b = await client();
    await b.initialize();
    const bad = Buffer.from([0x7b, 0x22, 0x6a, 0xff, 0xfe, 0x22, 0x7d]);
    a.raw(Buffer.concat([Buffer.from(`Content-Length: ${bad.length}\r\n\r\n`), bad]));
    await until(() => a.replies.has(null));
    expect(a.replies.get(null)!.error).toMatchObject({ code: -32700 });
    a.replies.clear();
    a.raw('Content-Length: 17000000\r\n\r\n');
    await until(() => a.closed);
    expect(a.replies.get(null)!.error).toMatchObject({ code: -32700, data: { code: 'FRAME_TOO_LARGE' } });
    expect((await b.open('a.txt', 'abc')).result).toEqual({ state: 'live', version: 1 });
  });

  it('a flood is answered -32010 past the queue, the flooder is closed, other editors are unaffected', async () => {
    const { host, client } = await setup({ limits: { maxQueue: 20, maxRefused: 200 } });
    host.files.set('a.txt', 'abc');
    const a = await client();
    const b = await client();
    await a.initialize();
    await b.initialize();
    let release!: () => void;
    host.openGate = new Promise((r) => (release = r));
    a.send('didOpen', { path: 'a.txt', version: 1, text: 'abc' });
    const ids = Array.from({ length: 100 }, () => a.send('didSave', { path: 'a.txt', version: 1 }));
    await until(() => ids.some((id) => a.replies.get(id)?.error?.code === -32010));
    expect(a.replies.get(ids.at(-1))!.error).toMatchObject({ code: -32010, data: { code: 'OVERLOADED' } });
    for (let i = 0; i < 300; i++) a.send('didSave', { path: 'a.txt', version: 1 });
    await until(() => a.closed);
    host.openGate = undefined;
    release();
    expect((await b.open('a.txt', 'abc')).result).toEqual({ state: 'live', version: 1 });
  });

  it('a read-only replica says so and refuses edits with -32011, then brings the buffer back on resync', async () => {
    const { host, client } = await setup({ readOnly: true });
    host.files.set('a.txt', 'abc');
    const a = await client();
    expect((await a.initialize()).readOnly).toBe(true);
    await a.open('a.txt', 'abc');
    const id = a.type('a.txt', 0, 0, 'x');
    expect((await a.reply(id)).error).toMatchObject({ code: -32011, data: { resync: true } });
    await a.request('didOpen', { path: 'a.txt', version: 3, text: 'xabc' });
    a.buffers.set('a.txt', { text: 'xabc', version: 3 });
    await until(() => a.buffers.get('a.txt')!.text === 'abc');
    expect(host.files.get('a.txt')).toBe('abc');
  });

  it('cursor goes to presence as relative positions; peers come back in this editor\'s encoding', async () => {
    const { host, client } = await setup();
    host.files.set('p.txt', '😀ab\ncd');
    const a = await client();
    await a.initialize(['utf-8']);
    await a.open('p.txt', '😀ab\ncd');
    a.notify('cursor', { path: 'p.txt', selections: [{ anchor: { line: 0, character: 4 }, head: { line: 1, character: 1 } }] });
    await until(() => host.presence.published.length > 0);
    const pub = host.presence.published[0]!;
    expect(pub).toMatchObject({ path: 'p.txt', line: 2, column: 2 });
    expect([...pub.selections[0]!.anchor]).toEqual([2, 0]); // UTF-16 offset 2 (after the emoji)
    host.presence.set([{ replicaId: 'r2', name: 'bob', role: 'joiner', color: '#112233', presence: { path: 'p.txt', line: 1, selections: [{ anchor: Uint8Array.of(3, 0), head: Uint8Array.of(3, 0) }] } }]);
    await until(() => a.notifications.some((n) => n.method === 'peers'));
    expect(a.notifications.find((n) => n.method === 'peers')!.params).toEqual({
      peers: [{ id: 'r2', name: 'bob', color: '#112233', role: 'joiner', path: 'p.txt', selections: [{ anchor: { line: 0, character: 5 }, head: { line: 0, character: 5 } }] }],
    });
  });

  it('opening a file a peer is in sends the peers with that peer\'s selections', async () => {
    const { host, client } = await setup();
    host.files.set('q.txt', 'abcdef');
    const a = await client();
    await a.initialize();
    host.presence.set([{ replicaId: 'r3', name: 'cy', role: 'joiner', color: '#abcdef', presence: { path: 'q.txt', line: 1, selections: [{ anchor: Uint8Array.of(1, 0), head: Uint8Array.of(4, 0) }] } }]);
    await until(() => a.notifications.some((n) => n.method === 'peers'));
    expect(a.notifications.find((n) => n.method === 'peers')!.params).toEqual({ peers: [{ id: 'r3', name: 'cy', color: '#abcdef', role: 'joiner', path: 'q.txt' }] });
    await a.open('q.txt', 'abcdef');
    await until(() => a.notifications.filter((n) => n.method === 'peers').length === 2);
    expect((a.notifications.filter((n) => n.method === 'peers')[1]!.params.peers as { selections: unknown }[])[0]!.selections).toEqual([{ anchor: { line: 0, character: 1 }, head: { line: 0, character: 4 } }]);
  });

  it('undo goes to the replica; closing the server says offline and closes the documents', async () => {
    const { host, client } = await setup();
    host.files.set('u.txt', 'u');
    const a = await client();
    await a.initialize();
    await a.open('u.txt', 'u');
    expect((await a.request('undo', { path: 'u.txt' })).result).toEqual({ changed: ['u.txt'] });
    expect(host.undone).toEqual(['u.txt']);
    await server!.close();
    server = undefined;
    await until(() => a.closed);
    expect(a.notifications.filter((n) => n.method === 'status').at(-1)!.params).toMatchObject({ connection: 'offline' });
    expect([...host.lives]).toEqual([]);
  });
});
