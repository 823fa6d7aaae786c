/**
 * The Neovim plugin (editors/nvim) in a real headless Neovim, against a scripted server that
 * speaks EDITOR-API.md (test/helpers/fakeEditorServer.ts): what it sends for typing in
 * multibyte and CRLF text, how it answers applyEdit, and how it shows peers.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Prng } from '../../src/sync/prng.js';
import { FakeEditorServer } from '../helpers/fakeEditorServer.js';
import { Nvim, stopAllNvims } from '../helpers/nvim.js';
import { installRandomEdits, randomEdit, randomText } from '../helpers/nvimEdits.js';
import { tempDir } from '../helpers/tmp.js';

const servers: FakeEditorServer[] = [];
afterEach(async () => {
  await stopAllNvims();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A worktree (a folder with `.cshare/`) holding `files`, a fake server, and Neovim on it. */
async function setup(files: Record<string, string>): Promise<{ root: string; fake: FakeEditorServer; nvim: Nvim }> {
  const root = tempDir('cshare-nvim-wt-');
  mkdirSync(join(root, '.cshare'));
  for (const [rel, text] of Object.entries(files)) writeFileSync(join(root, rel), text);
  const fake = await FakeEditorServer.start(root);
  servers.push(fake);
  const nvim = await Nvim.start({ name: 'nvim', cwd: root, setup: { cmd: fake.cmd, name: 'Ada', cursor_throttle_ms: 5, verify: true } });
  return { root, fake, nvim };
}

/** Waits until the fake server's copy of `path` equals Neovim's buffer, and returns it. */
async function inSync(fake: FakeEditorServer, nvim: Nvim, path: string): Promise<string> {
  let buffer = '';
  await nvim.until(async () => (buffer = await nvim.text()) === fake.docs.get(path)?.text, 20_000, () => `server ${JSON.stringify(fake.docs.get(path)?.text)} buffer ${JSON.stringify(buffer)} problems ${fake.problems.join('; ')}`);
  return buffer;
}

describe('the Neovim plugin against a scripted editor server', () => {
  it('initializes with utf-8 positions, then sends didOpen with the full text at b:changedtick', async () => {
    const { fake, nvim } = await setup({ 'a.txt': 'héllo 🌍\nzwei\n' });
    await nvim.command('edit a.txt');
    const init = await fake.nth('initialize');
    expect(init.params).toMatchObject({ clientName: 'neovim', positionEncodings: ['utf-8'], name: 'Ada' });
    const open = await fake.nth('didOpen');
    expect(open.params).toMatchObject({ path: 'a.txt', text: 'héllo 🌍\nzwei\n' });
    // The changedtick when it was read (Neovim bumps it once more when it resets 'modified').
    expect(open.params.version).toBeGreaterThan(0);
    expect(open.params.version).toBeLessThanOrEqual(await nvim.tick());
    // initialize was answered before anything else was sent.
    expect(fake.received[0]!.method).toBe('initialize');
    expect(fake.problems).toEqual([]);
  });

  it('sends typing in emoji, CJK and combining-mark text at UTF-8 byte positions', async () => {
    const { fake, nvim } = await setup({ 'm.txt': 'a😀b\n文字です\ne\u0301x\n' });
    await nvim.command('edit m.txt');
    await fake.nth('didOpen');
    // Before b, after the emoji (1 + 4 bytes), on the CJK line after 文 (3 bytes), after é as e + U+0301 (3 bytes).
    await nvim.lua('vim.api.nvim_win_set_cursor(0, {1, 5})');
    await nvim.input('iZ<Esc>');
    const first = await fake.nth('didChange');
    expect(first.params.changes).toEqual([{ range: { start: { line: 0, character: 5 }, end: { line: 0, character: 5 } }, text: 'Z' }]);
    await nvim.lua('vim.api.nvim_win_set_cursor(0, {2, 3})');
    await nvim.input('x');
    const second = await fake.nth('didChange', 2);
    expect(second.params.changes).toEqual([{ range: { start: { line: 1, character: 3 }, end: { line: 1, character: 6 } }, text: '' }]);
    await nvim.lua('vim.api.nvim_win_set_cursor(0, {3, 1})');
    await nvim.input('a🎉<CR>y<Esc>');
    await inSync(fake, nvim, 'm.txt');
    expect(fake.docs.get('m.txt')!.text).toBe('a😀Zb\n文です\ne\u0301🎉\nyx\n');
    // Deletions across lines: join lines 1-2 and delete the last line.
    await nvim.input('ggJGdd');
    expect(await inSync(fake, nvim, 'm.txt')).toBe('a😀Zb 文です\ne\u0301🎉\n');
    expect(fake.docs.get('m.txt')!.version).toBe(await nvim.tick());
    expect(fake.problems).toEqual([]);
  });

  it('batches the on_bytes of one command into one didChange at the new changedtick', async () => {
    const { fake, nvim } = await setup({ 'b.txt': 'x1\nx2\nx3\nx4\n' });
    await nvim.command('edit b.txt');
    await fake.nth('didOpen');
    await nvim.command('%s/x/yy/');
    const change = await fake.nth('didChange');
    // One change per line: an edit a peer makes between two of them stays apart.
    expect(change.params.changes).toHaveLength(4);
    expect(change.params.version).toBe(await nvim.tick());
    expect(await inSync(fake, nvim, 'b.txt')).toBe('yy1\nyy2\nyy3\nyy4\n');
    expect(fake.of('didChange')).toHaveLength(1);
  });

  it('applies an applyEdit at exactly the known version without echoing it, and refuses a stale one', async () => {
    const { fake, nvim } = await setup({ 'e.txt': 'one\ntwo\n' });
    await nvim.command('edit e.txt');
    const open = await fake.nth('didOpen');
    const v0 = open.params.version as number;
    const ok = await fake.applyEdit('e.txt', v0, [
      { range: { start: { line: 0, character: 3 }, end: { line: 0, character: 3 } }, text: ' 🌍' },
      { range: { start: { line: 2, character: 0 }, end: { line: 2, character: 0 } }, text: 'three\n' },
    ]);
    expect(ok.applied).toBe(true);
    expect(ok.version).toBe(await nvim.tick());
    expect(ok.version).toBeGreaterThan(v0);
    expect(await nvim.text()).toBe('one 🌍\ntwo\nthree\n');
    // A stale version (the one before) changes nothing.
    const stale = await fake.applyEdit('e.txt', v0, [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: 'NO' }]);
    expect(stale).toEqual({ applied: false });
    expect(await nvim.text()).toBe('one 🌍\ntwo\nthree\n');
    // The next keystroke is reported against the applied text, and nothing was echoed before it.
    await nvim.input('ggix<Esc>');
    const change = await fake.nth('didChange');
    expect(fake.of('didChange')).toHaveLength(1);
    expect(change.params.changes).toEqual([{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: 'x' }]);
    expect(await inSync(fake, nvim, 'e.txt')).toBe('xone 🌍\ntwo\nthree\n');
    // A deletion through the end of the text (after the last line's "\n") removes whole lines.
    const cut = await fake.applyEdit('e.txt', change.params.version, [{ range: { start: { line: 1, character: 0 }, end: { line: 3, character: 0 } }, text: '' }]);
    expect(cut.applied).toBe(true);
    expect(await nvim.text()).toBe('xone 🌍\n');
    expect(fake.problems).toEqual([]);
  });

  it('keeps a text without a final line break as one (the two-buffers-one-newline-apart divergence) and writes it so', async () => {
    const { root, fake, nvim } = await setup({ 'n.txt': 'X\nay \n', 'raw.txt': 'no break' });
    await nvim.command('edit n.txt');
    const open = await fake.nth('didOpen');
    const range = (l0: number, c0: number, l1: number, c1: number) => ({ start: { line: l0, character: c0 }, end: { line: l1, character: c1 } });
    const state = () => nvim.lua<[boolean, string[]]>('return {vim.bo.eol, vim.api.nvim_buf_get_lines(0, 0, -1, false)}');
    // A merge of two deletions took the final line break away: the buffer has no 'eol' now.
    const cut = await fake.applyEdit('n.txt', open.params.version, [{ range: range(1, 3, 2, 0), text: '' }]);
    expect(cut.applied).toBe(true);
    expect(await state()).toEqual([false, ['X', 'ay ']]);
    // The line break comes back at the end of the last line: one line break again, not an empty
    // line more (the daemon would think the buffer "X\nay \n" while it held "X\nay \n\n").
    const back = await fake.applyEdit('n.txt', cut.version!, [{ range: range(1, 3, 1, 3), text: '\n' }]);
    expect(back.applied).toBe(true);
    expect(await state()).toEqual([true, ['X', 'ay ']]);
    // Typing at the end of a text without a final line break says so: "\nq" after "ay ".
    const again = await fake.applyEdit('n.txt', back.version!, [{ range: range(1, 3, 2, 0), text: '' }]);
    expect(again.applied).toBe(true);
    await nvim.input('Goq<Esc>');
    const typed = await fake.nth('didChange');
    expect(typed.params.changes).toEqual([{ range: range(1, 3, 1, 3), text: '\nq' }]);
    expect(await inSync(fake, nvim, 'n.txt')).toBe('X\nay \nq');
    // A write keeps the shared text as it is (no line break added by 'fixeol').
    await nvim.command('write');
    expect(readFileSync(join(root, 'n.txt'), 'utf8')).toBe('X\nay \nq');
    // A file without a final line break opens as that text, not as one with a line break added.
    await nvim.command('edit raw.txt');
    expect((await fake.nth('didOpen', 2)).params).toMatchObject({ path: 'raw.txt', text: 'no break' });
    expect(fake.problems).toEqual([]);
    expect(await nvim.notes()).toEqual([]);
  });

  it('leaves a buffer modified by a remote edit the disk lacks, and not modified when the disk has that text', async () => {
    const { root, fake, nvim } = await setup({ 'm.txt': 'one\n' });
    await nvim.command('edit m.txt');
    const open = await fake.nth('didOpen');
    const at = (line: number) => ({ start: { line, character: 0 }, end: { line, character: 0 } });
    const modified = () => nvim.lua<boolean>('return vim.bo.modified');
    // The look at the disk runs once the applyEdit is answered: wait until it has.
    const looked = () => nvim.until(async () => (await nvim.lua<boolean>("local _, d = require('cshare').doc_of(vim.api.nvim_get_current_buf()); return d.disk_check")) === false);
    const r1 = await fake.applyEdit('m.txt', open.params.version, [{ range: at(1), text: 'two\n' }]);
    expect(r1.applied).toBe(true);
    await looked();
    expect(await modified()).toBe(true);
    // Another program saved this text on this disk, and the daemon passed its edit on.
    writeFileSync(join(root, 'm.txt'), 'one\ntwo\nthree\n');
    const r2 = await fake.applyEdit('m.txt', r1.version!, [{ range: at(2), text: 'three\n' }]);
    expect(r2.applied).toBe(true);
    await nvim.until(async () => !(await modified()), 10_000, () => 'the buffer stayed modified');
    expect(await nvim.text()).toBe('one\ntwo\nthree\n');
    // Typing makes it modified as usual, and a later remote edit the disk lacks keeps it so.
    await nvim.input('Gofour<Esc>');
    expect(await modified()).toBe(true);
    await inSync(fake, nvim, 'm.txt');
    const r3 = await fake.applyEdit('m.txt', fake.docs.get('m.txt')!.version, [{ range: at(0), text: 'zero\n' }]);
    expect(r3.applied).toBe(true);
    await looked();
    expect(await modified()).toBe(true);
    expect(fake.problems).toEqual([]);
  });

  it('connects straight to the editor socket the running share/join announces, without the bridge', async () => {
    const root = tempDir('cshare-nvim-wt-');
    mkdirSync(join(root, '.cshare'));
    writeFileSync(join(root, 'd.txt'), 'direct\n');
    const fake = await FakeEditorServer.start(root);
    servers.push(fake);
    writeFileSync(join(root, '.cshare', 'control.path'), JSON.stringify({ socket: join(root, 'no-control.sock'), pid: process.pid, editor: fake.path }));
    // A bridge that could not reach anything: only the socket can serve this Neovim.
    const nvim = await Nvim.start({ name: 'nvim', cwd: root, setup: { cmd: ['false'], name: 'Ada', verify: true } });
    await nvim.command('edit d.txt');
    expect((await fake.nth('initialize')).params).toMatchObject({ clientName: 'neovim', name: 'Ada' });
    const open = await fake.nth('didOpen');
    expect(open.params).toMatchObject({ path: 'd.txt', text: 'direct\n' });
    await nvim.input('Ahere<Esc>');
    expect(await inSync(fake, nvim, 'd.txt')).toBe('directhere\n');
    const r = await fake.applyEdit('d.txt', fake.docs.get('d.txt')!.version, [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: '> ' }]);
    expect(r.applied).toBe(true);
    expect(await nvim.text()).toBe('> directhere\n');
    expect(fake.problems).toEqual([]);
    expect(await nvim.notes()).toEqual([]);
  });

  it('adds "\\r" to what it sends from a dos buffer and strips it from what it applies', async () => {
    const { fake, nvim } = await setup({ 'w.txt': 'a\r\nb\r\n' });
    await nvim.command('edit w.txt');
    const open = await fake.nth('didOpen');
    expect(await nvim.lua('return vim.bo.fileformat')).toBe('dos');
    expect(open.params.text).toBe('a\r\nb\r\n');
    await nvim.input('ggonew<Esc>');
    await fake.nth('didChange');
    await nvim.until(async () => fake.docs.get('w.txt')!.text === 'a\r\nnew\r\nb\r\n', 20_000, () => JSON.stringify(fake.docs.get('w.txt')));
    const r = await fake.applyEdit('w.txt', fake.docs.get('w.txt')!.version, [{ range: { start: { line: 2, character: 1 }, end: { line: 2, character: 1 } }, text: 'x\r\ny' }]);
    expect(r.applied).toBe(true);
    expect(await nvim.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)")).toEqual(['a', 'new', 'bx', 'y']);
    await nvim.command('write');
    await fake.nth('didSave');
    expect(fake.of('didSave')[0]!.params).toEqual({ path: 'w.txt', version: r.version });
    expect(fake.problems).toEqual([]);
  });

  it('re-sends didOpen with the whole text when the daemon answers an error with resync', async () => {
    const { fake, nvim } = await setup({ 'r.txt': 'abc\n' });
    await nvim.command('edit r.txt');
    await fake.nth('didOpen');
    fake.answer = (m) => (m.method === 'didChange' ? { error: { code: -32602, message: 'stale version', data: { code: 'PROTOCOL', resync: true } } } : undefined);
    await nvim.input('Ad<Esc>');
    const again = await fake.nth('didOpen', 2);
    expect(again.params).toMatchObject({ path: 'r.txt', text: 'abcd\n' });
    expect(await nvim.notes()).toEqual([]);
  });

  it("shows a peer's cursor and selection as extmarks with its name, and clears them when it leaves", async () => {
    const { fake, nvim } = await setup({ 'p.txt': 'first\n文字 here\nthird\n' });
    await nvim.command('edit p.txt');
    await fake.nth('didOpen');
    const peer = { id: 'r-bob', name: 'Bob', color: '#22aa66', role: 'joiner', path: 'p.txt' };
    fake.notify('peers', {
      peers: [
        { ...peer, selections: [{ anchor: { line: 1, character: 0 }, head: { line: 1, character: 3 } }] },
        { id: 'r-eve', name: 'Eve', color: '#aa2222', role: 'joiner', path: 'other.txt', selections: [{ anchor: { line: 0, character: 0 }, head: { line: 0, character: 0 } }] },
      ],
    });
    type Mark = [number, number, number, { end_row?: number; end_col?: number; hl_group?: string; virt_text?: [string, string][] }];
    const marks = () => nvim.lua<Mark[]>("return vim.api.nvim_buf_get_extmarks(0, vim.api.nvim_create_namespace('cshare_peers'), 0, -1, {details = true})");
    await nvim.until(async () => (await marks()).length === 2);
    const all = await marks();
    const named = all.find((m) => m[3].virt_text)!;
    // Bob's cursor on 字 (bytes 3..6 of line 1), his name at the end of the line; Eve is elsewhere.
    expect(named.slice(1, 3)).toEqual([1, 3]);
    expect(named[3]).toMatchObject({ end_row: 1, end_col: 6, hl_group: 'Cshare22aa66Cursor' });
    expect(named[3].virt_text![0]![0]).toContain('Bob');
    const selection = all.find((m) => !m[3].virt_text)!;
    expect(selection.slice(1, 3)).toEqual([1, 0]);
    expect(selection[3]).toMatchObject({ end_row: 1, end_col: 3, hl_group: 'Cshare22aa66Selection' });
    expect(await nvim.lua("return vim.api.nvim_get_hl_by_name('Cshare22aa66Cursor', true).background")).toBe(0x22aa66);
    const status = await nvim.lua<string[]>("return require('cshare').status_lines()");
    expect(status.join('\n')).toMatch(/Bob \(joiner\) p\.txt:2/);
    // :CshareFollow moves this window to Bob's cursor.
    await nvim.command('CshareFollow Bob');
    expect(await nvim.lua('return vim.api.nvim_win_get_cursor(0)')).toEqual([2, 3]);
    fake.notify('peers', { peers: [] });
    await nvim.until(async () => (await marks()).length === 0);
  });

  it('sends the cursor and selection as byte positions', async () => {
    const { fake, nvim } = await setup({ 'c.txt': 'ab🌍cd\nxyzwvu\n' });
    await nvim.command('edit c.txt');
    await fake.nth('didOpen');
    await nvim.lua('vim.api.nvim_win_set_cursor(0, {1, 6})');
    await nvim.until(async () => fake.of('cursor').some((m) => m.params.selections[0].head.character === 6));
    await nvim.input('vj');
    await nvim.until(async () => fake.of('cursor').some((m) => m.params.selections[0].head.line === 1));
    const last = fake.of('cursor').at(-1)!;
    expect(last.params).toEqual({ path: 'c.txt', selections: [{ anchor: { line: 0, character: 6 }, head: { line: 1, character: 4 } }] });
  });

  it('keeps the buffer and reports once when an applyEdit cannot be applied', async () => {
    const { fake, nvim } = await setup({ 'x.txt': 'short\n' });
    await nvim.command('edit x.txt');
    const open = await fake.nth('didOpen');
    const bad = await fake.applyEdit('x.txt', open.params.version, [{ range: { start: { line: 0, character: 40 }, end: { line: 0, character: 41 } }, text: 'z' }]);
    expect(bad).toEqual({ applied: false });
    expect(await nvim.text()).toBe('short\n');
    // It re-sent the buffer so that the daemon knows what it holds, and said so once.
    await fake.nth('didOpen', 2);
    // Inside a character (the 2nd byte of é) is refused the same way, before anything changes.
    await nvim.input('Aé<Esc>');
    await inSync(fake, nvim, 'x.txt');
    const mid = await fake.applyEdit('x.txt', fake.docs.get('x.txt')!.version, [{ range: { start: { line: 0, character: 6 }, end: { line: 0, character: 6 } }, text: 'z' }]);
    expect(mid).toEqual({ applied: false });
    expect(await nvim.text()).toBe('shorté\n');
    await fake.nth('didOpen', 3);
    const again = await fake.applyEdit('x.txt', fake.docs.get('x.txt')!.version, [{ range: { start: { line: 0, character: 40 }, end: { line: 0, character: 41 } }, text: 'z' }]);
    expect(again).toEqual({ applied: false });
    await fake.nth('didOpen', 4);
    const notes = (await nvim.notes()).map((n) => n.msg);
    // Once per file, however many follow.
    expect(notes).toEqual([expect.stringMatching(/applying a remote edit to x\.txt: start_col out of bounds: \(0,40\)-\(0,41\) over lines of 5 bytes/)]);
    // Typing still works afterwards.
    await nvim.input('Ayes<Esc>');
    expect(await inSync(fake, nvim, 'x.txt')).toBe('shortéyes\n');
  });

  it('keeps the server\'s copy equal to the buffer through seeded random edits, undo, :s and applyEdits (CSHARE_NVIM_SEED replays)', async () => {
    const seed = Number(process.env.CSHARE_NVIM_SEED ?? 18);
    const rng = new Prng(seed);
    const { fake, nvim } = await setup({ 'f.txt': 'alpha é\n文字\n😀 e\u0301\n\nlast\n' });
    await nvim.command('edit f.txt');
    await fake.nth('didOpen');
    await installRandomEdits(nvim);
    let applied = 0;
    for (let i = 0; i < 300; i++) {
      const r = rng.next();
      if (r < 0.08) await nvim.input('u');
      else if (r < 0.1) await nvim.command('silent! %s/a/AA/g');
      else if (r < 0.25) {
        // A remote edit at the version the server knows: applied unless a change is unsent
        // (half of them wait until the server has every change, and then must apply).
        const synced = rng.chance(0.5);
        if (synced) await inSync(fake, nvim, 'f.txt');
        const doc = fake.docs.get('f.txt')!;
        const lines = doc.text.split('\n');
        const line = rng.int(lines.length - 1);
        const chars = [...lines[line]!];
        const at = Buffer.byteLength(chars.slice(0, rng.int(chars.length + 1)).join(''));
        const res = await fake.applyEdit('f.txt', doc.version, [{ range: { start: { line, character: at }, end: { line, character: at } }, text: randomText(rng) }]);
        if (synced) expect(res, `seed ${seed} step ${i}`).toMatchObject({ applied: true });
        if (res.applied) applied++;
      } else await randomEdit(nvim, rng);
    }
    await inSync(fake, nvim, 'f.txt');
    expect(fake.problems, `seed ${seed}`).toEqual([]);
    expect(await nvim.notes(), `seed ${seed}`).toEqual([]);
    expect(applied).toBeGreaterThan(5);
  });

  it('treats an empty buffer as the empty text (a 0-byte file), in both directions', async () => {
    const { fake, nvim } = await setup({ 'empty.txt': '' });
    await nvim.command('edit empty.txt');
    expect((await fake.nth('didOpen')).params.text).toBe('');
    await nvim.input('ihi<Esc>');
    await nvim.until(async () => fake.docs.get('empty.txt')?.text === 'hi\n', 20_000, () => JSON.stringify(fake.docs.get('empty.txt')));
    await nvim.input('dd');
    await nvim.until(async () => fake.docs.get('empty.txt')?.text === '', 20_000, () => JSON.stringify(fake.docs.get('empty.txt')));
    // A new buffer (a file not on disk) too; then a remote edit fills it.
    await nvim.command('edit new.txt');
    const open = await fake.nth('didOpen', 2);
    expect(open.params).toMatchObject({ path: 'new.txt', text: '' });
    const r = await fake.applyEdit('new.txt', open.params.version, [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: 'from a peer\nline 2\n' }]);
    expect(r.applied).toBe(true);
    expect(await nvim.lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')).toEqual(['from a peer', 'line 2']);
    expect(fake.problems).toEqual([]);
  });

  it('says once that nothing serves the worktree when the bridge exits 18, and leaves the buffers alone', async () => {
    const root = tempDir('cshare-nvim-wt-');
    mkdirSync(join(root, '.cshare'));
    writeFileSync(join(root, 'a.txt'), 'a\n');
    writeFileSync(join(root, 'b.txt'), 'b\n');
    const nvim = await Nvim.start({ name: 'nvim', cwd: root, setup: { cmd: ['sh', '-c', 'echo "no share or join runs here" >&2; exit 18'] } });
    await nvim.command('edit a.txt');
    await nvim.until(async () => (await nvim.notes()).length > 0);
    await nvim.command('edit b.txt');
    await nvim.command('edit a.txt');
    await nvim.input('ityped<Esc>');
    expect(await nvim.text()).toBe('typeda\n');
    const notes = await nvim.notes();
    expect(notes).toHaveLength(1);
    expect(notes[0]!.msg).toMatch(/exit 18.*no share or join runs here/);
  });

  it('stops following a path the daemon answers unshared', async () => {
    const { fake, nvim } = await setup({ 'secret.env': 'X=1\n', 'ok.txt': 'ok\n' });
    fake.answer = (m) => (m.method === 'didOpen' && m.params.path === 'secret.env' ? { result: { state: 'unshared', version: m.params.version } } : undefined);
    await nvim.command('edit secret.env');
    await fake.nth('didOpen');
    await nvim.command('edit ok.txt');
    await fake.nth('didOpen', 2);
    await nvim.command('edit secret.env');
    await nvim.input('Amore<Esc>');
    await nvim.command('edit ok.txt');
    await nvim.input('Amore<Esc>');
    await fake.nth('didChange');
    // Nothing about secret.env after the answer: no second didOpen, no change.
    expect(fake.received.filter((m) => m.params?.path === 'secret.env').map((m) => m.method)).toEqual(['didOpen']);
  });

  it('makes the buffers of a read-only join not modifiable, and still applies the shared edits', async () => {
    const { fake, nvim } = await setup({ 'ro.txt': 'shared\n' });
    fake.answer = (m) => (m.method === 'initialize' ? { result: { protocolVersion: 1, positionEncoding: 'utf-8', root: fake.root, replicaId: 'r', name: 'n', role: 'joiner', readOnly: true, peers: [] } } : undefined);
    await nvim.command('edit ro.txt');
    const open = await fake.nth('didOpen');
    await nvim.until(async () => (await nvim.lua('return vim.bo.modifiable')) === false);
    const r = await fake.applyEdit('ro.txt', open.params.version, [{ range: { start: { line: 1, character: 0 }, end: { line: 1, character: 0 } }, text: 'more\n' }]);
    expect(r.applied).toBe(true);
    expect(await nvim.text()).toBe('shared\nmore\n');
    expect(await nvim.lua('return vim.bo.modifiable')).toBe(false);
  });

  it('says it is in no file when it leaves the worktree\'s buffers', async () => {
    const { fake, nvim } = await setup({ 'in.txt': 'x\n' });
    await nvim.command('edit in.txt');
    await fake.nth('didOpen');
    await nvim.until(async () => fake.of('cursor').some((m) => m.params.path === 'in.txt'));
    await nvim.command('enew');
    await nvim.until(async () => fake.of('cursor').at(-1)?.params.path === null, 5000, () => JSON.stringify(fake.of('cursor')));
  });
});
