import '../../src/cli/polyfills.js';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeJoinCode } from '../../src/sync/joinCode.js';
import { cshare, cshareJson } from '../helpers/cli.js';
import { stopAll, until } from '../helpers/procs.js';
import { tempDir } from '../helpers/tmp.js';
import { helloAs, hostile, newWorktree, registerAs, rejection, startRelayProc, stopHostiles, type TestWorktree } from './relayProc.js';

/**
 * Issue 16: a join without a folder names it after the shared worktree, a name its sharer
 * chose. A hostile sharer's name must never lead out of the current folder, hide the folder,
 * or put escapes on the joiner's terminal: the joiner falls back to `cshare-<id>`.
 */

afterEach(async () => {
  await stopHostiles();
  await stopAll();
});

const JOINED = ['..', '../../escaped', '/abs/escaped', 'x\x1b[2K\x1b[1Aok', '.cshare'];
const HOSTILE_NAMES = ['..', '.', '/', '../../escaped', 'a/b', '/abs/escaped', 'a\\b', '', 'x'.repeat(256), 'x\x1b[2K\x1b[1Aok', 'tab\there', 'line\nbreak', 'rtl\u202eexe', '-rf', '.git', '.cshare', '~', ' padded '];

describe('hostile: the name a sharer registers never escapes the joiner folder', () => {
  it('every unsafe name falls back to cshare-<id> in the current folder; nothing is made outside it', async () => {
    const relay = await startRelayProc({ args: ['--open'] });
    const peer = await hostile(relay.addr);
    const cwd = join(tempDir('cshare-hostile-name-'), 'here', 'deep');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(cwd, { recursive: true });
    const above = join(cwd, '..', '..');
    const before = readdirSync(above).sort();
    for (const name of HOSTILE_NAMES) {
      const wt: TestWorktree = newWorktree();
      // One connection at a time: the relay takes 8 from one peer.
      const conn = await peer.connect();
      const registered = await registerAs(conn, wt, 'mallory', { name }).catch((err: Error) => ({ name, failed: err.message }));
      conn.close();
      expect(registered).toMatchObject({ ok: true, created: true });
      const code = encodeJoinCode({ relay: [relay.addr], worktreeId: wt.secrets.worktreeId, secret: wt.secrets.readOnly, readOnly: true });
      const fallback = join(cwd, `cshare-${wt.worktreeId.slice(0, 8)}`);
      const dry = cshareJson(cwd, ['join', code, '--dry-run']);
      expect({ name, code: dry.code, root: dry.json.root }).toEqual({ name, code: 0, root: fallback });
      // A real join for the names that aim outside or at the terminal (a dry run names the folder too).
      if (!JOINED.includes(name)) continue;
      const once = cshare(cwd, ['join', code, '--once']);
      expect({ name, code: once.code, stderr: once.stderr }).toEqual({ name, code: 0, stderr: '' });
      expect(once.stdout, name).toContain(`Joined ${fallback}: 0 files (read-only).`);
      expect(once.stdout, name).not.toMatch(/[\x1b\u202e]/);
      expect(existsSync(join(fallback, '.cshare')), name).toBe(true);
    }
    // Only the fallback folders of the real joins were made, all in the current folder.
    expect(readdirSync(cwd).every((n) => /^cshare-[0-9a-f]{8}$/.test(n))).toBe(true);
    expect(readdirSync(cwd)).toHaveLength(JOINED.length);
    expect(readdirSync(above).sort()).toEqual(before);
    expect(existsSync(join(cwd, '..', 'escaped'))).toBe(false);
  }, 180_000);

  it('worktree/info answers the name only to a holder of a secret, binds nothing, and closes on a wrong secret', async () => {
    const relay = await startRelayProc({ args: ['--open'] });
    const peer = await hostile(relay.addr);
    const wt = newWorktree();
    expect(await registerAs(await peer.connect(), wt, 'alice', { name: 'app' })).toMatchObject({ ok: true });
    // A subscriber of the worktree sees who joins: a name lookup is nobody joining.
    const watcher = await peer.connect();
    await helloAs(watcher, wt.worktreeId, wt.secrets.readOnly, 'watcher');
    const events: { type: string; replicaId?: string }[] = [];
    const sub = watcher.subscribe(`/worktrees/${wt.worktreeId}`);
    void (async () => {
      for await (const e of sub) events.push(e);
    })().catch((err: Error) => events.push({ type: `ended: ${err.message}` }));
    await sub.ready;
    const asker = await peer.connect();
    expect(await asker.request('worktree/info', { worktreeId: wt.worktreeId, secretProof: wt.secrets.readOnly })).toEqual({ name: 'app' });
    expect(await asker.request('worktree/info', { worktreeId: wt.worktreeId, secretProof: wt.secrets.readWrite })).toEqual({ name: 'app' });
    const wrong = await peer.connect();
    expect(await rejection(wrong.request('worktree/info', { worktreeId: wt.worktreeId, secretProof: new Uint8Array(32).fill(7) }))).toMatchObject({ code: 'UNAUTHORIZED' });
    const unknown = await peer.connect();
    expect(await rejection(unknown.request('worktree/info', { worktreeId: newWorktree().worktreeId, secretProof: wt.secrets.readOnly }))).toMatchObject({ code: 'UNAUTHORIZED' });
    // Refused as a hello is: the connection is closed.
    await Promise.all([wrong.closed, unknown.closed]);
    // A writer joining is seen; the lookups were not (the sharer's own hello is announced on subscribing).
    const joiner = await peer.connect();
    await helloAs(joiner, wt.worktreeId, wt.secrets.readWrite, 'bob');
    await until(() => events.some((e) => e.type === 'peer-joined' && e.replicaId === 'bob'));
    expect(new Set(events.filter((e) => e.type === 'peer-joined').map((e) => e.replicaId))).toEqual(new Set(['alice', 'bob']));
    sub.unsubscribe();
  }, 60_000);
});
