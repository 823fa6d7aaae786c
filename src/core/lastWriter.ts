/**
 * Last writer wins, for manifest entries: what an apply does after integrating a peer's
 * manifest updates (`apply.ts`), so that every replica converges on the entry written last.
 */
import type { ManifestEntry } from './ManifestDoc.js';
import type { ReplicaContext } from './ReplicaContext.js';
import type { ChangeBatch } from './ChangeBatch.js';

/**
 * Last writer wins by Lamport timestamp (ties: the higher replica id), for every manifest
 * entry (a binary's content, a rename, a delete). Yjs orders concurrent writes of one map key
 * by client id instead, so when a remote entry displaced a newer one of this replica, this
 * replica sets its entry again, after both: every replica then converges on it. The clock
 * also moves past every timestamp seen, so a later local change orders after them.
 */
export async function keepLastWriter(ctx: ReplicaContext, batch: ChangeBatch, before: Map<string, ManifestEntry | undefined>): Promise<void> {
  const keep: [string, ManifestEntry][] = [];
  for (const [fileId, old] of before) {
    const now = ctx.manifest.get(fileId);
    if (!now) continue;
    ctx.counters.observeLamport(now.lamport);
    if (old && old.by === ctx.identity.replicaId && now.by !== old.by && isNewer(old, now)) keep.push([fileId, old]);
    // A delete that did not see this replica's edit of the text: the edit wins (as in
    // Syncthing and Dropbox), and this replica, which made it, puts the file back. Not a
    // file merged into another that was created at once (`createConflicts.ts`): its text is
    // in that file, and what the merge missed of this replica's edit is added there.
    else if (old && !old.deleted && now.deleted && now.mergedInto === undefined && now.by !== ctx.identity.replicaId && old.kind === 'text' && (await ctx.editedBeyond(fileId, now.seen))) {
      keep.push([fileId, old]);
      ctx.notices.add({ kind: 'kept', path: old.path, message: `${old.path} was deleted elsewhere while you edited it: your edit wins, the file stays` });
    }
  }
  if (keep.length > 0) {
    const update = ctx.manifest.change((set) => {
      for (const [fileId, entry] of keep) set(fileId, { ...entry, lamport: ctx.nextLamport() });
    });
    // Logged as this replica's own change (no `.r` suffix), so the next push uploads it.
    ctx.logManifestUpdate(batch, ctx.nextSeq(), update);
  }
  batch.putLamport(ctx.lamport);
}

/** Does `a` win over `b` as the later write? */
function isNewer(a: ManifestEntry, b: ManifestEntry): boolean {
  return a.lamport > b.lamport || (a.lamport === b.lamport && a.by > b.by);
}
