import { counted } from '../../core/display.js';
import type { ChangeSet } from '../../core/exchange.js';
import type { RecordedChange } from '../../core/history.js';
import { logger } from '../../core/log.js';
import { pooled } from '../pooled.js';
import { slices } from '../slices.js';
import type { SessionContext } from './context.js';

const log = logger('session');

/**
 * Blobs applied (written to disk) together in a catch-up: at most this many, or bytes. Each
 * batch is one LevelDB write, which LevelDB copies natively (batch, memtable): a 30,000-file
 * join peaked at 531 MB RSS with 8 MB batches, 446 MB with 2 MB ones, in about the same time.
 */
const APPLY_BATCH_FILES = 250;
const APPLY_BATCH_BYTES = 2 * 1024 * 1024;
/** Blobs fetched one by one at once (content nobody logged yet). */
const FETCH_ONE_WINDOW = 64;

/** What a catch-up knows of a blob it wants: its size, and who uploaded it (credited). */
export interface WantedBlob {
  size: number;
  by: string;
}

/** Options of {@link fetchAndApply}. */
export interface FetchAndApplyOptions {
  digests: string[];
  info: (digest: string) => WantedBlob;
  /** Collects what the applies changed. */
  applied: RecordedChange[];
  /** A blob the relay does not have. */
  onMissing: (digest: string) => void;
  /** A batch was written (its digests). */
  onBatch?: (digests: string[]) => void;
}

/**
 * Fetches `digests` in batches and applies each batch as it arrives, while the next one is
 * fetched. Blobs the relay does not have are passed to `onMissing` (the caller fetches what
 * files still need one by one: {@link fetchMissingContent}).
 */
export async function fetchAndApply(ctx: SessionContext, opts: FetchAndApplyOptions): Promise<void> {
  const { info, applied } = opts;
  // Batches close at a count or a size, and at a change of uploader (the history credits it).
  const batches = slices(opts.digests, APPLY_BATCH_FILES, APPLY_BATCH_BYTES, (d) => info(d).size, (first, d) => info(first).by !== info(d).by);
  const fetch = (batch: string[]) => ctx.client.fetchBlobs(batch.map((digest) => ({ digest, size: info(digest).size })));
  let next = batches.length > 0 ? fetch(batches[0]!) : undefined;
  for (let i = 0; i < batches.length; i++) {
    const got = await next!;
    next = i + 1 < batches.length ? fetch(batches[i + 1]!) : undefined;
    // A failed prefetch is reported when awaited, not as an unhandled rejection meanwhile.
    next?.catch(() => undefined);
    const blobs: ChangeSet['blobs'] = [];
    for (const d of batches[i]!) {
      const b = got.get(d);
      if (b) blobs.push({ digest: d, bytes: b });
      else opts.onMissing(d);
    }
    if (blobs.length > 0) applied.push(...(await ctx.applier.apply({ manifest: [], files: [], blobs }, info(batches[i]![0]!).by)));
    opts.onBatch?.(batches[i]!);
  }
}

/**
 * Content a file needs but nobody logged yet (a sharer still uploading): fetching it makes
 * the relay ask the sharer for it next. What is still not there is said once, as an error
 * event; the rest is applied.
 */
export async function fetchMissingContent(ctx: SessionContext): Promise<RecordedChange[]> {
  const { signal } = ctx;
  const missing = await ctx.replica.missingBlobs();
  if (missing.length === 0) return [];
  const fetched: ChangeSet['blobs'] = [];
  let unavailable = 0;
  await pooled({ items: missing, limit: FETCH_ONE_WINDOW, run: async (digest) => {
    try {
      fetched.push({ digest, bytes: await ctx.client.fetchBlob(digest) });
    } catch (err) {
      if (signal?.aborted) throw err;
      unavailable++;
      log('blob %s unavailable: %s', digest, (err as Error).message);
    }
  } });
  if (unavailable > 0) {
    ctx.emit({ type: 'error', code: 'NOT_FOUND', message: `the content of ${counted(unavailable, 'file')} is not on the relay yet; ${unavailable === 1 ? 'it appears when its' : 'they appear when their'} sharer uploads ${unavailable === 1 ? 'it' : 'them'}` });
  }
  return ctx.applier.apply({ manifest: [], files: [], blobs: fetched }, '');
}
