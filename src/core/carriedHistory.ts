/**
 * History that travels with the changes: each replica uploads the log entries of its own
 * changes (who, when, what kind, which path, how much), and every other replica records them
 * as they are, so `cshare log` shows the same history everywhere (author names and the times
 * the changes were made, not "peer 3f9a1c0d" at the time they arrived), for a late joiner too,
 * who would otherwise see one create per file at its join time.
 *
 * Only what `log` shows travels: not the undo records (a replica undoes only its own changes),
 * and a patch only when it is small (a big one is as large as the change itself, which is
 * already on its way as a Yjs update).
 */
import type { OpEntry, OpKind } from './history.js';
import { ChangeBatch } from './ChangeBatch.js';
import type { ReplicaContext } from './ReplicaContext.js';
import type { TextOp } from './textDiff.js';

/** One change as its author logged it, for other replicas' logs. */
export interface HistoryEntry {
  /** The author's own seq of the change: a replica records each of an author's entries once. */
  seq: number;
  kind: OpKind;
  /** Milliseconds since the epoch, when the change was recorded by its author. */
  time: number;
  author: string;
  fileId: string;
  path: string;
  from?: string;
  inserted: number;
  deleted: number;
  /** The text ops, when at most {@link MAX_CARRIED_PATCH_CHARS} characters in {@link MAX_CARRIED_PATCH_OPS} ops. */
  patch?: TextOp[];
  patchTruncated?: boolean;
  /** A create whose text is all of this blob (see `OpEntry.patchBlob`). */
  patchBlob?: string;
}

/** Largest patch (characters deleted and inserted) an entry carries; a bigger one is left out. */
export const MAX_CARRIED_PATCH_CHARS = 2048;
/** Most text ops in a carried patch. */
export const MAX_CARRIED_PATCH_OPS = 32;
/** Longest author name carried (longer ones are cut). */
export const MAX_AUTHOR_CHARS = 256;

/** The entry another replica records for this op of its author. */
export function historyEntryOf(op: OpEntry): HistoryEntry {
  const e: HistoryEntry = {
    seq: op.seq, kind: op.kind, time: op.time, author: op.author.slice(0, MAX_AUTHOR_CHARS), fileId: op.fileId, path: op.path,
    inserted: op.inserted, deleted: op.deleted,
  };
  if (op.from !== undefined) e.from = op.from;
  if (op.patchBlob !== undefined) e.patchBlob = op.patchBlob;
  if (op.patch) {
    const chars = op.patch.reduce((n, p) => n + p.del.length + p.ins.length, 0);
    if (chars <= MAX_CARRIED_PATCH_CHARS && op.patch.length <= MAX_CARRIED_PATCH_OPS) e.patch = op.patch.map((p) => ({ pos: p.pos, del: p.del, ins: p.ins }));
    else e.patchTruncated = true;
  } else if (op.patchTruncated) e.patchTruncated = true;
  return e;
}

/**
 * This replica's own changes after seq `since` up to `upTo`, as entries for other replicas,
 * read from the store as they are asked for (a first share of 100,000 files logs a create
 * for each, so they are not all held at once).
 */
export async function* ownHistory(ctx: ReplicaContext, since: number, upTo: number): AsyncIterable<HistoryEntry> {
  // Other replicas' entries (a join's thousands) are skipped without being parsed.
  for await (const op of ctx.store.opsOf(ctx.ownIds(), { after: since, upTo })) yield historyEntryOf(op);
}

/**
 * Records entries of the replica `by` in this replica's log, as that author logged them (its
 * name, its times), each once: an author uploads its entries in seq order and sends again only
 * what the relay may not have acknowledged, so entries at or below the highest seq recorded of
 * that author are already here. Returns how many were recorded.
 */
export async function recordCarried(ctx: ReplicaContext, entries: readonly HistoryEntry[], by: string): Promise<number> {
  if (by === ctx.identity.replicaId || entries.length === 0) return 0;
  let seen = (await ctx.store.historySeen(by)) ?? -1;
  const batch = new ChangeBatch();
  let recorded = 0;
  for (const e of entries) {
    if (e.seq <= seen) continue;
    seen = e.seq;
    const seq = ctx.nextSeq();
    const op: OpEntry = {
      seq, kind: e.kind, time: e.time, author: e.author, replica: by, fileId: e.fileId, path: e.path,
      inserted: e.inserted, deleted: e.deleted, inverse: {},
    };
    if (e.from !== undefined) op.from = e.from;
    if (e.patch) op.patch = e.patch;
    if (e.patchTruncated) op.patchTruncated = true;
    if (e.patchBlob !== undefined) op.patchBlob = e.patchBlob;
    batch.putOp(op);
    recorded++;
  }
  if (recorded === 0) return 0;
  batch.putHistorySeen(by, seen);
  await ctx.commit(batch);
  return recorded;
}
