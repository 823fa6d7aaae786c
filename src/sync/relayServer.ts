import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { logger } from '../core/log.js';
import type { KvStore } from '../core/ports.js';
import { BlobPacks } from '../store/fs/BlobPacks.js';
import { LevelStore } from '../store/level/LevelStore.js';
import { IDENTITY_FILE, loadOrCreateIdentity } from './libp2p/identity.js';
import { createCshareNode, type CshareNode } from './libp2p/Libp2pNode.js';
import { planListen, storeListen, type MovedAddress } from './listenPorts.js';
import { MemoryTransport } from './memory/MemoryTransport.js';
import { Compactor } from './relay/compaction.js';
import { DiskGuard } from './relay/disk.js';
import { RelayLog } from './relay/RelayLog.js';
import { RelayService, type RelayServiceOptions } from './relay/RelayService.js';
import type { RelayLimits } from './relay/RelayStorage.js';
import { RelayStore } from './relay/RelayStore.js';
import { cshareConnection, type CshareConnection } from './connection.js';

const log = logger('relay');

/** A running relay: a libp2p node serving the relay service, with its store. */
export interface RunningRelay {
  node: CshareNode;
  service: RelayService;
  /** Reclaims the pack bytes of unfinished uploads (absent for a relay without packs). */
  compactor?: Compactor;
  /** Dialable addresses, each ending in `/p2p/<peer id>`. */
  addresses: string[];
  peerId: string;
  /** Stored addresses whose ports were taken, and what replaced each (see `planListen`). */
  moved: MovedAddress[];
  /** A connection to the relay without the network (for a sharer serving itself). */
  connectLocal(id: string): CshareConnection;
  close(): Promise<void>;
}

/** Where a relay listens when nothing was asked for and nothing is stored: a free TCP port on loopback. */
export const DEFAULT_RELAY_LISTEN = ['/ip4/127.0.0.1/tcp/0'];

/** Options of {@link startRelay}. */
export interface StartRelayOptions {
  dataDir: string;
  /** Addresses asked for (`--listen`); without them, the stored ones (see `planListen`). */
  listen?: string[];
  /** Where to listen the first time when `listen` is not given (default {@link DEFAULT_RELAY_LISTEN}). */
  defaultListen?: string[];
  signal?: AbortSignal;
  /** A store to use instead of the LevelDB in `dataDir/store` (blobs then go into it too). */
  kv?: KvStore;
  /** Limits and rules of the service (see `RelayServiceOptions`). */
  service?: Omit<RelayServiceOptions, 'store' | 'relayId' | 'log' | 'checkDisk'>;
  /** Bounds of what is stored (see `RelayLimits`: the per-worktree quota among them). */
  limits?: Partial<RelayLimits>;
  /** Uploads and registrations stop while the disk has less free (0, the default: never). */
  minFreeBytes?: number;
  /** Size a blob pack grows to before the next one starts (for tests). */
  packBytes?: number;
  /** Compact the packs once dropped uploads left this many bytes (64 MiB). */
  compactAfterBytes?: number;
  /** Pause after each chunk a compaction copies (0; for tests). */
  compactThrottleMs?: number;
  /** Where events for the operator go (silent by default). */
  log?: RelayLog;
}

/**
 * Starts a relay: a libp2p node (TCP and WebSockets; no circuit relay) whose identity lives in
 * `dataDir/identity.key`, so its peer id survives restarts, and whose worktrees live in a
 * LevelDB at `dataDir/store`. Every acknowledged upload was written with a synced batch, so
 * `kill -9` loses nothing it acknowledged. The addresses it listens on are kept beside the
 * identity (`listen.json`), so without `listen` it comes back on the same ports and every
 * address and join code given out before still reaches it. The data directory is the owner's
 * only (0700), and the packs are compacted once the relay is up (see `compaction.ts`).
 */
export async function startRelay(opts: StartRelayOptions): Promise<RunningRelay> {
  ownerOnly(opts.dataDir);
  const kv = opts.kv ?? (await LevelStore.open(join(opts.dataDir, 'store')));
  let node: CshareNode | undefined;
  let packs: BlobPacks | undefined;
  const relayLog = opts.log ?? RelayLog.silent();
  const disk = new DiskGuard({ dir: opts.dataDir, minFreeBytes: opts.minFreeBytes ?? 0, log: relayLog });
  try {
    // Beside a store on disk only: a store given by the caller keeps blobs in itself.
    packs = opts.kv ? undefined : BlobPacks.open(join(opts.dataDir, 'packs'), opts.packBytes);
    ownerOnly(opts.dataDir);
    await disk.start();
    const { privateKey } = await loadOrCreateIdentity({ dataDir: opts.dataDir, signal: opts.signal });
    const plan = await planListen({ dataDir: opts.dataDir, requested: opts.listen, defaults: opts.defaultListen ?? DEFAULT_RELAY_LISTEN });
    node = await createCshareNode({ listen: plan.listen, privateKey, relayClient: false, signal: opts.signal });
    if (plan.store) await storeListen(opts.dataDir, plan.store);
    const store = new RelayStore(kv, opts.limits, packs);
    const service = new RelayService({ ...opts.service, store, relayId: node.peerId, log: relayLog, checkDisk: () => disk.check() });
    const compactor = packs ? new Compactor({ kv, packs, uploads: store.uploads, afterBytes: opts.compactAfterBytes, throttleMs: opts.compactThrottleMs, log: relayLog }) : undefined;
    await node.listen((channel, remote) => void service.serve(channel, { id: remote.peerId }));
    const running = node;
    log('relay %s on %o', node.peerId, node.addresses());
    // In the background: what a killed relay or its aborted uploads left in the packs.
    void compactor?.compact();
    return {
      node,
      service,
      compactor,
      addresses: node.addresses(),
      peerId: node.peerId,
      moved: plan.moved,
      connectLocal(id: string) {
        const [a, b] = MemoryTransport.pair();
        service.serve(b, { id });
        return cshareConnection(a, { peer: 'relay (in-process)' });
      },
      async close() {
        disk.stop();
        service.close();
        await running.stop();
        // A compaction running is cut short: safe at any point (see compaction.ts).
        await compactor?.stop();
        await kv.close();
        packs?.close();
      },
    };
  } catch (err) {
    disk.stop();
    await node?.stop();
    await kv.close();
    packs?.close();
    throw err;
  }
}

/**
 * Makes the data directory, its `store/` and `packs/` the owner's only (0700) and its key
 * 0600: they hold every shared worktree's content. Nothing else in the directory is touched
 * (it may be one with other files in it). Files created later by this process follow its
 * umask, which `cshare relay` sets to 077; older files are unreachable through their
 * directories.
 */
function ownerOnly(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  for (const sub of ['store', 'packs']) if (existsSync(join(dir, sub))) chmodSync(join(dir, sub), 0o700);
  if (existsSync(join(dir, IDENTITY_FILE))) chmodSync(join(dir, IDENTITY_FILE), 0o600);
}
