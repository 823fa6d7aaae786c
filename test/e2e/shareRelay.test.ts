import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dialReason } from '../../src/sync/dial.js';
import { cshare, cshareJson } from '../helpers/cli.js';
import { freePort, start, stopAll } from '../helpers/procs.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

afterEach(stopAll);

/** A relay address (with a valid peer id) where nothing listens. */
async function deadRelay(): Promise<string> {
  return `/ip4/127.0.0.1/tcp/${await freePort()}/p2p/12D3KooWNjkKUBjYoKgNttsHTpugrdxSD6wDgrEBMQrSiBRCBWex`;
}

describe('share --relay: a wrong address at once, an unreachable relay within a bound', () => {
  it('an address that is no relay multiaddr is a usage error at once (exit 2) with an example, and nothing is created', () => {
    const root = tempDir();
    writeTree(root, { 'a.txt': 'a\n' });
    const cases: [string, string][] = [
      ['localhost:4001', '/dns4/localhost/tcp/4001/p2p/<relay peer id>'],
      ['203.0.113.7:4001', '/ip4/203.0.113.7/tcp/4001/p2p/<relay peer id>'],
      ['/ip4/127.0.0.1/tcp/4001', '/ip4/203.0.113.7/tcp/4001/p2p/12D3KooW...'],
      ['/ip4/127.0.0.1/tcp/x/p2p/abc', '/ip4/203.0.113.7/tcp/4001/p2p/12D3KooW...'],
    ];
    for (const [addr, example] of cases) {
      const t0 = Date.now();
      const r = cshare(root, ['share', '--relay', addr]);
      expect(r.code, addr).toBe(2);
      expect(r.stdout, addr).toBe('');
      expect(r.stderr, addr).toMatch(new RegExp(`^error: --relay "${addr.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" .*: give the address cshare relay printed, such as ${example.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      expect(Date.now() - t0, addr).toBeLessThan(10_000);
      expect(cshareJson(root, ['share', '--relay', addr]).json, addr).toMatchObject({ ok: false, code: 'USAGE' });
    }
    expect(existsSync(join(root, '.cshare'))).toBe(false);
  });

  it('a first share whose relay cannot be reached gives up with exit 12, naming the address once; --retry keeps trying', async () => {
    const root = tempDir();
    writeTree(root, { 'a.txt': 'a\n' });
    const addr = await deadRelay();
    const t0 = Date.now();
    const r = cshare(root, ['share', '--relay', addr], { CSHARE_CONNECT_TIMEOUT: '2' });
    expect(r.code).toBe(12);
    expect(Date.now() - t0).toBeLessThan(20_000);
    // Errors on stderr in text mode; each message names the address once.
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(`error: cannot reach the relay at ${addr}: connection refused, nothing listens there (still trying, and says so when it is back; check that the relay runs and that this machine can reach it)`);
    expect(lines[1]).toMatch(new RegExp(`^error: cannot reach the relay at ${addr}: connection refused, nothing listens there; gave up after \\d+ s; check that the relay runs and that this machine can reach it \\(--retry keeps trying\\)$`));
    for (const line of lines) expect(line.split(addr).length - 1).toBe(1);
    expect(line127(r.stderr)).toBe(false);

    // --retry: still running after the bound, having said the outage once.
    const retrying = start('sharer', root, ['share', '--relay', addr, '--retry'], { CSHARE_CONNECT_TIMEOUT: '1' });
    await retrying.line((x) => x.event === 'error' && x.code === 'CONNECTION_CLOSED');
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && retrying.child.exitCode === null) await new Promise((res) => setTimeout(res, 100));
    expect(retrying.child.exitCode).toBe(null);
    expect(retrying.lines.filter((x) => x.event === 'error')).toHaveLength(1);
    await retrying.stop();
  }, 60_000);

  it('says why a dial failed without repeating the address', () => {
    const addr = '/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWNjkKUBjYoKgNttsHTpugrdxSD6wDgrEBMQrSiBRCBWex';
    const err = new Error(`cannot connect to ${addr}: connection error 10.0.0.1:4001: something odd`);
    expect(dialReason(err, addr)).toBe('something odd');
    expect(dialReason(new Error('connect ETIMEDOUT 10.0.0.1:4001'), addr)).toBe('no answer, timed out');
  });
});

/** Whether a message still holds the loopback address in host:port form (said twice). */
function line127(text: string): boolean {
  return /127\.0\.0\.1:\d+/.test(text);
}
