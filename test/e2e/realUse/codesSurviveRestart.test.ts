import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeJoinCode } from '../../../src/sync/joinCode.js';
import { cshareJson } from '../../helpers/cli.js';
import { start, stopAll, until, type Proc } from '../../helpers/procs.js';
import { tempDir, writeTree } from '../../helpers/tmp.js';

// Issue 14, item 8: a share without --relay and a relay without --listen come back on the
// ports they had, so the codes and addresses given out stay valid; a joiner whose code reaches
// nothing says so once per outage, and a first join gives up after a bounded time.

const servers: Server[] = [];
afterEach(async () => {
  await stopAll();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

const read = (root: string, rel: string) => (existsSync(join(root, rel)) ? readFileSync(join(root, rel), 'utf8') : undefined);

type Codes = { readWrite: string; readOnly: string };

async function sharing(p: Proc): Promise<Codes> {
  return (await p.line((x) => x.event === 'sharing')).codes as Codes;
}

/** The TCP port of the first address in a join code. */
function portOf(code: string): number {
  return Number(/\/tcp\/(\d+)\//.exec(decodeJoinCode(code).relay[0]!)![1]);
}

/** Holds `port` on 127.0.0.1 as another program would (released after the test). */
function occupy(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => {
      servers.push(s);
      resolve();
    });
  });
}

const errorsOf = (p: Proc) => p.lines.filter((l) => l.event === 'error');

describe('join codes and relay addresses survive restarts', () => {
  it('share without --relay comes back with the same codes; a joiner holding them says the outage once, reconnects and syncs both ways', async () => {
    const base = tempDir('cshare-codes-');
    const alice = join(base, 'alice');
    writeTree(alice, { 'notes.txt': 'one\n' });
    let sharer = start('alice', alice, ['share']);
    const before = await sharing(sharer);
    const bob = join(base, 'bob');
    const joiner = start('bob', base, ['join', before.readWrite, bob]);
    await joiner.line((x) => x.event === 'joined');
    expect(read(bob, 'notes.txt')).toBe('one\n');

    await sharer.stop();
    // The joiner notices, says so once, and keeps trying (a few attempts fail meanwhile).
    const outage = await joiner.line((x) => x.event === 'error');
    expect(outage.code).toMatch(/^(CONNECTION_CLOSED|TIMEOUT)$/);
    expect(String(outage.message)).toMatch(/still trying/);
    writeFileSync(join(bob, 'notes.txt'), 'one\ntwo (while the sharer was away)\n');

    sharer = start('alice', alice, ['share']);
    const after = await sharing(sharer);
    expect(after).toEqual(before);
    await joiner.line((x) => x.event === 'reconnected', 60_000);
    await until(() => read(alice, 'notes.txt') === 'one\ntwo (while the sharer was away)\n', 30_000, () => `alice: ${read(alice, 'notes.txt')}; bob stderr: ${joiner.stderr}`);
    writeFileSync(join(alice, 'notes.txt'), 'one\ntwo (while the sharer was away)\nthree\n');
    await until(() => read(bob, 'notes.txt') === 'one\ntwo (while the sharer was away)\nthree\n');
    // Once per outage: every failed attempt of the outage was one error event in all.
    expect(errorsOf(joiner)).toHaveLength(1);
  }, 180_000);

  it('a relay without --listen comes back on the same addresses (TCP and WebSocket)', async () => {
    const base = tempDir('cshare-codes-');
    const data = join(base, 'data');
    let relay = start('relay', base, ['relay', '--data', data]);
    const first = (await relay.line((x) => x.event === 'listening')).addresses as string[];
    expect(first).toHaveLength(2);
    expect(first.some((a) => a.includes('/ws/'))).toBe(true);
    await relay.stop();
    relay = start('relay', base, ['relay', '--data', data]);
    const second = (await relay.line((x) => x.event === 'listening')).addresses as string[];
    expect(second).toEqual(first);
    // And it still serves: a share through the first address works.
    const src = join(base, 'src');
    writeTree(src, { 'a.txt': 'through the relay\n' });
    expect(cshareJson(src, ['share', '--relay', first[0]!, '--once']).code).toBe(0);
  }, 120_000);

  it('a port taken meanwhile: share and relay say so clearly, listen elsewhere, and go back to it once it is free', async () => {
    const base = tempDir('cshare-codes-');
    const alice = join(base, 'alice');
    writeTree(alice, { 'a.txt': 'a\n' });
    let sharer = start('alice', alice, ['share']);
    const original = await sharing(sharer);
    await sharer.stop();
    const port = portOf(original.readWrite);
    await occupy(port);

    sharer = start('alice', alice, ['share']);
    const moved = await sharing(sharer);
    const warning = sharer.lines.find((l) => l.event === 'warning');
    expect(warning?.message).toMatch(new RegExp(`port ${port} is in use by another program.*join codes printed before do not reach it`));
    expect(moved.readWrite).not.toEqual(original.readWrite);
    // The new codes work.
    const probe = join(base, 'probe');
    expect(cshareJson(base, ['join', moved.readOnly, probe, '--once']).code).toBe(0);
    expect(read(probe, 'a.txt')).toBe('a\n');
    await sharer.stop();

    // The first port is kept: once it is free, the original codes are back.
    await new Promise<void>((resolve) => servers.pop()!.close(() => resolve()));
    sharer = start('alice', alice, ['share']);
    expect(await sharing(sharer)).toEqual(original);
    expect(sharer.lines.some((l) => l.event === 'warning')).toBe(false);
    await sharer.stop();

    // A relay says the same, on its own terms.
    const data = join(base, 'data');
    let relay = start('relay', base, ['relay', '--data', data]);
    const addrs = (await relay.line((x) => x.event === 'listening')).addresses as string[];
    await relay.stop();
    const tcpPort = Number(/\/tcp\/(\d+)\/p2p\//.exec(addrs.find((a) => !a.includes('/ws/'))!)![1]);
    await occupy(tcpPort);
    relay = start('relay', base, ['relay', '--data', data]);
    const relayWarning = await relay.line((x) => x.event === 'warning');
    expect(relayWarning.message).toMatch(new RegExp(`port ${tcpPort} is in use by another program`));
    expect(((await relay.line((x) => x.event === 'listening')).addresses as string[]).some((a) => a.includes(`/tcp/${tcpPort}/`))).toBe(false);
  }, 180_000);

  it('a first join whose code reaches nothing says what to do and gives up with exit code 12 (--retry keeps trying)', async () => {
    const base = tempDir('cshare-codes-');
    const alice = join(base, 'alice');
    writeTree(alice, { 'a.txt': 'a\n' });
    const sharer = start('alice', alice, ['share']);
    const codes = await sharing(sharer);
    await sharer.stop();

    const joiner = start('bob', base, ['join', codes.readWrite, join(base, 'bob')], { CSHARE_CONNECT_TIMEOUT: '2' });
    const { code } = await joiner.exit;
    expect(code).toBe(12);
    const result = joiner.lines.at(-1)!;
    expect(result).toMatchObject({ ok: false, code: 'CONNECTION_CLOSED' });
    expect(String(result.message)).toMatch(/gave up after \d+ s; if the sharer stopped or restarted elsewhere, or the relay moved, ask for a new join code \(--retry keeps trying\)/);
    // Said once while it tried, not once per attempt.
    expect(errorsOf(joiner)).toHaveLength(1);

    const patient = start('bob', base, ['join', codes.readWrite, join(base, 'bob2'), '--retry'], { CSHARE_CONNECT_TIMEOUT: '1' });
    await patient.line((x) => x.event === 'error');
    // Still running well past the bound, and the share coming back is picked up.
    const restarted = start('alice', alice, ['share']);
    await sharing(restarted);
    await patient.line((x) => x.event === 'joined', 60_000);
    expect(read(join(base, 'bob2'), 'a.txt')).toBe('a\n');
    expect(patient.child.exitCode).toBe(null);
  }, 180_000);
});
