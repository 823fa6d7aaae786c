/**
 * Issue 19 end to end: the extension installed from its .vsix into a real VS Code (code-server
 * in Chromium, driven by Playwright's keyboard), on the worktree of a real `cshare share`,
 * against a real relay and a real `cshare join` whose editor is a scripted editor-API client
 * (through `cshare editor`, as a plugin spawns it). What VS Code holds is read through the
 * extension's test socket; what the user sees is read from the page.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Prng } from '../../src/sync/prng.js';
import { BIN } from '../helpers/cli.js';
import { freePort, start, stopAll, until, type Proc } from '../helpers/procs.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { EditorClient } from '../editor/client.js';
import { openFile } from './codeServer.js';
import { buildVsix, untilState, vscodeOn, type HookState, type VsCode } from './harness.js';

const bridges: ChildProcess[] = [];
let vscode: VsCode | undefined;

beforeAll(() => {
  buildVsix();
});
afterEach(async () => {
  await vscode?.stop();
  vscode = undefined;
  for (const b of bridges.splice(0)) b.kill('SIGKILL');
  await stopAll();
});
afterAll(stopAll);

const read = (root: string, rel: string) => (existsSync(join(root, rel)) ? readFileSync(join(root, rel), 'utf8') : undefined);

/** A relay, a sharer on `alice` and a joiner into `bob`, all real processes. */
async function relayShareJoin(base: string, files: Record<string, string>): Promise<{ alice: string; bob: string; sharer: Proc; joiner: Proc }> {
  const port = await freePort();
  const relay = start('relay', base, ['relay', '--data', join(base, 'relay-data'), '--listen', `/ip4/127.0.0.1/tcp/${port}`]);
  const addr = ((await relay.line((x) => x.event === 'listening')).addresses as string[])[0]!;
  const alice = join(base, 'alice');
  writeTree(alice, files);
  const sharer = start('alice', alice, ['share', '--relay', addr]);
  const codes = (await sharer.line((x) => x.event === 'sharing')).codes as { readWrite: string };
  const bob = join(base, 'bob');
  const joiner = start('bob', base, ['join', codes.readWrite, bob]);
  await joiner.line((x) => x.event === 'joined');
  return { alice, bob, sharer, joiner };
}

/** The joiner's editor: a scripted client of `cshare editor` in `cwd`. */
async function scriptedEditor(cwd: string): Promise<EditorClient> {
  const child = spawn(process.execPath, [BIN, 'editor'], { cwd, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  bridges.push(child);
  const client = new EditorClient(child.stdin!, child.stdout!);
  await client.initialize(['utf-16']);
  return client;
}

/** The VS Code document `path` as the extension holds it. */
const docIn = (s: HookState, path: string) => s.sessions[0]?.docs.find((d) => d.path === path);

/** The editor's visible lines as the user sees them. */
async function shown(page: Page): Promise<string> {
  return (await page.locator('.editor-instance .monaco-editor .view-lines').first().innerText()).replace(/\u00a0/g, ' ');
}

/** Opens `path` in VS Code (Quick Open), waits until the extension has it live, and puts the keyboard in it. */
async function openLive(v: VsCode, path: string): Promise<void> {
  await openFile(v.page, path);
  await untilState(v.hook, (s) => docIn(s, path)?.version != null);
  await v.page.locator('.editor-instance .monaco-editor .view-lines').first().click();
}

describe('the VS Code extension in code-server, against a real relay, share and join', () => {
  it('typing in VS Code (Playwright keyboard) reaches the joiner\'s editor and back; peers\' cursors are decorations at the right place, VS Code\'s cursor reaches the peer; saving gives equal disks', async () => {
    const base = tempDir('cshare-vscode-e2e-');
    const { alice, bob } = await relayShareJoin(base, { 'notes.txt': 'hello\nworld\n', 'crlf.txt': 'one\r\ntwo\r\n' });
    vscode = await vscodeOn(join(base, 'cs'), alice);
    const v = vscode;
    await untilState(v.hook, (s) => s.sessions[0]?.connected === true, 60_000);
    const first = (await v.hook.state()).sessions[0]!;
    const me = first.info!;
    expect(me).toMatchObject({ role: 'sharer' });
    // The folder is the worktree: straight to the announced socket, no bridge process between.
    expect(first).toMatchObject({ via: 'socket', connections: 1 });
    await expect.poll(() => v.page.locator('.statusbar-item', { hasText: 'cshare: sharing' }).count(), { timeout: 30_000 }).toBeGreaterThan(0);

    const b = await scriptedEditor(bob);
    expect((await b.open('notes.txt', read(bob, 'notes.txt')!)).result).toMatchObject({ state: 'live' });
    await openLive(v, 'notes.txt');

    // Keystrokes in the browser reach the joiner's buffer as they are typed (no save).
    await v.page.keyboard.press('Control+End');
    await v.page.keyboard.type('typed in VS Code 😀 漢字', { delay: 15 });
    await until(() => b.buffers.get('notes.txt')!.text === 'hello\nworld\ntyped in VS Code 😀 漢字', 15_000, () => JSON.stringify(b.buffers.get('notes.txt')));
    // An emoji typed right after another (VS Code may report it as a change of half a pair).
    await v.page.keyboard.type('👍👍🏽', { delay: 15 });
    await until(() => b.buffers.get('notes.txt')!.text === 'hello\nworld\ntyped in VS Code 😀 漢字👍👍🏽', 15_000, () => JSON.stringify(b.buffers.get('notes.txt')));
    // Backspace deletes a whole emoji with its skin tone (one grapheme, four UTF-16 units).
    await v.page.keyboard.press('Backspace');
    await v.page.keyboard.press('Backspace');
    await until(() => b.buffers.get('notes.txt')!.text === 'hello\nworld\ntyped in VS Code 😀 漢字', 15_000, () => JSON.stringify(b.buffers.get('notes.txt')));
    expect(read(alice, 'notes.txt')).toBe('hello\nworld\n'); // the disk is not where it travels

    // The joiner types: it comes into VS Code's buffer (applyEdit, no echo) and on the screen.
    b.type('notes.txt', 5, 5, ', bob was here');
    await untilState(v.hook, (s) => docIn(s, 'notes.txt')?.text === 'hello, bob was here\nworld\ntyped in VS Code 😀 漢字');
    await expect.poll(() => shown(v.page), { timeout: 15_000 }).toContain('hello, bob was here');
    // Both at once: VS Code types at the end while the joiner types at the start.
    const typing = v.page.keyboard.type(' and more', { delay: 10 });
    for (const ch of ['A', 'B', 'C', 'D', 'E']) {
      b.type('notes.txt', 0, 0, ch);
      await new Promise((r) => setTimeout(r, 12));
    }
    await typing;
    const expected = 'EDCBAhello, bob was here\nworld\ntyped in VS Code 😀 漢字 and more';
    await until(() => b.buffers.get('notes.txt')!.text === expected, 15_000, () => JSON.stringify(b.buffers.get('notes.txt')));
    const s1 = await untilState(v.hook, (s) => docIn(s, 'notes.txt')?.text === expected && docIn(s, 'notes.txt')?.unsent === false);
    expect(b.buffers.get('notes.txt')!.text).toBe(docIn(s1, 'notes.txt')!.text);

    // The joiner's cursor and selection are decorations in VS Code, with its name and colour.
    b.notify('cursor', { path: 'notes.txt', selections: [{ anchor: { line: 1, character: 1 }, head: { line: 1, character: 4 } }, { anchor: { line: 0, character: 7 }, head: { line: 0, character: 7 } }] });
    const s2 = await untilState(v.hook, (s) => (s.decorations['notes.txt'] ?? []).some((m) => m.cursors.length === 2));
    const marks = s2.decorations['notes.txt']!.find((m) => m.cursors.length === 2)!;
    expect(marks).toMatchObject({ name: 'bob', cursors: [{ line: 1, character: 4 }, { line: 0, character: 7 }], selections: [{ start: { line: 1, character: 1 }, end: { line: 1, character: 4 } }] });
    expect(marks.color).toMatch(/^#[0-9a-f]{6}$/i);
    // What the user sees: the name label and the selection in the peer's colour.
    await expect.poll(() => v.page.locator('.view-overlays, .view-lines').locator('text=bob').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    if (process.env.CSHARE_VSCODE_SCREENSHOT) await v.page.screenshot({ path: process.env.CSHARE_VSCODE_SCREENSHOT });

    // VS Code's cursor reaches the joiner as a peer at the right place.
    await v.hook.call('select', { path: 'notes.txt', anchor: { line: 2, character: 0 }, head: { line: 2, character: 5 } });
    await until(() => b.notifications.some((n) => n.method === 'peers' && (n.params.peers as { id: string; name: string; path?: string; selections?: { head: { line: number; character: number } }[] }[]).some((p) => p.id === me.replicaId && p.path === 'notes.txt' && p.selections?.[0]?.head.line === 2 && p.selections[0].head.character === 5)), 15_000, () => JSON.stringify(b.notifications.filter((n) => n.method === 'peers').slice(-2)));

    // Saving: VS Code writes the merged text; the joiner's editor closes and its disk gets it too.
    await v.page.keyboard.press('Control+S');
    await until(() => read(alice, 'notes.txt') === expected, 15_000, () => `alice's disk: ${read(alice, 'notes.txt')}`);
    await b.request('didClose', { path: 'notes.txt' });
    await until(() => read(bob, 'notes.txt') === expected, 15_000, () => `bob's disk: ${read(bob, 'notes.txt')}`);

    // A \r\n file: Enter in VS Code sends \r\n; a \n the joiner types arrives in VS Code as \r\n
    // (VS Code normalises it) and that normalisation comes back, so both end with the same text.
    expect((await b.open('crlf.txt', read(bob, 'crlf.txt')!)).result).toMatchObject({ state: 'live' });
    await openLive(v, 'crlf.txt');
    await v.page.keyboard.press('Control+End');
    await v.page.keyboard.type('three', { delay: 10 });
    await v.page.keyboard.press('Enter');
    // First in VS Code (sent), then at the joiner: a failure says which side it stopped at.
    await untilState(v.hook, (s) => docIn(s, 'crlf.txt')?.text === 'one\r\ntwo\r\nthree\r\n' && docIn(s, 'crlf.txt')?.unsent === false, 15_000);
    await until(() => b.buffers.get('crlf.txt')!.text === 'one\r\ntwo\r\nthree\r\n', 15_000, () => JSON.stringify(b.buffers.get('crlf.txt')));
    b.type('crlf.txt', 3, 3, '\nbob');
    const crlf = 'one\r\nbob\r\ntwo\r\nthree\r\n';
    await untilState(v.hook, (s) => docIn(s, 'crlf.txt')?.text === crlf && docIn(s, 'crlf.txt')?.unsent === false);
    await until(() => b.buffers.get('crlf.txt')!.text === crlf, 15_000, () => JSON.stringify(b.buffers.get('crlf.txt')));
  }, 240_000);

  it('a seeded random-edit run from both sides (VS Code: keyboard and extension API; joiner: scripted) with multibyte text and \\r\\n ends identical, and after saving identical disks', async () => {
    const base = tempDir('cshare-vscode-fuzz-');
    const { alice, bob, sharer, joiner } = await relayShareJoin(base, { 'fuzz.txt': 'alpha\r\nβeta 😀\r\ngamma\r\n' });
    vscode = await vscodeOn(join(base, 'cs'), alice);
    const v = vscode;
    await untilState(v.hook, (s) => s.sessions[0]?.connected === true, 60_000);
    const b = await scriptedEditor(bob);
    await b.open('fuzz.txt', read(bob, 'fuzz.txt')!);
    await openLive(v, 'fuzz.txt');
    const seed = Number(process.env.CSHARE_VSCODE_SEED ?? 19);
    const rand = new Prng(seed);
    const pieces = ['x', 'é', '😀', '漢字', 'e\u0301', ' ', '\r\n', '👩‍💻', 'ß'];
    const cut = (text: string) => {
      // A random offset at a code point boundary, never inside a \r\n.
      let o = rand.int(text.length + 1);
      while (o > 0 && o < text.length && ((text.charCodeAt(o) >= 0xdc00 && text.charCodeAt(o) <= 0xdfff) || (text[o - 1] === '\r' && text[o] === '\n'))) o--;
      return o;
    };
    const edits = 80;
    for (let i = 0; i < edits; i++) {
      // The joiner: a random insert or deletion in its buffer.
      const bt = b.buffers.get('fuzz.txt')!.text;
      const from = cut(bt);
      const to = rand.next() < 0.3 ? Math.min(bt.length, cut(bt.slice(0, Math.min(bt.length, from + 4))) || from) : from;
      b.type('fuzz.txt', from, Math.max(from, to), rand.next() < 0.2 ? '' : pieces[rand.int(pieces.length)]!);
      // VS Code: typing, or an edit through the extension API at a random place.
      if (rand.next() < 0.5) {
        await v.page.keyboard.type(pieces[rand.int(4)]!);
      } else {
        const vt = await v.hook.call<string>('text', { path: 'fuzz.txt' });
        const at = cut(vt);
        await v.hook.call('edit', { path: 'fuzz.txt', from: at, to: at, text: pieces[rand.int(pieces.length)] });
      }
      await new Promise((r) => setTimeout(r, 10 + rand.int(10)));
    }
    const final = await untilState(v.hook, (s) => {
      const d = docIn(s, 'fuzz.txt');
      return d !== undefined && d.unsent === false && d.applying === false && d.text === b.buffers.get('fuzz.txt')!.text;
    }, 60_000).catch(async (e: Error) => {
      // The processes too: one that ended (or errs) explains a run that stops converging.
      const procs = [sharer, joiner].map((p) => `${p.name}: exit ${JSON.stringify([p.child.exitCode, p.child.signalCode])}, last lines ${JSON.stringify(p.lines.slice(-5))}, stderr ${p.stderr.slice(-2000)}`).join('; ');
      throw new Error(`seed ${seed}: ${e.message}; ${procs}; joiner: ${JSON.stringify(b.buffers.get('fuzz.txt'))}; extension log: ${(await v.hook.call<string[]>('log')).slice(-150).join('\n')}`);
    });
    const text = docIn(final, 'fuzz.txt')!.text;
    // Nothing was refused and re-opened on the way: the versions and ranges were right throughout.
    expect((await v.hook.call<string[]>('log')).filter((l) => /refused: -?\d|didChange .* refused/.test(l))).toEqual([]);
    expect(text.length).toBeGreaterThan(40);
    expect(text).toContain('\r\n');
    expect(text.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/); // every line break stayed a \r\n
    await v.hook.call('save', { path: 'fuzz.txt' });
    await b.request('didClose', { path: 'fuzz.txt' });
    await until(() => read(alice, 'fuzz.txt') === text && read(bob, 'fuzz.txt') === text, 20_000, () => `seed ${seed}: alice ${JSON.stringify(read(alice, 'fuzz.txt'))} bob ${JSON.stringify(read(bob, 'fuzz.txt'))} buffer ${JSON.stringify(text)}`);
  }, 300_000);

  it("the commands: Share this folder shows the CLI's error as a notification, then shares (status bar, join code); Follow peer opens the file where the peer's cursor is; Stop ends the share", async () => {
    const base = tempDir('cshare-vscode-cmd-');
    const port = await freePort();
    const relay = start('relay', base, ['relay', '--data', join(base, 'relay-data'), '--listen', `/ip4/127.0.0.1/tcp/${port}`]);
    const addr = ((await relay.line((x) => x.event === 'listening')).addresses as string[])[0]!;
    const alice = join(base, 'alice');
    writeTree(alice, { 'a.txt': 'first file\n', 'b.txt': 'line one\nline two\nline three\n' });
    vscode = await vscodeOn(join(base, 'cs'), alice);
    const v = vscode;
    expect((await v.hook.state()).sessions[0]?.connected ?? false).toBe(false);

    // A failing share: the CLI's own message, as a VS Code notification.
    expect(await v.hook.call('command', { command: 'cshare.share', args: [['--relay', 'nonsense']] })).toBeNull();
    await v.page.locator('.notifications-toasts', { hasText: '"nonsense" is not a relay address' }).first().waitFor({ timeout: 30_000 });

    // Sharing: the join code comes back (and is shown), the folder connects, the status bar says so.
    const codes = await v.hook.call<{ readWrite: string; readOnly: string }>('command', { command: 'cshare.share', args: [['--relay', addr]] });
    expect(codes.readWrite).toMatch(/\S{20,}/);
    await v.page.locator('.notifications-toasts', { hasText: codes.readWrite }).first().waitFor({ timeout: 30_000 });
    await untilState(v.hook, (s) => s.sessions[0]?.connected === true && s.sessions[0].info?.role === 'sharer', 30_000);
    await expect.poll(() => v.page.locator('.statusbar-item', { hasText: 'cshare: sharing' }).count(), { timeout: 30_000 }).toBeGreaterThan(0);
    // One editor connection for the folder, though the share's start created many files in
    // .cshare/ (each a call to connect): several made the peers of sessions without the
    // document overwrite those with it, and a peer's cursor came and went.
    expect((await v.hook.state()).sessions[0]!.connections).toBe(1);

    // A joiner in b.txt, its cursor on the third line: Follow peer brings b.txt into view there.
    const bob = join(base, 'bob');
    const joiner = start('bob', base, ['join', codes.readWrite, bob]);
    await joiner.line((x) => x.event === 'joined');
    const b = await scriptedEditor(bob);
    await b.open('b.txt', read(bob, 'b.txt')!);
    b.notify('cursor', { path: 'b.txt', selections: [{ anchor: { line: 2, character: 5 }, head: { line: 2, character: 5 } }] });
    const withBob = await untilState(v.hook, (s) => s.sessions[0]!.peers.some((p) => p.name === 'bob' && p.path === 'b.txt'), 30_000);
    const bobId = withBob.sessions[0]!.peers.find((p) => p.name === 'bob')!.id;
    expect(await v.hook.call('command', { command: 'cshare.followPeer', args: [bobId] })).toBe(bobId);
    await untilState(v.hook, (s) => s.visible.includes(join(alice, 'b.txt')) && docIn(s, 'b.txt')?.version != null, 30_000);
    // Bob does not move: the daemon tells the editor where he is when it opens b.txt.
    const followed = await untilState(v.hook, (s) => (s.decorations['b.txt'] ?? []).some((m) => m.cursors[0]?.line === 2 && m.cursors[0].character === 5), 30_000);
    expect(followed.following).toBe(bobId);
    expect(followed.sessions[0]!.connections).toBe(1);
    await expect.poll(() => shown(v.page), { timeout: 15_000 }).toContain('line three');

    // Stop: the share this window started ends; the folder is no longer connected.
    await v.hook.call('command', { command: 'cshare.stop' });
    await untilState(v.hook, (s) => s.sessions[0]?.connected === false, 30_000);
    await expect.poll(() => v.page.locator('.statusbar-item', { hasText: 'cshare: sharing' }).count(), { timeout: 30_000 }).toBe(0);
  }, 240_000);
});
