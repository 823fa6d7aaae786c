import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cshareJson } from '../helpers/cli.js';
import { stopAll, until } from '../helpers/procs.js';
import { treeOf } from '../helpers/tree.js';
import { hostilePeer, stage, stillSyncing, type Stage } from './realPeer.js';

afterEach(stopAll);

/**
 * Issue 15 items 10 and 11, performed against real relay, sharer and read-only viewer
 * processes by a peer holding the read-write code: entries no disk can take (a 300-byte name;
 * a file `a` and then `a/b`) wedged the whole share for good, and a write to a path where the
 * victim has a FIFO hung the victim's process for ever. A bad entry is refused or left alone,
 * reported once, and everything else keeps syncing; a fresh `join --once` exits 0.
 */

const errors = (p: Stage['sharer']) => p.lines.filter((l) => l.event === 'error').map((l) => String(l.message));
const text = (root: string) => Object.fromEntries(Object.entries(treeOf(root)).map(([k, v]) => [k, v.startsWith('link:') ? v : Buffer.from(v.slice(2), 'base64').toString()]));

describe('hostile peer against real processes: entries that wedged the share', () => {
  it('a 300-byte name is refused by the relay with BAD_PATH; syncing goes on; a fresh join --once exits 0', async () => {
    const s = await stage({ 'README.md': 'hello\n' });
    const mallory = await hostilePeer(s.codes.readWrite);
    try {
      const long = await mallory.put({ long: { path: `${'n'.repeat(300)}.txt`, content: 'x\n' }, ok: { path: 'ok.txt', content: 'fine\n' } });
      expect(long).toEqual({ ok: false, code: 'BAD_PATH', message: expect.stringMatching(/longer than 255 bytes/) });
      expect(await mallory.put({ ok: { path: 'ok.txt', content: 'fine\n' } })).toEqual({ ok: true });
      await stillSyncing(s, 'after.txt', 'after\n');
      await until(() => existsSync(join(s.carol, 'ok.txt')));
      const dave = join(s.base, 'dave');
      expect(cshareJson(s.base, ['join', s.codes.readOnly, dave, '--once'])).toMatchObject({ code: 0, json: { ok: true } });
      expect(text(dave)).toEqual(text(s.carol));
    } finally {
      await mallory.close();
    }
  }, 120_000);

  it('"a" then "a/b" in separate updates: the later stays on every disk, the other is reported once; syncing goes on; a fresh join --once exits 0', async () => {
    const s = await stage({ 'README.md': 'hello\n' });
    const mallory = await hostilePeer(s.codes.readWrite);
    try {
      expect(await mallory.put({ fa: { path: 'a', content: 'file a\n' } })).toEqual({ ok: true });
      await until(() => existsSync(join(s.carol, 'a')), 30_000, () => `a never reached the viewer: ${JSON.stringify(s.viewer.lines.slice(-5))}`);
      expect(await mallory.put({ fab: { path: 'a/b', content: 'file a/b\n' } })).toEqual({ ok: true });
      for (const [root, proc] of [[s.alice, s.sharer], [s.carol, s.viewer]] as const) {
        await until(() => existsSync(join(root, 'a/b')), 30_000, () => `a/b never reached ${root}: ${JSON.stringify(proc.lines.slice(-5))}`);
        await until(() => errors(proc).filter((m) => /"a".*a file and a folder of one name/.test(m)).length === 1, 30_000, () => JSON.stringify(errors(proc)));
      }
      await stillSyncing(s, 'after.txt', 'after\n');
      await stillSyncing(s, 'README.md', 'hello, still\n');
      expect(text(s.carol)).toEqual({ 'README.md': 'hello, still\n', 'a/b': 'file a/b\n', 'after.txt': 'after\n' });
      await until(() => JSON.stringify(text(s.alice)) === JSON.stringify(text(s.carol)));
      // Reported once, not at every later change.
      expect(errors(s.viewer).filter((m) => /path "a" was refused/.test(m))).toHaveLength(1);
      const dave = join(s.base, 'dave');
      const once = cshareJson(s.base, ['join', s.codes.readOnly, dave, '--once']);
      expect({ code: once.code, json: once.json }).toMatchObject({ code: 0, json: { ok: true } });
      expect(text(dave)).toEqual(text(s.carol));
    } finally {
      await mallory.close();
    }
  }, 180_000);
});

describe('hostile peer against real processes: a FIFO where a file goes', () => {
  it('a remote write to the path of a local FIFO leaves the FIFO alone, is reported, and the process keeps syncing (it hung for ever)', async () => {
    const s = await stage({ 'README.md': 'hello\n' });
    execFileSync('mkfifo', [join(s.alice, 'pipe.txt')]);
    execFileSync('mkfifo', [join(s.carol, 'pipe.txt')]);
    const mallory = await hostilePeer(s.codes.readWrite);
    try {
      expect(await mallory.put({ p: { path: 'pipe.txt', content: 'over the fifo\n' }, ok: { path: 'ok.txt', content: 'fine\n' } })).toEqual({ ok: true });
      for (const [root, proc] of [[s.alice, s.sharer], [s.carol, s.viewer]] as const) {
        await until(() => errors(proc).some((m) => /did not write "pipe.txt".*FIFO/.test(m)), 30_000, () => JSON.stringify(proc.lines.slice(-5)));
        await until(() => existsSync(join(root, 'ok.txt')));
        expect(lstatSync(join(root, 'pipe.txt')).isFIFO()).toBe(true);
      }
      await stillSyncing(s, 'after.txt', 'after\n');
      expect(readFileSync(join(s.carol, 'ok.txt'), 'utf8')).toBe('fine\n');
    } finally {
      await mallory.close();
    }
  }, 120_000);
});
