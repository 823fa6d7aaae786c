import { newShareSecrets, worktreeIdToString } from '../../src/sync/joinCode.js';
import { RpcRelayClient } from '../../src/sync/client/RpcRelayClient.js';
import { MemoryRelay } from '../../src/sync/memory/MemoryRelay.js';
import { MemoryRelayClient } from '../../src/sync/memory/MemoryRelayClient.js';
import { RelayHarness } from './relay/harness.js';
import { runRelayClientContract } from './relayClientContract.js';

runRelayClientContract('RpcRelayClient over MemoryTransport to a RelayService', () => {
  const harness = new RelayHarness();
  return {
    worktreeId: harness.worktreeId,
    secrets: harness.secrets,
    connect: ({ peer, worktreeId } = {}) => new RpcRelayClient({ conn: harness.connect(peer), worktreeId: worktreeId ?? harness.worktreeId }),
    close: () => harness.close(),
  };
});

runRelayClientContract('MemoryRelayClient (the in-memory twin)', () => {
  const relay = new MemoryRelay();
  const secrets = newShareSecrets();
  const worktreeId = worktreeIdToString(secrets.worktreeId);
  const clients: MemoryRelayClient[] = [];
  return {
    worktreeId,
    secrets,
    connect: ({ peer, worktreeId: id } = {}) => {
      const c = new MemoryRelayClient({ relay, worktreeId: id ?? worktreeId, peer });
      clients.push(c);
      return c;
    },
    close: () => clients.forEach((c) => c.close()),
  };
});
