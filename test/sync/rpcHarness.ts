import { MemoryTransport, type MemoryChannel, type MemoryTransportOptions } from '../../src/sync/memory/MemoryTransport.js';
import { RpcConnection, type RpcOptions } from '../../src/sync/rpc/RpcConnection.js';
import type { CshareProtocol } from '../../src/sync/schema.js';

/** A connected client and server over a memory pair. */
export interface RpcPair {
  client: RpcConnection;
  server: RpcConnection;
  clientChannel: MemoryChannel;
  serverChannel: MemoryChannel;
}

export function rpcPair(
  opts: { client?: RpcOptions<CshareProtocol>; server?: RpcOptions<CshareProtocol>; transport?: MemoryTransportOptions } = {},
): RpcPair {
  const [clientChannel, serverChannel] = MemoryTransport.pair(opts.transport);
  const client = new RpcConnection(clientChannel, { peer: 'server', ...opts.client });
  const server = new RpcConnection(serverChannel, { peer: 'client', ...opts.server });
  return { client, server, clientChannel, serverChannel };
}

/** A promise and its resolver. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
