import { Buffer } from 'node:buffer';
import { CshareError } from './errors.js';
import { logger } from './log.js';
import { gitBlobId } from './digest.js';
import { createOfBlob, patchFor, type OpEntry, type OpKind, type RecordedChange } from './history.js';
import type { ManifestEntry } from './ManifestDoc.js';
import type { FileStat, FileWrite, PathObstacle } from './ports.js';
import { ChangeBatch, jsonBytes, parseJson, remoteSub, seqKey } from './ReplicaStore.js';
import { cacheEntry, unstattedEntry, type ReplicaContext } from './ReplicaContext.js';
import { isSafeRelPath } from './paths.js';
import { isIgnoreFile, ScanScope, SCOPE_MAX_PATHS } from './Scanner.js';
import { removeChecked, writeGuarded } from './FsJournal.js';
import { inTheWay, linkObstacle, parentObstacle, type BlockedPath } from './obstacles.js';
import { CLOCK_SLACK_MS, noteUnflushed, readUnflushed, type UnflushedFile } from './unflushed.js';
import { diffToOps, opsStats } from './textDiff.js';
import { shownFileAt } from './createConflicts.js';

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

/** As {@link collectChanges}, with blobs by reference (read them with `ctx.store.blob`). */
export async function collectOutgoing(ctx: ReplicaContext, since: number): Promise<{ changes: OutgoingChanges; upTo: number }> {
  const upTo = ctx.seq;
  // The caller acknowledges up to `upTo` once this is uploaded: no later process may reuse it.
  await ctx.persistSeq();
  if (since < 0) return { changes: await fullState(ctx), upTo };
  const kv = ctx.store.kv;
  const fileIds = new Set<string>();
  const digests = new Map<string, string>();
  // Other replicas' ops (a join's thousands of creates, each with its text) are skipped
  // without being parsed: the JSON of an own op always holds this marker.
  const ids = ctx.ownIds();
  const own = ids.map((id) => new TextEncoder().encode(`"replica":${JSON.stringify(id)}`));
  for await (const [key, value] of kv.iterate({ gt: `o:${seqKey(since)}`, lt: 'o;' })) {
    const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    if (!own.some((marker) => buf.indexOf(marker) !== -1)) continue;
    const op = parseJson<OpEntry>(value, key);
    if (!ids.includes(op.replica)) continue;
    fileIds.add(op.fileId);
    const after = op.inverse.after;
    if (after && !after.deleted) digests.set(after.kind === 'text' ? after.base : after.digest, op.fileId);
  }
  const from = seqKey(since + 1);
  const manifest: Uint8Array[] = [];
  for await (const [key, value] of kv.iterate({ gte: `m:u:${from}`, lt: 'm:u;' })) if (isOwnKey(key)) manifest.push(value);
  const files: ChangeSet['files'] = [];
  for (const fileId of fileIds) {
    const updates: Uint8Array[] = [];
    for await (const [key, value] of kv.iterate({ gte: `f:${fileId}:u:${from}`, lt: `f:${fileId}:u;` })) if (isOwnKey(key)) updates.push(value);
    if (updates.length > 0) files.push({ fileId, updates });
  }
  return { changes: { manifest, files, blobs: blobRefs(ctx, digests) }, upTo };
}

/** Updates this replica logged itself (remote ones carry an `.r<n>` suffix). */
function isOwnKey(key: string): boolean {
  return !/\.r\d+$/.test(key);
}

async function fullState(ctx: ReplicaContext): Promise<OutgoingChanges> {
  const files = new Map<string, Uint8Array[]>();
  // Snapshots sort after updates in key order (`:snap` > `:u:`) but must come first; order
  // does not matter to Yjs, it only saves pending-struct work.
  for await (const [key, value] of ctx.store.kv.iterate({ gt: 'f:', lt: 'f;' })) {
    const fileId = key.slice(2, key.indexOf(':', 2));
    const list = files.get(fileId) ?? [];
    if (key.endsWith(':snap')) list.unshift(value);
    else if (key.includes(':u:')) list.push(value);
    files.set(fileId, list);
  }
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

const log = logger('apply');

/** Manifest updates up to this size are read to scope the scan before an apply. */
const SCOPE_UPDATE_BYTES = 64 * 1024;

/**
 * What the scan before an apply must cover: every path the apply may write or remove, so a
 * local edit there that is not recorded yet is recorded before it is merged with (or lost
 * to) the remote change. That is each entry a manifest update sets (its path now and its new
 * one), each file whose doc gets updates, and each live file whose content is one of the
 * blobs. Undefined (scan everything) for big manifest updates (a catch-up), an update that
 * cannot be read, a change of a rule file (`.gitignore`, `.cshareignore`), or more than
 * {@link SCOPE_MAX_PATHS} paths.
 */
export function applyScope(ctx: ReplicaContext, changes: ChangeSet): ScanScope | undefined {
  if (changes.manifest.reduce((n, u) => n + u.byteLength, 0) > SCOPE_UPDATE_BYTES) return undefined;
  const paths = new Set<string>();
  const live = ctx.manifest.live();
  for (const update of changes.manifest) {
    const touched = ctx.manifest.pathsTouchedBy(update);
    if (!touched) return undefined;
    for (const p of touched) {
      paths.add(p);
      // A live file that the new path needs as a folder may lose to it and go.
      for (let i = p.indexOf('/'); i !== -1; i = p.indexOf('/', i + 1)) if (live.has(p.slice(0, i))) paths.add(p.slice(0, i));
    }
  }
  for (const { fileId } of changes.files) {
    const entry = ctx.manifest.get(fileId);
    if (entry && !entry.deleted) paths.add(entry.path);
  }
  if (changes.blobs.length > 0) {
    const byContent = ctx.manifest.liveByContent();
    for (const { digest } of changes.blobs) for (const p of byContent.get(digest) ?? []) paths.add(p);
  }
  // A peer's rule file changes what every later scan here sees (it can make more paths
  // ignored): a file saved before it came, not recorded yet, is recorded under the rules it
  // was saved under, wherever it is. Left to the next scan, it met the peer's rule first and
  // was never shared (convergence fuzz seed 1657676038: a `*` reached a replica before its
  // watcher had recorded a new file). Rule changes are rare; the whole tree costs ~1 s at
  // 100,000 files.
  for (const p of paths) if (isIgnoreFile(p)) return undefined;
  return paths.size > SCOPE_MAX_PATHS ? undefined : new ScanScope(paths);
}

/**
 * Applies another replica's changes: stores blobs (each checked against its digest: a peer
 * cannot poison one), logs and integrates the manifest and file updates, then brings every
 * affected path on disk to its new state, and records what happened in the history (not on
 * this replica's undo stack).
 *
 * The caller records unrecorded local edits first. A save that lands after that is never
 * overwritten: each write expects what was on disk when it was planned (`FileWrite.expect`),
 * and what a save left there is handed back (`rescued`) to be recorded and merged from the
 * version it was made from; a file that appeared at a free path is left alone (`rescan`).
 */
export async function applyChanges(ctx: ReplicaContext, changes: ChangeSet, origin: ChangeOrigin, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const batch = new ChangeBatch();
  const seq = ctx.nextSeq();
  const incoming = new Map<string, Uint8Array>();
  for (const { digest, bytes } of changes.blobs) {
    if (gitBlobId(bytes) !== digest) throw new CshareError('PROTOCOL', `a blob sent as ${digest} has other content; it was refused`, { digest });
    incoming.set(digest, bytes);
    batch.putBlob(digest, bytes);
  }

  // Manifest: note every entry's state before, to know what moved on disk.
  const before = new Map<string, ManifestEntry | undefined>();
  const conflictedBefore = ctx.manifest.conflicted();
  changes.manifest.forEach((update, i) => {
    for (const [fileId, old] of ctx.manifest.applyUpdate(update)) if (!before.has(fileId)) before.set(fileId, old);
    ctx.logManifestUpdate(batch, seq, update, remoteSub(i));
  });
  if (before.size > 0) await keepLastWriter(ctx, batch, before);

  // File docs: integrate, remembering each text as it was. A file may come in several
  // entries (a catch-up sends one per relay seq): its updates are numbered across all of
  // them, or their keys would collide and only the last would be stored.
  const textBefore = new Map<string, string>();
  const logged = new Map<string, number>();
  for (const { fileId, updates } of changes.files) {
    const entry = ctx.manifest.get(fileId);
    const doc = await ctx.docForRemote(fileId, entry, batch, seq);
    if (!textBefore.has(fileId)) {
      textBefore.set(fileId, doc.text);
      // The text on disk before this change is a version an editor may hold and save from.
      if (entry && !entry.deleted && entry.kind === 'text' && (await ctx.noteTextBefore(batch, fileId, entry, doc))) log('noted the version of %s before the change', entry.path);
    }
    for (const u of updates) {
      doc.applyUpdate(u);
      const n = logged.get(fileId) ?? 0;
      logged.set(fileId, n + 1);
      ctx.logFileUpdate(batch, fileId, seq, u, remoteSub(n));
    }
  }

  // Paths whose content or presence may have changed.
  const paths = new Map<string, string | undefined>(); // path -> fileId that used to be there
  for (const [fileId, old] of before) {
    if (old && !old.deleted) paths.set(old.path, fileId);
    const now = ctx.manifest.get(fileId);
    if (now && !now.deleted && !paths.has(now.path)) paths.set(now.path, undefined);
  }
  for (const fileId of textBefore.keys()) {
    const now = ctx.manifest.get(fileId);
    if (now && !now.deleted && !paths.has(now.path)) paths.set(now.path, fileId);
  }
  // An entry that now loses to a file-or-folder of its name goes from this disk, and one that
  // stopped losing is written (see `ManifestDoc.live`), though neither entry changed.
  const conflictedNow = ctx.manifest.conflicted();
  if (conflictedNow !== conflictedBefore) {
    for (const [fileId, path] of conflictedNow) if (!conflictedBefore.has(fileId) && !paths.has(path)) paths.set(path, fileId);
    for (const [fileId, path] of conflictedBefore) if (!conflictedNow.has(fileId) && !paths.has(path)) paths.set(path, undefined);
  }
  const live = ctx.manifest.live();
  if (incoming.size > 0) {
    // A blob may arrive after the manifest entry that needs it: write those files now.
    const byContent = ctx.manifest.liveByContent();
    for (const digest of incoming.keys()) {
      for (const path of byContent.get(digest) ?? []) {
        const { fileId, entry } = live.get(path)!;
        if (paths.has(path) || (entry.kind === 'text' && ctx.loadedDoc(fileId))) continue;
        paths.set(path, fileId);
      }
    }
  }

  const recorded: RecordedChange[] = [];
  // The first op takes the seq the updates were logged under; later ones take new seqs.
  let seqUsed = false;
  const nextSeq = (): number => {
    if (seqUsed) return ctx.nextSeq();
    seqUsed = true;
    return seq;
  };
  // What the files to write hold, learnt together: which have a history (their docs' text),
  // and the bytes of the others that did not come with this change set. One pass and one read
  // for all, where asking file by file cost a first join three store round trips a file.
  const winners = [...paths.keys()].flatMap((path) => live.get(path) ?? []);
  await ctx.prefetchHistory(winners.filter((w) => w.entry.kind === 'text').map((w) => w.fileId));
  const wanted: string[] = [];
  for (const { fileId, entry } of winners) {
    const digest = entry.kind === 'text' ? entry.base : entry.digest;
    if (incoming.has(digest) || (entry.kind === 'text' && (ctx.loadedDoc(fileId) || (await ctx.hasHistory(fileId))))) continue;
    wanted.push(digest);
  }
  const stored = new Map<string, Uint8Array | undefined>();
  const unique = [...new Set(wanted)];
  (await ctx.store.blobs(unique)).forEach((bytes, i) => stored.set(unique[i]!, bytes));

  // Deletions first, in path order; files to write are gathered and written as one batch.
  // What the scan before this apply saw at each path (the stat cache): a file there that it did
  // not see was never shared from here (ignored, a secret, made meanwhile) and is neither
  // overwritten nor removed; one that differs from what it saw is a save made since, recorded
  // after the apply (`rescued`) and merged, never lost. A path this disk cannot take (see
  // `obstacles.ts`) is left alone, not failed: in path order, a parent's removal is known
  // before its children are planned.
  const sorted = [...paths].sort(([a], [b]) => (a < b ? -1 : 1));
  const seen = await ctx.store.statsAt(sorted.map(([p]) => p));
  const plans: WritePlan[] = [];
  const writes: FileWrite[] = [];
  const removals: { path: string; expect?: string }[] = [];
  const removing = new Set<string>();
  const parentsSeen = new Map<string, PathObstacle | undefined>();
  const blocked = new Map<string, BlockedPath>();
  const block = (path: string, fileId: string, reason: string) => {
    blocked.set(path, { path, fileId, reason });
    batch.del(`s:${path}`);
  };
  const rescued = new Map<string, Uint8Array>();
  const rescan = new Set<string>();
  const fresh = new Set<string>();
  const replaced: ApplyResult['replaced'] = [];
  const decoder = new TextDecoder();
  for (const [path, prevId] of sorted) {
    const winner = live.get(path);
    const parent = parentObstacle(ctx.fs, path, removing, parentsSeen);
    // Under a link or a file nothing is read (it may lead out of the worktree); a folder,
    // FIFO, socket or device is never read either (a FIFO would block for ever).
    const st = parent.blocked !== undefined || parent.absent ? undefined : ctx.fs.lstat(path);
    const readable = st?.kind === 'file' || st?.kind === 'symlink';
    const onDisk = readable ? readCurrent(ctx, path, st.kind === 'symlink') : undefined;
    const diskDigest = onDisk && gitBlobId(onDisk);
    const ours = seen.get(path);
    if (st?.kind === 'file' && onDisk && ours && diskDigest !== ours.digest) {
      log('%s holds a save made since the scan (%d bytes): recorded after the apply', path, onDisk.byteLength);
      rescued.set(path, onDisk);
    }
    // An ignore file a peer changes or removes: the text the user accepted is kept (see
    // `ReplicaContext.ruleBaselines`), so the change can make more paths ignored here, not fewer.
    // One a peer adds where this disk has none: what the user accepted is no file at all, or a
    // `!*` in a new `.cshareignore` would send out every file `.gitignore` keeps here.
    const noteRules = () => {
      if (!isIgnoreFile(path)) return;
      if (onDisk && ours && st?.kind === 'file') ctx.noteRuleBaseline(batch, path, decoder.decode(onDisk));
      else if (winner && st === undefined && parent.blocked === undefined && !opts.adoptRules) ctx.noteRuleBaseline(batch, path, '');
    };
    if (!winner) {
      noteRules();
      if (readable && ours) {
        removals.push({ path, expect: st.kind === 'file' ? diskDigest : undefined });
        removing.add(path);
      } else if (readable) keep(ctx, path, 'is not shared from this machine; the removal by a peer does not touch it');
      if (ours) batch.del(`s:${path}`);
      const old = prevId ? before.get(prevId) : undefined;
      const now = prevId ? ctx.manifest.get(prevId) : undefined;
      if (prevId && old && now && !now.deleted && now.path !== path) continue; // a rename: recorded at its new path
      if (prevId) recorded.push(record(ctx, batch, nextSeq(), 'delete', prevId, path, origin, { deleted: old?.kind === 'text' ? (textBefore.get(prevId) ?? '').length : 0 }));
      continue;
    }
    const { fileId, entry } = winner;
    if (parent.blocked !== undefined) {
      block(path, fileId, parent.blocked);
      continue;
    }
    const content = await contentOf(ctx, fileId, entry, incoming, stored);
    if (content === undefined) continue; // content not here yet: a later change set brings it
    const { bytes, digest } = content;
    // The recorded text follows the doc whatever the disk gets (kept, blocked, taken meanwhile):
    // a scan compares the disk with it, and a stale digest would hide an edit there.
    if (entry.kind === 'text') ctx.setTextDigest(batch, fileId, digest, entry.base);
    const sameContent = diskDigest === digest;
    if (!sameContent) noteRules();
    if (readable && !ours && !sameContent) {
      if (st.kind === 'file' && onDisk && ctx.interrupted.get(path)?.fileId === fileId) {
        // What an interrupted apply wrote of this file, edited since: a save of it, recorded
        // after this write as one made during it.
        log('%s holds an edit of what an interrupted apply wrote there: recorded after the apply', path);
        rescued.set(path, onDisk);
        ctx.dropInterrupted(batch, path);
      } else {
        keep(ctx, path, `is not shared from this machine (ignored, a secret, or new); the peer's version was not written over it`);
        // A new file of the user's (not an ignored one, which no scan lists) claims the path as
        // a concurrent create does.
        fresh.add(path);
        rescan.add(path);
        continue;
      }
    }
    const badLink = entry.kind === 'symlink' && !sameContent ? linkObstacle(ctx.fs, path, decoder.decode(bytes)) : undefined;
    if (badLink !== undefined) {
      // What the path held (recorded by the scan before this apply) goes: kept, it would be
      // recorded as an edit that undoes this change everywhere.
      block(path, fileId, badLink);
      if (readable) {
        removals.push({ path, expect: st.kind === 'file' ? diskDigest : undefined });
        removing.add(path);
      }
      continue;
    }
    const wantMode = entry.mode === 0o100755 ? 0o755 : 0o644;
    // A regular file must still hold what was read just now; a free path must still be free.
    if (!sameContent && entry.kind !== 'symlink') {
      writes.push({ rel: path, data: bytes, mode: wantMode, expect: st === undefined ? null : st.kind === 'file' ? diskDigest : undefined });
      if (st?.kind === 'file' && diskDigest && ours?.fileId !== undefined && ours.fileId !== fileId) replaced.push({ path, digest: diskDigest, fileId: ours.fileId });
    }
    plans.push({ path, fileId, entry, bytes, digest, st, onDisk, sameContent, wantMode });
  }
  // The disk changes before the store commits. A process killed in between would find, on
  // restart, files the store does not describe, and its first scan would record them as its
  // own edits (a moved file as its own delete, which then wins everywhere). So what is about
  // to change is noted first; `recoverInterruptedApply` puts it back.
  const targets: ApplyTarget[] = [
    ...removals.map(({ path }) => ({ path, digest: null })),
    ...plans.filter((p) => !p.sameContent).map((p) => ({ path: p.path, digest: p.digest, fileId: p.fileId })),
  ];
  // The incoming blobs go to the packs (and are flushed) while the files are written and
  // flushed, instead of after them.
  const staged = ctx.store.stageBlobs(batch);
  staged.catch(() => undefined); // awaited below; not unhandled if the writes fail first
  // Where the machine's boot is known, the files are not flushed one by one (~15% of a
  // 10,000-file join): the apply notes them, and a crash that tears one is caught after the
  // reboot (see `unflushed.ts`).
  const boot = ctx.fs.writeFiles && ctx.fs.flushFiles ? ctx.fs.boot?.() : undefined;
  if (targets.length > 0) {
    const intent: ApplyIntent = boot ? { targets, boot: boot.id, at: Date.now() } : { targets };
    await ctx.store.kv.put(APPLYING_KEY, jsonBytes(intent));
    batch.del(APPLYING_KEY);
  }
  for (const { path, expect } of removals) {
    // A save that landed since the scan wins over the peer's delete: the file stays.
    const kept = expect === undefined ? (ctx.fs.remove(path), undefined) : ctx.fs.removeIfUnchanged ? ctx.fs.removeIfUnchanged(path, expect) : removeChecked(ctx.fs, path, expect);
    if (kept !== undefined) {
      rescued.delete(path);
      rescan.add(path);
    }
  }
  // A folder the removals did not empty, or a FIFO, stays where a file was to go.
  for (const p of plans) {
    const why = p.st?.kind === 'dir' || p.st?.kind === 'other' ? inTheWay(p.path, ctx.fs.lstat(p.path)) : undefined;
    if (why !== undefined) block(p.path, p.fileId, why);
  }
  const toWrite = blocked.size > 0 ? writes.filter((w) => !blocked.has(w.rel)) : writes;
  const freePaths = new Set(toWrite.filter((w) => w.expect === null).map((w) => w.rel));
  const occupied = new Set<string>();
  const written = new Map<string, FileStat | undefined>();
  for (const s of await writeGuarded(ctx.fs, toWrite, { flush: boot === undefined })) {
    if (toWrite.length <= 16) log('wrote %s: %s', s.rel, s.displaced ? `a save was there (${s.displaced.byteLength} bytes)` : s.occupied ? 'taken meanwhile, not written' : s.stat ? 'as planned' : 'changed at once');
    if (s.displaced) rescued.set(s.rel, s.displaced);
    if (s.occupied) {
      occupied.add(s.rel);
      rescued.delete(s.rel);
      rescan.add(s.rel);
      if (freePaths.has(s.rel)) fresh.add(s.rel); // a file made at the free path meanwhile
    } else written.set(s.rel, s.stat);
  }
  await staged;
  const unflushed: UnflushedFile[] = [];
  // A save found at a path whose file the disk did not show (one created at once took the
  // path) was made on the file it showed (the stat cache says which): it is that file's edit
  // (`ApplyResult.rescuedOf`), not an edit of the file that took the path, whose text it would
  // replace (convergence fuzz seeds 28 and 59).
  const rescuedOf = new Map<string, { fileId: string; bytes: Uint8Array }>();
  for (const [path, bytes] of rescued) {
    const ours = seen.get(path);
    const winner = live.get(path);
    if (!ours || !winner || ours.fileId === winner.fileId) continue;
    // An entry that does not say (an older store): the other file whose recorded text it saw.
    const fileId = ours.fileId ?? (ctx.contentDigest(winner.fileId, winner.entry) === ours.digest ? undefined : shownFileAt(ctx, path, ours.digest, winner.fileId));
    if (fileId === undefined) continue;
    rescuedOf.set(path, { fileId, bytes });
    rescued.delete(path);
  }

  for (const { path, fileId, entry, bytes, digest, st, onDisk, sameContent, wantMode } of plans) {
    if (blocked.has(path)) continue;
    if (occupied.has(path)) continue; // taken meanwhile by a new file: scanned after the apply
    ctx.blocked.delete(path);
    if (!sameContent && entry.kind === 'symlink') ctx.fs.symlink(path, decoder.decode(bytes));
    else if (sameContent && entry.kind !== 'symlink' && st && (st.mode & 0o111 ? 0o755 : 0o644) !== wantMode) ctx.fs.chmod(path, wantMode);
    if (entry.kind === 'text') {
      const doc = ctx.loadedDoc(fileId);
      if (doc && !sameContent) await ctx.noteVersion(batch, fileId, digest, doc.version(), 'apply', seq);
    }
    // Of a file written here, the stat taken as it was put in place; of one left as it was, the
    // stat taken before its content was read: a later lstat could see a save made since and
    // vouch for it with this content, and that save would never be recorded (convergence fuzz
    // seed 150: a save between the read and that lstat was never shared). A link just made is
    // looked at (no save lands in a link).
    const after = written.has(path) ? written.get(path) : entry.kind === 'symlink' && !sameContent ? ctx.fs.lstat(path) : st;
    if (after) batch.putJson(`s:${path}`, cacheEntry(after, entry.kind, digest, fileId));
    else if (written.has(path)) {
      batch.putJson(`s:${path}`, unstattedEntry(entry.kind, digest, fileId)); // changed at once: the next scan reads it
      rescan.add(path);
    }
    if (boot && after?.kind === 'file' && !sameContent) unflushed.push({ path, digest, ino: after.ino, mtimeMs: after.mtimeMs });

    // An entry the manifest updates did not touch is as it was (only its doc changed).
    const old = before.has(fileId) ? before.get(fileId) : entry;
    let kind: OpKind;
    // A file whose content arrives after its entry is created when it is first written.
    if (!old || old.deleted || (onDisk === undefined && !before.has(fileId))) kind = 'create';
    else if (old.path !== path) kind = 'rename';
    else if (!sameContent) kind = 'edit';
    else if (old.mode !== entry.mode) kind = 'mode';
    else continue; // nothing visible changed
    const extra: Partial<OpEntry> = {};
    if (kind === 'rename') extra.from = old!.path;
    if (entry.kind === 'text' && !sameContent && kind !== 'rename') {
      if (kind === 'create' && onDisk === undefined && incoming.has(digest)) {
        // Its text is a blob stored with this change: not copied into the history as well.
        Object.assign(extra, createOfBlob(decoder.decode(bytes), digest));
      } else {
        const ops = diffToOps(onDisk ? decoder.decode(onDisk) : '', decoder.decode(bytes));
        Object.assign(extra, opsStats(ops), patchFor(ops));
      }
    }
    recorded.push(record(ctx, batch, nextSeq(), kind, fileId, path, origin, extra));
  }
  if (boot && unflushed.length > 0) noteUnflushed(batch, seq, { boot: boot.id, files: unflushed });
  await ctx.commit(batch);
  for (const b of blocked.values()) ctx.blocked.set(b.path, b);
  if (unflushed.length > 0) ctx.onUnflushed?.();
  const mergedAway = [...before].flatMap(([fileId, old]) => (ctx.manifest.get(fileId)?.mergedInto !== undefined && !old?.deleted ? [fileId] : []));
  return { recorded, rescued, rescuedOf, rescan: [...rescan], fresh, mergedAway, replaced };
}

/** Notes a path an apply left as it was, for the user (see `notices.ts`). */
function keep(ctx: ReplicaContext, path: string, why: string): void {
  ctx.notices.add({ kind: 'kept', path, message: `kept your ${path}: it ${why}` });
}

/** Options for {@link applyChanges}. */
export interface ApplyOptions {
  /**
   * The rule files this apply creates are the user's own (a first join takes the share as it
   * is). Otherwise a peer's new `.gitignore`/`.cshareignore` is a change of none, and can only
   * make more of this machine's files ignored (see `ReplicaContext.noteRuleBaseline`).
   */
  adoptRules?: boolean;
}

/** What {@link applyChanges} did, and what it found that must be recorded next. */
export interface ApplyResult {
  recorded: RecordedChange[];
  /** Saves found at paths the apply wrote (landed after the scan before it): record from these bytes. */
  rescued: Map<string, Uint8Array>;
  /** Such saves at paths that now show another file: edits of the file they were made on. */
  rescuedOf: Map<string, { fileId: string; bytes: Uint8Array }>;
  /** Paths where a file appeared or stayed against the apply: scan them. */
  rescan: string[];
  /**
   * Of those, paths where a file of the user's stands that this replica never wrote or
   * scanned, against a file a peer put there: each is a new file, not an edit of the peer's
   * (`RecordOptions.fresh`), and the two claims on the path resolve as concurrent creates do.
   */
  fresh: ReadonlySet<string>;
  /** Files this apply saw merged into another created at once (see `createConflicts.ts`). */
  mergedAway: string[];
  /**
   * Files the apply wrote over the content of another shared file (one created at once took
   * the path): the path, the git blob id it replaced, and that file. A late save into the
   * replaced file is that file's edit.
   */
  replaced: { path: string; digest: string; fileId: string }[];
}

/** Where an apply notes the paths it is changing on disk (see {@link applyChanges}). */
const APPLYING_KEY = 'meta:applying';

/** A path an apply changes, and the content it leaves there (null: removed). */
interface ApplyTarget {
  path: string;
  digest: string | null;
  /** The file written there (absent for a removal, and in intents of older versions). */
  fileId?: string;
}

interface ApplyIntent {
  targets: ApplyTarget[];
  /** The boot the files were written in, unflushed, and when (absent: they were flushed). */
  boot?: string;
  at?: number;
}

/**
 * Undoes the disk changes of an apply whose process was killed before the store committed it:
 * every path that holds what the apply was writing (or is gone where it was removing) gets
 * back what the store records, so the first scan sees no edit. A path that holds anything
 * else was changed by someone after the crash and is left to that scan. The change itself is
 * fetched and applied again at the next catch-up. Returns the paths put back.
 */
export async function recoverInterruptedApply(ctx: ReplicaContext): Promise<string[]> {
  const raw = await ctx.store.kv.get(APPLYING_KEY);
  if (!raw) return [];
  const { targets, boot: writtenIn, at } = parseJson<ApplyIntent>(raw, APPLYING_KEY);
  const boot = ctx.fs.boot?.();
  // Files the apply wrote unflushed in a boot that has ended may have been torn by the crash
  // that ended it: a file written since the apply began and before this boot is the apply's.
  const tearable = typeof writtenIn === 'string' && typeof at === 'number' && boot !== undefined && writtenIn !== boot.id;
  const live = ctx.manifest.live();
  const restored: string[] = [];
  const batch = new ChangeBatch();
  for (const { path, digest, fileId } of Array.isArray(targets) ? targets : []) {
    if (typeof path !== 'string' || !isSafeRelPath(path) || ctx.fs.parentProblem?.(path)) continue;
    const st = ctx.fs.lstat(path);
    if (st?.kind === 'dir' || st?.kind === 'other') continue;
    const now = st ? readCurrent(ctx, path, st.kind === 'symlink') : undefined;
    const asApplied = digest === null ? now === undefined : now !== undefined && gitBlobId(now) === digest;
    const torn = tearable && digest !== null && st?.kind === 'file' && st.mtimeMs >= at! - CLOCK_SLACK_MS && st.mtimeMs < boot!.startedMs;
    const recorded = live.get(path);
    if (!asApplied && !torn) {
      // Changed since, most likely by someone who opened what the apply wrote (an editor, while
      // cshare was down): the path stays the shared file's, and what it holds now is an edit of
      // it. With no stat entry, the scan took it for a file this replica never held, recorded it
      // as new and merged it with the shared one: the shared text twice (fresh seed 31001098).
      const wrote = digest !== null && recorded?.entry.kind === 'text' && ctx.contentDigest(recorded.fileId, recorded.entry) === digest;
      if (wrote && st?.kind === 'file' && !(await ctx.store.statsAt([path])).has(path)) batch.putJson(`s:${path}`, unstattedEntry('text', digest, recorded.fileId));
      // A file the store lost the entry of too (it came in the batch the crash stopped): noted,
      // so that the apply bringing it again takes what is there for an edit of it.
      else if (!recorded && digest !== null && typeof fileId === 'string' && st?.kind === 'file' && ctx.manifest.get(fileId) === undefined) ctx.noteInterrupted(batch, path, { fileId, digest });
      continue;
    }
    if (!recorded) {
      if (st) ctx.fs.remove(path);
      batch.del(`s:${path}`);
      restored.push(path);
      continue;
    }
    const content = await contentOf(ctx, recorded.fileId, recorded.entry, new Map());
    if (content === undefined) {
      // The store lacks the entry's content (its blob was in the batch the crash stopped), and
      // the apply had written exactly that: the disk keeps it and the store takes it from there.
      // Without the blob, a change of the text arriving before it is fetched found no version of
      // what the disk held to merge a save from, and the save undid the change (fuzz seed 139).
      const expected = recorded.entry.kind === 'text' ? recorded.entry.base : recorded.entry.digest;
      if (asApplied && now !== undefined && st !== undefined && digest === expected) {
        batch.putBlob(expected, now);
        batch.putJson(`s:${path}`, cacheEntry(st, recorded.entry.kind, expected, recorded.fileId));
      }
      continue;
    }
    const target = recorded.entry.kind === 'symlink' ? new TextDecoder().decode(content.bytes) : undefined;
    // A link this disk never takes was not written by the apply either (see `obstacles.ts`).
    if (target !== undefined && linkObstacle(ctx.fs, path, target) !== undefined) continue;
    if (target !== undefined) ctx.fs.symlink(path, target);
    else ctx.fs.writeFile(path, content.bytes, recorded.entry.mode === 0o100755 ? 0o755 : 0o644);
    const after = ctx.fs.lstat(path);
    if (after) batch.putJson(`s:${path}`, cacheEntry(after, recorded.entry.kind, content.digest, recorded.fileId));
    restored.push(path);
  }
  batch.del(APPLYING_KEY);
  await ctx.store.commit(batch);
  return restored;
}

/**
 * Checks the files that applies wrote unflushed in a boot that has ended (see `unflushed.ts`)
 * and writes again, from the store, each that a crash tore: still the inode that was written,
 * not modified since, but without the content written (or gone). Then drops those notes.
 * Returns the paths written again.
 */
export async function recoverUnflushed(ctx: ReplicaContext): Promise<string[]> {
  const notes = await readUnflushed(ctx);
  const boot = ctx.fs.boot?.();
  const ended = notes.filter(({ note }) => note?.boot !== boot?.id);
  if (ended.length === 0) return [];
  const check = new Map<string, UnflushedFile>();
  for (const { note } of ended) for (const f of note?.files ?? []) check.set(f.path, f);
  // A file written again in this boot is what that later write left there.
  for (const { note } of notes) if (note && note.boot === boot?.id) for (const f of note.files) check.delete(f.path);
  const live = ctx.manifest.live();
  const batch = new ChangeBatch();
  const restored: string[] = [];
  for (const f of check.values()) {
    if (typeof f?.path !== 'string' || !isSafeRelPath(f.path) || typeof f.digest !== 'string' || ctx.fs.parentProblem?.(f.path)) continue;
    const recorded = live.get(f.path);
    if (!recorded || recorded.entry.kind === 'symlink') continue;
    const st = ctx.fs.lstat(f.path);
    if (st && !(st.kind === 'file' && st.ino === f.ino && st.mtimeMs <= f.mtimeMs)) continue; // replaced or modified since
    if (st) {
      const now = ctx.fs.readFile(f.path);
      if (now !== undefined && gitBlobId(now) === f.digest) continue; // intact
    }
    const content = await contentOf(ctx, recorded.fileId, recorded.entry, new Map());
    if (!content || content.digest !== f.digest) continue; // recorded since: not this write's to repair
    ctx.fs.writeFile(f.path, content.bytes, recorded.entry.mode === 0o100755 ? 0o755 : 0o644);
    const after = ctx.fs.lstat(f.path);
    if (after) batch.putJson(`s:${f.path}`, cacheEntry(after, recorded.entry.kind, content.digest, recorded.fileId));
    restored.push(f.path);
  }
  for (const { key } of ended) batch.del(key);
  await ctx.store.commit(batch);
  return restored;
}

/**
 * Last writer wins by Lamport timestamp (ties: the higher replica id), for every manifest
 * entry (a binary's content, a rename, a delete). Yjs orders concurrent writes of one map key
 * by client id instead, so when a remote entry displaced a newer one of this replica, this
 * replica sets its entry again, after both: every replica then converges on it. The clock
 * also moves past every timestamp seen, so a later local change orders after them.
 */
async function keepLastWriter(ctx: ReplicaContext, batch: ChangeBatch, before: Map<string, ManifestEntry | undefined>): Promise<void> {
  const keep: [string, ManifestEntry][] = [];
  for (const [fileId, old] of before) {
    const now = ctx.manifest.get(fileId);
    if (!now) continue;
    if (now.lamport > ctx.lamport) ctx.lamport = now.lamport;
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
  batch.putJson('meta:lamport', ctx.lamport);
}

/** Does `a` win over `b` as the later write? */
function isNewer(a: ManifestEntry, b: ManifestEntry): boolean {
  return a.lamport > b.lamport || (a.lamport === b.lamport && a.by > b.by);
}

/** A path whose content or mode `applyChanges` brings to the manifest's state. */
interface WritePlan {
  path: string;
  fileId: string;
  entry: ManifestEntry;
  bytes: Uint8Array;
  digest: string;
  st: FileStat | undefined;
  onDisk: Uint8Array | undefined;
  sameContent: boolean;
  wantMode: number;
}

function readCurrent(ctx: ReplicaContext, path: string, symlink: boolean): Uint8Array | undefined {
  if (!symlink) return ctx.fs.readFile(path);
  const target = ctx.fs.readlink(path);
  return target === undefined ? undefined : new TextEncoder().encode(target);
}

function record(ctx: ReplicaContext, batch: ChangeBatch, seq: number, kind: OpKind, fileId: string, path: string, origin: ChangeOrigin, extra: Partial<OpEntry>): RecordedChange {
  const op: OpEntry = {
    seq, kind, time: ctx.now(), author: origin.author, replica: origin.replica, fileId, path,
    inserted: 0, deleted: 0, inverse: {}, ...extra,
  };
  if (!origin.carried) batch.putJson(`o:${seqKey(seq)}`, op);
  return { seq, kind, path, from: op.from, inserted: op.inserted, deleted: op.deleted };
}

/**
 * What a file should hold, with its git blob id: its doc's text, else its base or blob;
 * undefined if not here yet. `stored` holds blobs already read from the store (a blob not in
 * it is read here).
 */
async function contentOf(
  ctx: ReplicaContext,
  fileId: string,
  entry: ManifestEntry,
  incoming: Map<string, Uint8Array>,
  stored: Map<string, Uint8Array | undefined> = new Map(),
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
