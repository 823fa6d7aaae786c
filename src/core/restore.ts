/**
 * `cshare restore <path> [--change N]`: brings a deleted file back from history, whoever
 * deleted it. The file's entry is set live again at its path (a change of this replica, so it
 * goes to everyone), with the content it had when it was deleted: a text file's doc still
 * holds its text (a delete only marks the manifest entry), a binary's blob is in the store.
 */
import { CshareError } from './errors.js';
import { gitBlobId } from './digest.js';
import { createOfBlob, type OpEntry } from './history.js';
import type { ManifestEntry } from './ManifestDoc.js';
import { cacheEntry, type ReplicaContext } from './ReplicaContext.js';
import { ChangeBatch } from './ChangeBatch.js';
import type { UndoResult } from './undoRedo.js';

/**
 * Restores the file deleted at `path` (the latest such delete, or the delete with change id
 * `change`). Local edits must be recorded first (the caller scans).
 */
export async function restoreFile(ctx: ReplicaContext, opts: { path: string; change?: number }): Promise<UndoResult> {
  const { path } = opts;
  if (ctx.manifest.live().has(path)) throw new CshareError('USAGE', `${path} exists: restore brings back a deleted file (to go back to an earlier text, use cshare undo)`, { path });
  const target = await findDelete(ctx, path, opts.change);
  const entry = ctx.manifest.get(target.op.fileId);
  // A delete recorded here knows the entry it deleted; a peer's (in carried history) does not,
  // and the deleted entry itself keeps what the file was.
  const before = target.op.inverse?.before ?? entry;
  if (!entry || !before) throw new CshareError('NOT_FOUND', `change ${target.op.seq} cannot be restored: its file is not in this replica's manifest`, { path, change: target.op.seq });
  if (!entry.deleted) throw new CshareError('USAGE', `${path} was restored already, as ${entry.path}`, { path });

  const seq = ctx.nextSeq();
  const batch = new ChangeBatch();
  const next: ManifestEntry = { ...before, path, deleted: false, lamport: ctx.nextLamport(), by: ctx.identity.replicaId };
  delete next.seen;
  let bytes: Uint8Array;
  if (next.kind === 'text') bytes = new TextEncoder().encode(await ctx.currentText(target.op.fileId, next));
  else bytes = await ctx.blobBytes(next.digest);
  const digest = gitBlobId(bytes);
  const update = ctx.manifest.change((set) => set(target.op.fileId, next));
  ctx.logManifestUpdate(batch, seq, update);
  batch.putLamport(ctx.lamport);
  if (next.kind === 'symlink') ctx.fs.symlink(path, new TextDecoder().decode(bytes));
  else ctx.fs.writeFile(path, bytes, next.mode === 0o100755 ? 0o755 : 0o644);
  if (next.kind === 'text') ctx.setTextDigest(batch, target.op.fileId, digest);
  const st = ctx.fs.lstat(path);
  if (st) batch.putStat(path, cacheEntry(st, next.kind, digest, target.op.fileId));
  const op: OpEntry = {
    seq, kind: 'create', time: ctx.now(), author: ctx.author, replica: ctx.identity.replicaId, fileId: target.op.fileId, path,
    inserted: 0, deleted: 0, reverts: target.op.seq, inverse: { before: entry, after: next },
    ...(next.kind === 'text' ? createOfBlob(new TextDecoder().decode(bytes), digest) : {}),
  };
  if (next.kind === 'text') batch.putBlob(digest, bytes);
  batch.putOp(op);
  batch.markUndoable(seq);
  await ctx.commit(batch);
  return { seq, kind: 'create', path, inserted: op.inserted, deleted: 0, reverts: target.op.seq };
}

/** The delete to restore: the one with id `change`, else the latest of `path`. */
async function findDelete(ctx: ReplicaContext, path: string, change: number | undefined): Promise<{ op: OpEntry }> {
  if (change !== undefined) {
    const op = await ctx.store.op(change);
    if (!op) throw new CshareError('NOT_FOUND', `there is no change ${change} (see cshare log)`, { change });
    if (op.kind !== 'delete') throw new CshareError('USAGE', `change ${change} is a ${op.kind}, not a delete: restore --change takes the id of a delete (see cshare log ${path})`, { change });
    if (op.path !== path) throw new CshareError('USAGE', `change ${change} deleted ${op.path}, not ${path}`, { change, path });
    return { op };
  }
  for await (const op of ctx.store.opsNewestFirst()) {
    if (op.path === path && op.kind === 'delete') return { op };
  }
  throw new CshareError('NOT_FOUND', `no deleted file ${path} in this replica's history (see cshare log)`, { path });
}
