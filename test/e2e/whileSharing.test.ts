/**
 * While `share` or `join` runs it holds the store (LevelDB allows one process): the other
 * commands go through it, and a second share or join says which process runs and how to
 * stop it. Real processes on loopback; the sharer serves the joiner itself.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cshare, cshareJson } from '../helpers/cli.js';
import { start, stopAll, until, type Proc } from '../helpers/procs.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

afterEach(stopAll);

const read = (root: string, rel: string) => (existsSync(join(root, rel)) ? readFileSync(join(root, rel), 'utf8') : undefined);

async function sharing(p: Proc): Promise<{ readWrite: string; readOnly: string }> {
  const l = await p.line((x) => x.event === 'sharing');
  return l.codes as { readWrite: string; readOnly: string };
}

describe('commands while a share or join runs', () => {
  it('files and scan answer through the running share; a second share or join names the running pid and how to stop it (exit 6)', async () => {
    const base = tempDir('cshare-e2e-');
    const alice = join(base, 'alice');
    const bob = join(base, 'bob');
    writeTree(alice, { 'a.txt': 'one\n', 'src/b.ts': 'export const b = 1;\n', '.env': 'SECRET=1\n' });
    const sharer = start('alice', alice, ['share']);
    const codes = await sharing(sharer);
    const joiner = start('bob', base, ['join', codes.readWrite, bob]);
    await joiner.line((x) => x.event === 'joined');

    // files: answered by the sharer, --excluded included.
    const files = cshareJson(alice, ['files']);
    expect(files.code, files.stderr).toBe(0);
    expect(files.json.files.map((f: { path: string }) => f.path)).toEqual(['a.txt', 'src/b.ts']);
    const excluded = cshareJson(alice, ['files', '--excluded']);
    expect(excluded.code).toBe(0);
    expect(excluded.json.excluded).toEqual([{ path: '.env', reason: 'secret' }]);
    expect(cshareJson(bob, ['files']).json.files.map((f: { path: string }) => f.path)).toEqual(['a.txt', 'src/b.ts']);

    // scan: when it returns, everything on disk is recorded (by it, or by the sharer's watcher
    // just before), once; and it is uploaded.
    writeFileSync(join(alice, 'a.txt'), 'one\ntwo\n');
    const scan = cshareJson(alice, ['scan']);
    expect(scan.code, scan.stderr).toBe(0);
    expect(scan.json).toMatchObject({ ok: true, files: 2, errors: [] });
    expect(scan.json.recorded.every((c: { path: string; kind: string }) => c.path === 'a.txt' && c.kind === 'edit')).toBe(true);
    const status = cshareJson(alice, ['status']);
    expect(status.json).toMatchObject({ sharing: 'on', changed: [] });
    const edits = cshareJson(alice, ['log', 'a.txt']).json.changes.filter((c: { kind: string }) => c.kind === 'edit');
    expect(edits).toHaveLength(1);
    await until(() => read(bob, 'a.txt') === 'one\ntwo\n');
    // The joiner's side answers a scan too.
    expect(cshareJson(bob, ['scan']).code).toBe(0);

    // A second share of the same worktree, and a second join of the same folder.
    const pid = sharer.child.pid!;
    const again = cshareJson(alice, ['share']);
    expect(again.code).toBe(6);
    expect(again.json).toMatchObject({ ok: false, code: 'STORE_LOCKED', data: { pid, command: 'share' } });
    expect(again.json.message).toContain(`cshare share is running in ${alice} (pid ${pid})`);
    expect(again.json.message).toContain('"cshare unshare"');
    expect(again.json.message).toContain(`kill ${pid}`);
    const human = cshare(alice, ['share']);
    expect(human.code).toBe(6);
    expect(human.stderr).toContain(`(pid ${pid})`);
    const joinAgain = cshareJson(base, ['join', codes.readWrite, bob]);
    expect(joinAgain.code).toBe(6);
    expect(joinAgain.json.message).toContain(`cshare join is running in ${bob} (pid ${joiner.child.pid})`);
    expect(joinAgain.json.data).toMatchObject({ pid: joiner.child.pid, command: 'join' });
    // Neither attempt disturbed the running processes.
    writeFileSync(join(bob, 'src/b.ts'), 'export const b = 2;\n');
    await until(() => read(alice, 'src/b.ts') === 'export const b = 2;\n');

    // Stopped as the message says: the share ends, and files answers on the store alone, the same.
    expect(cshare(alice, ['unshare']).code).toBe(0);
    expect((await sharer.exit).code).toBe(0);
    const offline = cshareJson(alice, ['files']);
    expect(offline.code).toBe(0);
    expect(offline.json.files.map((f: { path: string; digest: string }) => [f.path, f.digest])).toEqual(
      cshareJson(bob, ['files']).json.files.map((f: { path: string; digest: string }) => [f.path, f.digest]),
    );
    await joiner.stop();
  }, 120_000);
});
