/**
 * Story (issue 14, item 3): a save from an editor's stale buffer does not revert a
 * collaborator's edit. Bob's editor loaded f.txt; Alice's edit reached Bob's disk; Bob's
 * editor had not reloaded and saved its buffer with his own change. The save is an edit of the
 * version the editor loaded: it is merged, both changes stay, on every side.
 *
 * Waiting for a file without reading it (O_NOATIME): whether a file cshare wrote was read since
 * (an editor reloading it) is one of the signals cshare uses, so the test must not read it
 * where an editor would not.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, readSync, fstatSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stopAll, until } from '../../helpers/procs.js';
import { cluster, converged, logOf, read } from './cluster.js';

afterEach(stopAll);

const LINES = Array.from({ length: 10 }, (_, i) => `line ${i + 1}\n`);
const BASE = LINES.join('');

/** Reads a file without touching its access time (as root, or as its owner). */
function peek(root: string, rel: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(join(root, rel), constants.O_RDONLY | (constants.O_NOATIME ?? 0));
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(fstatSync(fd).size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Saves like most editors do: a new file renamed over the old one. */
function editorSave(root: string, rel: string, text: string): void {
  const abs = join(root, rel);
  writeFileSync(`${abs}.tmp-save`, text);
  renameSync(`${abs}.tmp-save`, abs);
}

const replaceLine = (text: string, n: number, line: string) => text.split('\n').map((l, i) => (i === n - 1 ? line : l)).join('\n');

describe("a stale buffer's save merges instead of reverting", () => {
  it('stale buffer, edit elsewhere: both kept; log shows the merge', async () => {
    const c = await cluster({ files: { 'f.txt': BASE } });
    const buffer = readFileSync(join(c.bob, 'f.txt'), 'utf8'); // Bob's editor loads f.txt
    writeFileSync(join(c.alice, 'f.txt'), replaceLine(BASE, 1, 'line 1 by alice'));
    await until(() => peek(c.bob, 'f.txt')?.startsWith('line 1 by alice') === true);
    editorSave(c.bob, 'f.txt', replaceLine(buffer, 5, 'line 5 by bob'));
    const want = replaceLine(replaceLine(BASE, 1, 'line 1 by alice'), 5, 'line 5 by bob');
    expect(await converged(c.alice, c.bob, 'f.txt', (t) => t.includes('bob'))).toBe(want);
    const merge = logOf(c.bob, ['f.txt']).find((o) => o.merge !== undefined);
    expect(merge).toMatchObject({ kind: 'edit', author: 'bob' });
    await c.joiner.line((l) => l.event === 'merged' && l.path === 'f.txt');
  }, 120_000);

  it('stale buffer, edit of the same line: both inserted texts kept', async () => {
    const c = await cluster({ files: { 'f.txt': BASE } });
    const buffer = readFileSync(join(c.bob, 'f.txt'), 'utf8');
    writeFileSync(join(c.alice, 'f.txt'), BASE.replace('line 3\n', 'line 3\nalice was here\n'));
    await until(() => peek(c.bob, 'f.txt')?.includes('alice was here') === true);
    editorSave(c.bob, 'f.txt', buffer.replace('line 3\n', 'line 3\nbob was here\n'));
    const text = await converged(c.alice, c.bob, 'f.txt', (t) => t.includes('bob was here'));
    expect(text).toContain('alice was here\n');
    expect(text.startsWith('line 1\nline 2\nline 3\n')).toBe(true);
    expect(text.endsWith('line 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\n')).toBe(true);
  }, 120_000);

  it("an editor that reloaded, then deletes the collaborator's text on purpose: the deletion holds", async () => {
    const c = await cluster({ files: { 'f.txt': BASE } });
    writeFileSync(join(c.alice, 'f.txt'), BASE.replace('line 4\n', 'line 4\nalice line\n'));
    // Bob's editor reloads (reads the file cshare wrote), then he deletes Alice's line.
    await until(() => read(c.bob, 'f.txt')?.includes('alice line') === true);
    await new Promise((r) => setTimeout(r, 50)); // a reload well after the write, as a person would
    const reloaded = readFileSync(join(c.bob, 'f.txt'), 'utf8');
    editorSave(c.bob, 'f.txt', reloaded.replace('alice line\n', ''));
    await converged(c.alice, c.bob, 'f.txt', (t) => !t.includes('alice line'));
    await new Promise((r) => setTimeout(r, 1000));
    expect(read(c.alice, 'f.txt')).toBe(BASE);
    expect(read(c.bob, 'f.txt')).toBe(BASE);
  }, 120_000);

  it('a stale buffer saved without changes reverts nothing', async () => {
    const c = await cluster({ files: { 'f.txt': BASE } });
    const buffer = readFileSync(join(c.bob, 'f.txt'), 'utf8');
    writeFileSync(join(c.alice, 'f.txt'), BASE.replace('line 7\n', 'line 7\nalice line\n'));
    await until(() => peek(c.bob, 'f.txt')?.includes('alice line') === true);
    editorSave(c.bob, 'f.txt', buffer); // :w of the unchanged stale buffer
    // The merged text is written back over the stale save, and nothing reverts on either side.
    const want = BASE.replace('line 7\n', 'line 7\nalice line\n');
    await until(() => peek(c.bob, 'f.txt') === want, 30_000, () => `bob has ${peek(c.bob, 'f.txt')}`);
    await new Promise((r) => setTimeout(r, 1000));
    expect(peek(c.alice, 'f.txt')).toBe(want);
    expect(peek(c.bob, 'f.txt')).toBe(want);
  }, 120_000);

  it('a stale save of a file a collaborator renamed meanwhile loses no text', async () => {
    const c = await cluster({ files: { 'a.txt': BASE } });
    const buffer = readFileSync(join(c.bob, 'a.txt'), 'utf8');
    renameSync(join(c.alice, 'a.txt'), join(c.alice, 'b.txt'));
    await until(() => peek(c.bob, 'b.txt') !== undefined && peek(c.bob, 'a.txt') === undefined);
    editorSave(c.bob, 'a.txt', replaceLine(buffer, 2, 'line 2 by bob'));
    // Bob's line reaches Alice, and nothing of the file is lost on either side.
    await until(() => [read(c.alice, 'a.txt'), read(c.alice, 'b.txt')].some((t) => t?.includes('line 2 by bob')), 30_000, () => `alice: a=${read(c.alice, 'a.txt')} b=${read(c.alice, 'b.txt')}`);
    for (const root of [c.alice, c.bob]) {
      const all = `${read(root, 'a.txt') ?? ''}${read(root, 'b.txt') ?? ''}`;
      for (const l of LINES.filter((x) => x !== 'line 2\n')) expect(all).toContain(l);
      expect(all).toContain('line 2 by bob');
    }
  }, 120_000);

  it('with a real vim: a buffer loaded before the collaborator edit, saved with :w!, merges', async () => {
    const c = await cluster({ files: { 'f.txt': BASE } });
    const vim = spawn('vim', ['-N', '-u', 'NONE', '-i', 'NONE', '-n', '-es', 'f.txt'], { cwd: c.bob, stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, HOME: c.base } });
    let stderr = '';
    vim.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => vim.on('exit', (code) => r(code)));
    // vim has loaded the file once it has written its buffer elsewhere.
    // When vim notices the change on disk it keeps its buffer (the user's "OK" to W11/W12).
    vim.stdin.write(`autocmd FileChangedShell * let v:fcs_choice = ''\nw! ${join(c.base, 'loaded.txt')}\n`);
    await until(() => read(c.base, 'loaded.txt') === BASE);
    writeFileSync(join(c.alice, 'f.txt'), replaceLine(BASE, 1, 'line 1 by alice'));
    await until(() => peek(c.bob, 'f.txt')?.startsWith('line 1 by alice') === true);
    // :w! of a file changed on disk asks "Do you really want to write to it (y/n)?", which a
    // user answers y and a script cannot (vim reads that answer from the terminal): `:file`
    // names the buffer afresh, which skips the question; vim then writes as it always does.
    vim.stdin.write('5s/$/ by bob/\nfile f.txt\nw!\nq!\n');
    expect(await exited, stderr).toBe(0);
    const want = replaceLine(replaceLine(BASE, 1, 'line 1 by alice'), 5, 'line 5 by bob');
    expect(await converged(c.alice, c.bob, 'f.txt', (t) => t.includes('by bob'))).toBe(want);
  }, 120_000);
});
