/**
 * Which version of a text file a save was made from.
 *
 * A save is an edit of the text its editor loaded, not necessarily of the text on disk now:
 * an editor that has not reloaded since a collaborator's change reached the disk (vim, VS
 * Code, JetBrains and Emacs all keep a dirty buffer) saves its stale buffer, and taken as an
 * edit of the text now, that save reverts the collaborator's change. So each text file keeps
 * its recent on-disk versions (`ReplicaContext.versions`: what cshare wrote, what was recorded)
 * and a save is merged from the one it most likely came from:
 *
 * - a save equal to an older version is an unchanged stale buffer (nothing to revert), unless
 *   the file cshare wrote since was read (an editor reloading it reads it: on Linux, `relatime`
 *   tells) and the path holds a new file, in which case the user brought that text back on
 *   purpose. The file cshare wrote, still in place and unmodified, is no save at all, read or
 *   not (any reader moves the access time: a poll, a build); nor is a save an apply displaced,
 *   which was on disk before the write whose reads the signal counts;
 * - otherwise the version with the smallest edit distance to the save: a stale buffer is
 *   closest to what it loaded, a reloaded one to the text now (ties go to the text now).
 */
import type { FileDoc } from './FileDoc.js';
import type { DiskVersion } from './ReplicaContext.js';
import type { LastWrite } from './ports.js';
import { diffToOps, opsStats } from './textDiff.js';

/** What {@link chooseSaveBase} found. */
export interface SaveBase {
  /** The version the save was made from; undefined: the text now. */
  base?: DiskVersion;
  /** Why: the text now, the closest older version, or an older version saved unchanged. */
  reason: 'current' | 'closest' | 'unchanged';
}

/**
 * How far `b` is from `a`: lines inserted plus deleted, then characters. Lines first: a stale
 * buffer that adds a line where the collaborator added another is one line from its base but
 * two from the text now, while by characters the two added lines may look like one edit
 * ("alice was here" into "bob was here").
 */
function distance(a: string, b: string): [lines: number, chars: number] {
  return [lineDistance(a, b), charDistance(a, b)];
}

function charDistance(a: string, b: string): number {
  const { inserted, deleted } = opsStats(diffToOps(a, b));
  return inserted + deleted;
}

/** Lines inserted plus deleted: each distinct line becomes one character, then a diff. */
function lineDistance(a: string, b: string): number {
  const ids = new Map<string, number>();
  const encode = (text: string): string | undefined => {
    let out = '';
    for (const line of text.split('\n')) {
      let id = ids.get(line);
      if (id === undefined) ids.set(line, (id = ids.size));
      if (id >= 0xd800) return undefined; // too many distinct lines for one code unit each
      out += String.fromCharCode(id);
    }
    return out;
  };
  const x = encode(a);
  const y = encode(b);
  if (x === undefined || y === undefined) return 0; // then characters decide
  const { inserted, deleted } = opsStats(diffToOps(x, y));
  return inserted + deleted;
}

/** Whether distance `x` is the smaller of the two: fewer lines first, then fewer characters. */
export function closerDistance(x: [number, number], y: [number, number]): boolean {
  return x[0] < y[0] || (x[0] === y[0] && x[1] < y[1]);
}

/**
 * The version `saved` (with git blob id `savedDigest`) was most likely made from, of `doc`'s
 * text now (digest `currentDigest`) and `versions`. `lastWrite`: what became of the file cshare
 * last wrote here (undefined: cannot tell, or it does not bear on this save).
 */
export function chooseSaveBase(opts: {
  doc: FileDoc;
  versions: readonly DiskVersion[];
  currentDigest: string;
  saved: string;
  savedDigest: string;
  lastWrite: LastWrite | undefined;
}): SaveBase {
  const { doc, versions, currentDigest, saved, savedDigest } = opts;
  const older = versions.filter((v) => v.digest !== currentDigest);
  if (older.length === 0 || savedDigest === currentDigest) return { reason: 'current' };
  const exact = [...older].reverse().find((v) => v.digest === savedDigest);
  // Brought back on purpose only by a new save after a read of what cshare wrote. The file cshare
  // wrote, still there, was taken for such a save when a test's poll had read it (a version of
  // the file seen again before the doc's newer text reached the disk): diffed against the text
  // now, it deleted the other side's lines (test/e2e/realUse/concurrentSaves.test.ts).
  if (exact) return opts.lastWrite?.read === true && !opts.lastWrite.inPlace ? { reason: 'current' } : { base: exact, reason: 'unchanged' };
  const { version } = nearest(doc, older, saved);
  return version ? { base: version, reason: 'closest' } : { reason: 'current' };
}

/**
 * At most this many versions are diffed against a save beyond the text now: with every version
 * of the last minute kept (`ReplicaContext.noteVersion`), a fast remote typist leaves hundreds,
 * and diffing a 136 KB file against each took 5 ms (1.5 s for 200, under the replica's lock).
 */
const MAX_DIFFED = 32;

/**
 * A bound no greater than {@link distance}: lines and characters can only differ by at least
 * as many as the counts do. Lines count only where {@link lineDistance} cannot fall back to 0
 * (too many distinct lines for its encoding).
 */
function distanceBound(text: string, saved: string, savedLines: number): [lines: number, chars: number] {
  const lines = lineCount(text);
  return [lines + savedLines + 2 < 0xd800 ? Math.abs(lines - savedLines) : 0, Math.abs(text.length - saved.length)];
}

function lineCount(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Of `doc`'s text now and its `versions` (oldest first), the one nearest to `saved`, and how
 * far: the version (none: the text now, which wins a tie), else the later of two as near.
 * Versions are diffed in the order of {@link distanceBound}, none once the nearest found is
 * nearer than the next one's bound, and at most {@link MAX_DIFFED}: the one a stale buffer was
 * read from (its own changes aside) comes first, without diffing every version kept.
 */
function nearest(doc: FileDoc, versions: readonly DiskVersion[], saved: string): { version?: DiskVersion; distance: [number, number] } {
  let found: { version?: DiskVersion; index: number; distance: [number, number] } = { index: Infinity, distance: distance(doc.text, saved) };
  if (found.distance[0] === 0 && found.distance[1] === 0) return found;
  const savedLines = lineCount(saved);
  // Texts are not kept (a large file's hundreds of versions): the few diffed are told again.
  const candidates = versions.flatMap((version, index) => {
    const text = doc.textAt(version.version);
    return text === undefined ? [] : [{ version, index, bound: distanceBound(text, saved, savedLines) }];
  });
  candidates.sort((x, y) => (closerDistance(x.bound, y.bound) ? -1 : closerDistance(y.bound, x.bound) ? 1 : y.index - x.index));
  let diffed = 0;
  for (const c of candidates) {
    if (closerDistance(found.distance, c.bound) || diffed++ >= MAX_DIFFED) break;
    const d = distance(doc.textAt(c.version.version)!, saved);
    const tie = !closerDistance(found.distance, d) && found.index !== Infinity && c.index > found.index;
    if (closerDistance(d, found.distance) || tie) found = { version: c.version, index: c.index, distance: d };
  }
  return found;
}

/** How close `saved` is to the nearest of `doc`'s text now and its `versions`, as {@link chooseSaveBase} measures it. */
export function nearestDistance(doc: FileDoc, versions: readonly DiskVersion[], saved: string): [number, number] {
  return nearest(doc, versions, saved).distance;
}
