/**
 * Issue 19 with the editors of both issues: VS Code (code-server in Chromium, the extension
 * from its .vsix) on the sharer's worktree, headless Neovim with the editors/nvim plugin on the
 * joiner's, a real relay between them. Typing in either editor reaches the other's buffer;
 * Neovim's cursor is a decoration in VS Code; after a burst from both sides with multibyte text
 * both buffers and, after saving in each editor, both disks are equal.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Prng } from '../../src/sync/prng.js';
import { BIN } from '../helpers/cli.js';
import { Nvim, stopAllNvims } from '../helpers/nvim.js';
import { start, stopAll } from '../helpers/procs.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { openFile } from './codeServer.js';
import { buildVsix, untilState, vscodeOn, type HookState, type VsCode } from './harness.js';

let vscode: VsCode | undefined;
afterEach(async () => {
  await vscode?.stop();
  vscode = undefined;
  await stopAllNvims();
  await stopAll();
});

const read = (root: string, rel: string) => (existsSync(join(root, rel)) ? readFileSync(join(root, rel), 'utf8') : undefined);
const docIn = (s: HookState, path: string) => s.sessions[0]?.docs.find((d) => d.path === path);

/** Neovim's buffer of `file` as document text. */
function bufText(nvim: Nvim, file: string): Promise<string> {
  return nvim.lua("return require('cshare.buffer').text_of(vim.api.nvim_buf_get_lines(vim.fn.bufnr(...), 0, -1, false))", [file]);
}

describe('VS Code on the sharer, Neovim on the joiner', () => {
  it('typing in VS Code (keyboard) reaches Neovim\'s buffer and Neovim\'s typing reaches VS Code; Neovim\'s cursor is a decoration in VS Code; a burst from both ends equal in buffers and disks', async () => {
    buildVsix();
    const base = tempDir('cshare-vscode-nvim-');
    const relay = start('relay', base, ['relay', '--data', join(base, 'data'), '--listen', '/ip4/127.0.0.1/tcp/0']);
    const addr = ((await relay.line((x) => x.event === 'listening')).addresses as string[])[0]!;
    const alice = join(base, 'alice');
    writeTree(alice, { 'notes.txt': 'alpha\nbeta\ngamma\n' });
    const sharer = start('alice', alice, ['share', '--relay', addr]);
    const codes = (await sharer.line((x) => x.event === 'sharing')).codes as { readWrite: string };
    const bob = join(base, 'bob');
    const joiner = start('bob', base, ['join', codes.readWrite, bob]);
    await joiner.line((x) => x.event === 'joined');

    vscode = await vscodeOn(join(base, 'cs'), alice);
    const v = vscode;
    await untilState(v.hook, (s) => s.sessions[0]?.connected === true, 60_000);
    const nvim = await Nvim.start({ name: 'bob', cwd: bob, setup: { cmd: [process.execPath, BIN, 'editor'], name: 'bob', verify: true, cursor_throttle_ms: 10 } });
    await nvim.command('edit notes.txt');
    await nvim.until(async () => (await nvim.lua("local _, d = require('cshare').doc_of(vim.fn.bufnr('notes.txt')); return d and d.state or ''")) === 'live', 30_000);
    await openFile(v.page, 'notes.txt');
    await untilState(v.hook, (s) => docIn(s, 'notes.txt')?.version != null);
    await v.page.locator('.editor-instance .monaco-editor .view-lines').first().click();

    // VS Code -> Neovim.
    // (At the start of the first line: Neovim's buffer always ends with a line break.)
    await v.page.keyboard.press('Control+Home');
    await v.page.keyboard.type('from VS Code 😀 漢字 ', { delay: 15 });
    await nvim.until(async () => (await bufText(nvim, 'notes.txt')) === 'from VS Code 😀 漢字 alpha\nbeta\ngamma\n', 20_000, async () => `neovim has ${JSON.stringify(await bufText(nvim, 'notes.txt'))}`);
    // Neovim -> VS Code (typed in insert mode at the start of the second line).
    await nvim.input('2GIfrom Neovim ✓ <Esc>');
    await untilState(v.hook, (s) => docIn(s, 'notes.txt')?.text === 'from VS Code 😀 漢字 alpha\nfrom Neovim ✓ beta\ngamma\n');
    // Neovim's cursor (line 3, byte column 3) is a decoration in VS Code at UTF-16 (2, 2).
    await nvim.command('call cursor(3, 3)');
    const s1 = await untilState(v.hook, (s) => (s.decorations['notes.txt'] ?? []).some((m) => m.name === 'bob' && m.cursors.some((c) => c.line === 2 && c.character === 2)), 20_000);
    expect(s1.sessions[0]!.peers.find((p) => p.name === 'bob')?.path).toBe('notes.txt');

    // A burst from both sides at once: VS Code's keyboard at its cursor, Neovim inserting at
    // random lines, with multibyte text.
    const rand = new Prng(Number(process.env.CSHARE_VSCODE_SEED ?? 7));
    const pieces = ['x', 'é', '😀', '漢字', 'ß', ' '];
    for (let i = 0; i < 30; i++) {
      const typing = v.page.keyboard.type(pieces[rand.int(pieces.length)]!);
      await nvim.input(`${1 + rand.int(3)}G${rand.next() < 0.5 ? 'I' : 'A'}${pieces[rand.int(pieces.length)]}<Esc>`);
      await typing;
      await new Promise((r) => setTimeout(r, 10 + rand.int(10)));
    }
    let last = '';
    await nvim.until(async () => {
      const s = await v.hook.state();
      const d = docIn(s, 'notes.txt');
      last = `vscode ${JSON.stringify(d?.text)} neovim ${JSON.stringify(await bufText(nvim, 'notes.txt'))}`;
      return d !== undefined && d.unsent === false && d.applying === false && d.text === (await bufText(nvim, 'notes.txt'));
    }, 60_000, () => last);
    const text = docIn(await v.hook.state(), 'notes.txt')!.text;
    expect(text.length).toBeGreaterThan(60);
    // Saved in each editor: both disks hold the same text.
    await v.hook.call('save', { path: 'notes.txt' });
    await nvim.command('write');
    await nvim.until(async () => read(alice, 'notes.txt') === text && read(bob, 'notes.txt') === text, 20_000, () => `alice ${JSON.stringify(read(alice, 'notes.txt'))} bob ${JSON.stringify(read(bob, 'notes.txt'))} buffer ${JSON.stringify(text)}`);
  }, 300_000);
});
