import '../../src/cli/polyfills.js';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gitBlobId } from '../../src/core/digest.js';
import { cshareJson } from '../helpers/cli.js';
import { freePort, stopAll, until, type Proc } from '../helpers/procs.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { treeOf } from '../helpers/tree.js';
import { dirBytes, helloAs, hostile, newWorktree, registerAs, rejection, startRelayProc, stopHostiles } from './relayProc.js';

/**
 * Issue 15, item 8, against real relay processes: registering worktrees needs a rule
 * (a rate limit by default, a relay token when the operator sets one), each worktree has a
 * quota, and the pack bytes of uploads that never finish are reclaimed, by a compaction that
 * survives `kill -9` at any point.
 */

afterEach(async () => {
  await stopHostiles();
  await stopAll();
});

const KiB = 1024;
const MiB = 1024 * 1024;

describe('hostile: registrations, quotas and abandoned uploads at a real relay', () => {
  it('a flood of registrations from many peers is rate-limited (OVERLOADED) and logged', async () => {
    const relay = await startRelayProc();
    const outcomes: string[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        const peer = await hostile(relay.addr);
        for (let i = 0; i < 6; i++) {
          const res = await registerAs(await peer.connect(), newWorktree()).catch((e: { code?: string }) => e);
          outcomes.push('ok' in res ? 'ok' : String((res as { code?: string }).code));
        }
      }),
    );
    // 48 attempts within seconds: 20 at once for the whole relay (at most 5 per peer), then one per 30 s.
    const admitted = outcomes.filter((o) => o === 'ok').length;
    expect(admitted).toBeGreaterThanOrEqual(20);
    expect(admitted).toBeLessThanOrEqual(22);
    expect(new Set(outcomes.filter((o) => o !== 'ok'))).toEqual(new Set(['OVERLOADED']));
    await until(() => relay.events().some((e) => e.event === 'refused' && e.code === 'OVERLOADED'), 10_000, () => relay.proc.stderr);
  }, 120_000);

  it('with --token-file only a sharer with a relay token registers; joiners need only the join code', async () => {
    const base = tempDir('cshare-token-');
    writeFileSync(join(base, 'tokens'), '# relay tokens\ns3cret-token\n');
    const relay = await startRelayProc({ base, args: ['--token-file', join(base, 'tokens')] });
    const alice = join(base, 'alice');
    writeTree(alice, { 'a.txt': 'hello\n' });
    const without = cshareJson(alice, ['share', '--relay', relay.addr, '--once', '--yes']);
    expect(without.code).toBe(14);
    expect(without.json).toMatchObject({ ok: false, code: 'UNAUTHORIZED', message: expect.stringMatching(/relay token/) });
    const withToken = cshareJson(alice, ['share', '--relay', relay.addr, '--once', '--yes'], { CSHARE_RELAY_TOKEN: 's3cret-token' });
    expect(withToken.code).toBe(0);
    const bob = join(base, 'bob');
    expect(cshareJson(base, ['join', withToken.json.codes.readOnly, bob, '--once']).code).toBe(0);
    expect(treeOf(bob)).toEqual(treeOf(alice));
    // A stranger's registration is refused and logged; --open and --token cannot be combined.
    expect(await rejection(registerAs(await (await hostile(relay.addr)).connect(), newWorktree()))).toMatchObject({ code: 'UNAUTHORIZED' });
    const both = cshareJson(base, ['relay', '--open', '--token', 'x', '--data', join(base, 'd2')]);
    expect(both.code).toBe(2);
  }, 120_000);

  it('a worktree over its --quota gets OVERLOADED and the relay logs it', async () => {
    const relay = await startRelayProc({ args: ['--quota', '1MiB'] });
    const conn = await (await hostile(relay.addr)).connect();
    const wt = newWorktree();
    await registerAs(conn, wt);
    let stored = 0;
    const err = await rejection(
      (async () => {
        for (;;) {
          await conn.request('file/upload', { worktreeId: wt.worktreeId, fileId: `f${stored}`, blob: randomBytes(200 * KiB) });
          stored++;
        }
      })(),
    );
    expect(err).toMatchObject({ code: 'OVERLOADED', message: expect.stringMatching(/quota of 1048576 bytes/) });
    expect(stored).toBe(5);
    await until(() => relay.events().some((e) => e.event === 'quota' && e.worktree === wt.worktreeId), 10_000, () => relay.proc.stderr);
  }, 60_000);

  it('abandoned uploads are reclaimed by a compaction that survives kill -9 midway; the data stays whole', async () => {
    const base = tempDir('cshare-compact-');
    const port = await freePort();
    const dataDir = join(base, 'data');
    const args = ['--pack-bytes', '1MiB', '--compact-throttle-ms', '20'];
    let relay = await startRelayProc({ base, port, args });
    // An honest peer uploads 150 blobs of 20 KiB while a stranger starts six 4 MiB uploads and
    // sends 2 MiB of each in pieces of 256 KiB: the packs hold both, mixed.
    const honestWt = newWorktree();
    const honestConn = await (await hostile(relay.addr)).connect();
    await registerAs(honestConn, honestWt, 'honest');
    const stranger = await (await hostile(relay.addr)).connect();
    const wt = newWorktree();
    await registerAs(stranger, wt);
    const blobs = Array.from({ length: 150 }, () => randomBytes(20 * KiB));
    const uploads = Array.from({ length: 6 }, () => randomBytes(4 * MiB));
    const piece = 256 * KiB;
    for (let i = 0; i < 150; i++) {
      await honestConn.request('file/upload', { worktreeId: honestWt.worktreeId, fileId: `f${i}`, blob: blobs[i]! });
      if (i % 3 !== 0) continue;
      const n = i / 3;
      const blob = uploads[n % 6]!;
      const off = Math.floor(n / 6) * piece;
      if (off < 2 * MiB) await stranger.request('blob/upload', { worktreeId: wt.worktreeId, digest: gitBlobId(blob), size: blob.length, offset: off, data: blob.subarray(off, off + piece) });
    }
    // The relay dies with the stranger's uploads unfinished: their chunk keys stay too.
    await relay.proc.stop('SIGKILL');
    const honest = { packs: 150 * 20 * KiB, all: dirBytes(dataDir) - dirBytes(join(dataDir, 'packs')) + 150 * 20 * KiB };
    expect(dirBytes(join(dataDir, 'packs')) - honest.packs).toBeGreaterThanOrEqual(12 * MiB);
    // The compaction at start-up, killed three times at later and later points.
    const killedMidway: boolean[] = [];
    for (const copied of [20, 80, 140]) {
      relay = await startRelayProc({ base, port, args });
      await until(() => relay.events().some((e) => e.event === 'compacting' || e.event === 'compacted'), 30_000, () => relay.proc.stderr);
      const packsAtStart = dirBytes(join(dataDir, 'packs'));
      await until(() => dirBytes(join(dataDir, 'packs')) >= packsAtStart + copied * 20 * KiB || compacted(relay.proc), 60_000);
      await relay.proc.stop('SIGKILL');
      killedMidway.push(compacting(relay.proc));
    }
    // At least the first kill landed while copying (the next ones may find less to do).
    expect(killedMidway[0]).toBe(true);
    relay = await startRelayProc({ base, port, args });
    await until(() => compacted(relay.proc) && !compacting(relay.proc), 60_000, () => relay.proc.stderr);
    // Back to the honest data's size (a pack may keep a fifth of dead bytes), and all of it there.
    expect(dirBytes(join(dataDir, 'packs'))).toBeLessThan(honest.packs * 1.25 + MiB);
    expect(dirBytes(dataDir)).toBeLessThan(honest.all + 2 * MiB);
    const reader = await (await hostile(relay.addr)).connect();
    await helloAs(reader, honestWt.worktreeId, honestWt.secrets.readOnly, 'reader');
    const got = new Map<string, Buffer[]>();
    const digests = blobs.map((b) => gitBlobId(b));
    for (let i = 0; i < digests.length; i += 64) {
      for await (const c of reader.requestStream('blobs/fetch', { worktreeId: honestWt.worktreeId, digests: digests.slice(i, i + 64) })) {
        got.set(c.digest, [...(got.get(c.digest) ?? []), Buffer.from(c.data)]);
      }
    }
    for (const [i, d] of digests.entries()) expect(Buffer.concat(got.get(d) ?? []).equals(blobs[i]!), `blob ${i}`).toBe(true);
  }, 300_000);
});

/** The relay finished a compaction (or found nothing to compact). */
function compacted(proc: Proc): boolean {
  return proc.stderr.includes('"event":"compacted"');
}

/** A compaction was started and has not finished. */
function compacting(proc: Proc): boolean {
  const text = proc.stderr;
  return text.lastIndexOf('"event":"compacting"') > text.lastIndexOf('"event":"compacted"');
}
