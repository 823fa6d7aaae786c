/**
 * Paths an apply leaves alone on this disk. A remote change may name a path this replica
 * cannot or must not write: one whose parent here is a symlink (nothing is ever written
 * through a link) or a file, one where a folder or a FIFO, socket or device sits, or a symlink
 * whose target would lead out of the worktree or into `.git/`. Failing the whole apply for it
 * rolled everything back, and the same change failed again at every retry: the share was
 * wedged for good. Such a path is left as it is instead (nothing written, its stat cache
 * entry dropped, so a scan sees a file that was never written here rather than a deletion),
 * reported, and written later by the scan that finds it free (`materialize`).
 */
import { unsafeLinkTargetReason } from './paths.js';
import type { FileStat, PathObstacle, WorktreeFs } from './ports.js';

/** A path left alone, and why (see the module comment). */
export interface BlockedPath {
  path: string;
  fileId: string;
  reason: string;
}

/**
 * Whether `path`'s parents let the apply touch it: `blocked` with the reason if a parent is a
 * symlink or a file that stays, `absent` if that parent is one `removing` takes away first (the
 * path is then new: a link replaced by a folder), nothing if every parent is a real folder.
 * `seen` caches the answer per folder while the disk does not change (an apply's planning).
 */
export function parentObstacle(fs: WorktreeFs, path: string, removing: ReadonlySet<string>, seen?: Map<string, PathObstacle | undefined>): { blocked?: string; absent?: boolean } {
  // Paths of one folder share their parents: walked once per folder (a join writes thousands).
  const dir = path.slice(0, Math.max(0, path.lastIndexOf('/')));
  let problem: PathObstacle | undefined;
  if (seen?.has(dir)) problem = seen.get(dir);
  else {
    problem = fs.parentProblem?.(path);
    seen?.set(dir, problem);
  }
  if (problem === undefined) return {};
  return removing.has(problem.at) ? { absent: true } : { blocked: problem.reason };
}

/** Why what `st` describes cannot be replaced by a file or link, or undefined. */
export function inTheWay(path: string, st: FileStat | undefined): string | undefined {
  if (st?.kind === 'dir') return `a folder ${path} is in the way`;
  if (st?.kind === 'other') return `${path} is a FIFO, socket or device, which cshare never opens or replaces`;
  return undefined;
}

/** Why the link `path` -> `target` is not created here, or undefined (see `unsafeLinkTargetReason`). */
export function linkObstacle(fs: WorktreeFs, path: string, target: string): string | undefined {
  const reason = unsafeLinkTargetReason(path, target) ?? fs.linkProblem?.(path, target);
  return reason === undefined ? undefined : `the symlink ${path} is not created: ${reason}`;
}
