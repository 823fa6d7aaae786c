import { historyBytes } from '../historyUpload.js';
import { SYNC_PAGE_BYTES, SYNC_PAGE_ITEMS, type BlobChunk, type SyncItem, type SyncPage } from '../schema.js';
import { slices } from '../slices.js';
import { authorize } from './auth.js';
import type { RelayContext } from './relayContext.js';
import type { RelayStorage } from './RelayStorage.js';
import type { Session } from './sessions.js';
import { ensureAvailable, type NeedContext } from './uploadPriority.js';
import { type CshareConnection } from '../connection.js';

/**
 * What the relay streams to its peers, to any connection bound to the worktree: its log after
 * a seq (catch-up), and blobs, one or many at a time; a blob not stored yet is asked of the
 * peer that offered it (`uploadPriority.ts`).
 */

/** Blobs read together by `blobs/fetch`, and the biggest read whole (bigger ones stream). */
const READ_GROUP = 64;
const READ_AHEAD_BLOB_BYTES = 64 * 1024;

/** Serves the download streams on `conn` for `session`. */
export function serveDownloads(conn: CshareConnection, session: Session, ctx: RelayContext): void {
  conn.handleStream('worktree/sync-pages', (req, call) => {
    authorize(ctx, session, req.worktreeId, false);
    return syncPages(ctx.store, req.worktreeId, req.after, call.signal);
  });
  conn.handleStream('blob/fetch', (req, call) => {
    authorize(ctx, session, req.worktreeId, false);
    return fetchBlob(ctx, req.worktreeId, req.digest, call.signal);
  });
  conn.handleStream('blobs/fetch', (req, call) => {
    authorize(ctx, session, req.worktreeId, false);
    return fetchBlobs(ctx.store, req.worktreeId, req.digests, call.signal);
  });
}

/** Everything logged after `after`, then the head: the items `syncPages` pages. */
async function* syncItems(store: RelayStorage, worktreeId: string, after: number, signal: AbortSignal): AsyncIterable<SyncItem> {
  const head = await store.head(worktreeId);
  for await (const entry of store.entriesAfter(worktreeId, after, { upTo: head, signal })) yield entry;
  // The real head even if it is below `after`: a client that sees that knows the relay lost
  // or never had what it saw, and syncs from scratch.
  yield { type: 'head', seq: head };
}

/** The items of {@link syncItems}, in pages (see {@link SyncPage}). */
export async function* syncPages(store: RelayStorage, worktreeId: string, after: number, signal: AbortSignal): AsyncIterable<SyncPage> {
  let items: SyncItem[] = [];
  let bytes = 0;
  for await (const item of syncItems(store, worktreeId, after, signal)) {
    const size = 'update' in item ? item.update.byteLength : item.type === 'history' ? historyBytes(item.entries) : 0;
    if (items.length > 0 && (items.length >= SYNC_PAGE_ITEMS || bytes + size > SYNC_PAGE_BYTES)) {
      yield { items };
      items = [];
      bytes = 0;
    }
    items.push(item);
    bytes += size;
  }
  if (items.length > 0) yield { items };
}

/** One blob, chunk by chunk, waiting for its offerer to upload it if it is not stored yet. */
export async function* fetchBlob(ctx: NeedContext, worktreeId: string, digest: string, signal: AbortSignal): AsyncIterable<BlobChunk> {
  if (!(await ctx.store.getBlob(worktreeId, digest))) await ensureAvailable(ctx, worktreeId, digest, signal);
  for await (const chunk of ctx.store.readBlob(worktreeId, digest)) {
    signal.throwIfAborted();
    yield { digest, ...chunk };
  }
}

/**
 * The blobs asked for, in order, skipping those not stored (see `blobs/fetch`). Read
 * {@link READ_GROUP} at a time with two store reads (records, then the bytes of the small
 * ones), the next group while this one is sent; a blob over {@link READ_AHEAD_BLOB_BYTES} is
 * streamed chunk by chunk from the record already read.
 */
export async function* fetchBlobs(store: RelayStorage, worktreeId: string, digests: string[], signal: AbortSignal): AsyncIterable<BlobChunk> {
  const groups = slices([...new Set(digests)], READ_GROUP, Infinity, () => 0);
  const read = (i: number) => {
    if (i >= groups.length) return undefined;
    const p = store.readBlobs(worktreeId, groups[i]!, READ_AHEAD_BLOB_BYTES);
    p.catch(() => undefined); // awaited below; not unhandled if the fetch ends first
    return p;
  };
  let next = read(0);
  for (let g = 0; g < groups.length; g++) {
    signal.throwIfAborted();
    const blobs = await next!;
    next = read(g + 1);
    const group = groups[g]!;
    for (let i = 0; i < group.length; i++) {
      const blob = blobs[i];
      const digest = group[i]!;
      if (blob === undefined) continue;
      if (blob.data !== undefined) {
        yield { digest, size: blob.size, offset: 0, data: blob.data };
        continue;
      }
      for await (const chunk of store.blobChunks(worktreeId, digest, blob)) {
        signal.throwIfAborted();
        yield { digest, size: blob.size, ...chunk };
      }
    }
  }
}
