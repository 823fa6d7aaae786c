import * as Y from 'yjs';
import { CshareError } from '../../core/errors.js';
import { historyBytes } from '../historyUpload.js';
import { hashSecret } from '../joinCode.js';
import type { HelloResponse, HistoryEntry, ManifestEntry, PresenceState, SyncItem, WorktreeEvent } from '../schema.js';
import type { ClientHello } from '../client/RelayClient.js';

/** Options of a {@link MemoryRelay}. */
export interface MemoryRelayOptions {
  /** Name given in `hello` answers. */
  relayId?: string;
  /** How long a fetch waits for the peer that offered a blob to upload it (30 s, as the relay). */
  needTimeoutMs?: number;
}

/** A connection as the relay sees it (a `MemoryRelayClient`). */
export interface RelayPeer {
  readonly worktreeId: string;
  /** The peer it comes from (one peer may hold several connections). */
  readonly peer: string;
  /** The replica its `hello` bound (empty before). */
  readonly replicaId: string;
  /** True while it has a live feed open (only such a connection is asked for a blob). */
  readonly following: boolean;
  /** Takes one event for its live feeds. */
  deliver(event: WorktreeEvent): void;
}

/** A logged change: a catch-up item other than `head`. */
type Logged = Exclude<SyncItem, { type: 'head' }>;

/** One worktree of a {@link MemoryRelay}. */
interface Worktree {
  name: string;
  readWriteHash: Uint8Array;
  readOnlyHash: Uint8Array;
  log: Logged[];
  blobs: Map<string, Uint8Array>;
  /** Each text file's logged updates (for offers with a state vector). */
  fileUpdates: Map<string, Uint8Array[]>;
  /** A writer's replica id -> the peer that first used it. */
  owners: Map<string, string>;
  /** Connections bound to it by `hello`, with who they said they are. */
  clients: Map<RelayPeer, { replicaId: string; name: string; role: ClientHello['role']; readOnly?: true }>;
  /** Each connection's latest presence event (in memory, as the relay's: never logged). */
  presence: Map<RelayPeer, WorktreeEvent>;
  /** Blobs offered and not stored yet -> the connections that offered them. */
  offers: Map<string, Set<RelayPeer>>;
  /** Fetches waiting for an offered blob. */
  waiting: Map<string, Set<{ resolve: () => void; reject: (err: Error) => void }>>;
}

/** The refusal of an unknown worktree and of a wrong secret: the same words, as the relay's. */
const NO_SUCH_WORKTREE = 'this relay has no worktree with that join code: check the code (ask its sharer for a new one) and the relay address';

/**
 * The in-memory twin of a relay as a {@link RelayClient} sees it: worktrees registered with the
 * hashes of their secrets (connect with `new MemoryRelayClient({ relay, worktreeId })`), each with its log under relay seqs, its blobs, its live events to
 * the other connections, and upload priority (`need`). No RPC, no frames, no store: for tests
 * of what sits above `RelayClient` (and for the encryption that will wrap it), held to the
 * real relay's behaviour by `test/sync/relayClientContract.ts`.
 *
 * Not modelled: the relay's limits and pacing (presence's rate too), quotas, compaction, admission; an offer's entry
 * with a state vector is needed unless the file's logged updates cover it (as the relay).
 */
export class MemoryRelay {
  readonly relayId: string;
  readonly needTimeoutMs: number;
  private readonly worktrees = new Map<string, Worktree>();

  constructor(opts: MemoryRelayOptions = {}) {
    this.relayId = opts.relayId ?? 'memory-relay';
    this.needTimeoutMs = opts.needTimeoutMs ?? 30_000;
  }

  /** The relay's head of `worktreeId` (0 if unknown). */
  head(worktreeId: string): number {
    return this.worktrees.get(worktreeId)?.log.at(-1)?.seq ?? 0;
  }

  // -------------------------------------------------------------------------------------------
  // For MemoryRelayClient

  /** `hello`: registers (a sharer's first) or checks the secret, and binds `client`. */
  hello(client: RelayPeer, req: ClientHello): { response: HelloResponse; access: 'rw' | 'ro' } {
    const hash = hashSecret(req.secret);
    let wt = this.worktrees.get(client.worktreeId);
    let created = false;
    if (!wt && req.role === 'sharer' && req.register) {
      wt = newWorktree(req.register.name, hash, req.register.readOnlyHash);
      this.worktrees.set(client.worktreeId, wt);
      created = true;
    }
    const access = this.accessOf(wt, hash);
    if (req.role === 'sharer' && access === 'ro') throw new CshareError('FORBIDDEN', 'this join code is read-only: sharing needs the read-write code');
    const owner = access === 'rw' ? (wt!.owners.get(req.replicaId) ?? client.peer) : client.peer;
    if (owner !== client.peer) throw new CshareError('FORBIDDEN', `replica ${req.replicaId} belongs to another peer on this relay`, { replicaId: req.replicaId });
    if (access === 'rw') wt!.owners.set(req.replicaId, owner);
    const who = { replicaId: req.replicaId, name: req.name, role: req.role, ...(access === 'ro' ? { readOnly: true as const } : {}) };
    this.broadcast(client, { type: 'peer-joined', ...who });
    wt!.clients.set(client, who);
    return { response: { ok: true, relayId: this.relayId, access, seq: this.head(client.worktreeId), created }, access };
  }

  /** `worktree/info`: the registered name, to a holder of either secret. */
  worktreeName(worktreeId: string, secret: Uint8Array): string {
    const wt = this.worktrees.get(worktreeId);
    this.accessOf(wt, hashSecret(secret));
    return wt!.name;
  }

  /**
   * Who is here already (but `client`), then where they are: what a new live feed starts
   * with, as the relay's.
   */
  present(client: RelayPeer): WorktreeEvent[] {
    const out: WorktreeEvent[] = [];
    const wt = this.worktrees.get(client.worktreeId);
    for (const [c, who] of wt?.clients ?? []) if (c !== client) out.push({ type: 'peer-joined', ...who });
    for (const [c, event] of wt?.presence ?? []) if (c !== client) out.push(structuredClone(event));
    return out;
  }

  /** `presence`: kept as `client`'s latest (never logged) and sent to the others. Not rate-limited here. */
  presence(client: RelayPeer, state: PresenceState | null): void {
    const wt = this.worktree(client);
    const event: WorktreeEvent = { type: 'presence', replicaId: client.replicaId, ...(state ? { state: structuredClone(state) } : {}) };
    wt.presence.set(client, event);
    this.broadcast(client, event);
  }

  /** The file ids of `entries` the relay wants; offered blobs it lacks are remembered as `client`'s. */
  needs(client: RelayPeer, entries: readonly ManifestEntry[]): string[] {
    const wt = this.worktree(client);
    const need: string[] = [];
    for (const e of entries) {
      if (e.vector ? !covers(wt.fileUpdates.get(e.fileId), e.vector) : !wt.blobs.has(e.digest)) need.push(e.fileId);
      if (!e.vector && !wt.blobs.has(e.digest)) setOf(wt.offers, e.digest).add(client);
    }
    return need;
  }

  /** Logs manifest updates, one seq each. */
  appendManifest(client: RelayPeer, updates: readonly Uint8Array[]): void {
    for (const u of updates) this.append(client, { type: 'manifest', update: u.slice(), by: client.replicaId, seq: 0 });
  }

  /** Logs a text file's updates, one seq each. */
  appendFile(client: RelayPeer, fileId: string, updates: readonly Uint8Array[]): void {
    const wt = this.worktree(client);
    for (const u of updates) {
      setOf(wt.fileUpdates, fileId, () => []).push(u.slice());
      this.append(client, { type: 'file-update', fileId, update: u.slice(), by: client.replicaId, seq: 0 });
    }
  }

  /** Stores a verified blob under one seq (nothing if it is there already); its waiters go on. */
  putBlob(client: RelayPeer, digest: string, bytes: Uint8Array): void {
    const wt = this.worktree(client);
    if (wt.blobs.has(digest)) return;
    wt.blobs.set(digest, bytes.slice());
    this.append(client, { type: 'blob', digest, size: bytes.byteLength, by: client.replicaId, seq: 0 });
    wt.offers.delete(digest);
    for (const w of wt.waiting.get(digest) ?? []) w.resolve();
  }

  /** Logs history entries under one seq; resolves with about their bytes. */
  appendHistory(client: RelayPeer, entries: readonly HistoryEntry[]): number {
    this.append(client, { type: 'history', entries: structuredClone([...entries]), by: client.replicaId, seq: 0 });
    return historyBytes(entries);
  }

  /** What was logged after `after`, then the head. */
  catchUp(client: RelayPeer, after: number): SyncItem[] {
    const wt = this.worktree(client);
    return [...wt.log.filter((item) => item.seq > after).map((item) => structuredClone(item)), { type: 'head', seq: this.head(client.worktreeId) }];
  }

  /** A stored blob's bytes (a copy), or undefined. */
  blob(client: RelayPeer, digest: string): Uint8Array | undefined {
    return this.worktree(client).blobs.get(digest)?.slice();
  }

  /**
   * Waits until blob `digest` is stored, after asking the connections that offered it (and
   * follow the worktree's events) to upload it next; `NOT_FOUND` at once if none did.
   */
  async awaitOffered(client: RelayPeer, digest: string): Promise<void> {
    const wt = this.worktree(client);
    const offerers = [...(wt.offers.get(digest) ?? [])].filter((c) => c.following);
    if (offerers.length === 0) throw new CshareError('NOT_FOUND', `the relay does not have blob ${digest}, and no connected peer offered it`, { digest });
    let waiter!: { resolve: () => void; reject: (err: Error) => void };
    const arrived = new Promise<void>((resolve, reject) => (waiter = { resolve, reject }));
    const waiters = setOf(wt.waiting, digest);
    waiters.add(waiter);
    const timer = setTimeout(() => waiter.reject(new CshareError('TIMEOUT', `the sharer did not upload blob ${digest} within ${this.needTimeoutMs} ms; try again`, { digest })), this.needTimeoutMs);
    try {
      for (const c of offerers) c.deliver({ type: 'need', digest });
      await arrived;
    } finally {
      clearTimeout(timer);
      waiters.delete(waiter);
      if (waiters.size === 0) wt.waiting.delete(digest);
    }
  }

  /** `client` closed: its offers are forgotten (fetches waiting only on it fail), the others told. */
  detach(client: RelayPeer): void {
    const wt = this.worktrees.get(client.worktreeId);
    if (!wt?.clients.delete(client)) return;
    wt.presence.delete(client);
    for (const [digest, offerers] of wt.offers) {
      if (!offerers.delete(client) || offerers.size > 0) continue;
      wt.offers.delete(digest);
      const err = new CshareError('NOT_FOUND', `the peer that offered ${digest} disconnected before uploading it`);
      for (const w of wt.waiting.get(digest) ?? []) w.reject(err);
    }
    this.broadcast(client, { type: 'peer-left', replicaId: client.replicaId });
  }

  private accessOf(wt: Worktree | undefined, hash: Uint8Array): 'rw' | 'ro' {
    if (wt && sameBytes(hash, wt.readWriteHash)) return 'rw';
    if (wt && sameBytes(hash, wt.readOnlyHash)) return 'ro';
    throw new CshareError('UNAUTHORIZED', NO_SUCH_WORKTREE);
  }

  private worktree(client: RelayPeer): Worktree {
    const wt = this.worktrees.get(client.worktreeId);
    if (!wt) throw new CshareError('UNAUTHORIZED', 'say hello with a join code first');
    return wt;
  }

  /** Logs `item` under the next seq and sends it to the worktree's other connections. */
  private append(client: RelayPeer, item: Logged): void {
    const wt = this.worktree(client);
    item.seq = this.head(client.worktreeId) + 1;
    wt.log.push(item);
    const { seq: _seq, ...rest } = item;
    this.broadcast(client, { ...structuredClone(rest), seq: item.seq } as WorktreeEvent);
  }

  private broadcast(from: RelayPeer, event: WorktreeEvent): void {
    for (const c of this.worktrees.get(from.worktreeId)?.clients.keys() ?? []) if (c !== from) c.deliver(structuredClone(event));
  }
}

function newWorktree(name: string, readWriteHash: Uint8Array, readOnlyHash: Uint8Array): Worktree {
  return { name, readWriteHash, readOnlyHash, log: [], blobs: new Map(), fileUpdates: new Map(), owners: new Map(), clients: new Map(), presence: new Map(), offers: new Map(), waiting: new Map() };
}

/** Do `updates` cover every client clock of the state vector `vector`? */
function covers(updates: Uint8Array[] | undefined, vector: Uint8Array): boolean {
  let offered: Map<number, number>;
  try {
    offered = Y.decodeStateVector(vector);
  } catch (err) {
    throw new CshareError('PROTOCOL', 'an offered state vector does not decode', {}, { cause: err });
  }
  const stored = updates?.length ? Y.decodeStateVector(Y.encodeStateVectorFromUpdate(Y.mergeUpdates(updates))) : new Map<number, number>();
  for (const [id, clock] of offered) if (clock > (stored.get(id) ?? 0)) return false;
  return true;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The value of `key` in `map`, made (an empty set by default) if missing. */
function setOf<K, V = Set<RelayPeer>>(map: Map<K, V>, key: K, make: () => V = () => new Set() as V): V {
  let v = map.get(key);
  if (v === undefined) map.set(key, (v = make()));
  return v;
}
