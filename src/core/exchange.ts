/**
 * Changes as replicas exchange them, and collecting this replica's own to send: manifest
 * updates, file doc updates and the blobs they reference (ARCHITECTURE.md "A save going out",
 * step 5). Applying others' changes is `apply.ts`.
 */
import type { ReplicaContext } from './ReplicaContext.js';

/**
 * Changes as replicas (and the relay) exchange them: manifest updates, file doc updates and
 * the blobs they reference. Yjs updates are idempotent and commutative, so a change set may be
 * applied twice or out of order and replicas still converge.
 */
export interface ChangeSet {
  manifest: Uint8Array[];
  files: { fileId: string; updates: Uint8Array[] }[];
  /** Blobs, each with a file that references it and its path (for protocols that name files). */
  blobs: { digest: string; bytes: Uint8Array; fileId?: string; path?: string }[];
}

/** Where remote changes came from, for the history. */
export interface ChangeOrigin {
  replica: string;
  author: string;
  /**
   * The sender's own history entries travel beside its changes and are recorded as they come
   * (`carriedHistory.ts`): the apply logs no entry of its own for them.
   */
  carried?: boolean;
}

/**
 * This replica's own changes after `since` (-1 = first contact: the whole state), and the seq
 * they go up to. The caller must hold the log after `since` with `keepLogAfter(since)`, or
 * compaction may fold updates into a snapshot before they are collected. Only the logged updates the other side lacks are sent, never a whole-doc
 * `encodeStateAsUpdate` diff (which always carries the entire delete set): after one small
 * edit offline, the upload is about the size of that edit.
 */
export async function collectChanges(ctx: ReplicaContext, since: number): Promise<{ changes: ChangeSet; upTo: number }> {
  const { changes, upTo } = await collectOutgoing(ctx, since);
  const values = await ctx.store.blobs(changes.blobs.map((b) => b.digest));
  const blobs: ChangeSet['blobs'] = [];
  changes.blobs.forEach((b, i) => {
    const bytes = values[i];
    if (bytes) blobs.push({ ...b, bytes });
  });
  return { changes: { ...changes, blobs }, upTo };
}

/** A blob of {@link OutgoingChanges}: named, its bytes read when it is sent. */
export interface BlobRef {
  digest: string;
  fileId?: string;
  path?: string;
}

/** {@link ChangeSet} with blobs by reference: a first share of a big tree need not hold every blob in memory. */
export interface OutgoingChanges {
  manifest: Uint8Array[];
  files: ChangeSet['files'];
  blobs: BlobRef[];
}

/**
 * As {@link collectChanges}, with blobs by reference (read them with `ctx.store.blob`).
 * `sent`: changes of a file already uploaded by themselves (an editor's edits, uploaded as
 * they are typed: `Replica.liveUploaded`), left out.
 */
export async function collectOutgoing(ctx: ReplicaContext, since: number, sent?: (fileId: string, seq: number) => boolean): Promise<{ changes: OutgoingChanges; upTo: number }> {
  const upTo = ctx.seq;
  // The caller acknowledges up to `upTo` once this is uploaded: no later process may reuse it.
  await ctx.persistSeq();
  if (since < 0) return { changes: await fullState(ctx), upTo };
  const fileIds = new Set<string>();
  const digests = new Map<string, string>();
  // Other replicas' ops (a join's thousands of creates, each with its text) are skipped
  // without being parsed.
  for await (const op of ctx.store.opsOf(ctx.ownIds(), { after: since })) {
    fileIds.add(op.fileId);
    const after = op.inverse.after;
    if (after && !after.deleted) digests.set(after.kind === 'text' ? after.base : after.digest, op.fileId);
  }
  // Only updates this replica logged itself: remote ones carry an `.r<n>` suffix.
  const manifest = await ctx.store.ownManifestUpdatesAfter(since);
  const files: ChangeSet['files'] = [];
  for (const fileId of fileIds) {
    const updates = await ctx.store.ownFileUpdatesAfter(fileId, since, sent && ((seq) => sent(fileId, seq)));
    if (updates.length > 0) files.push({ fileId, updates });
  }
  return { changes: { manifest, files, blobs: blobRefs(ctx, digests) }, upTo };
}

async function fullState(ctx: ReplicaContext): Promise<OutgoingChanges> {
  const files = await ctx.store.allFileLogs();
  const digests = new Map<string, string>();
  for (const [fileId, e] of ctx.manifest.all()) if (!e.deleted) digests.set(e.kind === 'text' ? e.base : e.digest, fileId);
  // The stored pieces, not one snapshot of the doc: each fits in one message (100,000 files'
  // snapshot is 22 MB, over the frame limit). Applied remote updates are logged too, so the
  // pieces hold the whole doc.
  const { parts, updates } = await ctx.store.manifestState();
  return {
    manifest: [...parts, ...updates].map((p) => p.value),
    files: [...files].map(([fileId, updates]) => ({ fileId, updates })),
    blobs: blobRefs(ctx, digests),
  };
}

function blobRefs(ctx: ReplicaContext, digests: Map<string, string>): BlobRef[] {
  const out: BlobRef[] = [];
  for (const [digest, fileId] of digests) {
    const entry = ctx.manifest.get(fileId);
    out.push({ digest, fileId, ...(entry && !entry.deleted ? { path: entry.path } : {}) });
  }
  return out;
}

/**
 * Digests of the content that live files need but the store lacks: a text file's base when
 * it has no doc history, a binary's or symlink's blob. After a catch-up these are fetched
 * (the relay asks the sharer to upload them first if it has not yet).
 */
export async function missingBlobs(ctx: ReplicaContext): Promise<string[]> {
  const want = new Map<string, string>();
  // Which text files have a history, learnt in one pass over the keys: asked file by file,
  // a sharer of 100,000 files spent 4.7 s after each catch-up here.
  await ctx.prefetchHistory([...ctx.manifest.live().values()].flatMap(({ fileId, entry }) => (entry.kind === 'text' ? [fileId] : [])));
  for (const [, { fileId, entry }] of ctx.manifest.live()) {
    if (entry.kind === 'text') {
      if (ctx.loadedDoc(fileId) || (await ctx.hasHistory(fileId))) continue;
      want.set(entry.base, fileId);
    } else want.set(entry.digest, fileId);
  }
  const digests = [...want.keys()];
  return lackingBlobs(ctx, digests);
}

/** The ones of `digests` the store lacks (their values are not read). */
export async function lackingBlobs(ctx: ReplicaContext, digests: string[]): Promise<string[]> {
  const have = await ctx.store.hasBlobs(digests);
  return digests.filter((_, i) => !have[i]);
}
