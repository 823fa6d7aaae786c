/**
 * What `cshare files` prints: the files that would be shared, each with its mode in octal as
 * git prints it. One function for both ways the command runs: on the store itself, or in
 * the running `share`/`join` that holds it (over the control socket, as JSON).
 */
import type { Replica } from './Replica.js';
import type { ExcludedFile, NestedRepo, ScannedFile } from './Scanner.js';

/** A file as `cshare files --json` shows it. */
export interface ScannedFileJson {
  path: string;
  kind: ScannedFile['kind'];
  mode: string;
  size: number;
  digest: string;
}

/** The answer of `cshare files`. */
export interface FilesList {
  root: string;
  files: ScannedFileJson[];
  /** With `excluded` only: what is held back, and why. */
  excluded?: ExcludedFile[];
  /**
   * Always: the git repositories inside the tree (submodules, other nested repositories) and
   * whether their files are shared, so that none of them is left out or taken in unsaid.
   */
  nested: NestedRepo[];
  errors: { path: string; message: string }[];
}

/** Lists what `replica` would share (and, with `excluded`, what it holds back). */
export async function listFiles(replica: Replica, opts: { excluded?: boolean; signal?: AbortSignal } = {}): Promise<FilesList> {
  const result = await replica.files({ includeExcluded: opts.excluded, signal: opts.signal });
  return { root: replica.root, files: result.files.map(scannedFileJson), ...(opts.excluded ? { excluded: result.excluded } : {}), nested: result.nested, errors: result.errors };
}

/** A scanned file as `cshare files --json` shows it. */
export function scannedFileJson(f: ScannedFile): ScannedFileJson {
  return { path: f.path, kind: f.kind, mode: f.mode.toString(8).padStart(6, '0'), size: f.size, digest: f.digest };
}

/** What `cshare files` says of a nested repository, in words (human output). */
export function nestedRepoLine(n: NestedRepo): string {
  const what = n.kind === 'submodule' ? 'submodule' : 'nested repository';
  if (n.state === 'shared') return `${what} ${n.path}: its files are shared, by its own ignore rules (never its .git)`;
  if (n.state === 'not-checked-out') return `${what} ${n.path}: not checked out here, nothing of it to share (git submodule update --init ${n.path.slice(0, -1)})`;
  return `${what} ${n.path}: not shared (not part of this repository, as git lists it); add ${n.path} to .cshareinclude to share its files`;
}
