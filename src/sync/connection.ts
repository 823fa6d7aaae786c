/**
 * An RPC connection speaking cshare's protocol: `rpc/` is generic over its schema (it imports
 * nothing from `sync/`), and every cshare connection, a replica's to its relay as the relay's
 * to each peer, is made here with {@link cshareSchema}.
 */
import { RpcConnection, type RpcOptions } from './rpc/RpcConnection.js';
import type { FrameChannel } from './rpc/transport.js';
import { cshareSchema, type CshareProtocol } from './schema.js';

/** A connection speaking cshare's protocol. */
export type CshareConnection = RpcConnection<CshareProtocol>;

/** Opens an RPC connection over `channel` with cshare's schema (or `opts.schema`, a test's variant of it). */
export function cshareConnection(channel: FrameChannel, opts: Partial<RpcOptions<CshareProtocol>> = {}): CshareConnection {
  return new RpcConnection<CshareProtocol>(channel, { ...opts, schema: opts.schema ?? cshareSchema });
}
