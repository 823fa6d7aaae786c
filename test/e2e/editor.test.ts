/**
 * The editor API against real processes: scripted editors on the socket of a real `share`
 * and, through `cshare editor`, of a real `join`; typing on both sides ends equal in both
 * buffers and, after the editors close, on both disks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { frame } from '../../src/editor/framing.js';
import { readAnnouncement } from '../../src/store/announce.js';
import { BIN, cshare } from '../helpers/cli.js';
import { start, stopAll, until, type Proc } from '../helpers/procs.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { EditorClient } from '../editor/client.js';

const bridges: ChildProcess[] = [];
const clients: EditorClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.end();
  for (const b of bridges.splice(0)) b.kill('SIGKILL');
  await stopAll();
});

const read = (root: string, rel: string) => (existsSync(join(root, rel)) ? readFileSync(join(root, rel), 'utf8') : undefined);

/** `cshare editor` in `cwd`, as an editor spawns it; its stdio is the client's stream. */
function bridge(cwd: string): { child: ChildProcess; client: EditorClient; exit: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [BIN, 'editor'], { cwd, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  bridges.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const client = new EditorClient(child.stdin!, child.stdout!);
  clients.push(client);
  return { child, client, exit, stderr: () => stderr };
}

async function sharing(p: Proc): Promise<{ readWrite: string; readOnly: string }> {
  const l = await p.line((x) => x.event === 'sharing');
  return l.codes as { readWrite: string; readOnly: string };
}

describe('editor API against a real share and join', () => {
  it('a scripted editor on the share socket and one through cshare editor on the joiner type at once: both buffers and disks end equal', async () => {
    const base = tempDir('cshare-editor-');
    const alice = join(base, 'alice');
    writeTree(alice, { 'a.txt': 'hello\r\nwörld 😀\n', 'other.txt': 'x\n' });
    const sharer = start('alice', alice, ['share']);
    const codes = await sharing(sharer);
    const bob = join(base, 'bob');
    const joiner = start('bob', base, ['join', codes.readWrite, bob]);
    await joiner.line((x) => x.event === 'joined');

    const sock = readAnnouncement(alice)!.editor!;
    expect(sock).toBe(join(alice, '.cshare', 'editor.sock'));
    const a = await EditorClient.connect(sock);
    clients.push(a);
    const init = await a.initialize(['utf-8']);
    expect(init).toMatchObject({ protocolVersion: 1, positionEncoding: 'utf-8', root: alice, role: 'sharer', readOnly: false });
    expect((await a.open('a.txt', 'hello\r\nwörld 😀\n')).result).toEqual({ state: 'live', version: 1 });

    const b = bridge(bob).client;
    expect((await b.initialize(['utf-16'])).role).toBe('joiner');
    expect((await b.open('a.txt', 'hello\r\nwörld 😀\n')).result).toEqual({ state: 'live', version: 1 });

    // A keystroke on one side reaches the other buffer, and not the disk of the open file.
    a.type('a.txt', 5, 5, '!');
    await until(() => b.buffers.get('a.txt')!.text === 'hello!\r\nwörld 😀\n', 10_000, () => JSON.stringify(b.buffers.get('a.txt')));
    expect(read(bob, 'a.txt')).toBe('hello\r\nwörld 😀\n');

    // Both type at once: a at the start, b at the end (after the emoji), 40 keystrokes each.
    for (let i = 0; i < 40; i++) {
      a.type('a.txt', 0, 0, i % 10 === 9 ? '\r\n' : 'a');
      const bt = b.buffers.get('a.txt')!.text;
      b.type('a.txt', bt.length, bt.length, i % 2 ? '中' : 'é');
      if (i % 8 === 0) await new Promise((r) => setImmediate(r));
    }
    await until(() => a.buffers.get('a.txt')!.text === b.buffers.get('a.txt')!.text && a.buffers.get('a.txt')!.text.length > 80, 20_000, () => JSON.stringify([a.buffers.get('a.txt'), b.buffers.get('a.txt')]));
    const text = a.buffers.get('a.txt')!.text;
    expect([...text].filter((c) => c === 'a').length).toBe(36);
    expect(text.endsWith('中\n') || text.includes('é中')).toBe(true);

    // A file bob's editor opens before it exists there: it arrives in the buffer, live from then on.
    expect((await b.open('later.txt', '')).result).toEqual({ state: 'waiting', version: 1 });
    writeFileSync(join(alice, 'later.txt'), 'from alice\n');
    await until(() => b.buffers.get('later.txt')!.text === 'from alice\n', 20_000, () => JSON.stringify(b.buffers.get('later.txt')));
    b.type('later.txt', 0, 0, '> ');
    await until(() => read(alice, 'later.txt') === '> from alice\n', 20_000, () => String(read(alice, 'later.txt')));

    // Closing both: the disks get the merged text.
    expect((await a.request('didClose', { path: 'a.txt' })).result).toEqual({});
    expect((await b.request('didClose', { path: 'a.txt' })).result).toEqual({});
    await until(() => read(alice, 'a.txt') === text && read(bob, 'a.txt') === text, 20_000, () => JSON.stringify([read(alice, 'a.txt'), read(bob, 'a.txt'), text]));
  }, 120_000);

  it('stale versions, bad ranges and paths outside the worktree are errors over cshare editor; the share stops: a last offline status, and the bridge exits 0', async () => {
    const base = tempDir('cshare-editor-');
    writeTree(base, { 'f.txt': 'abc\n' });
    const sharer = start('alice', base, ['share']);
    await sharing(sharer);
    const { client: c, exit } = bridge(base);
    await c.initialize(['utf-32']);
    await c.open('f.txt', 'abc\n', 10);
    const at = (line: number, character: number) => [{ range: { start: { line, character }, end: { line, character } }, text: 'x' }];
    expect((await c.request('didChange', { path: 'f.txt', version: 10, changes: at(0, 0) })).error).toMatchObject({ code: -32602, data: { resync: true } });
    expect((await c.request('didChange', { path: 'f.txt', version: 11, changes: at(0, 5) })).error).toMatchObject({ code: -32602, data: { resync: true } });
    expect((await c.request('didOpen', { path: '../outside.txt', version: 1, text: '' })).error).toMatchObject({ code: -32602, data: { code: 'BAD_PATH' } });
    expect((await c.request('didChange', { path: 'f.txt', version: 11, changes: at(0, 3) })).result).toEqual({});
    expect((await c.request('didSave', { path: 'f.txt', version: 11 })).result).toEqual({});
    // A flood in one write: past the queue it is answered -32010; another editor is unaffected.
    const flooder = await EditorClient.connect(readAnnouncement(base)!.editor!);
    clients.push(flooder);
    await flooder.initialize();
    const frames: Buffer[] = [];
    for (let i = 0; i < 3000; i++) frames.push(frame({ jsonrpc: '2.0', id: 1000 + i, method: 'undo', params: { path: 'nothing-here.txt' } }));
    flooder.raw(Buffer.concat(frames));
    await until(() => [...flooder.replies.values()].some((r) => r.error?.code === -32010), 20_000);
    expect((await c.request('didChange', { path: 'f.txt', version: 12, changes: at(0, 4) })).result).toEqual({});
    // An editor that closes its stdin gets the answers to what it sent, then the bridge exits 0.
    const quitter = bridge(base);
    const id = quitter.client.send('initialize', { clientName: 'quitter' });
    quitter.client.end();
    expect(await quitter.exit).toBe(0);
    expect((await quitter.client.reply(id)).result).toMatchObject({ protocolVersion: 1 });
    await sharer.stop('SIGTERM');
    expect(await exit).toBe(0);
    expect(c.notifications.filter((n) => n.method === 'status').at(-1)!.params).toMatchObject({ connection: 'offline' });
    // The edit was recorded, and the disk has it after the close.
    expect(read(base, 'f.txt')).toBe('abcxx\n');
  }, 60_000);

  it('cshare editor where nothing runs: exit 18 (NOT_SHARING) with the reason on stderr', () => {
    const dir = tempDir('cshare-editor-');
    mkdirSync(join(dir, '.cshare'));
    const r = cshare(dir, ['editor']);
    expect(r.code).toBe(18);
    expect(r.stderr).toMatch(/no cshare share or join serves editors/);
    expect(r.stdout).toBe('');
  });
});
