import { spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, cshare, cshareJson } from '../helpers/cli.js';
import { Proc, stopAll, until } from '../helpers/procs.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { treeOf } from '../helpers/tree.js';
import { hostilePeer, stage } from './realPeer.js';

afterEach(stopAll);

/**
 * Issue 15's "Low" items on the replica side, with real processes: `.cshare/` is owner-only
 * (it holds the read-write secret in plain text); a join code need not be on the command line
 * (where `ps` shows it to every user); and paths and peer names from a hostile peer never reach
 * a terminal with their escape sequences intact.
 */

/** Every folder and file under `dir`, with its permission bits. */
function modes(dir: string, rel = ''): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of readdirSync(join(dir, rel))) {
    const r = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(dir, r));
    out[r] = st.mode & 0o777;
    if (st.isDirectory()) Object.assign(out, modes(dir, r));
  }
  return out;
}

describe('.cshare is owner-only', () => {
  it('a new store is 0700 with the files cshare writes 0600, and an older world-readable store is made private on open', () => {
    const root = tempDir('cshare-perm-');
    writeTree(root, { 'a.txt': 'a\n', 'bin.dat': new Uint8Array([0, 1, 2]) });
    expect(cshare(root, ['scan']).code).toBe(0);
    const store = join(root, '.cshare');
    expect(lstatSync(store).mode & 0o777).toBe(0o700);
    const m = modes(store);
    for (const [p, mode] of Object.entries(m)) expect({ p, others: mode & 0o077 }).toEqual({ p, others: 0 });
    for (const [p, mode] of Object.entries(m)) if (lstatSync(join(store, p)).isDirectory()) expect({ p, mode }).toEqual({ p, mode: 0o700 });
    for (const p of ['status-view', ...Object.keys(m).filter((p) => p.startsWith('packs/') && !lstatSync(join(store, p)).isDirectory())]) expect({ p, mode: m[p] }).toEqual({ p, mode: 0o600 });
    // What a store from before looked like: 0755 folders, 0644 files.
    for (const p of Object.keys(m)) chmodSync(join(store, p), lstatSync(join(store, p)).isDirectory() ? 0o755 : 0o644);
    chmodSync(store, 0o755);
    writeTree(root, { 'b.txt': 'b\n' });
    expect(cshare(root, ['scan']).code).toBe(0);
    expect(lstatSync(store).mode & 0o777).toBe(0o700);
    const after = modes(store);
    for (const [p, mode] of Object.entries(after)) expect({ p, others: mode & 0o077 }).toEqual({ p, others: 0 });
  });
});

describe('join codes off the command line', () => {
  it('join - reads the code from stdin and --code-file from a file; ps never shows it', async () => {
    const s = await stage({ 'README.md': 'hello\n' });
    // From a file, --once.
    const file = join(s.base, 'code.txt');
    writeFileSync(file, `\n${s.codes.readOnly}\n`, { mode: 0o600 });
    const viaFile = cshareJson(s.base, ['join', '--code-file', file, join(s.base, 'dave'), '--once']);
    expect(viaFile).toMatchObject({ code: 0, json: { ok: true, root: join(s.base, 'dave') } });
    expect(treeOf(join(s.base, 'dave'))).toEqual(treeOf(s.alice));
    // From stdin, live, with stdin left open: the code is read, and is not in the process's arguments.
    const child = spawn(process.execPath, [BIN, 'join', '-', join(s.base, 'erin'), '--json'], {
      cwd: s.base,
      env: { ...process.env, NO_COLOR: '1', USER: 'erin', HOME: join(s.base, '.no-home') },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const erin = new Proc(child, 'erin');
    child.stdin!.write(`${s.codes.readWrite}\n`);
    await erin.line((l) => l.event === 'joined');
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8');
    expect(cmdline).not.toContain(s.codes.readWrite);
    expect(cmdline.split('\0')).toContain('-');
    writeTree(join(s.base, 'erin'), { 'from-erin.txt': 'erin\n' });
    await until(() => existsSync(join(s.alice, 'from-erin.txt')));
    await erin.stop();
    // Errors say what to do.
    expect(cshareJson(s.base, ['join', '--once'])).toMatchObject({ code: 2, json: { ok: false, code: 'USAGE', message: expect.stringMatching(/--code-file/) } });
    expect(cshareJson(s.base, ['join', '--code-file', join(s.base, 'missing'), '--once'])).toMatchObject({ code: 2, json: { code: 'USAGE' } });
  }, 120_000);
});

describe('terminal escapes in paths and peer names', () => {
  it('a hostile peer named and naming files with escape sequences: human output shows them escaped, never raw', async () => {
    const s = await stage({ 'README.md': 'hello\n' });
    const evilName = 'mallory\x1b]0;owned\x07\x1b[2K';
    const evilPath = 'x\x1b[1A\x1b[2Kok\u202e.txt';
    // A human (no --json) joiner of the read-only code.
    const child = spawn(process.execPath, [BIN, 'join', s.codes.readOnly, join(s.base, 'frank')], {
      cwd: s.base,
      env: { ...process.env, NO_COLOR: '1', USER: 'frank', HOME: join(s.base, '.no-home') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const frank = new Proc(child, 'frank');
    await until(() => out.includes('Joined'), 30_000, () => out);
    const mallory = await hostilePeer(s.codes.readWrite, evilName);
    try {
      expect(await mallory.put({ evil: { path: evilPath, content: 'x\n' } })).toEqual({ ok: true });
      await until(() => existsSync(join(s.base, 'frank', evilPath)), 30_000, () => out);
      await until(() => out.includes('ok\\u202e.txt'), 30_000, () => JSON.stringify(out));
      expect(out).toContain('"mallory\\x1b]0;owned\\x07\\x1b[2K" joined');
      expect(out).toContain('<- create "x\\x1b[1A\\x1b[2Kok\\u202e.txt"');
      // Commands run later show the same escapes: log (author and path), files, status.
      for (const args of [['log'], ['files'], ['status']]) {
        const r = cshare(join(s.base, 'frank'), args);
        expect({ args, raw: /[\x1b\x07\u202e]/.test(r.stdout + r.stderr) }).toEqual({ args, raw: false });
      }
      // (A peer's history comes with its changes, and this raw client sends none, so `log` has
      // no line of it: `files` shows the path.)
      expect(cshare(join(s.base, 'frank'), ['files']).stdout).toContain('"x\\x1b[1A\\x1b[2Kok\\u202e.txt"');
      expect(/[\x1b\x07\u202e]/.test(out)).toBe(false);
    } finally {
      await mallory.close();
      await frank.stop();
    }
  }, 120_000);
});
