import { logger } from '../../core/log.js';
import type { KvBatchOp, KvStore } from '../../core/ports.js';
import { decodePackRef, type BlobPacks } from '../../store/fs/BlobPacks.js';
import { asNumber, decodeRecord } from './keys.js';
import type { RelayLog } from './RelayLog.js';
import { FairScheduler, Pacer } from './pace.js';

const log = logger('relay:compaction');

/**
 * Reclaims the pack bytes of blob uploads that never finished (issue 15, item 8: abandoned
 * chunked uploads left 481 MB in the packs after three rounds, for ever). An upload writes
 * its chunks to the packs as they come; if it is aborted (a bad digest, a peer that left)
 * its chunk keys are deleted but their bytes stay, and if the relay dies mid-upload the keys
 * stay too, pointing at bytes no blob record refers to.
 *
 * A compaction finds, per pack, the bytes still referred to (chunks of stored blobs, and of
 * uploads in progress), and for each pack with enough dead bytes: starts a new pack for
 * appends ({@link BlobPacks.seal}), waits for pack writes begun before that, appends its live
 * chunks to the new pack and moves their references (synced batches), deletes the keys of
 * dead chunks, then deletes the pack. It is safe under `kill -9` at any point: a chunk's
 * reference moves only after its copy is durable, and a pack is deleted only once nothing
 * refers to it; what a killed compaction leaves (copies nothing refers to yet, packs not yet
 * deleted) is dead or live bytes the next compaction sorts out. The relay compacts when it
 * starts, and whenever uploads it aborted left {@link CompactorOptions.afterBytes} behind.
 */

/** Uploads in progress and pack writes in flight, as a compaction must know them. */
export class UploadTracker {
  /** Upload ids of blobs being uploaded now (their chunks are live though no record names them). */
  readonly active = new Set<string>();
  /** Pack bytes of uploads dropped since the last compaction. */
  abandonedBytes = 0;
  /** Called when an upload was dropped (a compaction may be due). */
  onAbandoned: (() => void) | undefined;
  private pinned: Set<string> | undefined;
  private readonly writes = new Set<Promise<unknown>>();

  started(upload: string): void {
    this.active.add(upload);
    this.pinned?.add(upload);
  }

  /** The upload ended: stored, or dropped after writing `abandoned` bytes to the packs. */
  ended(upload: string, abandoned: number): void {
    this.active.delete(upload);
    if (abandoned <= 0) return;
    this.abandonedBytes += abandoned;
    this.onAbandoned?.();
  }

  /**
   * Runs `write` (an append to the packs and the store write that refers to it) as one pack
   * write: `fn` must append before its first await, so a seal either precedes the append or
   * sees the write in flight.
   */
  async packWrite<T>(write: () => Promise<T>): Promise<T> {
    const p = write();
    this.writes.add(p);
    try {
      return await p;
    } finally {
      this.writes.delete(p);
    }
  }

  /** From now until {@link unpin}: every upload active now or started later counts as live. */
  pin(): Set<string> {
    this.pinned = new Set(this.active);
    return this.pinned;
  }

  unpin(): void {
    this.pinned = undefined;
  }

  /** Resolves once every pack write in flight now has ended. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.writes]);
  }
}

/** Options of a {@link Compactor}. */
export interface CompactorOptions {
  kv: KvStore;
  packs: BlobPacks;
  uploads: UploadTracker;
  /** Compact once dropped uploads left this many bytes (64 MiB). */
  afterBytes?: number;
  log?: RelayLog;
  /** Long work takes turns with the relay's peers (see `pace.ts`). */
  scheduler?: FairScheduler;
  /** Waits this long after each live chunk it copies, to spare the disk (0; tests use it to stop one midway). */
  throttleMs?: number;
}

/** What one compaction did. */
export interface Compaction {
  /** Packs deleted. */
  packs: number;
  /** Bytes of packs deleted, less the live bytes copied out of them. */
  reclaimed: number;
  /** Live bytes copied to the new pack. */
  moved: number;
  ms: number;
}

/** A chunk reference found in the store. */
interface Chunk {
  key: string;
  upload: string;
  pack: number;
  length: number;
  ref: Uint8Array;
}

/** Batches of moved references are written at most this big. */
const BATCH_CHUNKS = 64;

/** Thrown inside a compaction cut short by {@link Compactor.stop}. */
const STOPPED = new Error('compaction stopped');

/** Runs compactions, one at a time; see the file comment. */
export class Compactor {
  private running: Promise<Compaction> | undefined;
  private stopped = false;
  private readonly pacer: Pacer;
  /** Set after each compaction (for tests and logs). */
  last: Compaction | undefined;

  constructor(private readonly opts: CompactorOptions) {
    this.pacer = new Pacer({ scheduler: opts.scheduler ?? new FairScheduler(), lane: this });
    opts.uploads.onAbandoned = () => {
      if (opts.uploads.abandonedBytes >= (opts.afterBytes ?? 64 * 1024 * 1024)) void this.compact();
    };
  }

  /** Starts a compaction, or returns the one running. Failures are logged, never thrown. */
  compact(): Promise<Compaction | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running.catch((err: unknown) => {
      if (err !== STOPPED) this.opts.log?.log({ event: 'error', what: 'compacting the blob packs', message: String((err as Error)?.message ?? err) });
      return undefined;
    });
  }

  /** Stops the running compaction at its next step (and any later one); resolves once it has. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running?.catch(() => undefined);
  }

  private async run(): Promise<Compaction> {
    const t0 = Date.now();
    const { packs, uploads } = this.opts;
    uploads.abandonedBytes = 0;
    // What each pack still holds alive, as things stand (the current pack included).
    const live = new Map<number, number>();
    await this.scan(uploads.active, (c, alive) => {
      if (alive) live.set(c.pack, (live.get(c.pack) ?? 0) + c.length);
    });
    const candidates = packs.list().filter(({ pack, bytes }) => {
      const dead = bytes - (live.get(pack) ?? 0);
      return bytes > 0 && (dead >= bytes * 0.2 || dead >= 64 * 1024 * 1024);
    });
    if (candidates.length === 0) {
      this.last = { packs: 0, reclaimed: 0, moved: 0, ms: Date.now() - t0 };
      this.opts.log?.log({ event: 'compacted', ...this.last });
      return this.last;
    }
    const garbage = candidates.reduce((n, c) => n + c.bytes - (live.get(c.pack) ?? 0), 0);
    this.opts.log?.log({ event: 'compacting', packs: candidates.length, garbage });
    // From here no pack of the candidates is appended to, and what was being appended is in.
    const current = packs.seal();
    const pinned = uploads.pin();
    try {
      await uploads.settled();
      const doomed = new Set(candidates.filter((c) => c.pack < current).map((c) => c.pack));
      let moved = 0;
      let ops: KvBatchOp[] = [];
      const flush = async () => {
        if (ops.length > 0) await this.opts.kv.batch(ops);
        ops = [];
      };
      await this.scan(pinned, async (c, alive) => {
        if (!doomed.has(c.pack)) return;
        if (!alive) ops.push({ type: 'del', key: c.key });
        else {
          // The copy is durable (append fsyncs) before the reference to it is written.
          const bytes = await packs.read(c.ref);
          const [ref] = await packs.append([bytes]);
          ops.push({ type: 'put', key: c.key, value: ref! });
          moved += c.length;
          if (this.opts.throttleMs) await new Promise((r) => setTimeout(r, this.opts.throttleMs));
        }
        if (ops.length >= BATCH_CHUNKS) await flush();
      });
      await flush();
      let reclaimed = 0;
      for (const c of candidates) {
        if (!doomed.has(c.pack)) continue;
        packs.remove(c.pack);
        reclaimed += c.bytes;
        log('removed pack %d (%d bytes)', c.pack, c.bytes);
      }
      const done = { packs: doomed.size, reclaimed: reclaimed - moved, moved, ms: Date.now() - t0 };
      this.opts.log?.log({ event: 'compacted', ...done });
      return (this.last = done);
    } finally {
      uploads.unpin();
    }
  }

  /**
   * Calls `visit` for every packed chunk of every worktree, with whether it is alive: its
   * upload is a stored blob's, or one of `active`'s (read as it is at the time of the call).
   */
  private async scan(active: Set<string>, visit: (c: Chunk, alive: boolean) => void | Promise<void>): Promise<void> {
    const { kv } = this.opts;
    for await (const wt of worktrees(kv)) {
      const stored = new Set<string>();
      for await (const [, raw] of kv.iterate({ gt: `wt/${wt}/b/`, lt: `wt/${wt}/b/~` })) {
        const r = decodeRecord(raw);
        if (r.p === 1) stored.add(String(r.upload));
        asNumber(r.size);
        if (this.pacer.due()) await this.pacer.step();
      }
      const prefix = `wt/${wt}/bq/`;
      for await (const [key, ref] of kv.iterate({ gt: prefix, lt: `${prefix}~` })) {
        const upload = key.slice(prefix.length, key.indexOf('/', prefix.length));
        const { pack, length } = decodePackRef(ref);
        await visit({ key, upload, pack, length, ref }, stored.has(upload) || active.has(upload));
        if (this.pacer.due()) await this.pacer.step();
        if (this.stopped) throw STOPPED;
      }
    }
  }
}

/** Every worktree id in the store, in key order (one seek per worktree). */
async function* worktrees(kv: KvStore): AsyncIterable<string> {
  let from = 'wt/';
  for (;;) {
    let next: string | undefined;
    for await (const key of kv.keys({ gt: from, lt: 'wt0', limit: 1 })) next = key;
    if (next === undefined) return;
    const id = next.slice(3, next.indexOf('/', 3));
    yield id;
    from = `wt/${id}/~`;
  }
}
