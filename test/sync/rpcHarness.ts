import { MemoryTransport, type MemoryChannel, type MemoryTransportOptions } from '../../src/sync/memory/MemoryTransport.js';
import { RpcConnection, type RpcOptions } from '../../src/sync/rpc/RpcConnection.js';
import { testSchema, type TestProtocol } from './testProtocol.js';

/** A connected client and server over a memory pair, speaking {@link TestProtocol}. */
export interface RpcPair {
  client: RpcConnection<TestProtocol>;
  server: RpcConnection<TestProtocol>;
  clientChannel: MemoryChannel;
  serverChannel: MemoryChannel;
}

export function rpcPair(
  opts: { client?: Partial<RpcOptions<TestProtocol>>; server?: Partial<RpcOptions<TestProtocol>>; transport?: MemoryTransportOptions } = {},
): RpcPair {
  const [clientChannel, serverChannel] = MemoryTransport.pair(opts.transport);
  const client = new RpcConnection<TestProtocol>(clientChannel, { peer: 'server', schema: testSchema, ...opts.client });
  const server = new RpcConnection<TestProtocol>(serverChannel, { peer: 'client', schema: testSchema, ...opts.server });
  return { client, server, clientChannel, serverChannel };
}

/** A promise and its resolver. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
