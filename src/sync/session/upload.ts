import { counted } from '../../core/display.js';
import { CshareError } from '../../core/errors.js';
import type { BlobRef, ChangeSet, OutgoingChanges } from '../../core/exchange.js';
import { logger } from '../../core/log.js';
import type { ScanReport } from '../../core/recordScan.js';
import type { ScanScope } from '../../core/Scanner.js';
import { pooled } from '../pooled.js';
import type { SessionContext } from './context.js';

const log = logger('session');

/**
 * Requests kept in flight at once for uploads. One at a time, a 10,000-file share was 10,000
 * round trips; a bounded window pipelines them without unbounded memory.
 */
const WINDOW = 64;

/**
 * Requests kept in flight for text files' doc updates (small: a few hundred bytes for a
 * checkout's file). A burst of 3000 goes up at most a window per round trip (the relay's
 * group commit, its reply and this side's turn to read it, slow on a loaded machine); the
 * relay serves 128 calls of a connection at once, and `need` answers (16) and the manifest go
 * beside these.
 */
const FILE_WINDOW = 96;

/** Files modified this recently are uploaded first: they are what people work on. */
const RECENT_MS = 24 * 60 * 60 * 1000;

/** Options of a push (see `SyncSession.push`). */
export interface PushOptions {
  /** Called once the manifest is up (after the files being worked on): the join code is printed. */
  afterManifest?: () => Promise<void> | void;
  /** Record the disk first (true). */
  scan?: boolean;
  /** Only this part of the tree (a watcher's burst). */
  scope?: ScanScope;
  /** Told what the scan recorded. */
  onScanned?: (report: ScanReport) => void;
}

/** The upload in progress, in files (for `status`: files still uploading). */
export type Uploading = { done: number; total: number } | null;

/** What goes up, in order: the files open in editors, the files being worked on, the manifest, then the rest. */
interface UploadPlan {
  live: Content;
  first: Content;
  rest: Content;
  /** Files counted (a file's content or its doc's updates: one item each). */
  total: number;
}

interface Content {
  blobs: BlobRef[];
  files: ChangeSet['files'];
}

/**
 * A read-only join's push: local changes are recorded here (nothing is lost), never uploaded:
 * the relay refuses writes from a read-only code anyway. Said once per batch of local changes.
 */
export async function recordReadOnly(ctx: SessionContext, opts: PushOptions): Promise<number> {
  const report = (opts.scan ?? true) ? await ctx.replica.scan({ scope: opts.scope }).finally(() => ctx.reportNotices()) : undefined;
  if (report) opts.onScanned?.(report);
  const recorded = report?.recorded ?? [];
  if (recorded.length > 0) {
    const one = recorded.length === 1;
    ctx.emit({ type: 'error', code: 'FORBIDDEN', message: `this join code is read-only: ${counted(recorded.length, 'local change')} (${recorded.slice(0, 3).map((c) => c.path).join(', ')}) ${one ? 'stays' : 'stay'} on this machine and ${one ? 'is' : 'are'} not shared` });
  }
  await opts.afterManifest?.();
  return 0;
}

/**
 * Records local changes (of `opts.scope` only, when given), after holding the log after the
 * acknowledged seq (compaction must not fold what is not uploaded yet). Run it through the
 * session's `serial`.
 */
export async function recordLocal(ctx: SessionContext, opts: PushOptions): Promise<void> {
  const { replica, state, signal } = ctx;
  await replica.holdLogAfter(state.acked);
  if (opts.scan ?? true) {
    const report = await replica.scan({ signal, scope: opts.scope }).finally(() => ctx.reportNotices());
    opts.onScanned?.(report);
  }
}

/**
 * Uploads this replica's changes the relay lacks (only the logged updates after the
 * acknowledged seq), in the order of ARCHITECTURE.md "A save going out": offer, the files
 * being worked on, the manifest, `afterManifest`, the rest, the history. Resolves with the
 * changes uploaded. Uploads run one after the other (the session's send chain): each starts
 * from what the one before acknowledged.
 */
export async function upload(ctx: SessionContext, opts: PushOptions, onUploading: (u: Uploading) => void): Promise<number> {
  const { replica, state } = ctx;
  const began = performance.now();
  // Blobs by reference, each read as it goes up: a first share of a big tree does not
  // hold all of its content in memory.
  const { changes, upTo } = await replica.outgoingSince(state.acked);
  const plan = await planUpload(ctx, changes, opts.afterManifest !== undefined);
  const run = new UploadRun(ctx, plan.total, onUploading);
  await run.content(plan.live);
  await run.content(plan.first);
  await run.manifest(changes.manifest);
  await opts.afterManifest?.();
  // A joiner that asks for a file still in this queue gets it sooner through `need`.
  await run.content(plan.rest);
  // The log entries of what just went up, after it, for every other replica's log.
  run.bytes += await ctx.client.uploadHistory(replica.ownHistory(state.acked, upTo));
  onUploading(null);
  const count = changes.manifest.length + changes.files.length + changes.blobs.length;
  if (count > 0) log('uploaded %d changes in %d ms', count, Math.round(performance.now() - began));
  state.acked = upTo;
  state.stored = Math.max(state.stored ?? 0, ctx.client.stored);
  await replica.holdLogAfter(upTo);
  await ctx.saveState();
  if (count > 0) ctx.emit({ type: 'uploaded', changes: count, bytes: run.bytes, upTo });
  return count;
}

/**
 * Orders what goes up: the files the user is working on first (ARCHITECTURE.md "A save going
 * out", step 6), then the manifest, then the rest; content the relay has already is left out.
 */
async function planUpload(ctx: SessionContext, changes: OutgoingChanges, firstUpload: boolean): Promise<UploadPlan> {
  // Finding them reads the whole stat cache (100,000 entries in a big tree): only worth it
  // for the first upload (whose order decides when the code is printed) or a big one, and
  // only when there is content to order (a joiner's first push mostly has none).
  const content = changes.blobs.length + changes.files.length;
  const ordered = (firstUpload && content > 1) || content > WINDOW;
  const recent = ordered ? await ctx.replica.recentFileIds(RECENT_MS) : new Set<string>();
  // Files open in connected editors (or left open by the process before) go first of all:
  // someone is typing in them now (EDITOR-API.md).
  const live = ctx.replica.liveFileIds();
  const isLive = (fileId: string | undefined) => fileId !== undefined && live.has(fileId);
  const isFirst = (fileId: string | undefined) => fileId !== undefined && (recent.has(fileId) || live.has(fileId));
  // Steps 1–2: offer the content about to go up; the relay answers which it lacks (and
  // remembers who offered it, to ask for it first if a joiner wants it meanwhile).
  const stored = await storedOnRelay(ctx, changes.blobs);
  const toSend = changes.blobs.filter((b) => !stored.has(b.digest));
  const recentOnly = (fileId: string | undefined) => isFirst(fileId) && !isLive(fileId);
  return {
    live: { blobs: toSend.filter((b) => isLive(b.fileId)), files: changes.files.filter((f) => isLive(f.fileId)) },
    first: { blobs: toSend.filter((b) => recentOnly(b.fileId)), files: changes.files.filter((f) => recentOnly(f.fileId)) },
    rest: { blobs: toSend.filter((b) => !isFirst(b.fileId)), files: changes.files.filter((f) => !isFirst(f.fileId)) },
    // Counted in files, as `share` says it: the manifest goes up beside them and is not one of them.
    total: toSend.length + changes.files.length,
  };
}

/**
 * Which of `blobs` the relay has already, by offering their entries (path, file id, digest).
 * A blob without a path, or whose path would make the offer ambiguous, is not offered (it is
 * uploaded; uploads are idempotent). A refused offer only means the rest is uploaded.
 */
async function storedOnRelay(ctx: SessionContext, blobs: readonly BlobRef[]): Promise<Set<string>> {
  const entries: { path: string; fileId: string; digest: string }[] = [];
  const folded = new Set<string>();
  for (const b of blobs) {
    if (b.fileId === undefined || b.path === undefined) continue;
    const key = b.path.normalize('NFC').toLowerCase();
    if (folded.has(key)) continue;
    folded.add(key);
    entries.push({ path: b.path, fileId: b.fileId, digest: b.digest });
  }
  const stored = new Set<string>();
  try {
    for await (const answer of ctx.client.offer(entries)) {
      const needed = new Set(answer.need);
      for (const e of answer.entries) if (!needed.has(e.fileId)) stored.add(e.digest);
    }
  } catch (err) {
    if (ctx.signal?.aborted || !(err instanceof CshareError) || (err.code !== 'BAD_PATH' && err.code !== 'TOO_LARGE')) throw err;
    log('offer refused (%s); uploading everything', err.message);
  }
  return stored;
}

/** One push's uploads: what they sent (bytes) and how far they are (progress events). */
class UploadRun {
  bytes = 0;
  private done = 0;
  private lastProgress = 0;

  constructor(
    private readonly ctx: SessionContext,
    private readonly total: number,
    private readonly onUploading: (u: Uploading) => void,
  ) {
    onUploading(total > 0 ? { done: 0, total } : null);
  }

  /** Uploads `content`'s blobs ({@link WINDOW} at a time), then its files' doc updates ({@link FILE_WINDOW}). */
  async content(content: Content): Promise<void> {
    await pooled({ items: content.blobs, limit: WINDOW, run: (b) => this.blob(b) });
    await pooled({ items: content.files, limit: FILE_WINDOW, run: (f) => this.file(f) });
  }

  async manifest(updates: Uint8Array[]): Promise<void> {
    this.bytes += sumBytes(updates);
    await this.ctx.client.uploadManifest(updates).catch((err: unknown) => {
      // The path is said before the share stops on it (BAD_PATH is fatal: every later
      // change of the manifest depends on this one).
      if (err instanceof CshareError && err.code === 'BAD_PATH' && typeof err.data.path === 'string') this.ctx.replica.refusedByRelay(err.data.path, err.message, 'BAD_PATH');
      throw err;
    });
  }

  private async blob(b: BlobRef): Promise<void> {
    const { replica, signal } = this.ctx;
    signal?.throwIfAborted();
    const content = await replica.blob(b.digest);
    if (content) {
      this.bytes += content.byteLength;
      try {
        await this.ctx.client.uploadBlob({ digest: b.digest, bytes: content, fileId: b.fileId });
      } catch (err) {
        // Over the relay's size limit: that file is not shared (and said so), the rest is.
        // Sent again, it would be refused again, and hold back every later upload.
        if (!(err instanceof CshareError) || err.code !== 'TOO_LARGE' || signal?.aborted) throw err;
        replica.refusedByRelay(b.path ?? b.digest, err.message, 'TOO_LARGE');
      }
    }
    this.progress();
  }

  private async file(file: ChangeSet['files'][number]): Promise<void> {
    this.bytes += sumBytes(file.updates);
    await this.ctx.client.uploadFileUpdates(file.fileId, file.updates);
    this.progress();
  }

  /** One more file sent: `status` sees it, and a big upload says so (at most every 250 ms). */
  private progress(): void {
    const { total } = this;
    this.done++;
    this.onUploading({ done: this.done, total });
    if (total >= 20 && (Date.now() - this.lastProgress > 250 || this.done === total)) {
      this.lastProgress = Date.now();
      this.ctx.emit({ type: 'progress', phase: 'upload', done: this.done, total, bytes: this.bytes });
    }
  }
}

function sumBytes(updates: readonly Uint8Array[]): number {
  return updates.reduce((n, u) => n + u.byteLength, 0);
}
