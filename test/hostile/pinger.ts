/**
 * An honest peer in a process of its own (run with `node --import tsx pinger.ts <relay addr>`):
 * registers a worktree of its own, then asks the relay an empty `manifest/offer` back to back
 * (the cheapest request a bound connection has: protocol 3 has no ping) and prints one JSON
 * line per answer, `{ "rtt": ms }`, so a test measures how long the relay kept it waiting
 * without its own work (encoding an attack's frames in the test process) in the way.
 */
import '../../src/cli/polyfills.js';
import { hashSecret, newShareSecrets, worktreeIdToString } from '../../src/sync/joinCode.js';
import { createCshareNode } from '../../src/sync/libp2p/Libp2pNode.js';
import { PROTOCOL_VERSION } from '../../src/sync/schema.js';
import { cshareConnection } from '../../src/sync/connection.js';

const addr = process.argv[2]!;
const node = await createCshareNode({ listen: [], relayClient: false });
const conn = cshareConnection(await node.dial(addr), { peer: 'relay', requestTimeoutMs: 600_000 });
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
const secrets = newShareSecrets();
const worktreeId = worktreeIdToString(secrets.worktreeId);
await conn.request('hello', {
  protocol: PROTOCOL_VERSION,
  worktreeId,
  secretProof: secrets.readWrite,
  replicaId: 'pinger',
  name: 'pinger',
  role: 'sharer',
  register: { readOnlyHash: hashSecret(secrets.readOnly), name: 'pinger' },
});
for (;;) {
  const t0 = performance.now();
  await conn.request('manifest/offer', { worktreeId, entries: [] });
  process.stdout.write(`${JSON.stringify({ rtt: Math.round((performance.now() - t0) * 10) / 10 })}\n`);
  await new Promise((r) => setTimeout(r, 10));
}
