import { CshareError } from './errors.js';
import { gitBlobId } from './digest.js';
import { FileDoc } from './FileDoc.js';
import type { OpEntry } from './history.js';
import { patchFor } from './history.js';
import type { ManifestEntry } from './ManifestDoc.js';
import { ChangeBatch, seqKey } from './ReplicaStore.js';
import { cacheEntry, type ReplicaContext } from './ReplicaContext.js';
import type { RecordedChange } from './recordScan.js';
import { diffToOps, opsStats } from './textDiff.js';

/** Where remote updates came from, for the history. */
export interface RemoteOrigin {
  replica: string;
  author: string;
}

/**
 * Every update in a text file's history (its snapshot first), enough for another replica
 * with no history of the file to rebuild it. For a file never edited here, that is the
 * deterministic base insert.
 */
export async function fileHistory(ctx: ReplicaContext, path: string): Promise<{ fileId: string; updates: Uint8Array[] }> {
  const live = ctx.manifest.live().get(path);
  if (!live || live.entry.kind !== 'text') throw new CshareError('NOT_FOUND', `${path} is not a shared text file`, { path });
  if (!(await ctx.hasHistory(live.fileId))) {
    // Never edited here: the history is the base insert, derived again from the base blob
    // (and identical on every replica), so nothing is stored or cached for it.
    const { doc, baseUpdate } = FileDoc.create({ fileId: live.fileId, clientId: ctx.identity.clientId, baseText: await ctx.blobText(live.entry.base) });
    doc.destroy();
    return { fileId: live.fileId, updates: baseUpdate ? [baseUpdate] : [] };
  }
  const { doc } = await ctx.doc(live.fileId, live.entry, new ChangeBatch(), ctx.seq);
  return { fileId: live.fileId, updates: [doc.snapshot()] };
}

/**
 * Merges another replica's updates into a text file here: applies them to the file's doc,
 * logs them, writes the merged text to disk atomically and records the change (not on this
 * replica's undo stack: undo only reverts this replica's own changes). The caller records
 * unrecorded local edits first so that none is overwritten.
 */
export async function applyRemoteFileUpdates(ctx: ReplicaContext, fileId: string, updates: Uint8Array[], origin: RemoteOrigin): Promise<RecordedChange | null> {
  const entry = ctx.manifest.get(fileId);
  if (!entry || entry.deleted || entry.kind !== 'text') throw new CshareError('NOT_FOUND', `no shared text file has id ${fileId}`, { fileId });
  const seq = ctx.nextSeq();
  const batch = new ChangeBatch();
  const { doc } = await ctx.doc(fileId, entry, batch, seq);
  const before = doc.text;
  updates.forEach((u, i) => {
    doc.applyUpdate(u);
    ctx.logFileUpdate(batch, fileId, seq, u, `r${i}`);
  });
  const after = doc.text;
  if (after === before) {
    // Nothing visible changed, but the updates are history: keep them.
    if (!batch.empty) await batch.commit(ctx.store.kv);
    return null;
  }
  const bytes = new TextEncoder().encode(after);
  const digest = gitBlobId(bytes);
  ctx.setTextDigest(batch, fileId, digest);
  ctx.fs.writeFile(entry.path, bytes, entry.mode === 0o100755 ? 0o755 : 0o644);
  const ops = diffToOps(before, after);
  const { inserted, deleted } = opsStats(ops);
  const op: OpEntry = {
    seq, kind: 'edit', time: ctx.now(), author: origin.author, replica: origin.replica, fileId, path: entry.path,
    inserted, deleted, ...patchFor(ops), inverse: {},
  };
  batch.putJson(`o:${seqKey(seq)}`, op);
  const st = ctx.fs.lstat(entry.path);
  if (st) batch.putJson(`s:${entry.path}`, cacheEntry(st, 'text', digest));
  await batch.commit(ctx.store.kv);
  return { seq, kind: 'edit', path: entry.path, inserted, deleted };
}
