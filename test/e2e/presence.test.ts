import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { callControl } from '../../src/sync/control.js';
import { cshare, cshareJson } from '../helpers/cli.js';
import { freePort, start, stopAll, until } from '../helpers/procs.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

afterEach(stopAll);

type StatusPeer = { id: string; name: string; role: string; color: string; path?: string; line?: number; column?: number };
const peersOf = (root: string): StatusPeer[] => (cshareJson(root, ['status']).json.peers as StatusPeer[] | undefined) ?? [];

/** A presence state as the control socket's `presence` hook takes it (positions in base64). */
const presence = (path: string, line: number, column: number) => ({
  state: { path, line, column, selections: [{ anchor: Buffer.from([1, 2, 3]).toString('base64'), head: Buffer.from([4, 5, 6]).toString('base64') }] },
});

describe.each([['through a relay process', true], ["through a share's own relay", false]])('presence between real processes (%s)', (_name, viaRelay) => {
  it("status of one side shows the other's file and line; the peer is gone once its process stops", async () => {
    const base = tempDir('cshare-presence-');
    let relay: string | undefined;
    if (viaRelay) {
      const proc = start('relay', base, ['relay', '--data', join(base, 'data'), '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`]);
      relay = ((await proc.line((x) => x.event === 'listening')).addresses as string[])[0]!;
    }
    const alice = join(base, 'alice');
    const bob = join(base, 'bob');
    writeTree(alice, { 'src/app.ts': 'const a = 1;\nconst b = 2;\n' });
    const sharer = start('alice', alice, ['share', ...(relay ? ['--relay', relay] : ['--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`])]);
    const codes = (await sharer.line((x) => x.event === 'sharing')).codes as { readWrite: string };
    const joiner = start('bob', base, ['join', codes.readWrite, bob]);
    await joiner.line((x) => x.event === 'joined');
    await until(() => peersOf(alice).length === 1 && peersOf(bob).length === 1, 30_000, () => `peers: ${JSON.stringify(peersOf(alice))} ${JSON.stringify(peersOf(bob))}`);
    // Connected, in no file yet.
    const bobId = cshareJson(bob, ['status']).json.replica.id as string;
    expect(peersOf(alice)).toEqual([{ id: bobId, name: 'bob', role: 'joiner', color: expect.stringMatching(/^#[0-9a-f]{6}$/) }]);

    // Bob is in src/app.ts, line 2: alice's status says so, in JSON and in text.
    expect(await callControl(bob, 'presence', presence('src/app.ts', 2, 7))).toEqual({ result: { published: true } });
    await until(() => peersOf(alice)[0]?.line === 2, 30_000, () => JSON.stringify(peersOf(alice)));
    expect(peersOf(alice)[0]).toMatchObject({ id: bobId, name: 'bob', role: 'joiner', path: 'src/app.ts', line: 2, column: 7 });
    expect(cshare(alice, ['status']).stdout).toMatch(/^Peers: {4}bob, joiner, in src\/app\.ts:2$/m);
    // Bob's own status lists alice, in no file.
    expect(peersOf(bob)).toMatchObject([{ name: 'alice', role: 'sharer' }]);
    expect(peersOf(bob)[0]!.path).toBeUndefined();
    expect(cshare(bob, ['status']).stdout).toMatch(/^Peers: {4}alice, sharer$/m);

    // A malformed state is refused by the hook, and changes nothing.
    await expect(callControl(bob, 'presence', { state: { path: '../x', line: 1, selections: [] } })).rejects.toMatchObject({ code: 'USAGE' });

    // Bob stops: alice's status no longer lists him.
    await joiner.stop();
    await until(() => peersOf(alice).length === 0, 30_000, () => JSON.stringify(peersOf(alice)));
    expect(cshare(alice, ['status']).stdout).toMatch(/^Peers: {4}none$/m);
  }, 120_000);
});
