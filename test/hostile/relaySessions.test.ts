import '../../src/cli/polyfills.js';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cshareJson } from '../helpers/cli.js';
import { start, stopAll, until } from '../helpers/procs.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { fromCode, helloAs, hostile, rejection, startRelayProc, stopHostiles } from './relayProc.js';

/**
 * Issue 15, item 12 and the relay's "Low" items, against real relay and share processes:
 * readers cannot take a worktree's connection slots from its sharer; replica ids belong to
 * the peer that first used them; a stranger cannot tell whether a worktree exists; the
 * relay logs what it refuses; its data is the owner's only.
 */

afterEach(async () => {
  await stopHostiles();
  await stopAll();
});

async function sharing(base: string, relayAddr: string) {
  const alice = join(base, 'alice');
  writeTree(alice, { 'notes.txt': 'one\n' });
  const sharer = start('alice', alice, ['share', '--relay', relayAddr]);
  const l = await sharer.line((x) => x.event === 'sharing');
  return { alice, sharer, codes: l.codes as { readWrite: string; readOnly: string } };
}

describe('hostile: connection slots and identities at a real relay', () => {
  it('item 12: read-only holders filling every slot they can never lock the sharer out', async () => {
    const base = tempDir('cshare-slots-');
    const relay = await startRelayProc({ base });
    const { alice, sharer, codes } = await sharing(base, relay.addr);
    const ro = fromCode(codes.readOnly);
    // 40 peers with 8 connections each, all saying hello with the read-only code.
    let admitted = 0;
    const refused: string[] = [];
    const peers = await Promise.all(Array.from({ length: 40 }, () => hostile(relay.addr)));
    await Promise.all(
      peers.map(async (p, k) => {
        for (let j = 0; j < 8; j++) {
          const conn = await p.connect().catch(() => undefined);
          if (!conn) continue;
          const res = await helloAs(conn, ro.worktreeId, ro.secret, `reader${k}x${j}`).catch((e: { code?: string }) => e);
          if ('ok' in res) admitted++;
          else refused.push(String((res as { code?: string }).code));
        }
      }),
    );
    // The read-only pool filled up (128), and every hello past it was refused, not queued (or
    // its connection closed at once, while too many others waited to say hello).
    expect(admitted).toBe(128);
    expect(refused.filter((c) => c === 'OVERLOADED').length).toBeGreaterThan(0);
    expect(refused.filter((c) => c !== 'OVERLOADED' && c !== 'CONNECTION_CLOSED')).toEqual([]);
    // The sharer restarts (kill -9) and gets its slot back; a read-write joiner gets in too.
    await sharer.stop('SIGKILL');
    const again = start('alice', alice, ['share', '--relay', relay.addr]);
    await again.line((x) => x.event === 'sharing', 60_000);
    const bob = join(base, 'bob');
    const joiner = start('bob', base, ['join', codes.readWrite, bob]);
    await joiner.line((x) => x.event === 'joined', 60_000);
    writeFileSync(join(alice, 'notes.txt'), 'one\ntwo\n');
    await until(() => readFileSync(join(bob, 'notes.txt'), 'utf8') === 'one\ntwo\n', 30_000);
  }, 180_000);

  it('a replica id belongs to the peer that first used it: another peer claiming the sharer\'s is refused', async () => {
    const base = tempDir('cshare-replica-');
    const relay = await startRelayProc({ base });
    const { alice, codes } = await sharing(base, relay.addr);
    const status = cshareJson(alice, ['status']);
    const replicaId = String(status.json.replica.id);
    const rw = fromCode(codes.readWrite);
    const mallory = await (await hostile(relay.addr)).connect();
    const claimed = await rejection(helloAs(mallory, rw.worktreeId, rw.secret, replicaId, 'sharer'));
    expect(claimed).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/belongs to another peer/) });
    // Its own replica id is fine.
    await expect(helloAs(await (await hostile(relay.addr)).connect(), rw.worktreeId, rw.secret, 'mallory1')).resolves.toMatchObject({ ok: true, access: 'rw' });
  }, 120_000);

  it('a stranger cannot tell whether a worktree exists: an unknown id and a wrong secret get the same answer', async () => {
    const base = tempDir('cshare-exists-');
    const relay = await startRelayProc({ base });
    const { codes } = await sharing(base, relay.addr);
    const real = fromCode(codes.readOnly);
    const stranger = await hostile(relay.addr);
    const wrongSecret = await rejection(helloAs(await stranger.connect(), real.worktreeId, new Uint8Array(16).fill(7), 'x1'));
    const unknown = await rejection(helloAs(await stranger.connect(), 'f'.repeat(32), new Uint8Array(16).fill(7), 'x2'));
    expect(wrongSecret.code).toBe('UNAUTHORIZED');
    expect({ code: unknown.code, message: unknown.message }).toEqual({ code: wrongSecret.code, message: wrongSecret.message });
  }, 120_000);

  it('the relay logs each refusal on stderr, one JSON line per event with --json, and repeats are folded', async () => {
    const relay = await startRelayProc();
    const stranger = await hostile(relay.addr);
    for (let i = 0; i < 5; i++) await rejection(helloAs(await stranger.connect(), 'a'.repeat(32), new Uint8Array(16), `s${i}`));
    await until(() => relay.events().some((e) => e.event === 'refused'), 10_000, () => relay.proc.stderr);
    const refused = relay.events().filter((e) => e.event === 'refused');
    // Five refusals of one peer within seconds: one line (the next one, later, would say how many were left out).
    expect(refused).toEqual([expect.objectContaining({ event: 'refused', peer: stranger.peerId, code: 'UNAUTHORIZED', time: expect.any(String) })]);
  }, 60_000);

  it("the relay's data directory and files are the owner's only (and nothing else in it is touched)", async () => {
    const base = tempDir('cshare-perms-');
    // A data directory made by hand, world-readable, with a file of the operator's in it.
    mkdirSync(join(base, 'data'), { mode: 0o755 });
    chmodSync(join(base, 'data'), 0o755);
    writeFileSync(join(base, 'data', 'notes.txt'), 'mine\n', { mode: 0o644 });
    const relay = await startRelayProc({ base });
    await sharing(base, relay.addr);
    await relay.proc.stop();
    const mode = (p: string) => statSync(join(relay.dataDir, p)).mode & 0o777;
    expect(mode('.')).toBe(0o700);
    expect(mode('store')).toBe(0o700);
    expect(mode('packs')).toBe(0o700);
    expect(mode('identity.key')).toBe(0o600);
    expect(mode('store/CURRENT')).toBe(0o600);
    expect(mode('notes.txt')).toBe(0o644);
  }, 60_000);
});
