/**
 * Two replicas created the same new path at once: two live manifest entries claim it, and
 * `ManifestDoc.live` shows one everywhere (the later by Lamport time). The other's text is not
 * dropped: the replica that created it (only that one, so it is done once) appends it to the
 * file that won, as an edit of its own, and lets its entry go. Every side then has both texts,
 * the winner's first, as two concurrent edits of one file would be kept. A binary loses as a
 * whole (last writer wins); its content stays in its writer's history.
 *
 * An edit of the losing file made elsewhere before the merge was seen brings it back (an edit
 * wins over a delete that did not see it); it keeps its claim on the path, so it loses again,
 * and its author merges it again: the text it merged the first time (`mc:<fileId>`, kept here)
 * is replaced in the winner by the text now, so the edit arrives and nothing is there twice.
 */
import { gitBlobId } from './digest.js';
import { patchFor, type OpEntry } from './history.js';
import type { ManifestEntry } from './ManifestDoc.js';
import type { ReplicaContext } from './ReplicaContext.js';
import { ChangeBatch, seqKey } from './ReplicaStore.js';

/** What this replica merged of a file into another (`mc:<fileId>`). */
interface PriorMerge {
  into: string;
  text: string;
}

async function priorMerge(ctx: ReplicaContext, fileId: string, into: string): Promise<PriorMerge | undefined> {
  const raw = await ctx.store.getJson<Partial<PriorMerge>>(`mc:${fileId}`);
  return raw && raw.into === into && typeof raw.text === 'string' ? { into, text: raw.text } : undefined;
}

/** Merges this replica's entries that lost their path; returns the paths whose text changed. */
export async function mergeLostCreates(ctx: ReplicaContext): Promise<string[]> {
  const me = ctx.identity.replicaId;
  const mine = ctx.manifest.shadowed().filter((s) => s.entry.by === me);
  if (mine.length === 0) return [];
  const live = ctx.manifest.live();
  const batch = new ChangeBatch();
  const sets: [string, ManifestEntry][] = [];
  const changed: string[] = [];
  for (const { fileId, entry } of mine) {
    const winner = live.get(entry.path);
    if (!winner || winner.fileId === fileId) continue;
    // The winner's content may still be on its way (a catch-up lists entries before blobs):
    // this entry stays as it is until the apply that brings it.
    if (!(await ctx.hasContent(winner.fileId, winner.entry)) || !(await ctx.hasContent(fileId, entry))) continue;
    // Gone as a delete that saw all of the file (`seen`): no one's edit of it so far brings it
    // back (see keepLastWriter), which would make it lose, and merge, again and again.
    const seen = await ctx.docStateVector(fileId);
    sets.push([fileId, { ...entry, deleted: true, lamport: ctx.nextLamport(), by: me, ...(seen ? { seen } : {}) }]);
    if (entry.kind !== 'text' || winner.entry.kind !== 'text') {
      ctx.notices.add({ kind: 'kept', path: entry.path, message: `${entry.path} was created here and elsewhere at once; the other one is kept (yours is in cshare log)` });
      continue;
    }
    const text = await ctx.currentText(fileId, entry);
    const prior = await priorMerge(ctx, fileId, winner.fileId);
    batch.putJson(`mc:${fileId}`, { into: winner.fileId, text } satisfies PriorMerge);
    // Nothing to add (the same text, or already in it): no doc is made for the winner either
    // (a base logged here and never uploaded would leave this replica's state apart).
    const theirsNow = await ctx.currentText(winner.fileId, winner.entry);
    if (prior?.text === text || theirsNow === text || (text !== '' && theirsNow.includes(text))) continue;
    const seq = ctx.nextSeq();
    const { doc } = await ctx.doc(winner.fileId, winner.entry, batch, seq);
    const theirs = doc.text;
    // Merged before: the text merged then, where it still is, becomes the text now.
    const at = prior !== undefined && prior.text !== '' ? theirs.indexOf(prior.text) : -1;
    const merged = at >= 0 ? theirs.slice(0, at) + text + theirs.slice(at + prior!.text.length) : theirs + (theirs === '' || theirs.endsWith('\n') ? '' : '\n') + text;
    const change = doc.setText(merged);
    if (!change) continue;
    ctx.logFileUpdate(batch, winner.fileId, seq, change.update);
    ctx.setTextDigest(batch, winner.fileId, gitBlobId(new TextEncoder().encode(doc.text)));
    const op: OpEntry = {
      seq, kind: 'edit', time: ctx.now(), author: ctx.author, replica: me, fileId: winner.fileId, path: entry.path,
      inserted: change.inserted, deleted: change.deleted, ...patchFor(change.ops), inverse: { text: change.record },
      merge: { baseSeq: 0, baseTime: ctx.now(), reason: 'concurrent-create' },
    };
    batch.putJson(`o:${seqKey(seq)}`, op);
    batch.put(`un:${seqKey(seq)}`, new Uint8Array());
    changed.push(entry.path);
    ctx.notices.add({ kind: 'merged', path: entry.path, seq, baseSeq: 0, message: `${entry.path} was created here and elsewhere at once: both texts are kept in it, the other one first` });
  }
  if (sets.length === 0) return [];
  const update = ctx.manifest.change((set) => {
    for (const [id, e] of sets) set(id, e);
  });
  // Logged as this replica's own change (no `.r` suffix), so the next push uploads it.
  ctx.logManifestUpdate(batch, ctx.nextSeq(), update);
  batch.putJson('meta:lamport', ctx.lamport);
  await ctx.commit(batch);
  return changed;
}
