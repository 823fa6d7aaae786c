/**
 * Crash recovery of applies (ARCHITECTURE.md "Crash recovery"): the intent an apply notes
 * before it changes the disk (`meta:applying`), and what `Replica.open` does with it and with
 * the notes of files written unflushed (`unflushed.ts`) when the process or the machine died.
 */
import { gitBlobId } from './digest.js';
import { contentOf, readCurrent } from './fileContent.js';
import type { BootInfo } from './ports.js';
import { cacheEntry, unstattedEntry, type ReplicaContext } from './ReplicaContext.js';
import { ChangeBatch } from './ChangeBatch.js';
import { isSafeRelPath } from './paths.js';
import { linkObstacle } from './obstacles.js';
import { CLOCK_SLACK_MS, readUnflushed, type UnflushedFile } from './unflushed.js';

/** A path an apply changes, and the content it leaves there (null: removed). */
export interface ApplyTarget {
  path: string;
  digest: string | null;
  /** The file written there (absent for a removal, and in intents of older versions). */
  fileId?: string;
}

/** What an apply notes (`meta:applying`, `ReplicaStore.putApplying`) before it changes the disk. */
interface ApplyIntent {
  targets: ApplyTarget[];
  /** The boot the files were written in, unflushed, and when (absent: they were flushed). */
  boot?: string;
  at?: number;
}

/**
 * Notes the paths an apply is about to change (and, where it writes without flushing, in which
 * boot), before it changes them; the apply's batch deletes the note. The disk changes before
 * the store commits: a process killed in between would find, on restart, files the store does
 * not describe, and its first scan would record them as its own edits (a moved file as its
 * own delete, which then wins everywhere). {@link recoverInterruptedApply} puts them back.
 */
export async function noteApplyIntent(ctx: ReplicaContext, batch: ChangeBatch, targets: ApplyTarget[], boot: BootInfo | undefined): Promise<void> {
  if (targets.length === 0) return;
  const intent: ApplyIntent = boot ? { targets, boot: boot.id, at: Date.now() } : { targets };
  await ctx.store.putApplying(intent);
  batch.dropApplying();
}

/**
 * Undoes the disk changes of an apply whose process was killed before the store committed it:
 * every path that holds what the apply was writing (or is gone where it was removing) gets
 * back what the store records, so the first scan sees no edit. A path that holds anything
 * else was changed by someone after the crash and is left to that scan. The change itself is
 * fetched and applied again at the next catch-up. Returns the paths put back.
 */
export async function recoverInterruptedApply(ctx: ReplicaContext): Promise<string[]> {
  const intent = await ctx.store.applying<ApplyIntent>();
  if (!intent) return [];
  const { targets, boot: writtenIn, at } = intent;
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
      if (wrote && st?.kind === 'file' && !(await ctx.store.statsAt([path])).has(path)) batch.putStat(path, unstattedEntry('text', digest, recorded.fileId));
      // A file the store lost the entry of too (it came in the batch the crash stopped): noted,
      // so that the apply bringing it again takes what is there for an edit of it.
      else if (!recorded && digest !== null && typeof fileId === 'string' && st?.kind === 'file' && ctx.manifest.get(fileId) === undefined) ctx.noteInterrupted(batch, path, { fileId, digest });
      continue;
    }
    if (!recorded) {
      if (st) ctx.fs.remove(path);
      batch.dropStat(path);
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
        batch.putStat(path, cacheEntry(st, recorded.entry.kind, expected, recorded.fileId));
      }
      continue;
    }
    const target = recorded.entry.kind === 'symlink' ? new TextDecoder().decode(content.bytes) : undefined;
    // A link this disk never takes was not written by the apply either (see `obstacles.ts`).
    if (target !== undefined && linkObstacle(ctx.fs, path, target) !== undefined) continue;
    if (target !== undefined) ctx.fs.symlink(path, target);
    else ctx.fs.writeFile(path, content.bytes, recorded.entry.mode === 0o100755 ? 0o755 : 0o644);
    const after = ctx.fs.lstat(path);
    if (after) batch.putStat(path, cacheEntry(after, recorded.entry.kind, content.digest, recorded.fileId));
    restored.push(path);
  }
  batch.dropApplying();
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
    if (after) batch.putStat(f.path, cacheEntry(after, recorded.entry.kind, content.digest, recorded.fileId));
    restored.push(f.path);
  }
  for (const { key } of ended) batch.dropKey(key);
  await ctx.store.commit(batch);
  return restored;
}
