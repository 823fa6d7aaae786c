/**
 * Story (issue 14, item 6): two sides create the same new file at once, or one deletes a file
 * the other is editing. Nothing typed is lost: two creates of a text file merge as text (both
 * kept, in the same order everywhere), an edit wins over a concurrent delete, and a file a peer
 * deleted comes back with `cshare undo <path>` or `cshare restore <path>`.
 */
import { appendFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cshareJson } from '../../helpers/cli.js';
import { stopAll, until } from '../../helpers/procs.js';
import { cluster, converged, read, whileRelayDown } from './cluster.js';

afterEach(stopAll);

describe('concurrent creates and deletes keep everyone\'s text', () => {
  it('two sides create one path at once: both texts end up in it, in the same order on both sides', async () => {
    const c = await cluster({ files: { 'a.txt': 'a\n' } });
    await whileRelayDown(c, async () => {
      writeFileSync(join(c.alice, 'notes.md'), 'alice notes\n');
      writeFileSync(join(c.bob, 'notes.md'), 'bob notes\n');
      // Both record their create while apart (the watcher's scan, then an explicit one).
      expect(cshareJson(c.alice, ['scan']).code).toBe(0);
      expect(cshareJson(c.bob, ['scan']).code).toBe(0);
    });
    const text = await converged(c.alice, c.bob, 'notes.md', (t) => t.includes('alice notes') && t.includes('bob notes'), 60_000);
    expect(['alice notes\nbob notes\n', 'bob notes\nalice notes\n']).toContain(text);
    const merged = [...c.sharer.lines, ...c.joiner.lines].find((l) => l.event === 'merged' && l.path === 'notes.md');
    expect(merged).toBeDefined();
  }, 120_000);

  it('an edit wins over a concurrent delete, on both sides', async () => {
    const c = await cluster({ files: { 'f.txt': 'one\ntwo\n' } });
    await whileRelayDown(c, async () => {
      rmSync(join(c.alice, 'f.txt'));
      appendFileSync(join(c.bob, 'f.txt'), 'three (bob)\n');
      expect(cshareJson(c.alice, ['scan']).code).toBe(0);
      expect(cshareJson(c.bob, ['scan']).code).toBe(0);
    });
    expect(await converged(c.alice, c.bob, 'f.txt', (t) => t.includes('bob'), 60_000)).toBe('one\ntwo\nthree (bob)\n');
  }, 120_000);

  it("a file a peer deleted comes back with cshare undo PATH, and with cshare restore PATH", async () => {
    const c = await cluster({ files: { 'f.txt': 'keep me\n', 'g.bin': new Uint8Array([0, 1, 2, 3]) } });
    rmSync(join(c.alice, 'f.txt'));
    await until(() => !existsSync(join(c.bob, 'f.txt')));
    const undone = cshareJson(c.bob, ['undo', 'f.txt']);
    expect(undone.code, JSON.stringify(undone.json)).toBe(0);
    expect(await converged(c.alice, c.bob, 'f.txt')).toBe('keep me\n');
    rmSync(join(c.bob, 'g.bin'));
    await until(() => !existsSync(join(c.alice, 'g.bin')));
    const restored = cshareJson(c.alice, ['restore', 'g.bin']);
    expect(restored.code, JSON.stringify(restored.json)).toBe(0);
    await until(() => existsSync(join(c.bob, 'g.bin')));
    expect([...(read(c.bob, 'g.bin') ?? '')].map((ch) => ch.charCodeAt(0))).toEqual([0, 1, 2, 3]);
    // Restoring what exists, or what was never deleted, says so.
    expect(cshareJson(c.alice, ['restore', 'g.bin']).json).toMatchObject({ ok: false, code: 'USAGE' });
    expect(cshareJson(c.alice, ['restore', 'never.txt']).json).toMatchObject({ ok: false, code: 'NOT_FOUND' });
  }, 120_000);
});
