/**
 * Two replicas created the same new path at once: two live manifest entries claim it, and
 * `ManifestDoc.live` shows one everywhere (the later by Lamport time). The other's text is not
 * dropped: the replica that created it (only that one, so it is done once) appends it to the
 * file that won, as an edit of its own, and lets its entry go (`mergedInto` the winner, with
 * what of it the merge took: `seen`). Every side then has both texts, the winner's first, as
 * two concurrent edits of one file would be kept. A binary loses as a whole (last writer
 * wins); its content stays in its writer's history.
 *
 * A replica that edited the losing file where the merge did not see it (its edit was on the
 * way) adds what its edit inserted to the winner itself ({@link forwardEdits}), once. Putting
 * the file back instead, as for an edit concurrent with a user's delete, made it win the path
 * again and be merged again, for ever or with a text doubled (fuzz seeds 100 and 146).
 *
 * A loser that does come back (its author's edit was on the way when its merge was made) keeps
 * its claim on the path, so it loses again, and its author merges it again: the text it merged
 * the first time (`mc:<fileId>`, kept here) is replaced in the winner by the text now, so
 * nothing is there twice.
 */
import * as Y from 'yjs';
import { gitBlobId } from './digest.js';
import { patchFor, type OpEntry } from './history.js';
import type { ManifestEntry } from './ManifestDoc.js';
import type { ReplicaContext } from './ReplicaContext.js';
import { ChangeBatch } from './ChangeBatch.js';

/** What this replica merged of a file into another (`mc:<fileId>`). */
interface PriorMerge {
  into: string;
  text: string;
}

async function priorMerge(ctx: ReplicaContext, fileId: string, into: string): Promise<PriorMerge | undefined> {
  const raw = await ctx.store.priorMerge(fileId);
  return raw && raw.into === into && typeof raw.text === 'string' ? { into, text: raw.text } : undefined;
}

/**
 * Merges this replica's entries that lost their path, and forwards its edits of `mergedAway`
 * files (entries an apply just saw merged into another, see {@link forwardEdits}); returns the
 * paths whose text changed.
 */
export async function mergeLostCreates(ctx: ReplicaContext, mergedAway: readonly string[] = []): Promise<string[]> {
  const me = ctx.identity.replicaId;
  const mine = ctx.manifest.shadowed().filter((s) => s.entry.by === me);
  const batch = new ChangeBatch();
  const changed = await forwardEdits(ctx, batch, mergedAway);
  if (mine.length === 0) {
    await ctx.commit(batch);
    return changed;
  }
  const live = ctx.manifest.live();
  const sets: [string, ManifestEntry][] = [];
  for (const { fileId, entry } of mine) {
    const winner = live.get(entry.path);
    if (!winner || winner.fileId === fileId) continue;
    // The winner's content may still be on its way (a catch-up lists entries before blobs):
    // this entry stays as it is until the apply that brings it.
    if (!(await ctx.hasContent(winner.fileId, winner.entry)) || !(await ctx.hasContent(fileId, entry))) continue;
    // What of the lost file's text this merge took along: only an edit made elsewhere that it
    // did not see is concurrent with the merge and puts the file back (see `keepLastWriter`).
    // Without it, every replica that ever edited the file took the merge for a delete of its
    // edit and put the file back, which then won the path and was merged away again, for ever
    // (fuzz seeds 100 and 347).
    const seen = entry.kind === 'text' ? await ctx.docStateVector(fileId) : undefined;
    const gone: ManifestEntry = { ...entry, deleted: true, lamport: ctx.nextLamport(), by: me };
    if (seen) gone.seen = seen;
    else delete gone.seen;
    gone.mergedInto = winner.fileId;
    sets.push([fileId, gone]);
    if (entry.kind !== 'text' || winner.entry.kind !== 'text') {
      ctx.notices.add({ kind: 'kept', path: entry.path, message: `${entry.path} was created here and elsewhere at once; the other one is kept (yours is in cshare log)` });
      continue;
    }
    const text = await ctx.currentText(fileId, entry);
    const prior = await priorMerge(ctx, fileId, winner.fileId);
    batch.putPriorMerge(fileId, { into: winner.fileId, text } satisfies PriorMerge);
    // Nothing to add (the same text, or already in it): no doc is made for the winner either
    // (a base logged here and never uploaded would leave this replica's state apart).
    const theirsNow = await ctx.currentText(winner.fileId, winner.entry);
    if (prior?.text === text || theirsNow === text || (text !== '' && theirsNow.includes(text))) continue;
    const seq = ctx.nextSeq();
    const { doc } = await ctx.doc(winner.fileId, winner.entry, batch, seq);
    // The winner's text as written here is a version a save during the write-back is made from
    // (convergence fuzz seed 31: such a save undid the merge).
    await ctx.noteTextBefore(batch, winner.fileId, winner.entry, doc);
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
    batch.putOp(op);
    batch.markUndoable(seq);
    changed.push(entry.path);
    ctx.notices.add({ kind: 'merged', path: entry.path, seq, baseSeq: 0, message: `${entry.path} was created here and elsewhere at once: both texts are kept in it, the other one first` });
  }
  if (sets.length === 0) {
    await ctx.commit(batch);
    return changed;
  }
  const update = ctx.manifest.change((set) => {
    for (const [id, e] of sets) set(id, e);
  });
  // Logged as this replica's own change (no `.r` suffix), so the next push uploads it.
  ctx.logManifestUpdate(batch, ctx.nextSeq(), update);
  batch.putLamport(ctx.lamport);
  await ctx.commit(batch);
  return changed;
}

/**
 * For each of `fileIds` that was merged into another file (`mergedInto`) without seeing all of
 * this replica's edits: appends the text those edits inserted (and that is still there) to the
 * file now at its path, as an edit of this replica's. Done once per edit: how far this replica
 * forwarded is kept (`fw:<fileId>`); one whose target's content has not arrived yet waits
 * (`fwp:<fileId>`) for a later apply. Returns the paths whose text changed.
 */
async function forwardEdits(ctx: ReplicaContext, batch: ChangeBatch, mergedAway: readonly string[]): Promise<string[]> {
  const changed: string[] = [];
  const me = ctx.identity.clientId;
  const waiting: string[] = [];
  waiting.push(...(await ctx.store.forwardsWaiting()));
  for (const fileId of new Set([...mergedAway, ...waiting])) {
    if (waiting.includes(fileId)) batch.dropForwardWaiting(fileId);
    const entry = ctx.manifest.get(fileId);
    if (!entry?.deleted || entry.mergedInto === undefined || entry.kind !== 'text' || !(await ctx.editedBeyond(fileId, entry.seen))) continue;
    const target = ctx.manifest.live().get(entry.path);
    if (!target || target.fileId === fileId || target.entry.kind !== 'text') continue; // the path was emptied since: nothing to add to
    if (!(await ctx.hasContent(target.fileId, target.entry))) {
      batch.markForwardWaiting(fileId);
      continue;
    }
    const from = Math.max(clockOf(entry.seen, me), (await ctx.store.forwarded(fileId)) ?? 0);
    const seq = ctx.nextSeq();
    const { doc: lost } = await ctx.doc(fileId, entry, batch, seq);
    const mine = Y.decodeStateVector(lost.stateVector()).get(me) ?? 0;
    if (mine <= from) continue;
    batch.putForwarded(fileId, mine);
    // Whole lines, after the winner's last: an insert cut out of a line may start with its
    // line break instead of ending with one.
    let added = lost.ownInsertedSince(from).replace(/^\n+/, '');
    if (added === '') continue;
    if (!added.endsWith('\n')) added += '\n';
    const { doc } = await ctx.doc(target.fileId, target.entry, batch, seq);
    await ctx.noteTextBefore(batch, target.fileId, target.entry, doc);
    const theirs = doc.text;
    const change = doc.setText(theirs + (theirs === '' || theirs.endsWith('\n') ? '' : '\n') + added);
    if (!change) continue;
    ctx.logFileUpdate(batch, target.fileId, seq, change.update);
    ctx.setTextDigest(batch, target.fileId, gitBlobId(new TextEncoder().encode(doc.text)));
    const op: OpEntry = {
      seq, kind: 'edit', time: ctx.now(), author: ctx.author, replica: ctx.identity.replicaId, fileId: target.fileId, path: entry.path,
      inserted: change.inserted, deleted: change.deleted, ...patchFor(change.ops), inverse: { text: change.record },
      merge: { baseSeq: 0, baseTime: ctx.now(), reason: 'concurrent-create' },
    };
    batch.putOp(op);
    batch.markUndoable(seq);
    changed.push(entry.path);
    ctx.notices.add({ kind: 'merged', path: entry.path, seq, baseSeq: 0, message: `${entry.path} was created here and elsewhere at once, and merged while your edit was on its way: your edit is added to it` });
  }
  return changed;
}

/** The clock of `client` in a state vector given in base64 (0 if absent or malformed). */
function clockOf(sv: string | undefined, client: number): number {
  if (sv === undefined) return 0;
  try {
    return Y.decodeStateVector(new Uint8Array(Buffer.from(sv, 'base64'))).get(client) ?? 0;
  } catch {
    return 0; // malformed: as if the merge saw nothing of this replica's
  }
}

/**
 * The text file other than `winner` at `path` whose recorded text is `digest` (what the disk
 * showed there): one that lost the path to a file created at once, live or merged into it.
 */
export function shownFileAt(ctx: ReplicaContext, path: string, digest: string, winner: string): string | undefined {
  for (const fileId of ctx.manifest.formerAt(path)) {
    const e = ctx.manifest.get(fileId);
    if (fileId !== winner && e?.kind === 'text' && ctx.contentDigest(fileId, e) === digest) return fileId;
  }
  return undefined;
}
