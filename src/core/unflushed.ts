/**
 * Files an apply wrote without flushing them.
 *
 * A join used to fsync every file it wrote before committing the store (~0.6 s of a
 * 10,000-file join; `git clone` flushes none). The flush is what keeps a power cut from
 * leaving a file empty or cut short while the store records it as complete: the next scan
 * would take the torn file for a local edit and send it to every peer. Now, where the file
 * system knows the machine's boot, an apply writes its files unflushed and notes each one in
 * the same store batch that records them (the store's own writes are flushed): its path, the
 * content it must hold, and its inode and mtime right after the write.
 *
 * - A long-running process flushes the noted files when it has been idle for a moment, then
 *   drops the notes ({@link Replica}).
 * - A note left from another boot (the machine went down before the files were known to be
 *   flushed) is checked when the store is next opened, before any scan: a noted file that is
 *   still the inode that was written, not modified after the write, but no longer holds the
 *   noted content was torn by the crash and is written again from the store. A file modified
 *   after the write is someone's edit and is left to the scan; a noted file that is missing
 *   is written again (the safe direction: a file comes back rather than a delete spreading).
 * - A note from the running boot needs nothing: without a crash the kernel writes the data.
 */
import type { ReplicaContext } from './ReplicaContext.js';
import type { ChangeBatch } from './ChangeBatch.js';
import { parseJson } from './storeKeys.js';

/** One file written unflushed: what it must hold, and its inode and mtime right after the write. */
export interface UnflushedFile {
  path: string;
  digest: string;
  ino: number;
  mtimeMs: number;
}

/** The files of one apply, and the boot they were written in. */
export interface UnflushedNote {
  boot: string;
  files: UnflushedFile[];
}

/**
 * File timestamps come from the kernel's coarse clock, which may lag the one `Date.now()`
 * reads by a tick: a file written just after a reading can carry a slightly earlier time.
 */
export const CLOCK_SLACK_MS = 1000;

/** Adds the note of an apply's unflushed files to the batch that records the apply. */
export function noteUnflushed(batch: ChangeBatch, seq: number, note: UnflushedNote): void {
  batch.putUnflushed(seq, note);
}

/** Every note, oldest first, with its key. A note that cannot be read is dropped by its key. */
export async function readUnflushed(ctx: ReplicaContext): Promise<{ key: string; note: UnflushedNote | undefined }[]> {
  const out: { key: string; note: UnflushedNote | undefined }[] = [];
  for await (const { key, value } of ctx.store.unflushedNotes()) {
    let note: UnflushedNote | undefined;
    try {
      const n = parseJson<UnflushedNote>(value, key);
      if (typeof n.boot === 'string' && Array.isArray(n.files)) note = n;
    } catch {
      note = undefined;
    }
    out.push({ key, note });
  }
  return out;
}
