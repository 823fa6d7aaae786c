import '../../../src/polyfills.js';
import { describe, expect, it } from 'vitest';
import type { RemotePeer } from '../../../src/sync/libp2p/Libp2pNode.js';
import { payload, rpc, startNode } from './harness.js';

describe('Libp2pNode: through a circuit relay on loopback', () => {
  it('reaches a peer through the relay with no 128 KiB / 2 min limit', async () => {
    const relay = await startNode({ relayServer: true, relayClient: false });
    const a = await startNode();
    const b = await startNode();
    const remotes: RemotePeer[] = [];
    await a.listen((channel, remote) => {
      remotes.push(remote);
      const conn = rpc(channel, remote.peerId);
      conn.handle('echo', ({ data }) => ({ data }));
      conn.handleStream('chunks', async function* ({ count, size }) {
        for (let i = 0; i < count; i++) yield { i, data: payload(size, i + 1) };
      });
    });

    const circuit = await a.reserveOn(relay.addresses()[0]!);
    expect(circuit.length).toBeGreaterThan(0);
    for (const addr of circuit) expect(addr).toMatch(new RegExp(`/p2p/${relay.peerId}/p2p-circuit/p2p/${a.peerId}$`));
    expect(a.addresses()).toEqual(expect.arrayContaining(circuit));

    // B knows only the circuit address, so the connection must go through the relay.
    const conn = rpc(await b.dial(circuit[0]!), a.peerId);
    await expect(conn.request('echo', { data: Uint8Array.of(1, 2) })).resolves.toEqual({ data: Uint8Array.of(1, 2) });
    const toA = b.libp2p.getConnections(a.libp2p.peerId);
    expect(toA.length).toBe(1);
    expect(toA[0]!.remoteAddr.toString()).toContain('/p2p-circuit');
    // The relay imposes no limits, so the relayed connection is not a "limited" one.
    expect(toA[0]!.limits).toBeUndefined();
    expect(remotes).toEqual([{ peerId: b.peerId, limited: false }]);

    // Far more than the default 128 KiB data limit, in both directions.
    const big = payload(1536 * 1024, 3);
    const { data } = await conn.request('echo', { data: big });
    expect(Buffer.compare(data, big)).toBe(0);
    let received = 0;
    for await (const item of conn.requestStream('chunks', { count: 4, size: 1024 * 1024 })) {
      expect(Buffer.compare(item.data, payload(1024 * 1024, item.i + 1))).toBe(0);
      received += item.data.length;
    }
    expect(received).toBe(4 * 1024 * 1024);
    // Still the same relayed connection afterwards.
    await expect(conn.request('echo', { data: Uint8Array.of(7) })).resolves.toEqual({ data: Uint8Array.of(7) });
    expect(b.libp2p.getConnections(a.libp2p.peerId)[0]!.id).toBe(toA[0]!.id);
  });

  it('refuses reserveOn without a relay peer id', async () => {
    const relay = await startNode({ relayServer: true });
    const a = await startNode();
    const bare = relay.addresses()[0]!.replace(/\/p2p\/.*$/, '');
    await expect(a.reserveOn(bare)).rejects.toMatchObject({ code: 'USAGE' });
  });
});
