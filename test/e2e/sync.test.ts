import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeJoinCode, decodeJoinCode } from '../../src/sync/joinCode.js';
import { cshareJson } from '../helpers/cli.js';
import { freePort, start, stopAll, until, type Proc } from '../helpers/procs.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { treeOf } from '../helpers/tree.js';

afterEach(stopAll);

const read = (root: string, rel: string) => (existsSync(join(root, rel)) ? readFileSync(join(root, rel), 'utf8') : undefined);

async function relayAt(dir: string, port: number, transport: 'tcp' | 'ws' = 'tcp'): Promise<{ proc: Proc; addr: string }> {
  const listen = `/ip4/127.0.0.1/tcp/${port}${transport === 'ws' ? '/ws' : ''}`;
  const proc = start('relay', dir, ['relay', '--data', join(dir, 'data'), '--listen', listen]);
  const l = await proc.line((x) => x.event === 'listening');
  return { proc, addr: (l.addresses as string[])[0]! };
}

async function sharing(p: Proc): Promise<{ readWrite: string; readOnly: string }> {
  const l = await p.line((x) => x.event === 'sharing');
  return l.codes as { readWrite: string; readOnly: string };
}

describe('live sync between real processes on loopback', () => {
  it('relay + sharer + two joiners: every change reaches every disk; concurrent edits merge; read-only is refused; relay kill -9 loses nothing', async () => {
    const base = tempDir('cshare-e2e-');
    const port = await freePort();
    let relay = await relayAt(base, port);
    const alice = join(base, 'alice');
    writeTree(alice, { 'src/app.ts': 'const a = 1;\n', 'README.md': '# demo\n', 'logo.bin': new Uint8Array([0, 1, 2, 254]) });
    const sharer = start('alice', alice, ['share', '--relay', relay.addr]);
    const codes = await sharing(sharer);
    const bob = join(base, 'bob');
    const carol = join(base, 'carol');
    const joinerB = start('bob', base, ['join', codes.readWrite, bob]);
    const joinerC = start('carol', base, ['join', codes.readOnly, carol]);
    await joinerB.line((x) => x.event === 'joined');
    await joinerC.line((x) => x.event === 'joined');
    expect(treeOf(bob)).toEqual(treeOf(alice));
    expect(treeOf(carol)).toEqual(treeOf(alice));

    // Create, edit, delete and rename, from both read-write sides.
    writeFileSync(join(alice, 'src/app.ts'), 'const a = 1;\nconst b = 2;\n');
    writeTree(bob, { 'docs/guide.md': 'guide\n' });
    await until(() => read(bob, 'src/app.ts') === 'const a = 1;\nconst b = 2;\n' && read(alice, 'docs/guide.md') === 'guide\n');
    rmSync(join(bob, 'logo.bin'));
    renameSync(join(alice, 'README.md'), join(alice, 'README.txt'));
    await until(() => !existsSync(join(alice, 'logo.bin')) && existsSync(join(bob, 'README.txt')) && !existsSync(join(bob, 'README.md')));
    await until(() => JSON.stringify(treeOf(carol)) === JSON.stringify(treeOf(alice)));

    // Concurrent edits of one file from two sides, saved at (nearly) the same moment.
    writeFileSync(join(alice, 'src/app.ts'), '// alice\nconst a = 1;\nconst b = 2;\n');
    writeFileSync(join(bob, 'src/app.ts'), 'const a = 1;\nconst b = 2;\n// bob\n');
    const merged = '// alice\nconst a = 1;\nconst b = 2;\n// bob\n';
    await until(() => read(alice, 'src/app.ts') === merged && read(bob, 'src/app.ts') === merged && read(carol, 'src/app.ts') === merged, 30_000, () => `alice=${read(alice, 'src/app.ts')} bob=${read(bob, 'src/app.ts')}`);

    // The read-only joiner's edit stays local and is reported.
    writeFileSync(join(carol, 'README.txt'), 'vandalised\n');
    await joinerC.line((x) => x.event === 'error' && x.code === 'FORBIDDEN');
    expect(read(alice, 'README.txt')).toBe('# demo\n');

    // kill -9 the relay mid-session, edit while it is down, restart it on the same port.
    await relay.proc.stop('SIGKILL');
    writeFileSync(join(alice, 'during-outage.txt'), 'written while the relay was down\n');
    writeFileSync(join(bob, 'src/app.ts'), `${merged}// after outage\n`);
    relay = await relayAt(base, port);
    await until(() => read(bob, 'during-outage.txt') === 'written while the relay was down\n' && read(alice, 'src/app.ts') === `${merged}// after outage\n`, 60_000, () => `bob: ${JSON.stringify(treeOf(bob))}; sharer: ${sharer.stderr}`);
    await until(() => JSON.stringify(treeOf(bob)) === JSON.stringify(treeOf(alice)));

    // The sharer quits; a new joiner still gets everything from the relay.
    await sharer.stop();
    const dave = join(base, 'dave');
    const once = cshareJson(base, ['join', codes.readOnly, dave, '--once']);
    expect(once.code).toBe(0);
    expect(treeOf(dave)).toEqual(treeOf(bob));
    await joinerB.stop();
    await joinerC.stop();
  }, 240_000);

  it('an edit made offline arrives after reconnecting, and re-joining fetches only what changed', async () => {
    const base = tempDir('cshare-e2e-');
    const relay = await relayAt(base, await freePort());
    const alice = join(base, 'alice');
    writeTree(alice, { 'notes.txt': 'one\n', 'other.txt': 'x\n' });
    const sharer = start('alice', alice, ['share', '--relay', relay.addr]);
    const codes = await sharing(sharer);
    const bob = join(base, 'bob');
    expect(cshareJson(base, ['join', codes.readWrite, bob, '--once']).code).toBe(0);
    // Bob edits while not running; his next join asks before uploading it (as share does:
    // a file changed offline may be a secret), and uploads it with --yes.
    writeFileSync(join(bob, 'notes.txt'), 'one\ntwo (offline)\n');
    expect(cshareJson(base, ['join', codes.readWrite, bob, '--once']).json).toMatchObject({ ok: false, code: 'CONFIRM_REQUIRED' });
    const joiner = start('bob', base, ['join', codes.readWrite, bob, '--yes']);
    await joiner.line((x) => x.event === 'joined');
    await until(() => read(alice, 'notes.txt') === 'one\ntwo (offline)\n');
    await joiner.stop();
    // Meanwhile Alice edits one file; a rejoin applies just that change.
    writeFileSync(join(alice, 'other.txt'), 'x\ny\n');
    await until(() => sharer.lines.filter((x) => x.event === 'uploaded').length >= 2);
    const rejoin = cshareJson(base, ['join', codes.readWrite, bob, '--once']);
    expect(rejoin.code).toBe(0);
    expect(read(bob, 'other.txt')).toBe('x\ny\n');
  }, 120_000);

  it.each(['tcp', 'ws'] as const)('share --once and join --once round-trip a tree byte for byte (relay over %s)', async (transport) => {
    const base = tempDir('cshare-e2e-');
    const relay = await relayAt(base, await freePort(), transport);
    expect(relay.addr).toContain(transport === 'ws' ? '/ws/' : '/tcp/');
    const src = join(base, 'src');
    const files: Record<string, string | Uint8Array> = { 'empty.txt': '', 'unicode/é-文件.txt': 'héllo 🌍\n', 'bin/data.bin': new Uint8Array(200_000).map((_, i) => (i * 31) % 256) };
    for (let i = 0; i < 50; i++) files[`many/f${i}.txt`] = `file ${i}\n`.repeat(i + 1);
    writeTree(src, files);
    const shared = cshareJson(src, ['share', '--relay', relay.addr, '--once']);
    expect(shared.code).toBe(0);
    const dst = join(base, 'dst');
    const joined = cshareJson(base, ['join', shared.json.codes.readWrite, dst, '--once']);
    expect(joined.code).toBe(0);
    expect(treeOf(dst)).toEqual(treeOf(src));
    // What it wrote is recorded as it is on disk (join --once does not scan after writing).
    const status = cshareJson(dst, ['status']);
    expect(status.json).toMatchObject({ files: 53, changed: [] });
    writeFileSync(join(dst, 'many/f3.txt'), 'edited after the join\n');
    expect(cshareJson(dst, ['status']).json.changed).toEqual([{ change: 'modified', path: 'many/f3.txt' }]);
  }, 120_000);

  it('refuses a wrong secret, a join into differing files without --force, and a missing relay, each with a clear error', async () => {
    const base = tempDir('cshare-e2e-');
    const relay = await relayAt(base, await freePort());
    const src = join(base, 'src');
    writeTree(src, { 'a.txt': 'shared\n' });
    const shared = cshareJson(src, ['share', '--relay', relay.addr, '--once']);
    const code = decodeJoinCode(shared.json.codes.readWrite);

    const forged = encodeJoinCode({ ...code, secret: new Uint8Array(16).fill(7) });
    const wrong = cshareJson(base, ['join', forged, join(base, 'x'), '--once']);
    expect(wrong.json).toMatchObject({ ok: false, code: 'UNAUTHORIZED' });
    expect(wrong.code).not.toBe(0);

    const mine = join(base, 'mine');
    mkdirSync(mine);
    writeFileSync(join(mine, 'a.txt'), 'my local work\n');
    const dry = cshareJson(base, ['join', shared.json.codes.readWrite, mine, '--dry-run']);
    expect(dry.json.changes).toEqual([{ path: 'a.txt', change: 'overwrite' }]);
    const refused = cshareJson(base, ['join', shared.json.codes.readWrite, mine, '--once']);
    expect(refused.json).toMatchObject({ ok: false, code: 'WOULD_OVERWRITE' });
    expect(read(mine, 'a.txt')).toBe('my local work\n');
    const forced = cshareJson(base, ['join', shared.json.codes.readWrite, mine, '--once', '--force']);
    expect(forced.code).toBe(0);
    expect(read(mine, 'a.txt')).toBe('shared\n');
    // The replaced local version is in the history.
    const log = cshareJson(mine, ['log', 'a.txt', '--patch']);
    expect(JSON.stringify(log.json.changes)).toContain('my local work');

    await relay.proc.stop();
    const gone = cshareJson(base, ['join', shared.json.codes.readWrite, join(base, 'y'), '--once']);
    expect(gone.json.ok).toBe(false);
    expect(gone.json.message).toMatch(/relay/);
  }, 120_000);
});

describe('share: resuming and serving joiners itself', () => {
  it('resumes with the same code, and asks before uploading files changed while not running', async () => {
    const base = tempDir('cshare-e2e-');
    const relay = await relayAt(base, await freePort());
    const src = join(base, 'src');
    writeTree(src, { 'a.txt': 'a\n' });
    const first = cshareJson(src, ['share', '--relay', relay.addr, '--once']);
    expect(first.code).toBe(0);
    writeTree(src, { 'new-secret-ish.txt': 'added while not sharing\n' });
    // No TTY and no --yes: refused, listing the file, nothing uploaded.
    const refused = cshareJson(src, ['share', '--once']);
    expect(refused.json).toMatchObject({ ok: false, code: 'CONFIRM_REQUIRED' });
    expect(refused.json.message).toContain('new-secret-ish.txt');
    const probe = join(base, 'probe');
    expect(cshareJson(base, ['join', first.json.codes.readOnly, probe, '--once']).code).toBe(0);
    expect(existsSync(join(probe, 'new-secret-ish.txt'))).toBe(false);
    // With --yes it goes out, under the same code.
    const again = cshareJson(src, ['share', '--once', '--yes']);
    expect(again.code).toBe(0);
    expect(again.json.codes).toEqual(first.json.codes);
    expect(cshareJson(base, ['join', first.json.codes.readOnly, probe, '--once']).code).toBe(0);
    expect(read(probe, 'new-secret-ish.txt')).toBe('added while not sharing\n');
    // And again: every later offline edit goes out on the next resume too.
    writeFileSync(join(src, 'a.txt'), 'a\nsecond offline edit\n');
    expect(cshareJson(src, ['share', '--once', '--yes']).code).toBe(0);
    writeFileSync(join(src, 'a.txt'), 'a\nsecond offline edit\nthird\n');
    expect(cshareJson(src, ['share', '--once', '--yes']).code).toBe(0);
    expect(cshareJson(base, ['join', first.json.codes.readOnly, probe, '--once']).code).toBe(0);
    expect(read(probe, 'a.txt')).toBe('a\nsecond offline edit\nthird\n');
  }, 120_000);

  it('without --relay the sharer serves joiners itself', async () => {
    const base = tempDir('cshare-e2e-');
    const alice = join(base, 'alice');
    writeTree(alice, { 'x.txt': 'direct\n' });
    const sharer = start('alice', alice, ['share']);
    const codes = await sharing(sharer);
    expect(decodeJoinCode(codes.readWrite).relay[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//);
    const bob = join(base, 'bob');
    const joiner = start('bob', base, ['join', codes.readWrite, bob]);
    await joiner.line((x) => x.event === 'joined');
    expect(read(bob, 'x.txt')).toBe('direct\n');
    writeFileSync(join(bob, 'x.txt'), 'direct\nreply\n');
    await until(() => read(alice, 'x.txt') === 'direct\nreply\n');
    // status and unshare reach the running sharer through its control socket.
    const status = cshareJson(alice, ['status']);
    expect(status.json).toMatchObject({ ok: true, sharing: 'on', codes });
    expect(status.json.peers.map((p: { name: string }) => p.name)).toContain('bob');
    expect(cshareJson(alice, ['unshare']).code).toBe(0);
    expect((await sharer.exit).code).toBe(0);
  }, 120_000);
});
