import { describe, expect, it } from 'vitest';
import { worktreeNameOn } from '../../src/sync/joinFolder.js';
import { cshareSchema, type CshareProtocol } from '../../src/sync/schema.js';
import type { ProtocolSchema } from '../../src/sync/rpc/protocol.js';
import { MemoryTransport } from '../../src/sync/memory/MemoryTransport.js';
import { RpcConnection } from '../../src/sync/rpc/RpcConnection.js';
import { RelayHarness } from './relay/harness.js';

describe('worktree/info: the name a joiner names its folder after', () => {
  it('a relay says the registered name to a holder of either secret, before any hello', async () => {
    const relay = new RelayHarness();
    await relay.sharer();
    for (const secret of [relay.secrets.readOnly, relay.secrets.readWrite]) {
      expect(await worktreeNameOn(relay.connect(), { worktreeId: relay.worktreeId, secret })).toBe('app');
    }
    await expect(worktreeNameOn(relay.connect(), { worktreeId: relay.worktreeId, secret: new Uint8Array(32) })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('a relay from before the message: no name (the joiner falls back to its own), and the connection still says hello', async () => {
    const { 'worktree/info': _dropped, ...requests } = cshareSchema.requests;
    const oldSchema = { ...cshareSchema, requests } as unknown as ProtocolSchema<CshareProtocol>;
    const relay = new RelayHarness();
    await relay.sharer();
    // The old relay's schema has no such message, and it has no handler for it.
    const [a, b] = MemoryTransport.pair();
    const server = new RpcConnection<CshareProtocol>(b, { peer: 'old relay', schema: oldSchema });
    const handle = server.handle.bind(server);
    server.handle = ((type, handler) => (type === 'worktree/info' ? undefined : handle(type, handler))) as typeof server.handle;
    relay.service.attach(server, { id: 'old' });
    const conn = new RpcConnection<CshareProtocol>(a, { peer: 'relay', requestTimeoutMs: 5000 });
    expect(await worktreeNameOn(conn, { worktreeId: relay.worktreeId, secret: relay.secrets.readOnly })).toBeUndefined();
    expect(await relay.joinHello(conn, 'bob', relay.secrets.readOnly)).toMatchObject({ ok: true, access: 'ro' });
  });
});
