import '../../../src/cli/polyfills.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gitBlobId } from '../../../src/core/digest.js';
import { ManifestDoc } from '../../../src/core/ManifestDoc.js';
import { decodeJoinCode, worktreeIdToString } from '../../../src/sync/joinCode.js';
import { createCshareNode } from '../../../src/sync/libp2p/Libp2pNode.js';
import { PROTOCOL_VERSION } from '../../../src/sync/schema.js';
import { cshare, cshareJson } from '../../helpers/cli.js';
import { freePort, start, stopAll, until, type Proc } from '../../helpers/procs.js';
import { tempDir, writeTree } from '../../helpers/tmp.js';
import { cshareConnection } from '../../../src/sync/connection.js';

// Issue 14, item 9: a path cshare refuses (its own scanner, the relay, or a peer's change it
// will not write) is never dropped silently: the running share/join reports each once, as an
// `error` event with `path` and `reason`, and `status` lists them, while sharing and after.

afterEach(stopAll);

const read = (root: string, rel: string) => (existsSync(join(root, rel)) ? readFileSync(join(root, rel), 'utf8') : undefined);

type Codes = { readWrite: string; readOnly: string };

async function relayAt(dir: string): Promise<string> {
  const proc = start('relay', dir, ['relay', '--data', join(dir, 'data'), '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`]);
  return ((await proc.line((x) => x.event === 'listening')).addresses as string[])[0]!;
}

async function sharing(p: Proc): Promise<Codes> {
  return (await p.line((x) => x.event === 'sharing')).codes as Codes;
}

/** The `error` events of `p` about `path`. */
const refusals = (p: Proc, path: string) => p.lines.filter((l) => l.event === 'error' && l.path === path);

describe('refused paths are reported, never dropped silently', () => {
  it('share and join report each name they cannot share once (backslash, case twin), the rest syncs, and status lists them live and offline', async () => {
    const base = tempDir('cshare-refused-');
    const relay = await relayAt(base);
    const alice = join(base, 'alice');
    writeTree(alice, { 'ok.txt': 'fine\n', 'back\\slash.txt': 'never leaves\n', 'README': 'upper\n', 'readme': 'lower\n' });
    const sharer = start('alice', alice, ['share', '--relay', relay]);
    const codes = await sharing(sharer);
    expect(refusals(sharer, 'back\\slash.txt')).toEqual([expect.objectContaining({ code: 'BAD_PATH', reason: expect.stringMatching(/backslash/) })]);
    expect(refusals(sharer, 'readme')).toEqual([expect.objectContaining({ code: 'BAD_PATH', reason: expect.stringMatching(/differs only in case from "README"/) })]);
    expect(String(refusals(sharer, 'back\\slash.txt')[0]!.message)).toMatch(/is not shared: path contains a backslash; rename it to share it/);

    const bob = join(base, 'bob');
    const joiner = start('bob', base, ['join', codes.readWrite, bob]);
    await joiner.line((x) => x.event === 'joined');
    expect(read(bob, 'ok.txt')).toBe('fine\n');
    expect(read(bob, 'README')).toBe('upper\n');
    expect(existsSync(join(bob, 'back\\slash.txt'))).toBe(false);

    // While sharing: a new bad name is reported; an edit of a refused file is not reported again.
    writeFileSync(join(alice, 'back\\slash.txt'), 'edited, still not shared\n');
    writeTree(alice, { 'sub\\dir.txt': 'also refused\n' });
    await sharer.line((x) => x.event === 'error' && x.path === 'sub\\dir.txt');
    writeTree(alice, { 'later.txt': 'after the refusals\n' });
    await until(() => read(bob, 'later.txt') === 'after the refusals\n');
    expect(refusals(sharer, 'back\\slash.txt')).toHaveLength(1);
    expect(refusals(sharer, 'readme')).toHaveLength(1);

    // The joiner reports its own, the same way.
    writeTree(bob, { 'bob\\notes.txt': 'bob cannot share this\n' });
    await joiner.line((x) => x.event === 'error' && x.path === 'bob\\notes.txt' && x.code === 'BAD_PATH');

    // status, through the running share, lists every one with its reason.
    const live = cshareJson(alice, ['status']);
    expect(live.json.sharing).toBe('on');
    const listed = (live.json.refused as { path: string; source: string; reason: string }[]).map((r) => `${r.source} ${r.path}`).sort();
    expect(listed).toEqual(['local back\\slash.txt', 'local readme', 'local sub\\dir.txt']);
    const text = cshare(alice, ['status']);
    expect(text.stdout).toMatch(/Not shared \(3\):\n.*"back\\\\slash\.txt": path contains a backslash/);

    // And offline, once the share stopped.
    await sharer.stop();
    await joiner.stop();
    for (let i = 0; i < 2; i++) {
      // The second answers from the status view written by the first.
      const offline = cshareJson(alice, ['status']);
      expect(offline.json.sharing).toBe('off');
      expect((offline.json.refused as { path: string }[]).map((r) => r.path).sort()).toEqual(['back\\slash.txt', 'readme', 'sub\\dir.txt']);
    }
    expect(cshareJson(bob, ['status']).json.refused).toEqual([expect.objectContaining({ path: 'bob\\notes.txt', source: 'local' })]);
  }, 180_000);

  it('a file the relay refuses (over its size limit) is reported with its path; everything else is shared and a joiner does not wait for it', async () => {
    const base = tempDir('cshare-refused-');
    const relay = await relayAt(base);
    const alice = join(base, 'alice');
    const big = new Uint8Array(65 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
    writeTree(alice, { 'small.txt': 'small\n', 'big.bin': big });
    const sharer = start('alice', alice, ['share', '--relay', relay]);
    const codes = await sharing(sharer);
    expect(refusals(sharer, 'big.bin')).toEqual([expect.objectContaining({ code: 'TOO_LARGE', reason: expect.stringMatching(/over this relay's limit/) })]);
    expect(String(refusals(sharer, 'big.bin')[0]!.message)).toMatch(/^the relay refused "big.bin": .*; it is not shared$/);
    const status = cshareJson(alice, ['status']);
    expect(status.json.refused).toEqual([expect.objectContaining({ path: 'big.bin', source: 'relay', code: 'TOO_LARGE' })]);

    const bob = join(base, 'bob');
    const started = Date.now();
    const joined = cshareJson(base, ['join', codes.readOnly, bob, '--once']);
    expect(joined.code).toBe(0);
    // The relay's `need` for it is dropped: no wait for a 30 s timeout.
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(read(bob, 'small.txt')).toBe('small\n');
    expect(existsSync(join(bob, 'big.bin'))).toBe(false);
  }, 180_000);

  it("a peer's change the sharer will not write is reported once with its path and reason, and listed by status", async () => {
    const base = tempDir('cshare-refused-');
    const alice = join(base, 'alice');
    writeTree(alice, { 'a.txt': 'a\n' });
    const sharer = start('alice', alice, ['share']);
    const codes = await sharing(sharer);

    // A read-write peer built on cshare's own code sends a manifest entry that the relay
    // lets through (its path is fine) but no replica may use (it has no valid kind).
    const code = decodeJoinCode(codes.readWrite);
    const worktreeId = worktreeIdToString(code.worktreeId);
    const node = await createCshareNode({ listen: [], relayClient: false });
    try {
      const conn = cshareConnection(await node.dial(code.relay[0]!), { peer: 'relay' });
      await conn.request('hello', { protocol: PROTOCOL_VERSION, worktreeId, secretProof: code.secret, replicaId: 'mallory1', name: 'mallory', role: 'joiner' });
      const digest = gitBlobId(new TextEncoder().encode('x\n'));
      const m = ManifestDoc.create(4242);
      const update = m.change((set) => set('f0000000000000000000bad', { path: 'weird.txt', kind: 'device' as never, mode: 0o100644, digest, size: 2, base: digest, lamport: 99, by: 'mallory1' }))!;
      await conn.request('manifest/upload', { worktreeId, updates: [update] });
      const event = await sharer.line((x) => x.event === 'error' && x.path === 'weird.txt');
      expect(event).toMatchObject({ code: 'BAD_PATH', reason: 'malformed entry' });
      expect(String(event.message)).toMatch(/was refused \(malformed entry\); it is not written here/);
      // A second change of the same peer: the refused entry is not reported again.
      const again = m.change((set) => set('f0000000000000000000ok', { path: 'fine.txt', kind: 'text', mode: 0o100644, digest, size: 2, base: digest, lamport: 100, by: 'mallory1' }))!;
      await conn.request('manifest/upload', { worktreeId, updates: [again] });
      await conn.request('file/upload', { worktreeId, fileId: 'f0000000000000000000ok', blob: new TextEncoder().encode('x\n') });
      await until(() => read(alice, 'fine.txt') === 'x\n');
      expect(refusals(sharer, 'weird.txt')).toHaveLength(1);
      conn.close();
    } finally {
      await node.stop();
    }
    expect(cshareJson(alice, ['status']).json.refused).toEqual([{ path: 'weird.txt', reason: 'malformed entry', source: 'peer', code: 'BAD_PATH' }]);
    expect(existsSync(join(alice, 'weird.txt'))).toBe(false);
    await sharer.stop();
    for (let i = 0; i < 2; i++) expect(cshareJson(alice, ['status']).json.refused).toEqual([{ path: 'weird.txt', reason: 'malformed entry', source: 'peer', code: 'BAD_PATH' }]);
  }, 180_000);
});
