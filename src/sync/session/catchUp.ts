import type { ChangeSet } from '../../core/exchange.js';
import type { RecordedChange } from '../../core/history.js';
import { logger } from '../../core/log.js';
import { DownloadProgress } from '../progress.js';
import { fetchAndApply, fetchMissingContent, type WantedBlob } from './blobFetch.js';
import type { SessionContext } from './context.js';

const log = logger('session');

/** Consecutive changes of one author, applied together. */
interface ChangeGroup {
  by: string;
  changes: ChangeSet;
}

/** What a catch-up read from the relay's log. */
interface LogRead {
  groups: ChangeGroup[];
  /** Blobs logged, by digest. */
  wanted: Map<string, WantedBlob>;
  /** The last seq the log covered. */
  head: number;
}

/**
 * Catches up from the relay: reads everything logged after the last relay seq seen, applies
 * the changes, then fetches and writes the content they lack, a batch at a time, then the
 * content files still need that nobody logged yet. Remembers the head. Run it through the
 * session's `serial`.
 */
export async function catchUp(ctx: SessionContext): Promise<RecordedChange[]> {
  let read = await readLog(ctx);
  if (read.head < Math.max(ctx.state.relaySeq, ctx.state.stored ?? 0)) read = await relayBehind(ctx, read.head);
  const { groups, wanted } = read;
  // The changes first: files whose content is here are written at once. A text file's
  // logged updates carry its base text, so none of them waits for a blob.
  const applied: RecordedChange[] = [];
  const lacking = await ctx.replica.lackingBlobs([...wanted.keys()]);
  const progress = new DownloadProgress(groups, lacking, (d) => wanted.get(d)!.size, (e) => ctx.emit(e));
  for (const g of groups) {
    applied.push(...(await ctx.applier.apply(g.changes, g.by)));
    progress.applied(g.changes);
  }
  // Then the content, a batch at a time, the next batch fetched while this one is written.
  lacking.sort((x, y) => (wanted.get(x)!.by < wanted.get(y)!.by ? -1 : wanted.get(x)!.by > wanted.get(y)!.by ? 1 : 0));
  let unavailable = 0;
  await fetchAndApply(ctx, {
    digests: lacking,
    info: (d) => wanted.get(d)!,
    applied,
    onMissing: (d) => {
      unavailable++;
      log('blob %s not on the relay', d);
    },
    onBatch: (batch) => progress.applied({ manifest: [], files: [], blobs: [] }, batch),
  });
  log('catch-up: changes applied %d, blobs fetched %d', applied.length, lacking.length - unavailable);
  applied.push(...(await fetchMissingContent(ctx)));
  ctx.applier.scanFromNowOn();
  ctx.state.relaySeq = read.head;
  await ctx.saveState();
  return applied;
}

/**
 * The relay's log ends before what this replica saw there: the relay lost changes (its data
 * restored from an older copy, a disk that lost its last writes). Nothing it acknowledged can
 * be taken as stored any more: the log is read again from its start (what others uploaded
 * since the loss gets seqs this replica may have seen for other items), and a replica that
 * may write uploads its whole state again (`acked` -1: the offer leaves out the content the
 * relay still has). Said once, as a warning.
 */
async function relayBehind(ctx: SessionContext, head: number): Promise<LogRead> {
  const seen = Math.max(ctx.state.relaySeq, ctx.state.stored ?? 0);
  const reupload = ctx.access === 'rw';
  log('relay head %d is before seq %d seen here: reading its log from the start%s', head, seen, reupload ? ', uploading everything again' : '');
  ctx.emit({ type: 'relay-behind', head, seen, reupload });
  ctx.state.relaySeq = 0;
  ctx.state.stored = 0;
  if (reupload) ctx.state.acked = -1;
  await ctx.saveState();
  return readLog(ctx);
}

/**
 * Reads the relay's log after the last seq seen: the changes in groups of one author each,
 * the blobs listed, and the history entries, which are recorded as they come (a late joiner
 * of a big share gets one entry per file): the log is the authors' record, whatever order
 * the changes are applied in.
 */
async function readLog(ctx: SessionContext): Promise<LogRead> {
  const groups: ChangeGroup[] = [];
  const group = (by: string) => {
    let g = groups.at(-1);
    if (!g || g.by !== by) groups.push((g = { by, changes: { manifest: [], files: [], blobs: [] } }));
    return g.changes;
  };
  let head = ctx.state.relaySeq;
  const wanted = new Map<string, WantedBlob>();
  // This replica's own changes come back too (a sharer's first catch-up after its upload
  // lists every one of them): they are in its log already, since a change is stored here
  // before it is uploaded. Applying them changed nothing, after a scan of the whole tree
  // and a decode of each (at 100,000 files, ~130 MB more for the sharer).
  const self = ctx.replica.identity.replicaId;
  let own = 0;
  let histories = 0;
  for await (const item of ctx.client.catchUp(ctx.state.relaySeq)) {
    if (item.type === 'head') head = item.seq;
    else if (item.by === self) own++;
    else if (item.type === 'history') histories += await ctx.replica.recordHistory(item.entries, item.by);
    else if (item.type === 'manifest') group(item.by).manifest.push(item.update);
    else if (item.type === 'file-update') group(item.by).files.push({ fileId: item.fileId, updates: [item.update] });
    else if (item.type === 'blob') wanted.set(item.digest, { size: item.size, by: item.by });
  }
  log('catch-up: change groups %d, blobs listed %d, history entries recorded %d, items of its own skipped %d, head %d', groups.length, wanted.size, histories, own, head);
  return { groups, wanted, head };
}
