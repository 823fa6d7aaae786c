import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, cshare, cshareJson } from '../helpers/cli.js';
import { freePort, start, stopAll, until, type Proc } from '../helpers/procs.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

afterEach(stopAll);

/** Runs `cshare args...` on a terminal (a pty from util-linux `script`): exit code and what it printed. */
function onTty(cwd: string, args: string[], env: Record<string, string> = {}): { code: number; out: string } {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const r = spawnSync('script', ['-qefc', [process.execPath, BIN, ...args].map(quote).join(' '), '/dev/null'], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', USER: 'cli-user', HOME: `${cwd}/.no-home`, ...env },
    timeout: 60_000,
  });
  return { code: r.status ?? -1, out: r.stdout.replace(/\r\n/g, '\n') };
}

async function relayIn(dir: string): Promise<string> {
  const proc = start('relay', dir, ['relay', '--data', join(dir, 'data'), '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`]);
  const l = await proc.line((x) => x.event === 'listening');
  return (l.addresses as string[])[0]!;
}

async function codesOf(p: Proc): Promise<{ readWrite: string; readOnly: string }> {
  return (await p.line((x) => x.event === 'sharing')).codes as { readWrite: string; readOnly: string };
}

describe('status tells a read-only joiner and its peers apart', () => {
  it('says read-only, shows its own changes as kept here (not pending), names peers by short id when they have no name and tells two of one name apart', async () => {
    const base = tempDir('cshare-out-');
    const relay = await relayIn(base);
    const alice = join(base, 'alice');
    writeTree(alice, { 'a.txt': 'a\n' });
    const sharer = start('alice', alice, ['share', '--relay', relay]);
    const codes = await codesOf(sharer);
    const joiners = [
      start('bob', base, ['join', codes.readWrite, join(base, 'bob1')]),
      start('bob', base, ['join', codes.readWrite, join(base, 'bob2')]),
      // No git user.name, no $USER: cshare sends no name.
      start('carol', base, ['join', codes.readOnly, join(base, 'carol')], { USER: '', LOGNAME: '' }),
    ];
    for (const j of joiners) await j.line((x) => x.event === 'joined');
    const carol = join(base, 'carol');
    writeFileSync(join(carol, 'a.txt'), 'a\nmine\n');
    await joiners[2]!.line((x) => x.event === 'error' && x.code === 'FORBIDDEN');

    const ids = (await Promise.all(joiners.map(async (j) => ((await j.line((x) => x.event === 'joined')) as { root: string }).root))).map(
      (root) => cshareJson(root, ['status']).json.replica.id as string,
    );
    await until(() => (cshareJson(alice, ['status']).json.peers as unknown[]).length === 3);
    const text = cshare(alice, ['status']);
    expect(text.code).toBe(0);
    const peersLine = text.stdout.split('\n').find((l) => l.startsWith('Peers:'))!;
    expect(peersLine.slice('Peers:'.padEnd(10).length).split(', ').sort()).toEqual([`bob (${ids[0]!.slice(0, 8)})`, `bob (${ids[1]!.slice(0, 8)})`, ids[2]!.slice(0, 8)].sort());

    for (const run of [() => cshare(carol, ['status']).stdout, () => onTty(carol, ['status']).out]) {
      const out = run();
      expect(out).toMatch(/^Sharing: {2}joined \(read-only\) via /m);
      expect(out).toContain('Kept here (read-only): 1 local change, not shared');
      expect(out).not.toContain('Pending');
      expect(out).toContain('Files:    1 file tracked');
    }
    expect(cshareJson(carol, ['status']).json).toMatchObject({ ok: true, readOnly: true, unacknowledged: 0, kept: 1 });
    // A read-write joiner's own changes are pending until the relay acknowledges them.
    expect(cshare(join(base, 'bob1'), ['status']).stdout).toMatch(/^Pending: {2}0 local changes not yet acknowledged/m);
  }, 120_000);
});
