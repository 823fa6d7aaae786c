import { homedir } from 'node:os';
import { join } from 'node:path';
import { gitAuthorName } from '../core/gitConfigFiles.js';
import type { StatusChange } from '../core/pending.js';
import type { ReplicaStatus } from '../core/Replica.js';
import type { RefusedPath } from '../core/refused.js';
import type { NestedRepo, ScanScope } from '../core/Scanner.js';
import { NodeFs } from '../store/fs/NodeFs.js';
import { levelDir, PACKS_DIR, readStatusViewHeader, statusCachePath, STORE_DIR, storeDirBytes, storeLooksIntact } from '../store/layout.js';
import { RecordingFs } from '../store/fs/RecordingFs.js';
import { cachedDirsOf, cachedFilesOf, encodeStatusCache, envKey, mergeNested, mergeStatusCache, writeStatusCache } from './statusCache.js';
import { checkStatusCache, type CacheCheck } from './statusCacheCheck.js';

/** Options of {@link statusOffline}; for tests. */
export interface StatusOfflineOptions {
  /** See `checkStatusCache`. */
  workerMinFiles?: number;
  /** See `ScanOptions.racyWindowMs`. */
  racyWindowMs?: number;
  /** Told how the answer was found: from the cache alone, by scanning its suspects, or the whole tree. */
  onAnswer?: (how: 'cache' | 'scoped' | 'scan') => void;
}

/**
 * `cshare status` of a worktree no process holds, from its status view: the same answer as
 * `Replica.status`, without opening the store or loading the manifest. Undefined when there
 * is no usable view (then the store is opened, and its close writes one).
 *
 * First from the status cache (see `statusCache.ts`): when nothing changed since the
 * last status, one `lstat` per file and directory tells, and the scanner is not even loaded;
 * when a few paths did, only they are scanned. Else the whole tree is scanned against the
 * view. Either scan brings the cache up to date for the next time.
 */
export async function statusOffline(root: string, env: NodeJS.ProcessEnv = process.env, opts: StatusOfflineOptions = {}): Promise<ReplicaStatus | undefined> {
  const storeDir = levelDir(root);
  // A damaged store is reported by opening it, not hidden behind the view.
  if (!storeLooksIntact(storeDir)) return undefined;
  const header = readStatusViewHeader(root);
  if (!header) {
    // Read whole, a damaged view is removed, so the next close writes a good one.
    (await import('../store/statusViewFile.js')).readStatusView(root);
    return undefined;
  }
  const fs = new NodeFs(root);
  const home = env.HOME ?? homedir();
  const cache = { path: statusCachePath(root), envKey: envKey(home, env, undefined) };
  const check = await checkStatusCache({ root: fs.root, path: cache.path, viewKey: header.key, envKey: cache.envKey, workerMinFiles: opts.workerMinFiles });
  let found: Found | undefined;
  if (check !== undefined && check.suspects.length === 0) {
    // The cache is written only when the scan refused nothing, so from it only peers' are left.
    found = { files: header.files, changed: check.changes, replicaId: header.replicaId, refused: header.refused, nested: check.nested };
    opts.onAnswer?.('cache');
  } else {
    found = await scanAgainstView({ root, fs, home, env, header, check, cache, opts });
    if (!found) return undefined;
  }
  return {
    root: fs.root,
    replica: { id: found.replicaId, name: gitAuthorName(fs, env, home) },
    files: found.files,
    changed: found.changed,
    storeBytes: storeDirBytes(storeDir) + storeDirBytes(join(root, STORE_DIR, PACKS_DIR)),
    sharing: 'off',
    refused: found.refused,
    nested: found.nested,
  };
}

/** What a status found: from the cache alone, or by a scan against the view. */
interface Found {
  files: number;
  changed: StatusChange[];
  replicaId: string;
  refused: RefusedPath[];
  nested: NestedRepo[];
}

/** Where the status cache is, and the key of the environment it was computed in. */
interface CacheAt {
  path: string;
  envKey: string;
}

/**
 * The worktree scanned against the status view: only the cache's suspects when it has a
 * few, else the whole tree. Either scan brings the cache up to date. Undefined when the view
 * cannot be read.
 */
async function scanAgainstView(ctx: {
  root: string;
  fs: NodeFs;
  home: string;
  env: NodeJS.ProcessEnv;
  header: { key: string };
  check: CacheCheck | undefined;
  cache: CacheAt;
  opts: StatusOfflineOptions;
}): Promise<Found | undefined> {
  const { fs, check, opts } = ctx;
  // Loaded only now: the scanner and the view's decoder are most of what `status` loads.
  const [{ statusFromView }, { ScanScope, SCOPE_MAX_PATHS }, { readStatusViewKeyed }] = await Promise.all([
    import('../core/statusView.js'),
    import('../core/Scanner.js'),
    import('../store/statusViewFile.js'),
  ]);
  const read = readStatusViewKeyed(ctx.root);
  if (!read) return undefined;
  const { view, key } = read;
  // A few suspects: they, and the paths of the changes the cache lists (a file created now
  // may be a rename of one it lists as deleted), are all that can have changed. Not when
  // `.git` appeared (the repository's rules now apply) or the view changed since the check.
  let scope: ScanScope | undefined;
  if (check !== undefined && key === ctx.header.key && !check.suspects.includes('.git') && ScanScope.ofChanges(check.suspects) !== undefined) {
    const paths = [...check.suspects, ...check.changes.flatMap((c) => (c.from === undefined ? [c.path] : [c.path, c.from]))];
    if (paths.length <= SCOPE_MAX_PATHS) scope = new ScanScope(paths);
  }
  const recording = new RecordingFs(fs);
  const now = Date.now();
  const r = statusFromView(view, { fs: recording, home: ctx.home, env: ctx.env, now, racyWindowMs: opts.racyWindowMs, scope });
  opts.onAnswer?.(scope ? 'scoped' : 'scan');
  const nested = scope && check ? mergeNested(check.nested, (p) => scope.covers(p), r.scan.nested) : r.scan.nested;
  // Unreadable and refused paths are neither changes nor files: a cache would not know to
  // look again.
  if (r.refused.every((x) => x.source !== 'local')) {
    const head = { viewKey: key, envKey: ctx.cache.envKey, clean: r.changed.length === 0, changes: r.changed, nested, scanStartMs: now, racyWindowMs: opts.racyWindowMs };
    const bytes =
      scope && check
        ? mergeStatusCache(fs.root, check.cache, { covers: (p) => scope.covers(p), files: r.scan.files, listed: recording.dirs, inputs: recording.inputs, oldInputs: check.cache.inputPaths }, head)
        : encodeStatusCache(fs.root, { ...head, files: cachedFilesOf(r.scan.files), dirs: cachedDirsOf(recording.dirs), inputs: [...recording.inputs] });
    if (bytes) writeStatusCache(ctx.cache.path, bytes);
  }
  return { files: r.files, changed: r.changed, replicaId: view.replicaId, refused: r.refused, nested };
}
