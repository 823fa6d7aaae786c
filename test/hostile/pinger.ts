/**
 * An honest peer in a process of its own (run with `node --import tsx pinger.ts <relay addr>`):
 * pings the relay back to back and prints one JSON line per ping, `{ "rtt": ms }`, so a test
 * measures how long the relay kept it waiting without its own work (encoding an attack's
 * frames in the test process) in the way.
 */
import '../../src/polyfills.js';
import { createCshareNode } from '../../src/sync/libp2p/Libp2pNode.js';
import { RpcConnection } from '../../src/sync/rpc/RpcConnection.js';

const addr = process.argv[2]!;
const node = await createCshareNode({ listen: [], relayClient: false });
const conn = new RpcConnection(await node.dial(addr), { peer: 'relay', requestTimeoutMs: 600_000 });
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
for (;;) {
  const t0 = performance.now();
  await conn.request('ping', { time: t0 });
  process.stdout.write(`${JSON.stringify({ rtt: Math.round((performance.now() - t0) * 10) / 10 })}\n`);
  await new Promise((r) => setTimeout(r, 10));
}
