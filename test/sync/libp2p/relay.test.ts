import '../../../src/cli/polyfills.js';
import { describe, expect, it } from 'vitest';
import { startNode } from './harness.js';

describe('Libp2pNode: circuit relays', () => {
  it('runs no circuit relay server: reserving a slot on a cshare node fails', async () => {
    // cshare's relay is an RPC service; a circuit hop between two strangers is never offered
    // (issue 15, item 9). test/hostile/relayCircuit.test.ts attacks a real relay process.
    const node = await startNode({ relayClient: false });
    const a = await startNode();
    await expect(a.reserveOn(node.addresses()[0]!)).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
  });

  it('refuses reserveOn without a relay peer id', async () => {
    const node = await startNode();
    const a = await startNode();
    const bare = node.addresses()[0]!.replace(/\/p2p\/.*$/, '');
    await expect(a.reserveOn(bare)).rejects.toMatchObject({ code: 'USAGE' });
  });
});
