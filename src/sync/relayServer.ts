import { join } from 'node:path';
import { logger } from '../core/log.js';
import type { KvStore } from '../core/ports.js';
import { BlobPacks } from '../store/fs/BlobPacks.js';
import { LevelStore } from '../store/level/LevelStore.js';
import { loadOrCreateIdentity } from './libp2p/identity.js';
import { createCshareNode, type CshareNode } from './libp2p/Libp2pNode.js';
import { MemoryTransport } from './memory/MemoryTransport.js';
import { RELAY_RPC_OPTIONS, RelayService } from './relay/RelayService.js';
import { RelayStore } from './relay/RelayStore.js';
import { RpcConnection } from './rpc/RpcConnection.js';

const log = logger('relay');

/** A running relay: a libp2p node serving the relay service, with its store. */
export interface RunningRelay {
  node: CshareNode;
  service: RelayService;
  /** Dialable addresses, each ending in `/p2p/<peer id>`. */
  addresses: string[];
  peerId: string;
  /** A connection to the relay without the network (for a sharer serving itself). */
  connectLocal(id: string): RpcConnection;
  close(): Promise<void>;
}

/**
 * Starts a relay: a libp2p node (TCP and WebSockets; no circuit relay) whose identity lives in
 * `dataDir/identity.key`, so its peer id survives restarts, and whose worktrees live in a
 * LevelDB at `dataDir/store`. Every acknowledged upload was written with a synced batch, so
 * `kill -9` loses nothing it acknowledged.
 */
export async function startRelay(opts: { dataDir: string; listen?: string[]; signal?: AbortSignal; kv?: KvStore }): Promise<RunningRelay> {
  const kv = opts.kv ?? (await LevelStore.open(join(opts.dataDir, 'store')));
  let node: CshareNode | undefined;
  let packs: BlobPacks | undefined;
  try {
    // Beside a store on disk only: a store given by the caller keeps blobs in itself.
    packs = opts.kv ? undefined : BlobPacks.open(join(opts.dataDir, 'packs'));
    const { privateKey } = await loadOrCreateIdentity({ dataDir: opts.dataDir, signal: opts.signal });
    node = await createCshareNode({ listen: opts.listen ?? ['/ip4/127.0.0.1/tcp/0'], privateKey, relayClient: false, signal: opts.signal });
    const service = new RelayService({ store: new RelayStore(kv, {}, packs), relayId: node.peerId });
    await node.listen((channel, remote) => {
      const conn = new RpcConnection(channel, { ...RELAY_RPC_OPTIONS, peer: remote.peerId });
      service.attach(conn, { id: remote.peerId });
    });
    const running = node;
    log('relay %s on %o', node.peerId, node.addresses());
    return {
      node,
      service,
      addresses: node.addresses(),
      peerId: node.peerId,
      connectLocal(id: string) {
        const [a, b] = MemoryTransport.pair();
        service.attach(new RpcConnection(b, { ...RELAY_RPC_OPTIONS, peer: id }), { id });
        return new RpcConnection(a, { peer: 'relay (in-process)' });
      },
      async close() {
        service.close();
        await running.stop();
        await kv.close();
        packs?.close();
      },
    };
  } catch (err) {
    await node?.stop();
    await kv.close();
    packs?.close();
    throw err;
  }
}
