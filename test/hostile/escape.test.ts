import { existsSync, lstatSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stopAll, until } from '../helpers/procs.js';
import { git, writeTree } from '../helpers/tmp.js';
import { hostilePeer, listTree, stage, stillSyncing, type Stage } from './realPeer.js';

afterEach(stopAll);

/**
 * Issue 15 items 1 and 2, performed against real relay, sharer and read-only viewer processes
 * by a peer holding the read-write code: a chain of symlinks that the kernel resolves out of
 * the worktree (`y -> .`, `x -> y/..`, `u0 -> x/..` ... `u29`) and a write through it; and
 * links into `.git/` and `.cshare/` with hooks and config written through them. Nothing may
 * land outside a worktree or inside `.git/` or `.cshare/`, on the sharer or the viewer, and
 * both keep syncing.
 */

/** Both worktrees' files, without .git and .cshare. */
const files = (root: string) => listTree(root, (r) => r === '.git' || r === '.cshare' || r === '.no-home');

/** The error events a process printed, as text. */
const errors = (p: Stage['sharer']) => p.lines.filter((l) => l.event === 'error').map((l) => String(l.message));

describe('hostile peer against real processes: writes out of the worktree', () => {
  it('a chain of links the kernel resolves to / and a write through it lands nowhere outside, on the sharer nor the read-only viewer', async () => {
    const s = await stage({ 'README.md': 'hello\n', 'decoy/keep.txt': 'decoy\n' });
    const escape = `cshare-escape-${process.pid}-${Date.now()}`;
    const escaped = join(tmpdir(), escape, 'ESCAPED.sh');
    const mallory = await hostilePeer(s.codes.readWrite);
    try {
      // As in the attack: every link in its own update, then the write.
      const puts = [
        await mallory.put({ y: { path: 'y', content: '.', kind: 'symlink' } }),
        await mallory.put({ x: { path: 'x', content: 'y/..', kind: 'symlink' } }),
      ];
      for (let i = 0; i < 30; i++) puts.push(await mallory.put({ [`u${i}`]: { path: `u${i}`, content: `${i === 0 ? 'x' : `u${i - 1}`}/..`, kind: 'symlink' } }));
      puts.push(await mallory.put({ esc: { path: `u29${tmpdir()}/${escape}/ESCAPED.sh`, content: '#!/bin/sh\necho pwned\n', mode: 0o100755 } }));
      puts.push(await mallory.put({ esc2: { path: `y/${escape}.sh`, content: '#!/bin/sh\necho pwned\n', mode: 0o100755 } }));
      // The relay stores them (it cannot tell a link's target from other content).
      expect(puts.every((p) => p.ok)).toBe(true);
      await stillSyncing(s, 'after.txt', 'after\n');
      await until(() => s.viewer.lines.some((l) => l.event === 'error' && /is not created/.test(String(l.message))), 30_000, () => `no refusal reported: ${JSON.stringify(s.viewer.lines)}`);
      expect(existsSync(escaped)).toBe(false);
      expect(s.outside()).toEqual(['precious.txt']);
      expect(readFileSync(join(s.base, 'precious.txt'), 'utf8')).toBe('precious\n');
      for (const [root, proc] of [[s.alice, s.sharer], [s.carol, s.viewer]] as const) {
        // No link that leads out was created: `y -> .` stays inside and is the only one.
        expect(files(root).filter((p) => lstatSync(join(root, p)).isSymbolicLink() && p !== 'y')).toEqual([]);
        expect(existsSync(join(root, 'x'))).toBe(false);
        // The write landed inside, below a real folder u29/ (a later write than the link u29,
        // it won the name as a file wins over a folder).
        const inside = join(root, `u29${tmpdir()}/${escape}/ESCAPED.sh`);
        await until(() => lstatSync(inside).isFile(), 30_000, () => `${inside} never written: ${JSON.stringify(proc.lines.slice(-8))}`);
        expect(errors(proc).some((m) => /"x".*after a name/.test(m) || /symlink x is not created/.test(m))).toBe(true);
      }
    } finally {
      await mallory.close();
      rmSync(join(tmpdir(), escape), { recursive: true, force: true });
    }
  }, 180_000);

  it('a write under a link the user made (and does not share) is left alone and reported; nothing outside changes', async () => {
    const s = await stage({ 'README.md': 'hello\n', '.gitignore': 'up\n' });
    symlinkSync('..', join(s.alice, 'up'));
    const mallory = await hostilePeer(s.codes.readWrite);
    try {
      expect(await mallory.put({ p: { path: 'up/precious.txt', content: 'overwritten\n' }, q: { path: 'up/new.sh', content: '#!/bin/sh\n', mode: 0o100755 } })).toEqual({ ok: true });
      await until(() => errors(s.sharer).some((m) => /did not write "up\/precious.txt".*up is a symlink/.test(m)), 30_000, () => JSON.stringify(s.sharer.lines));
      await stillSyncing(s, 'after.txt', 'after\n');
      expect(readFileSync(join(s.base, 'precious.txt'), 'utf8')).toBe('precious\n');
      expect(s.outside()).toEqual(['precious.txt']);
      // The viewer has no such link: there the paths are plain files inside its worktree.
      expect(readFileSync(join(s.carol, 'up/precious.txt'), 'utf8')).toBe('overwritten\n');
    } finally {
      await mallory.close();
    }
  }, 120_000);
});

describe('hostile peer against real processes: code execution through .git and .cshare', () => {
  it('links into .git and .cshare are refused, hooks and config written through them land nowhere in .git/.cshare, and git runs none of it', async () => {
    const s = await stage({ 'README.md': 'hello\n' });
    git(s.alice, ['init', '-q']);
    const marker = join(s.base, 'FSMONITOR-RAN');
    const configBefore = readFileSync(join(s.alice, '.git/config'), 'utf8');
    const mallory = await hostilePeer(s.codes.readWrite);
    try {
      const links = { g: '.git', g2: '.git/hooks', g3: '.GIT', g4: 'GIT~1', c: '.cshare', c2: '.cshare/store' };
      for (const [name, target] of Object.entries(links)) expect(await mallory.put({ [name]: { path: name, content: target, kind: 'symlink' } })).toEqual({ ok: true });
      const hook = '#!/bin/sh\ntouch ' + marker + '\n';
      expect(await mallory.put({ h: { path: 'g/hooks/pre-commit', content: hook, mode: 0o100755 }, h2: { path: 'g2/post-checkout', content: hook, mode: 0o100755 } })).toEqual({ ok: true });
      expect(await mallory.put({ cfg: { path: 'g/config', content: `[core]\n\tfsmonitor = touch ${marker}\n` }, st: { path: 'c/store/CURRENT', content: 'MANIFEST-666\n' } })).toEqual({ ok: true });
      await stillSyncing(s, 'after.txt', 'after\n');
      for (const [root, proc] of [[s.alice, s.sharer], [s.carol, s.viewer]] as const) {
        for (const name of Object.keys(links)) {
          // Not a link into .git or .cshare: absent, or (having lost to a later file below it) a real folder.
          expect({ name, link: existsSync(join(root, name)) && lstatSync(join(root, name)).isSymbolicLink() }).toEqual({ name, link: false });
        }
        expect(errors(proc).some((m) => /symlink g is not created: the target points into \.git\//.test(m))).toBe(true);
      }
      expect(existsSync(join(s.alice, '.git/hooks/pre-commit'))).toBe(false);
      expect(existsSync(join(s.alice, '.git/hooks/post-checkout'))).toBe(false);
      expect(readFileSync(join(s.alice, '.git/config'), 'utf8')).toBe(configBefore);
      expect(existsSync(join(s.carol, '.cshare/store/CURRENT')) && readFileSync(join(s.carol, '.cshare/store/CURRENT'), 'utf8')).not.toBe('MANIFEST-666\n');
      git(s.alice, ['status', '--short']);
      git(s.alice, ['add', 'README.md']);
      git(s.alice, ['commit', '-q', '-m', 'x']);
      expect(existsSync(marker)).toBe(false);
      // Still syncing after all that.
      writeTree(s.alice, { 'README.md': 'hello again\n' });
      await until(() => readFileSync(join(s.carol, 'README.md'), 'utf8') === 'hello again\n');
    } finally {
      await mallory.close();
    }
  }, 180_000);
});
