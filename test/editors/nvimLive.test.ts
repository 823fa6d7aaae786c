/**
 * The Neovim plugin end to end: a relay, a `share` and a `join` as real processes, and a real
 * headless Neovim on each worktree running the plugin through the real `cshare editor` bridge.
 * Typing on one side reaches the other side's buffer; saves reach both disks; files opened,
 * closed, renamed, deleted, saved by a plain editor, and peers' cursors.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Prng } from '../../src/sync/prng.js';
import { BIN } from '../helpers/cli.js';
import { Nvim, stopAllNvims } from '../helpers/nvim.js';
import { installRandomEdits, randomEdit } from '../helpers/nvimEdits.js';
import { start, stopAll, type Proc } from '../helpers/procs.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

afterEach(async () => {
  await stopAllNvims();
  await stopAll();
});

const read = (root: string, rel: string) => (existsSync(join(root, rel)) ? readFileSync(join(root, rel), 'utf8') : undefined);

interface Side {
  root: string;
  proc: Proc;
  nvim: Nvim;
}

/** A relay, alice sharing `files`, bob joined, and a Neovim with the plugin on each worktree. */
async function pair(files: Record<string, string>): Promise<{ base: string; alice: Side; bob: Side }> {
  const base = tempDir('cshare-nvim-e2e-');
  const relay = start('relay', base, ['relay', '--data', join(base, 'data'), '--listen', '/ip4/127.0.0.1/tcp/0']);
  const addr = ((await relay.line((x) => x.event === 'listening')).addresses as string[])[0]!;
  const aliceRoot = join(base, 'alice');
  writeTree(aliceRoot, files);
  const sharer = start('alice', aliceRoot, ['share', '--relay', addr]);
  const codes = (await sharer.line((x) => x.event === 'sharing')).codes as { readWrite: string };
  const bobRoot = join(base, 'bob');
  const joiner = start('bob', base, ['join', codes.readWrite, bobRoot]);
  await joiner.line((x) => x.event === 'joined');
  const cmd = [process.execPath, BIN, 'editor'];
  const a = await Nvim.start({ name: 'alice', cwd: aliceRoot, setup: { cmd, name: 'alice', verify: true, cursor_throttle_ms: 10 } });
  const b = await Nvim.start({ name: 'bob', cwd: bobRoot, setup: { cmd, name: 'bob', verify: true, cursor_throttle_ms: 10 } });
  return { base, alice: { root: aliceRoot, proc: sharer, nvim: a }, bob: { root: bobRoot, proc: joiner, nvim: b } };
}

/** The state of `file`'s document in the plugin ('' when not attached). */
function docState(nvim: Nvim, file: string): Promise<string> {
  return nvim.lua("local _, d = require('cshare').doc_of(vim.fn.bufnr(...)); return d and d.state or ''", [file]);
}

/** Opens `file` in the current window and waits until the daemon has it in state `state`. */
async function open(nvim: Nvim, file: string, state = 'live'): Promise<void> {
  await nvim.command(`edit ${file}`);
  await nvim.until(async () => (await docState(nvim, file)) === state, 30_000, () => `${nvim.name}: ${file} never became ${state}`);
}

/** The document text of `file`'s buffer ("\n" line breaks, as Neovim holds it; no final one without 'eol'). */
function bufText(nvim: Nvim, file: string): Promise<string> {
  return nvim.lua("return require('cshare.buffer').buffer_text(vim.fn.bufnr(...))", [file]);
}

/** Waits until `file`'s buffers in both Neovims are equal, and returns the text. */
async function converged(a: Nvim, b: Nvim, file: string, ms = 60_000): Promise<string> {
  let ta = '';
  let tb = '';
  await a.until(
    async () => (ta = await bufText(a, file)) === (tb = await bufText(b, file)),
    ms,
    async () => `${file} differs:\nalice ${JSON.stringify(ta)}\nbob   ${JSON.stringify(tb)}\nalice was told ${JSON.stringify(await notes(a))}\nbob was told ${JSON.stringify(await notes(b))}`,
  );
  return ta;
}

/** Types `text` into insert mode one key at a time, `ms` apart (keys as nvim_input takes them). */
async function typeSlowly(nvim: Nvim, keys: string[], ms: number): Promise<void> {
  for (const k of keys) {
    await nvim.input(k);
    await new Promise((r) => setTimeout(r, ms));
  }
}

/** Splits text into nvim_input keys ("<" escaped, "\n" as <CR>). */
const keysOf = (text: string) => [...text].map((c) => (c === '<' ? '<lt>' : c === '\n' ? '<CR>' : c));

/** What the user would have been told by the plugin. */
async function notes(nvim: Nvim): Promise<string[]> {
  return (await nvim.notes()).map((n) => n.msg);
}

describe('the Neovim plugin with real relay, share and join processes', () => {
  it('interleaved typing in one file: both buffers equal, and after :w both disks', async () => {
    const { alice, bob } = await pair({ 'story.txt': 'first line\nsecond line\n' });
    await open(alice.nvim, 'story.txt');
    await open(bob.nvim, 'story.txt');
    await alice.nvim.command('normal! gg0');
    await alice.nvim.input('i');
    await bob.nvim.command('normal! G$');
    await bob.nvim.input('a');
    const aKeys = keysOf('alice types ünïcode 文字 here\n');
    const bKeys = keysOf(' and bob 😀 appends');
    await Promise.all([typeSlowly(alice.nvim, aKeys, 15), typeSlowly(bob.nvim, bKeys, 17)]);
    await alice.nvim.input('<Esc>');
    await bob.nvim.input('<Esc>');
    const text = await converged(alice.nvim, bob.nvim, 'story.txt');
    expect(text).toBe('alice types ünïcode 文字 here\nfirst line\nsecond line and bob 😀 appends\n');
    await alice.nvim.command('write');
    await bob.nvim.command('write');
    await alice.nvim.until(async () => read(alice.root, 'story.txt') === text && read(bob.root, 'story.txt') === text, 30_000, () => `disks: alice ${JSON.stringify(read(alice.root, 'story.txt'))} bob ${JSON.stringify(read(bob.root, 'story.txt'))}`);
    expect(await notes(alice.nvim)).toEqual([]);
    expect(await notes(bob.nvim)).toEqual([]);
  }, 120_000);

  it('random edits on both sides at 10-20 ms in a multibyte file and a CRLF file converge (seeded: CSHARE_NVIM_SEED, CSHARE_NVIM_FUZZ_EDITS)', async () => {
    const seed = Number(process.env.CSHARE_NVIM_SEED ?? 18);
    const edits = Number(process.env.CSHARE_NVIM_FUZZ_EDITS ?? 500);
    const { alice, bob } = await pair({
      'fuzz.txt': 'alpha é 文字\n😀 e\u0301 end\n\nlast line\n',
      'dos.txt': 'one\r\ntwo 字\r\nthree\r\n',
    });
    for (const side of [alice, bob]) {
      await open(side.nvim, 'dos.txt');
      await open(side.nvim, 'fuzz.txt');
      await installRandomEdits(side.nvim);
    }
    expect(await alice.nvim.lua("return vim.bo[vim.fn.bufnr('dos.txt')].fileformat")).toBe('dos');
    const run = async (side: Side, rng: Prng) => {
      const bufs = [await side.nvim.lua<number>("return vim.fn.bufnr('fuzz.txt')"), await side.nvim.lua<number>("return vim.fn.bufnr('dos.txt')")];
      for (let i = 0; i < edits; i++) {
        await randomEdit(side.nvim, rng, bufs[rng.chance(0.7) ? 0 : 1]);
        await new Promise((r) => setTimeout(r, 10 + rng.int(11)));
      }
    };
    await Promise.all([run(alice, new Prng(seed * 2)), run(bob, new Prng(seed * 2 + 1))]);
    const fuzz = await converged(alice.nvim, bob.nvim, 'fuzz.txt', 90_000);
    const dos = await converged(alice.nvim, bob.nvim, 'dos.txt', 90_000);
    await alice.nvim.command('wall');
    await bob.nvim.command('wall');
    const dosOnDisk = dos.replace(/\n/g, '\r\n');
    await alice.nvim.until(
      async () => read(alice.root, 'fuzz.txt') === fuzz && read(bob.root, 'fuzz.txt') === fuzz && read(alice.root, 'dos.txt') === dosOnDisk && read(bob.root, 'dos.txt') === dosOnDisk,
      30_000,
      () => `seed ${seed}: disks differ from the buffers`,
    );
    expect(await notes(alice.nvim), `seed ${seed}`).toEqual([]);
    expect(await notes(bob.nvim), `seed ${seed}`).toEqual([]);
  }, 240_000);

  it('a file opened while the other side types, closed and reopened, gets every keystroke', async () => {
    const { alice, bob } = await pair({ 'g.txt': 'start\n' });
    await open(bob.nvim, 'g.txt');
    await bob.nvim.command('normal! G$');
    await bob.nvim.input('a');
    const keys = keysOf(' one two three four five six seven eight nine ten');
    const typing = typeSlowly(bob.nvim, keys, 20);
    await alice.nvim.until(async () => (read(alice.root, 'g.txt') ?? '').includes('two'), 30_000, () => `alice's disk: ${read(alice.root, 'g.txt')}`);
    await open(alice.nvim, 'g.txt');
    await typing;
    await bob.nvim.input('<Esc>');
    const text = await converged(alice.nvim, bob.nvim, 'g.txt');
    expect(text).toBe('start one two three four five six seven eight nine ten\n');
    // Alice closes it; bob types on; alice's disk follows (the disk path), and reopening is live again.
    // Bob's typing applied to her buffer left it modified (her disk waits for the close), so
    // Neovim wants `!`: the doc has every character of it, and the close writes it to disk.
    await alice.nvim.command('bdelete! g.txt');
    await bob.nvim.input('o- more from bob<Esc>');
    await alice.nvim.until(async () => read(alice.root, 'g.txt') === `${text}- more from bob\n`, 30_000, () => `alice's disk: ${read(alice.root, 'g.txt')}`);
    await open(alice.nvim, 'g.txt');
    await alice.nvim.input('ggIalice: <Esc>');
    expect(await converged(alice.nvim, bob.nvim, 'g.txt')).toBe(`alice: ${text}- more from bob\n`);
  }, 120_000);

  it('a file the joiner opens before it has received it fills in when it arrives', async () => {
    const { alice, bob } = await pair({ 'a.txt': 'a\n' });
    await open(bob.nvim, 'late.txt', 'waiting');
    writeFileSync(join(alice.root, 'late.txt'), 'written by alice\n');
    await bob.nvim.until(async () => (await bufText(bob.nvim, 'late.txt')) === 'written by alice\n', 30_000, async () => `bob's buffer: ${JSON.stringify(await bufText(bob.nvim, 'late.txt').catch(() => '?'))}`);
    await bob.nvim.until(async () => (await docState(bob.nvim, 'late.txt')) === 'live');
    // Now live: bob's typing reaches alice's disk (she has no editor on it) without a save.
    await bob.nvim.input('Goand bob<Esc>');
    await alice.nvim.until(async () => read(alice.root, 'late.txt') === 'written by alice\nand bob\n', 30_000, () => `alice's disk: ${read(alice.root, 'late.txt')}`);
  }, 120_000);

  it('a peer renames an open file (the buffer follows) and deletes one (the buffer keeps its text)', async () => {
    const { alice, bob } = await pair({ 'r.txt': 'to be renamed\n', 'd.txt': 'to be deleted\n' });
    await open(alice.nvim, 'd.txt');
    await open(alice.nvim, 'r.txt');
    renameSync(join(bob.root, 'r.txt'), join(bob.root, 'r2.txt'));
    await alice.nvim.until(async () => ((await alice.nvim.lua<string>('return vim.api.nvim_buf_get_name(0)')) ?? '').endsWith('/r2.txt'), 30_000, () => `${alice.nvim.name}: the buffer was not renamed`);
    expect(await bufText(alice.nvim, 'r2.txt')).toBe('to be renamed\n');
    await alice.nvim.input('A (and edited)<Esc>');
    await bob.nvim.until(async () => read(bob.root, 'r2.txt') === 'to be renamed (and edited)\n', 30_000, () => `bob's disk: ${read(bob.root, 'r2.txt')}`);
    rmSync(join(bob.root, 'd.txt'));
    await alice.nvim.until(async () => (await notes(alice.nvim)).some((n) => n.includes('d.txt was deleted by a peer')));
    expect(await bufText(alice.nvim, 'd.txt')).toBe('to be deleted\n');
    expect(await alice.nvim.lua("return vim.bo[vim.fn.bufnr('d.txt')].modified")).toBe(true);
  }, 120_000);

  it('one side in Neovim, the other saving with a plain editor: both edits merge into the buffer and both disks', async () => {
    const { alice, bob } = await pair({ 'p.txt': 'one\ntwo\nthree\n' });
    await open(alice.nvim, 'p.txt');
    await alice.nvim.input('ggOalice was here<Esc>');
    await bob.nvim.until(async () => read(bob.root, 'p.txt') === 'alice was here\none\ntwo\nthree\n', 30_000, () => `bob's disk: ${read(bob.root, 'p.txt')}`);
    // Bob saves from his own (stale) copy: the merge keeps alice's line.
    writeFileSync(join(bob.root, 'p.txt'), 'one\ntwo\nthree\nbob saved this\n');
    const merged = 'alice was here\none\ntwo\nthree\nbob saved this\n';
    await alice.nvim.until(async () => (await bufText(alice.nvim, 'p.txt')) === merged, 30_000, async () => `alice's buffer: ${JSON.stringify(await bufText(alice.nvim, 'p.txt'))}`);
    await alice.nvim.command('write');
    await alice.nvim.until(async () => read(alice.root, 'p.txt') === merged && read(bob.root, 'p.txt') === merged, 30_000, () => `disks: ${read(alice.root, 'p.txt')} / ${read(bob.root, 'p.txt')}`);
  }, 120_000);

  it("shows the other side's cursor as an extmark with its name, and removes it when that peer leaves", async () => {
    const { alice, bob } = await pair({ 'c.txt': 'first\n文字 second\nthird\n' });
    await open(alice.nvim, 'c.txt');
    await open(bob.nvim, 'c.txt');
    await alice.nvim.lua('vim.api.nvim_win_set_cursor(0, {2, 3})');
    await alice.nvim.command('doautocmd CursorMoved');
    type Mark = [number, number, number, { virt_text?: [string, string][] }];
    const marks = () => bob.nvim.lua<Mark[]>("return vim.api.nvim_buf_get_extmarks(vim.fn.bufnr('c.txt'), vim.api.nvim_create_namespace('cshare_peers'), 0, -1, {details = true})");
    await bob.nvim.until(async () => (await marks()).some((m) => m[3].virt_text?.[0]?.[0]?.includes('alice') && m[1] === 1 && m[2] === 3), 30_000, async () => `bob's marks: ${JSON.stringify(await marks())}`);
    const status = await bob.nvim.lua<string[]>("return require('cshare').status_lines()");
    expect(status.join('\n')).toMatch(/alice .*c\.txt:2/);
    // Alice leaves: her editor quits and her share stops.
    await alice.nvim.stop();
    await alice.proc.stop();
    await bob.nvim.until(async () => (await marks()).length === 0, 30_000, async () => `bob's marks: ${JSON.stringify(await marks())}`);
  }, 120_000);

  it(':CshareUndo undoes only this side\'s typing, in both buffers', async () => {
    const { alice, bob } = await pair({ 'u.txt': 'middle\n' });
    await open(alice.nvim, 'u.txt');
    await open(bob.nvim, 'u.txt');
    await alice.nvim.input('ggOalice line<Esc>');
    await converged(alice.nvim, bob.nvim, 'u.txt');
    await bob.nvim.input('Gobob line<Esc>');
    expect(await converged(alice.nvim, bob.nvim, 'u.txt')).toBe('alice line\nmiddle\nbob line\n');
    await alice.nvim.command('CshareUndo');
    await alice.nvim.until(async () => (await bufText(alice.nvim, 'u.txt')) === 'middle\nbob line\n', 30_000, async () => `alice's buffer: ${JSON.stringify(await bufText(alice.nvim, 'u.txt'))}; told ${JSON.stringify(await notes(alice.nvim))}`);
    expect(await converged(alice.nvim, bob.nvim, 'u.txt')).toBe('middle\nbob line\n');
    await alice.nvim.command('CshareRedo');
    await alice.nvim.until(async () => (await bufText(alice.nvim, 'u.txt')) === 'alice line\nmiddle\nbob line\n', 30_000, async () => `alice's buffer: ${JSON.stringify(await bufText(alice.nvim, 'u.txt'))}`);
    expect(await converged(alice.nvim, bob.nvim, 'u.txt')).toBe('alice line\nmiddle\nbob line\n');
  }, 120_000);
});
