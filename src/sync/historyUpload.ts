import { MAX_HISTORY_PER_MESSAGE, MESSAGE_BYTES, type HistoryEntry } from './schema.js';

/** Options of {@link uploadHistory}. */
export interface UploadHistoryOptions {
  /** The log entries to send, read as they go. */
  entries: AsyncIterable<HistoryEntry> | Iterable<HistoryEntry>;
  /** Sends one `history/upload` message's entries (resolves once the relay stored them). */
  send: (batch: HistoryEntry[]) => Promise<void>;
}

/**
 * Uploads the log entries of a replica's own changes (see `core/carriedHistory.ts`), after the
 * changes themselves, so that every other replica's `log` shows them as this one does: its
 * author name and times, its kinds and counts. In messages of at most
 * {@link MAX_HISTORY_PER_MESSAGE} entries and about {@link MESSAGE_BYTES}, read from the store
 * as they go (a first share of 100,000 files has an entry per file). Resolves with the bytes
 * sent (about).
 */
export async function uploadHistory(opts: UploadHistoryOptions): Promise<number> {
  let total = 0;
  let batch: HistoryEntry[] = [];
  let bytes = 0;
  let values = 0;
  const send = async (): Promise<void> => {
    await opts.send(batch);
    total += bytes;
    batch = [];
    bytes = 0;
    values = 0;
  };
  for await (const e of opts.entries) {
    const size = historyBytes([e]);
    const n = historyValues(e);
    if (batch.length > 0 && (batch.length >= MAX_HISTORY_PER_MESSAGE || bytes + size > MESSAGE_BYTES || values + n > HISTORY_VALUES_PER_MESSAGE)) await send();
    batch.push(e);
    bytes += size;
    values += n;
  }
  if (batch.length > 0) await send();
  return total;
}

/**
 * Most decoded values in one `history/upload`'s entries: the relay decodes at most 65,536 in
 * a frame (`RELAY_RPC_OPTIONS`), and a `git checkout` of 3000 files logs 3000 entries with a
 * patch each (~50 values apiece): one message of them was refused as a malformed frame, and
 * the history of the checkout never went up. The rest of the frame is a few values.
 */
export const HISTORY_VALUES_PER_MESSAGE = 60_000;

/**
 * The values the codec decodes for `e` (an upper bound): the entry object and each field,
 * and for each patch op its object and three fields.
 */
export function historyValues(e: HistoryEntry): number {
  return 16 + 4 * (e.patch?.length ?? 0);
}

/**
 * About how many bytes `entries` take in a message (the codec's keys, numbers and strings as
 * UTF-8), for `messageSlices`, the relay's catch-up pages and the bytes a push reports.
 */
export function historyBytes(entries: readonly HistoryEntry[]): number {
  let n = 0;
  for (const e of entries) {
    n += 110 + Buffer.byteLength(e.path) + (e.from === undefined ? 0 : 8 + Buffer.byteLength(e.from)) + Buffer.byteLength(e.author) + (e.patchBlob === undefined ? 0 : 52);
    for (const p of e.patch ?? []) n += 24 + Buffer.byteLength(p.del) + Buffer.byteLength(p.ins);
  }
  return n;
}
