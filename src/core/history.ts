import type { ManifestEntry } from './ManifestDoc.js';
import type { TextOp, UndoRecord } from './FileDoc.js';

/** What kind of change an {@link OpEntry} records. */
export type OpKind = 'create' | 'edit' | 'delete' | 'rename' | 'mode' | 'undo' | 'redo';

/**
 * One recorded change, as `cshare log` shows it. Stored under `o:<seq>` in the same batch as
 * the updates it describes.
 */
export interface OpEntry {
  seq: number;
  kind: OpKind;
  /** Milliseconds since the epoch. */
  time: number;
  author: string;
  replica: string;
  fileId: string;
  path: string;
  /** Previous path, for renames (and undos/redos of them). */
  from?: string;
  inserted: number;
  deleted: number;
  /** The text ops of this change, for `log --patch`; dropped when too large. */
  patch?: TextOp[];
  patchTruncated?: boolean;
  /**
   * A create whose text is all of this blob: its patch is read from the blob when asked for
   * (`log --patch`) instead of being stored a second time in the history.
   */
  patchBlob?: string;
  /**
   * Who made an edit recorded as typed (`Replica.recordTextEdit`): an editor session's name.
   * Absent for changes found on disk.
   */
  origin?: string;
  /** For undo/redo: the seq of the change this one reverts. */
  reverts?: number;
  /**
   * A save that was not made from the text on disk just before it (an editor's stale buffer,
   * or a save that landed while a collaborator's change was being written) and was merged
   * from the version it was made from: that version's change seq and time, and why it was
   * taken for the base (see `saveBase.ts`).
   */
  merge?: { baseSeq: number; baseTime: number; reason: 'closest' | 'unchanged' | 'during-apply' | 'concurrent-create' };
  /**
   * How to revert this change: a selective text undo record, and/or the manifest entry
   * before and after it (null = did not exist).
   */
  inverse: { text?: UndoRecord; before?: ManifestEntry | null; after?: ManifestEntry | null };
}

/** Largest patch text (characters) kept in an op entry for `log --patch`. */
export const MAX_PATCH_CHARS = 64 * 1024;

/** The patch to store for `ops`: the ops themselves, or nothing when they are too large. */
export function patchFor(ops: TextOp[]): Pick<OpEntry, 'patch' | 'patchTruncated'> {
  let chars = 0;
  for (const op of ops) chars += op.del.length + op.ins.length;
  return chars <= MAX_PATCH_CHARS ? { patch: ops } : { patchTruncated: true };
}

/** The op fields of a text create whose content is the stored blob `digest`. */
export function createOfBlob(text: string, digest: string): Pick<OpEntry, 'inserted' | 'deleted' | 'patchBlob'> {
  return { inserted: text.length, deleted: 0, patchBlob: digest };
}

/** What one recorded change looks like to a caller (a scan's, an apply's, an undo's). */
export interface RecordedChange {
  seq: number;
  kind: OpKind;
  path: string;
  from?: string;
  inserted: number;
  deleted: number;
}
