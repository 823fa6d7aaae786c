import * as Y from 'yjs';
import type { BlobPackStore, KvStore } from '../../../src/core/ports.js';
import { ManifestDoc, type ManifestEntry } from '../../../src/core/ManifestDoc.js';
import { MemoryStore } from '../../../src/store/memory/MemoryStore.js';
import { hashSecret, newShareSecrets, worktreeIdToString, type ShareSecrets } from '../../../src/sync/joinCode.js';
import { MemoryTransport } from '../../../src/sync/memory/MemoryTransport.js';
import { RelayService, type RelayServiceOptions } from '../../../src/sync/relay/RelayService.js';
import { MemoryRelayStorage } from '../../../src/sync/relay/MemoryRelayStorage.js';
import type { RelayLimits, RelayStorage } from '../../../src/sync/relay/RelayStorage.js';
import { RelayStore } from '../../../src/sync/relay/RelayStore.js';
import { type RpcOptions } from '../../../src/sync/rpc/RpcConnection.js';
import { PROTOCOL_VERSION, type CshareProtocol, type HelloResponse, type Role, type SyncItem, type WorktreeEvent } from '../../../src/sync/schema.js';
import { cshareConnection, type CshareConnection } from '../../../src/sync/connection.js';

/** Which `RelayStorage` a harness's relay keeps its worktrees in. */
export type HarnessStorage = 'store' | 'memory';

/** Both: a test of the service runs on each with `describe.each(STORAGES)`. */
export const STORAGES: [string, HarnessStorage][] = [
  ['RelayStore', 'store'],
  ['MemoryRelayStorage', 'memory'],
];

/**
 * A relay over a KvStore (`RelayStore`, the default) or in memory (`MemoryRelayStorage`), and
 * clients connected to it through memory pairs.
 */
export class RelayHarness {
  readonly store: RelayStorage;
  readonly service: RelayService;
  readonly secrets: ShareSecrets;
  readonly worktreeId: string;
  private readonly conns: CshareConnection[] = [];

  constructor(
    readonly kv: KvStore = new MemoryStore(),
    opts: {
      limits?: Partial<RelayLimits>;
      service?: Omit<RelayServiceOptions, 'store'>;
      server?: Partial<RpcOptions<CshareProtocol>>;
      secrets?: ShareSecrets;
      packs?: BlobPackStore;
      /** `memory`: a `MemoryRelayStorage` (`kv` and `packs` unused). */
      storage?: HarnessStorage;
    } = {},
  ) {
    this.secrets = opts.secrets ?? newShareSecrets();
    this.worktreeId = worktreeIdToString(this.secrets.worktreeId);
    this.store = opts.storage === 'memory' ? new MemoryRelayStorage(opts.limits) : new RelayStore(kv, opts.limits, opts.packs);
    this.service = new RelayService({ store: this.store, relayId: 'relay-test', ...opts.service, sessions: { maxPerPeer: 1000, ...opts.service?.sessions } });
    this.serverOpts = opts.server ?? {};
  }
  private readonly serverOpts: Partial<RpcOptions<CshareProtocol>>;

  /**
   * A new client connection (no hello yet), from peer `id`: by default the same one for
   * every connection (the relay binds a replica id to the peer that first uses it, and
   * tests reconnect with the same replica ids), which may hold many connections here.
   */
  connect(id = 'peer'): CshareConnection {
    const [a, b] = MemoryTransport.pair();
    const server = cshareConnection(b, { peer: id, ...this.serverOpts });
    this.service.attach(server, { id });
    const client = cshareConnection(a, { peer: 'relay', requestTimeoutMs: 5000 });
    this.conns.push(client, server);
    return client;
  }

  /** Connects as the sharer (registering the worktree on first use). */
  async sharer(replicaId = 'alice'): Promise<CshareConnection> {
    const c = this.connect();
    await this.shareHello(c, replicaId);
    return c;
  }

  shareHello(c: CshareConnection, replicaId = 'alice', secret = this.secrets.readWrite): Promise<HelloResponse> {
    return c.request('hello', {
      protocol: PROTOCOL_VERSION,
      worktreeId: this.worktreeId,
      secretProof: secret,
      replicaId,
      name: replicaId,
      role: 'sharer',
      register: { readOnlyHash: hashSecret(this.secrets.readOnly), name: 'app' },
    });
  }

  /** Connects as a joiner with the read-write (default) or read-only secret. */
  async joiner(replicaId: string, access: 'rw' | 'ro' = 'rw'): Promise<CshareConnection> {
    const c = this.connect();
    await this.joinHello(c, replicaId, access === 'rw' ? this.secrets.readWrite : this.secrets.readOnly);
    return c;
  }

  joinHello(c: CshareConnection, replicaId: string, secret: Uint8Array, role: Role = 'joiner', worktreeId = this.worktreeId): Promise<HelloResponse> {
    return c.request('hello', { protocol: PROTOCOL_VERSION, worktreeId, secretProof: secret, replicaId, name: replicaId, role });
  }

  /** The store as the LevelDB backend, for a test of its key layout. */
  get relayStore(): RelayStore {
    if (!(this.store instanceof RelayStore)) throw new Error('this harness keeps its worktrees in memory, not in a RelayStore');
    return this.store;
  }

  close(): void {
    for (const c of this.conns.splice(0)) c.close();
  }
}

/** Resolves with the rejection of `p` (fails if it resolves). */
export async function rejection(p: Promise<unknown> | (() => Promise<unknown>)): Promise<Error & { code?: string }> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Collects events of a subscription into an array as they arrive. */
export function recorder(c: CshareConnection, resource: string): { events: WorktreeEvent[]; ready: Promise<void>; done: Promise<unknown>; stop: () => void } {
  const sub = c.subscribe(resource);
  const events: WorktreeEvent[] = [];
  const done = (async () => {
    for await (const e of sub) events.push(e);
  })().catch((err: unknown) => err);
  return { events, ready: sub.ready, done, stop: () => sub.unsubscribe() };
}

/** A Yjs text update (a new doc with `text`, as client `clientId`). */
export function textUpdate(text: string, clientId = 1): Uint8Array {
  const doc = new Y.Doc();
  doc.clientID = clientId;
  doc.getText('t').insert(0, text);
  return Y.encodeStateAsUpdate(doc);
}

/** A manifest update setting `entries` (fileId -> path). */
export function manifestUpdate(paths: Record<string, string>, clientId = 7): Uint8Array {
  const m = ManifestDoc.create(clientId);
  const u = m.change((set) => {
    for (const [fileId, path] of Object.entries(paths)) set(fileId, entry(path));
  });
  return u!;
}

export function entry(path: string): ManifestEntry {
  return { path, kind: 'text', mode: 0o100644, digest: 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391', size: 0, base: 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391', lamport: 1, by: 'alice' };
}

/** What the relay logged for a worktree after `after`, item by item, read from `worktree/sync-pages`. */
export async function* loggedItems(c: CshareConnection, req: { worktreeId: string; after: number }): AsyncIterable<SyncItem> {
  for await (const page of c.requestStream('worktree/sync-pages', req)) yield* page.items;
}
