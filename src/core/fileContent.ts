/**
 * What a file holds on disk and what it should hold by the store: shared by the apply
 * (`apply.ts`, `applyPlan.ts`) and the recovery from an interrupted one (`applyRecovery.ts`).
 */
import { gitBlobId } from './digest.js';
import type { ManifestEntry } from './ManifestDoc.js';
import type { ReplicaContext } from './ReplicaContext.js';

/** What `path` holds now: a file's bytes, a symlink's target (never what it points at). */
export function readCurrent(ctx: ReplicaContext, path: string, symlink: boolean): Uint8Array | undefined {
  if (!symlink) return ctx.fs.readFile(path);
  const target = ctx.fs.readlink(path);
  return target === undefined ? undefined : new TextEncoder().encode(target);
}

/**
 * What a file should hold, with its git blob id: its doc's text, else its base or blob;
 * undefined if not here yet. `stored` holds blobs already read from the store (a blob not in
 * it is read here).
 */
export async function contentOf(
  ctx: ReplicaContext,
  fileId: string,
  entry: ManifestEntry,
  incoming: ReadonlyMap<string, Uint8Array>,
  stored: ReadonlyMap<string, Uint8Array | undefined> = new Map(),
): Promise<{ bytes: Uint8Array; digest: string } | undefined> {
  if (entry.kind === 'text') {
    const doc = ctx.loadedDoc(fileId);
    const text = doc ? doc.text : (await ctx.hasHistory(fileId)) ? await ctx.currentText(fileId, entry) : undefined;
    if (text !== undefined) {
      const bytes = new TextEncoder().encode(text);
      return { bytes, digest: gitBlobId(bytes) };
    }
  }
  // A blob's bytes were checked against its digest (on arrival, or read back from the store).
  const digest = entry.kind === 'text' ? entry.base : entry.digest;
  const bytes = incoming.get(digest) ?? stored.get(digest) ?? (stored.has(digest) ? undefined : await ctx.store.blob(digest));
  return bytes && { bytes, digest };
}
