import { CshareError } from './errors.js';
import { FileDoc } from './FileDoc.js';
import { ChangeBatch } from './ChangeBatch.js';
import type { ReplicaContext } from './ReplicaContext.js';

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
