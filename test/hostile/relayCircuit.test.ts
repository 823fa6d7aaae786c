import '../../src/cli/polyfills.js';
import { afterEach, describe, expect, it } from 'vitest';
import { createCshareNode, type CshareNode } from '../../src/sync/libp2p/Libp2pNode.js';
import { stopAll } from '../helpers/procs.js';
import { rejection, startRelayProc } from './relayProc.js';

/**
 * Issue 15, item 9: the relay was an open, unlimited libp2p circuit relay, so two strangers
 * could push any amount of traffic through it (200 MiB in 2.3 s). cshare never uses circuits:
 * a real relay process must refuse both the reservation and the relayed dial.
 */

const strangers: CshareNode[] = [];
afterEach(async () => {
  await Promise.all(strangers.splice(0).map((n) => n.stop()));
  await stopAll();
});

describe('hostile: the relay is no circuit relay', () => {
  it('a stranger cannot reserve a slot, and another cannot dial it through the relay', async () => {
    const relay = await startRelayProc();
    // Circuit-capable nodes (relayClient), as an attacker would run.
    const a = await createCshareNode({ listen: [] });
    const b = await createCshareNode({ listen: [] });
    strangers.push(a, b);
    await a.listen(() => undefined);
    const reserved = await rejection(a.reserveOn(relay.addr));
    expect(reserved.code).toBe('CONNECTION_CLOSED');
    const circuit = `${relay.addr}/p2p-circuit/p2p/${a.peerId}`;
    const dialled = await rejection(b.dial(circuit));
    expect(dialled.code).toBe('CONNECTION_CLOSED');
    // Neither stranger got a relayed connection to the other.
    expect(b.libp2p.getConnections(a.libp2p.peerId)).toEqual([]);
  }, 60_000);
});
