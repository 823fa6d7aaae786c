import { gitBlobId } from '../../core/digest.js';
import { CshareError } from '../../core/errors.js';
import type { BlobUpload, BlobWanted, ClientHello, LiveEvents, OfferAnswer, RelayClient } from '../client/RelayClient.js';
import { ConnectionClosedError } from '../rpc/ConnectionClosedError.js';
import type { HelloResponse, HistoryEntry, ManifestEntry, PresenceState, SyncItem, WorktreeEvent } from '../schema.js';
import type { MemoryRelay, RelayPeer } from './MemoryRelay.js';

/** Options of a {@link MemoryRelayClient}. */
export interface MemoryRelayClientOptions {
  relay: MemoryRelay;
  worktreeId: string;
  /** The peer this connection comes from ('peer'): a writer's replica id belongs to one peer. */
  peer?: string;
  /** Cancels every call made through this client, as `RpcRelayClient`'s does. */
  signal?: AbortSignal;
}

/**
 * The in-memory twin of `RpcRelayClient`: one connection to a {@link MemoryRelay}, with the
 * relay's rules (nothing before `hello`, writes only with the read-write secret, a refused
 * `hello` closes the connection) and a connection's (closing rejects every pending call with
 * `CONNECTION_CLOSED`; what crosses it is copied, as bytes on a wire would be).
 */
export class MemoryRelayClient implements RelayClient, RelayPeer {
  readonly worktreeId: string;
  readonly peer: string;
  replicaId = '';
  stored = 0;
  private access: 'rw' | 'ro' | undefined;
  private closedError: Error | undefined;
  private readonly relay: MemoryRelay;
  private readonly signal: AbortSignal | undefined;
  private readonly pending = new Set<(err: Error) => void>();
  private readonly feeds = new Set<EventFeed>();

  constructor(opts: MemoryRelayClientOptions) {
    this.relay = opts.relay;
    this.worktreeId = opts.worktreeId;
    this.peer = opts.peer ?? 'peer';
    this.signal = opts.signal;
  }

  get following(): boolean {
    return this.feeds.size > 0;
  }

  deliver(event: WorktreeEvent): void {
    for (const f of this.feeds) f.push(event);
  }

  hello(req: ClientHello): Promise<HelloResponse> {
    return this.call(async () => {
      if (this.access) throw new CshareError('PROTOCOL', 'hello was already said on this connection');
      const { response, access } = this.refusalCloses(() => this.relay.hello(this, req));
      this.access = access;
      this.replicaId = req.replicaId;
      return response;
    });
  }

  worktreeName(secret: Uint8Array): Promise<string> {
    return this.call(async () => this.refusalCloses(() => this.relay.worktreeName(this.worktreeId, secret)));
  }

  async *offer(entries: readonly ManifestEntry[]): AsyncIterable<OfferAnswer> {
    const need = await this.call(async () => this.authorized(true, () => this.relay.needs(this, entries)));
    yield { entries, need };
  }

  uploadManifest(updates: readonly Uint8Array[]): Promise<void> {
    return this.call(async () => this.authorized(true, () => this.storing(() => this.relay.appendManifest(this, updates))));
  }

  uploadFileUpdates(fileId: string, updates: readonly Uint8Array[]): Promise<void> {
    return this.call(async () => this.authorized(true, () => this.storing(() => this.relay.appendFile(this, fileId, updates))));
  }

  uploadBlob(blob: BlobUpload): Promise<void> {
    return this.call(async () =>
      this.authorized(true, () => {
        const actual = gitBlobId(blob.bytes);
        if (actual !== blob.digest) throw new CshareError('PROTOCOL', `blob content does not match its digest: announced ${blob.digest}, content hashes to ${actual}`, { digest: blob.digest });
        this.storing(() => this.relay.putBlob(this, blob.digest, blob.bytes));
      }),
    );
  }

  uploadHistory(entries: AsyncIterable<HistoryEntry> | Iterable<HistoryEntry>): Promise<number> {
    return this.call(async () => {
      const all: HistoryEntry[] = [];
      for await (const e of entries) all.push(e);
      return all.length === 0 ? 0 : this.authorized(true, () => this.storing(() => this.relay.appendHistory(this, all)));
    });
  }

  /** Runs a store of this client's upload; the relay's head is then its seq (the relay is synchronous). */
  private storing<T>(store: () => T): T {
    const out = store();
    this.stored = Math.max(this.stored, this.relay.head(this.worktreeId));
    return out;
  }

  async *catchUp(after: number): AsyncIterable<SyncItem> {
    const items = await this.call(async () => this.authorized(false, () => this.relay.catchUp(this, after)));
    for (const item of items) {
      this.checkOpen();
      yield item;
    }
  }

  fetchBlob(digest: string): Promise<Uint8Array> {
    return this.call(async () => {
      const stored = this.authorized(false, () => this.relay.blob(this, digest));
      if (stored) return stored;
      await this.relay.awaitOffered(this, digest);
      return this.relay.blob(this, digest)!;
    });
  }

  fetchBlobs(blobs: readonly BlobWanted[]): Promise<Map<string, Uint8Array>> {
    return this.call(async () =>
      this.authorized(false, () => {
        const out = new Map<string, Uint8Array>();
        for (const { digest } of blobs) {
          const bytes = this.relay.blob(this, digest);
          if (bytes) out.set(digest, bytes);
        }
        return out;
      }),
    );
  }

  subscribe(opts: { queueSize?: number } = {}): LiveEvents {
    const feed = new EventFeed(opts.queueSize ?? 256, () => this.feeds.delete(feed));
    const refusal = this.closedError ?? (this.signal?.aborted ? this.signal.reason : undefined) ?? (this.access ? undefined : new CshareError('UNAUTHORIZED', 'say hello with a join code first'));
    if (refusal) feed.fail(refusal);
    else {
      this.feeds.add(feed);
      feed.accept();
      for (const e of this.relay.present(this)) feed.push(e);
    }
    return feed;
  }

  sendPresence(state: PresenceState | null): Promise<void> {
    return this.call(async () => this.authorized(false, () => this.relay.presence(this, state)));
  }

  close(reason?: Error): void {
    if (this.closedError) return;
    const err = new ConnectionClosedError('relay', reason);
    this.closedError = err;
    for (const reject of this.pending) reject(err);
    this.pending.clear();
    for (const f of this.feeds) f.fail(err);
    this.feeds.clear();
    this.relay.detach(this);
  }

  /** Runs `fn` as a pending call: closing the connection (or the signal) rejects it. */
  private call<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.checkOpen();
      this.signal?.throwIfAborted();
      const onAbort = (): void => reject(this.signal!.reason);
      this.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.add(reject);
      // A turn of the event loop, as a reply over a wire takes.
      setImmediate(() => {
        if (this.closedError) {
          this.signal?.removeEventListener('abort', onAbort);
          return;
        }
        fn()
          .then(resolve, reject)
          .finally(() => {
            this.pending.delete(reject);
            this.signal?.removeEventListener('abort', onAbort);
          });
      });
    });
  }

  private checkOpen(): void {
    if (this.closedError) throw this.closedError;
  }

  /** Runs `fn` if `hello` allowed it: `UNAUTHORIZED` before, `FORBIDDEN` for a write with a read-only code. */
  private authorized<T>(write: boolean, fn: () => T): T {
    if (!this.access) throw new CshareError('UNAUTHORIZED', 'say hello with a join code first');
    if (write && this.access !== 'rw') throw new CshareError('FORBIDDEN', 'this join code is read-only: it cannot change the worktree');
    return fn();
  }

  /** As the relay: a refused `hello` or `worktree/info` closes the connection once refused. */
  private refusalCloses<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      setImmediate(() => this.close());
      throw err;
    }
  }
}

/**
 * One live feed: events queued until read, at most `capacity` (past it the feed fails with
 * `OVERLOADED`, as a subscription whose reader fell behind); after `fail` it drains what is
 * queued, then throws.
 */
class EventFeed implements LiveEvents {
  readonly ready: Promise<void>;
  private readonly queue: WorktreeEvent[] = [];
  private ended = false;
  private error: unknown;
  private wake: (() => void) | undefined;
  private settle!: { accept: () => void; refuse: (err: unknown) => void };

  constructor(
    private readonly capacity: number,
    private readonly onEnd: () => void,
  ) {
    this.ready = new Promise<void>((accept, refuse) => (this.settle = { accept, refuse }));
    // The refusal also surfaces through the iteration, so `ready` need not be awaited.
    this.ready.catch(() => undefined);
  }

  accept(): void {
    this.settle.accept();
  }

  push(event: WorktreeEvent): void {
    if (this.ended) return;
    if (this.queue.length >= this.capacity) {
      this.fail(new CshareError('OVERLOADED', `the subscription fell more than ${this.capacity} items behind`));
      return;
    }
    this.queue.push(event);
    this.wakeUp();
  }

  fail(err: unknown): void {
    if (this.ended) return;
    this.error = err;
    this.settle.refuse(err);
    this.finish();
  }

  unsubscribe(): void {
    if (this.ended) return;
    this.settle.refuse(new CshareError('INTERNAL', 'unsubscribed before the relay accepted'));
    this.finish();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WorktreeEvent> {
    try {
      for (;;) {
        const next = this.queue.shift();
        if (next !== undefined) yield next;
        else if (this.ended) break;
        else await new Promise<void>((resolve) => (this.wake = resolve));
      }
      if (this.error !== undefined) throw this.error;
    } finally {
      this.unsubscribe();
    }
  }

  private finish(): void {
    this.ended = true;
    this.onEnd();
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
