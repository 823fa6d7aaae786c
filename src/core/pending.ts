/**
 * The comparison of a scan with what is recorded: which files were created, modified,
 * deleted or renamed since the last recorded scan. Kept apart from the recording (and from
 * Yjs) so `cshare status` can run it against a {@link StatusView} without loading the manifest.
 */
import type { ScanError } from './refused.js';
import type { FileKind, ScannedFile, ScanResult } from './Scanner.js';
import type { ScanScope } from './ScanScope.js';

/** What the comparison needs of a recorded entry. */
export interface RecordedEntry {
  path: string;
  kind: FileKind;
  mode: number;
}

/** The recorded side: live files by path, and the digest of each one's recorded content. */
export interface RecordedFiles<E extends RecordedEntry> {
  live(): ReadonlyMap<string, { fileId: string; entry: E }>;
  contentDigest(fileId: string, entry: E): string;
}

/** The differences between the worktree on disk and the recorded manifest. */
export interface PendingChanges<E extends RecordedEntry> {
  creates: ScannedFile[];
  modified: { file: ScannedFile; fileId: string; entry: E }[];
  deletes: { fileId: string; entry: E }[];
  renames: { file: ScannedFile; fileId: string; entry: E }[];
  /** New files left out because their path differs only in case from a shared one (`BAD_PATH`). */
  refused: ScanError[];
}

/**
 * Compares a scan with the recorded files. Paths the scan could not read are neither changed
 * nor deleted: an unreadable file must never be recorded as a delete. Nor is a file the scan
 * left out but that is still on disk (`present`): a path that is ignored or held back here
 * (a rule added on one side, a secret another machine opted in) only stops syncing from this
 * side; recorded as a delete, it would vanish from every other disk. A scan of a `scope` says
 * nothing about the files outside it. A `fresh` path is a new file though a live entry has
 * its path (see `RecordOptions.fresh`).
 */
export function pendingChanges<E extends RecordedEntry>(
  recorded: RecordedFiles<E>,
  scan: ScanResult,
  scope?: ScanScope,
  present?: (path: string) => boolean,
  fresh?: ReadonlySet<string>,
): PendingChanges<E> {
  const live = recorded.live();
  const unreadable = new Set(scan.errors.map((e) => e.path));
  const seen = new Set<string>();
  const creates: ScannedFile[] = [];
  const modified: PendingChanges<E>['modified'] = [];
  for (const file of scan.files) {
    seen.add(file.path);
    const cur = live.get(file.path);
    if (!cur || fresh?.has(file.path)) creates.push(file);
    else if (recorded.contentDigest(cur.fileId, cur.entry) !== file.digest || cur.entry.mode !== file.mode || cur.entry.kind !== file.kind) {
      modified.push({ file, fileId: cur.fileId, entry: cur.entry });
    }
  }
  const gone: { fileId: string; entry: E }[] = [];
  for (const [path, cur] of live) {
    if (seen.has(path) || unreadable.has(path) || (scope !== undefined && !scope.covers(path))) continue;
    if (present?.(path)) continue;
    gone.push(cur);
  }
  const refused = creates.length > 0 ? refuseCaseTwins(live, gone, creates) : [];

  // A create whose exact content vanished elsewhere is a rename: it keeps its fileId, so its
  // history follows it.
  const goneByDigest = new Map<string, { fileId: string; entry: E }[]>();
  for (const g of gone) {
    const digest = recorded.contentDigest(g.fileId, g.entry);
    const list = goneByDigest.get(digest) ?? [];
    list.push(g);
    goneByDigest.set(digest, list);
  }
  const renames: PendingChanges<E>['renames'] = [];
  const realCreates: ScannedFile[] = [];
  for (const file of creates) {
    const match = goneByDigest.get(file.digest)?.find((g) => g.entry.kind === file.kind);
    if (match) {
      goneByDigest.get(file.digest)!.splice(goneByDigest.get(file.digest)!.indexOf(match), 1);
      renames.push({ file, fileId: match.fileId, entry: match.entry });
    } else realCreates.push(file);
  }
  const deletes = [...goneByDigest.values()].flat();
  return { creates: realCreates, modified, deletes, renames, refused };
}

/**
 * Takes out of `creates` (in place) each new path that is the same path as a shared one, or
 * as a new one before it, on a case-insensitive or Unicode-normalising file system (`README`
 * beside `readme`): a joiner on macOS or Windows could not write both, and the relay refuses
 * a change that holds both. The shared path keeps its file; the new one is refused, and said so.
 */
function refuseCaseTwins<E extends RecordedEntry>(live: ReadonlyMap<string, { fileId: string; entry: E }>, gone: readonly { entry: E }[], creates: ScannedFile[]): ScanError[] {
  const goneSet = new Set(gone.map((g) => g.entry.path));
  const taken = new Map<string, string>();
  for (const path of live.keys()) if (!goneSet.has(path)) taken.set(foldPath(path), path);
  const refused: ScanError[] = [];
  let kept = 0;
  for (const file of creates) {
    const key = foldPath(file.path);
    const twin = taken.get(key);
    if (twin !== undefined && twin !== file.path) {
      refused.push({ path: file.path, message: `differs only in case from ${JSON.stringify(twin)}, which is shared (a joiner on macOS or Windows could not have both); rename it to share it`, code: 'BAD_PATH' });
      continue;
    }
    taken.set(key, file.path);
    creates[kept++] = file;
  }
  creates.length = kept;
  return refused;
}

/** The key two paths share if a case-insensitive, normalising file system sees one file (as the relay folds them). */
function foldPath(path: string): string {
  // Most paths are ASCII, which NFC leaves as it is.
  return /^[\x00-\x7f]*$/.test(path) ? path.toLowerCase() : path.normalize('NFC').toLowerCase();
}

/** One line of `cshare status`'s list of unrecorded changes. */
export interface StatusChange {
  path: string;
  change: 'created' | 'modified' | 'deleted' | 'renamed';
  from?: string;
}

/** The pending changes as `status` lists them, sorted by path. */
export function statusChanges<E extends RecordedEntry>(p: PendingChanges<E>): StatusChange[] {
  return [
    ...p.creates.map((f) => ({ path: f.path, change: 'created' as const })),
    ...p.modified.map((m) => ({ path: m.file.path, change: 'modified' as const })),
    ...p.deletes.map((d) => ({ path: d.entry.path, change: 'deleted' as const })),
    ...p.renames.map((r) => ({ path: r.file.path, change: 'renamed' as const, from: r.entry.path })),
  ].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
