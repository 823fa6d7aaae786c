/**
 * Paths cshare does not share or does not write, and why: nothing it refuses may disappear
 * silently. A running `share`/`join` reports each once, `status` lists them all.
 */
import type { ScanScope } from './ScanScope.js';

/** Who refused a path. */
export type RefusedSource =
  /** This replica's scan: a name cshare cannot share (a backslash, `.GIT/`, not UTF-8), an unreadable file, a name that differs only in case from a shared one. */
  | 'local'
  /** The relay refused to store it (an upload it rejected). */
  | 'relay'
  /** A peer's change that is never written here (an unsafe path or a malformed entry). */
  | 'peer';

/** One refused path. */
export interface RefusedPath {
  path: string;
  reason: string;
  source: RefusedSource;
  /** `BAD_PATH`: a path cshare will not use; `IO`: a file it could not read; `TOO_LARGE`: over a limit. */
  code: RefusedCode;
}

/** The error codes of refused paths. */
export type RefusedCode = 'BAD_PATH' | 'IO' | 'TOO_LARGE';

/** A path a scan could not share, as the scanner reports it. */
export interface ScanError {
  path: string;
  message: string;
  /** Default `IO` (a file that could not be read). */
  code?: RefusedCode;
}

/** Most refused paths of peers kept in the status view (their paths are cut at 200 characters). */
export const MAX_VIEW_REFUSED = 1000;

/** Scan errors as refused paths. */
export function localRefused(errors: readonly ScanError[]): RefusedPath[] {
  return errors.map((e) => ({ path: e.path, reason: e.message, source: 'local', code: e.code ?? 'IO' }));
}

/** Manifest entries a peer set that are never written here, as refused paths. */
export function peerRefused(entries: readonly { path: string; reason: string }[]): RefusedPath[] {
  return entries.map((e) => ({ path: e.path, reason: e.reason, source: 'peer', code: 'BAD_PATH' }));
}

/** The refused paths kept in a status view's header (peers' only); anything malformed is left out. */
export function viewRefused(value: unknown): RefusedPath[] {
  if (!Array.isArray(value)) return [];
  return value
    .slice(0, MAX_VIEW_REFUSED)
    .filter((r): r is RefusedPath => typeof r?.path === 'string' && typeof r.reason === 'string' && r.source === 'peer' && r.code === 'BAD_PATH');
}

/** What a running `share`/`join` says about a refused path (once), and what to do about it. */
export function refusedMessage(r: RefusedPath): string {
  const path = JSON.stringify(r.path);
  switch (r.source) {
    case 'local':
      return `${path} is not shared: ${r.reason}`;
    case 'relay':
      return `the relay refused ${path}: ${r.reason}; it is not shared`;
    case 'peer':
      return `a peer's file at the path ${path} was refused (${r.reason}); it is not written here`;
  }
}

/**
 * This replica's refused paths, by source, with the ones already announced: {@link announce}
 * calls its listener once for each path that became refused (again).
 */
export class RefusedPaths {
  private readonly local = new Map<string, { reason: string; code: RefusedCode }>();
  private readonly relay = new Map<string, { reason: string; code: RefusedCode }>();
  private announced = new Set<string>();

  /**
   * What a scan found: the errors of a whole-tree scan replace every local refusal; a scoped
   * scan's replace those inside its scope.
   */
  scanned(errors: readonly ScanError[], scope: ScanScope | undefined): void {
    if (!scope) this.local.clear();
    else for (const path of [...this.local.keys()]) if (scope.covers(path)) this.local.delete(path);
    for (const e of errors) this.local.set(e.path, { reason: e.message, code: e.code ?? 'IO' });
  }

  /** The relay refused `path`. */
  refusedByRelay(path: string, reason: string, code: RefusedCode): void {
    this.relay.set(path, { reason, code });
  }

  /** Every refused path: this replica's, the relay's, and `peer` (from the manifest). */
  all(peer: readonly { path: string; reason: string }[]): RefusedPath[] {
    return [
      ...localRefused([...this.local].map(([path, r]) => ({ path, message: r.reason, code: r.code }))),
      ...[...this.relay].map(([path, r]) => ({ path, ...r, source: 'relay' as const })),
      ...peerRefused(peer),
    ];
  }

  /**
   * Calls `announce` for each of `all` not announced before; a path no longer refused is
   * forgotten, so that it is announced again if it comes back.
   */
  announce(all: readonly RefusedPath[], announce: (r: RefusedPath) => void): void {
    const now = new Set<string>();
    for (const r of all) {
      const key = `${r.source}\0${r.path}\0${r.reason}`;
      now.add(key);
      if (!this.announced.has(key)) announce(r);
    }
    this.announced = now;
  }
}
