/**
 * The status view: what `cshare status` needs to compare the worktree with what is recorded,
 * without opening the store or loading the manifest (a Yjs doc that takes 0.6 s to load at
 * 100,000 files): every live file's path, id, kind, mode and recorded digest, and the stat
 * cache. Like git's index, it lets an unchanged tree be checked with one `lstat` per file.
 *
 * It is a cache written from a replica's state when a process closes the store, and removed
 * before that store's first write (see `openWorktree`), so it never describes anything but
 * the store's last committed state; anything unreadable here is simply not used. It is only
 * ever read by `status`, which records nothing: a view gone stale (a power loss that lost
 * its removal) can make `status` list wrong changes, never lose or record one.
 */
import { pendingChanges, statusChanges, type RecordedFiles, type StatusChange } from './pending.js';
import { localRefused, MAX_VIEW_REFUSED, viewRefused, type RefusedPath } from './refused.js';
import { scanWorktree, type CachedStat, type FileKind, type ScanResult, type ScanScope } from './Scanner.js';
import type { WorktreeFs } from './ports.js';
import { bytesOf, decodeSectioned, encodeSectioned, float64Section, joinedSection, splitSection } from './sectionedFile.js';
import { STATUS_VIEW_MAGIC as MAGIC, STATUS_VIEW_VERSION } from './statusViewFormat.js';

export { STATUS_VIEW_VERSION };

const KINDS: readonly FileKind[] = ['text', 'binary', 'symlink'];
/** Numbers kept per stat cache entry: size, mtimeMs, ctimeMs, ino, mode. */
const STAT_NUMS = 5;

/**
 * A view, held as columns: each list of strings is one `\0`-joined string and the numbers
 * are float64 arrays, so 100,000 files decode in tens of milliseconds instead of the
 * hundreds a JSON array of entries took (24 MB of it).
 */
export interface StatusView {
  replicaId: string;
  /** Live files: path, fileId, kind, mode and the digest of the recorded content. */
  files: { paths: string[]; fileIds: string[]; kinds: Uint8Array; modes: Float64Array; digests: string[] };
  /** The stat cache: path, the numbers, kind and digest. */
  stats: { paths: string[]; nums: Float64Array; kinds: Uint8Array; digests: string[] };
  /** Peers' entries never written here (at most {@link MAX_VIEW_REFUSED}), for `status` to list. */
  refused: RefusedPath[];
  /** Ignore files a peer changed, with the text accepted here (`ReplicaContext.ruleBaselines`). */
  ruleBaselines: [path: string, text: string][];
}

/** The recorded entry of a live file, as the view has it. */
interface ViewEntry {
  path: string;
  kind: FileKind;
  mode: number;
  digest: string;
}

/**
 * Builds a view file by file and stat entry by stat entry, straight into its columns: a view
 * of 100,000 files built from a map of stat objects and a list of entries took ~95 MB more
 * memory at the close of a process than it had.
 */
export class StatusViewBuilder {
  private readonly files = { paths: [] as string[], fileIds: [] as string[], kinds: [] as number[], modes: [] as number[], digests: [] as string[] };
  private readonly stats = { paths: [] as string[], nums: [] as number[], kinds: [] as number[], digests: [] as string[] };

  constructor(
    private readonly replicaId: string,
    private readonly refused: RefusedPath[] = [],
    private readonly ruleBaselines: [string, string][] = [],
  ) {}

  addFile(path: string, fileId: string, kind: FileKind, mode: number, digest: string): void {
    const f = this.files;
    f.paths.push(path);
    f.fileIds.push(fileId);
    f.kinds.push(KINDS.indexOf(kind));
    f.modes.push(mode);
    f.digests.push(digest);
  }

  addStat(path: string, s: CachedStat): void {
    const t = this.stats;
    t.paths.push(path);
    t.nums.push(s.size, s.mtimeMs, s.ctimeMs, s.ino, s.mode);
    t.kinds.push(KINDS.indexOf(s.kind));
    t.digests.push(s.digest);
  }

  build(): StatusView {
    const f = this.files;
    const t = this.stats;
    return {
      replicaId: this.replicaId,
      files: { paths: f.paths, fileIds: f.fileIds, kinds: Uint8Array.from(f.kinds), modes: Float64Array.from(f.modes), digests: f.digests },
      stats: { paths: t.paths, nums: Float64Array.from(t.nums), kinds: Uint8Array.from(t.kinds), digests: t.digests },
      refused: this.refused.slice(0, MAX_VIEW_REFUSED),
      ruleBaselines: this.ruleBaselines,
    };
  }
}


/** Layout: see `sectionedFile.ts`; the header holds magic, version, replicaId and counts. */
export function encodeStatusView(view: StatusView): Uint8Array {
  const sections = [
    joinedSection(view.files.paths),
    joinedSection(view.files.fileIds),
    joinedSection(view.files.digests),
    view.files.kinds,
    bytesOf(view.files.modes),
    joinedSection(view.stats.paths),
    joinedSection(view.stats.digests),
    view.stats.kinds,
    bytesOf(view.stats.nums),
  ];
  const header: Record<string, unknown> = { magic: MAGIC, version: STATUS_VIEW_VERSION, replicaId: view.replicaId, files: view.files.paths.length, stats: view.stats.paths.length, rules: view.ruleBaselines };
  // In the header, which `status` reads first: usually empty, and then left out.
  if (view.refused.length > 0) header.refused = view.refused.slice(0, MAX_VIEW_REFUSED);
  return encodeSectioned(header, sections);
}

/** The view in `bytes`, or undefined when it is damaged or of another version (then unused). */
export function decodeStatusView(bytes: Uint8Array): StatusView | undefined {
  // A copy on an aligned buffer of its own, so float64 sections can be viewed in place.
  const read = decodeSectioned(new Uint8Array(bytes), 9);
  if (!read) return undefined;
  const h = read.header;
  const nf = h.files;
  const ns = h.stats;
  if (h.magic !== MAGIC || h.version !== STATUS_VIEW_VERSION || typeof h.replicaId !== 'string') return undefined;
  if (!Number.isSafeInteger(nf) || !Number.isSafeInteger(ns)) return undefined;
  const rules = h.rules;
  if (!Array.isArray(rules) || !rules.every((r) => Array.isArray(r) && r.length === 2 && typeof r[0] === 'string' && typeof r[1] === 'string')) return undefined;
  const kinds = (s: Uint8Array, n: number): Uint8Array | undefined => (s.byteLength === n && s.every((k) => k < KINDS.length) ? s : undefined);
  const [fp, fi, fd, fk, fm, sp, sd, sk, sn] = read.sections as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  const n = nf as number;
  const m = ns as number;
  const files = { paths: splitSection(fp, n), fileIds: splitSection(fi, n), digests: splitSection(fd, n), kinds: kinds(fk, n), modes: float64Section(fm, n) };
  const stats = { paths: splitSection(sp, m), digests: splitSection(sd, m), kinds: kinds(sk, m), nums: float64Section(sn, m * STAT_NUMS) };
  if (Object.values(files).some((x) => x === undefined) || Object.values(stats).some((x) => x === undefined)) return undefined;
  return { replicaId: h.replicaId, files: files as StatusView['files'], stats: stats as StatusView['stats'], refused: viewRefused(h.refused), ruleBaselines: rules as [string, string][] };
}

/** The view's live files, for {@link pendingChanges}. */
function recordedOf(view: StatusView): RecordedFiles<ViewEntry> {
  const live = new Map<string, { fileId: string; entry: ViewEntry }>();
  const f = view.files;
  for (let i = 0; i < f.paths.length; i++) {
    live.set(f.paths[i]!, { fileId: f.fileIds[i]!, entry: { path: f.paths[i]!, kind: KINDS[f.kinds[i]!]!, mode: f.modes[i]!, digest: f.digests[i]! } });
  }
  return { live: () => live, contentDigest: (_fileId, entry) => entry.digest };
}

/** The view's stat cache; entries are built as the scan asks for them. */
function statCacheOf(view: StatusView): Pick<ReadonlyMap<string, CachedStat>, 'get' | 'has'> {
  const s = view.stats;
  const index = new Map<string, number>();
  for (let i = 0; i < s.paths.length; i++) index.set(s.paths[i]!, i);
  return {
    has: (path: string) => index.has(path),
    get(path: string): CachedStat | undefined {
      const i = index.get(path);
      if (i === undefined) return undefined;
      const o = i * STAT_NUMS;
      return { size: s.nums[o]!, mtimeMs: s.nums[o + 1]!, ctimeMs: s.nums[o + 2]!, ino: s.nums[o + 3]!, mode: s.nums[o + 4]!, kind: KINDS[s.kinds[i]!]!, digest: s.digests[i]! };
    },
  };
}

/**
 * Scans the worktree against the view: the changes not yet recorded, how many files are, and
 * the scan itself. With a `scope`, only the changes inside it (see `pendingChanges`).
 */
export function statusFromView(
  view: StatusView,
  opts: { fs: WorktreeFs; textLimit?: number; home?: string; env?: Record<string, string | undefined>; scope?: ScanScope; now?: number; racyWindowMs?: number },
): { files: number; changed: StatusChange[]; scan: ScanResult; refused: RefusedPath[] } {
  const statCache = statCacheOf(view);
  // As a replica scans (`ReplicaContext.scanPolicy`): its live files on disk here are tracked.
  const shared = new Set<string>();
  for (const path of view.files.paths) if (statCache.has(path)) shared.add(path);
  const scan = scanWorktree({ ...opts, statCache, shared, ruleBaselines: new Map(view.ruleBaselines) });
  const present = (path: string): boolean => {
    const st = opts.fs.lstat(path);
    return st?.kind === 'file' || st?.kind === 'symlink';
  };
  const pending = pendingChanges(recordedOf(view), scan, opts.scope, present);
  return { files: view.files.paths.length, changed: statusChanges(pending), scan, refused: [...localRefused([...scan.errors, ...pending.refused]), ...view.refused] };
}
