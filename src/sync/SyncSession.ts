import { counted } from '../core/display.js';
import { CshareError } from '../core/errors.js';
import type { BlobRef, ChangeSet } from '../core/exchange.js';
import { logger } from '../core/log.js';
import type { Replica } from '../core/Replica.js';
import type { RecordedChange } from '../core/history.js';
import type { ScanReport } from '../core/recordScan.js';
import type { ScanScope } from '../core/Scanner.js';
import type { RpcConnection } from './rpc/RpcConnection.js';
import { pooled } from './pooled.js';
import { slices } from './slices.js';
import { uploadHistory } from './historyUpload.js';
import { BLOB_CHUNK_BYTES, MAX_BINARY_BYTES, MAX_ENTRIES_PER_MESSAGE, MAX_UPDATES_PER_MESSAGE, messageSlices, worktreeResource, type Access, type SyncItem, type WorktreeEvent } from './schema.js';
import { setStep } from './step.js';
import { DownloadProgress } from './progress.js';

const log = logger('session');

/**
 * Requests kept in flight at once for uploads and blob fetches. One at a time, a 10,000-file
 * share was 10,000 round trips; a bounded window pipelines them without unbounded memory.
 */
const WINDOW = 64;

/**
 * Blobs applied (written to disk) together in a catch-up: at most this many, or bytes. Each
 * batch is one LevelDB write, which LevelDB copies natively (batch, memtable): a 30,000-file
 * join peaked at 531 MB RSS with 8 MB batches, 446 MB with 2 MB ones, in about the same time.
 */
const APPLY_BATCH_FILES = 250;
const APPLY_BATCH_BYTES = 2 * 1024 * 1024;
/** Blobs asked for in one `blobs/fetch` stream, and such streams in flight. */
const FETCH_PER_STREAM = 64;
const FETCH_CHUNKS_PER_STREAM = 96;
const FETCH_STREAMS = 4;

/** Entries per `manifest/offer`: the most one message may hold. */
const OFFER_PAGE = MAX_ENTRIES_PER_MESSAGE;

/** Files modified this recently are uploaded first: they are what people work on. */
const RECENT_MS = 24 * 60 * 60 * 1000;

/**
 * Live events waiting to be applied (behind an upload, a catch-up or each other) before the
 * session stops queueing them and catches up from the relay's log instead (see `live`).
 */
const BEHIND_AFTER = 32;
/**
 * Events the live subscription holds until they are read. A connection decodes every frame of
 * a chunk it reads before the reader runs, and after a long write to disk (an apply of 250
 * files) the chunks waiting hold hundreds of small events: with the connection's default of
 * 256 the subscription failed (`OVERLOADED`, "fell more than 256 items behind") although
 * this side reads them at once. The relay holds at most 1024 per subscriber (see
 * `relay/subscriptions.ts`); the queue's byte bound (32 MB) still holds.
 */
const LIVE_QUEUE_EVENTS = 4096;
/** `need` events answered at once (each uploads one blob). */
const NEEDS_AT_ONCE = 16;

/** What a session remembers between runs (in the replica's store). */
export interface SyncState {
  /** Last relay seq this replica has seen (catch-up asks for what comes after). */
  relaySeq: number;
  /** Last own change seq the relay acknowledged (uploads start after it); -1: upload the whole state. */
  acked: number;
}

/** What a session reports as it goes (one JSON line each with `--json`). */
export type SessionEvent =
  | { type: 'applied'; changes: RecordedChange[]; by: string }
  | { type: 'uploaded'; changes: number; bytes: number; upTo: number }
  /**
   * How far a big transfer is (20 files or more; at most every 250 ms, and at its end):
   * `upload` counts files sent of those the push sends; `download` counts files written of
   * those a catch-up fetched (`totalBytes`: of their content and text updates).
   */
  | { type: 'progress'; phase: 'upload' | 'download'; done: number; total: number; bytes: number; totalBytes?: number }
  | { type: 'peer-joined'; replicaId: string; name: string; role: string }
  | { type: 'peer-left'; replicaId: string; name?: string }
  | { type: 'merged'; path: string; seq: number; baseSeq: number; message: string }
  /** A local file that was never shared from here stayed where a peer's file would have gone. */
  | { type: 'kept'; path: string; message: string }
  /** The relay answers again after an outage that was reported with an `error`. */
  | { type: 'reconnected' }
  /** With `path` and `reason` for a path that is not shared or not written (see `core/refused.ts`). */
  | { type: 'error'; code: string; message: string; path?: string; reason?: string };

/** Options for {@link SyncSession}. */
export interface SyncSessionOptions {
  replica: Replica;
  conn: RpcConnection;
  worktreeId: string;
  access: Access;
  state: SyncState;
  saveState: (state: SyncState) => Promise<void>;
  onEvent?: (event: SessionEvent) => void;
  /**
   * Apply the first catch-up without recording the disk first: a first join whose local
   * files were already recorded and detached (see `Replica.detachLocalFiles`), so that they
   * do not come back as new files competing with the shared ones for their paths.
   */
  firstCatchUpWithoutScan?: boolean;
  signal?: AbortSignal;
}

/**
 * One replica's sync with the relay over one connection: catch up on what others did, upload
 * this replica's own changes (only the logged updates after the acknowledged seq), then apply
 * live events as they come and upload local changes as they are recorded. Everything that
 * touches the replica runs one at a time, in order.
 */
export class SyncSession {
  private readonly names = new Map<string, string>();
  /** Blocked paths already reported (once each, per session). */
  private readonly reportedRefused = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();
  private scanBeforeApply: boolean;
  private needsRunning = 0;
  private readonly needsWaiting: (() => void)[] = [];
  /** The upload in progress, for `status` (files still uploading). */
  uploading: { done: number; total: number } | null = null;

  constructor(private readonly opts: SyncSessionOptions) {
    this.scanBeforeApply = !opts.firstCatchUpWithoutScan;
  }

  get state(): SyncState {
    return this.opts.state;
  }

  /** Peers currently connected to the worktree, by replica id. */
  get peers(): Map<string, string> {
    return this.names;
  }

  /** Runs `fn` after everything queued before it. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Catches up from the relay: everything after the last relay seq seen. */
  catchUp(): Promise<RecordedChange[]> {
    return this.serial(async () => {
      const { signal } = this.opts;
      const groups: { by: string; changes: ChangeSet }[] = [];
      const group = (by: string) => {
        let g = groups.at(-1);
        if (!g || g.by !== by) groups.push((g = { by, changes: { manifest: [], files: [], blobs: [] } }));
        return g.changes;
      };
      let head = this.opts.state.relaySeq;
      const wanted = new Map<string, { size: number; by: string }>();
      // This replica's own changes come back too (a sharer's first catch-up after its upload
      // lists every one of them): they are in its log already, since a change is stored here
      // before it is uploaded. Applying them changed nothing, after a scan of the whole tree
      // and a decode of each (at 100,000 files, ~130 MB more for the sharer).
      const self = this.opts.replica.identity.replicaId;
      let own = 0;
      let histories = 0;
      for await (const item of this.syncItems(this.opts.state.relaySeq)) {
        if (item.type === 'head') head = item.seq;
        else if (item.by === self) own++;
        else if (item.type === 'history') {
          // Recorded as it comes (a late joiner of a big share gets one entry per file): the
          // log is the authors' record, whatever order the changes are applied in below.
          histories += await this.opts.replica.recordHistory(item.entries, item.by);
        } else if (item.type === 'manifest') group(item.by).manifest.push(item.update);
        else if (item.type === 'file-update') group(item.by).files.push({ fileId: item.fileId, updates: [item.update] });
        else if (item.type === 'blob') wanted.set(item.digest, { size: item.size, by: item.by });
      }
      log('catch-up: change groups %d, blobs listed %d, history entries recorded %d, items of its own skipped %d, head %d', groups.length, wanted.size, histories, own, head);
      // The changes first: files whose content is here are written at once. A text file's
      // logged updates carry its base text, so none of them waits for a blob.
      const applied: RecordedChange[] = [];
      const lacking = await this.opts.replica.lackingBlobs([...wanted.keys()]);
      const progress = new DownloadProgress(groups, lacking, (d) => wanted.get(d)!.size, (e) => this.opts.onEvent?.(e));
      for (const g of groups) {
        applied.push(...(await this.apply(g.changes, g.by)));
        progress.applied(g.changes);
      }
      // Then the content, a batch at a time, the next batch fetched while this one is written.
      lacking.sort((x, y) => (wanted.get(x)!.by < wanted.get(y)!.by ? -1 : wanted.get(x)!.by > wanted.get(y)!.by ? 1 : 0));
      let unavailable = 0;
      await this.fetchAndApply(lacking, (d) => wanted.get(d)!, applied, (d) => {
        unavailable++;
        log('blob %s not on the relay', d);
      }, (batch) => progress.applied({ manifest: [], files: [], blobs: [] }, batch));
      log('catch-up: changes applied %d, blobs fetched %d', applied.length, lacking.length - unavailable);
      // Content a file needs but nobody logged yet (a sharer still uploading): fetching it
      // makes the relay ask the sharer for it next.
      const missing = await this.opts.replica.missingBlobs();
      if (missing.length > 0) {
        const fetched: ChangeSet['blobs'] = [];
        unavailable = 0;
        await pooled({ items: missing, limit: WINDOW, run: async (digest) => {
          try {
            fetched.push({ digest, bytes: await this.fetchBlob(digest) });
          } catch (err) {
            if (signal?.aborted) throw err;
            unavailable++;
            log('blob %s unavailable: %s', digest, (err as Error).message);
          }
        } });
        if (unavailable > 0) {
          this.opts.onEvent?.({ type: 'error', code: 'NOT_FOUND', message: `the content of ${counted(unavailable, 'file')} is not on the relay yet; ${unavailable === 1 ? 'it appears when its' : 'they appear when their'} sharer uploads ${unavailable === 1 ? 'it' : 'them'}` });
        }
        applied.push(...(await this.apply({ manifest: [], files: [], blobs: fetched }, '')));
      }
      this.scanBeforeApply = true;
      this.opts.state.relaySeq = Math.max(this.opts.state.relaySeq, head);
      await this.opts.saveState(this.opts.state);
      return applied;
    });
  }

  /** What the relay logged after `after`, item by item, asked for in pages. */
  private async *syncItems(after: number): AsyncIterable<SyncItem> {
    const { conn, worktreeId, signal } = this.opts;
    for await (const page of conn.requestStream('worktree/sync-pages', { worktreeId, after }, { signal })) yield* page.items;
  }

  /**
   * Records local changes (of `scope` only, when given: a watcher's burst; `onScanned` is told
   * what was recorded) and uploads this replica's changes the relay lacks.
   */
  push(opts: { afterManifest?: () => Promise<void> | void; scan?: boolean; scope?: ScanScope; onScanned?: (report: ScanReport) => void } = {}): Promise<number> {
    return this.serial(async () => {
      const scan = opts.scan ?? true;
      const { scope } = opts;
      if (this.opts.access !== 'rw') {
        // Recorded here (nothing is lost), never uploaded: the relay refuses writes from a
        // read-only code anyway. Say so once per batch of local changes.
        const report = scan ? await this.opts.replica.scan({ scope }).finally(() => this.reportNotices()) : undefined;
        if (report) opts.onScanned?.(report);
        const recorded = report?.recorded ?? [];
        if (recorded.length > 0) {
          this.opts.onEvent?.({ type: 'error', code: 'FORBIDDEN', message: `this join code is read-only: ${counted(recorded.length, 'local change')} (${recorded.slice(0, 3).map((c) => c.path).join(', ')}) ${recorded.length === 1 ? 'stays' : 'stay'} on this machine and ${recorded.length === 1 ? 'is' : 'are'} not shared` });
        }
        await opts.afterManifest?.();
        return 0;
      }
      const { replica, conn, worktreeId, signal } = this.opts;
      const state = this.opts.state;
      await replica.holdLogAfter(state.acked);
      if (scan) {
        const report = await replica.scan({ signal, scope }).finally(() => this.reportNotices());
        opts.onScanned?.(report);
      }
      // Blobs by reference, each read as it goes up: a first share of a big tree does not
      // hold all of its content in memory.
      const { changes, upTo } = await replica.outgoingSince(state.acked);
      // The files the user is working on go first (ARCHITECTURE.md "A save going out", step 6);
      // the manifest follows them, then `opts.afterManifest` (the join code is printed), then
      // the rest.
      // Finding them reads the whole stat cache (100,000 entries in a big tree): only worth it
      // for the first upload (whose order decides when the code is printed) or a big one, and
      // only when there is content to order (a joiner's first push mostly has none).
      const content = changes.blobs.length + changes.files.length;
      const ordered = (opts.afterManifest !== undefined && content > 1) || content > WINDOW;
      const recent = ordered ? await replica.recentFileIds(RECENT_MS) : new Set<string>();
      const first = (fileId: string | undefined) => fileId !== undefined && recent.has(fileId);
      // Steps 1–2: offer the content about to go up; the relay answers which it lacks (and
      // remembers who offered it, to ask for it first if a joiner wants it meanwhile).
      const stored = await this.storedOnRelay(changes.blobs);
      const toSend = changes.blobs.filter((b) => !stored.has(b.digest));
      const blobs = [...toSend.filter((b) => first(b.fileId)), ...toSend.filter((b) => !first(b.fileId))];
      const files = [...changes.files.filter((f) => first(f.fileId)), ...changes.files.filter((f) => !first(f.fileId))];
      // Counted in files (a file's content or its doc's updates: one item each), as `share`
      // says it: the manifest goes up beside them and is not one of them.
      const total = blobs.length + files.length;
      let done = 0;
      let bytes = 0;
      let lastProgress = 0;
      this.uploading = total > 0 ? { done: 0, total } : null;
      const progress = () => {
        done++;
        this.uploading = { done, total };
        if (total >= 20 && (Date.now() - lastProgress > 250 || done === total)) {
          lastProgress = Date.now();
          this.opts.onEvent?.({ type: 'progress', phase: 'upload', done, total, bytes });
        }
      };
      const uploadBlob = async (b: BlobRef) => {
        signal?.throwIfAborted();
        const content = await replica.blob(b.digest);
        if (content) {
          bytes += content.byteLength;
          try {
            await this.uploadBlob(b.digest, content, b.fileId);
          } catch (err) {
            // Over the relay's size limit: that file is not shared (and said so), the rest is.
            // Sent again, it would be refused again, and hold back every later upload.
            if (!(err instanceof CshareError) || err.code !== 'TOO_LARGE' || signal?.aborted) throw err;
            replica.refusedByRelay(b.path ?? b.digest, err.message, 'TOO_LARGE');
          }
        }
        progress();
      };
      const uploadFile = async (file: ChangeSet['files'][number]) => {
        for (const updates of messageSlices(file.updates, MAX_UPDATES_PER_MESSAGE, (u) => u.byteLength)) {
          bytes += updates.reduce((n, u) => n + u.byteLength, 0);
          await conn.request('file/upload', { worktreeId, fileId: file.fileId, updates }, { signal });
        }
        progress();
      };
      const priorityBlobs = blobs.filter((b) => first(b.fileId));
      const priorityFiles = files.filter((f) => first(f.fileId));
      await pooled({ items: priorityBlobs, limit: WINDOW, run: uploadBlob });
      await pooled({ items: priorityFiles, limit: WINDOW, run: uploadFile });
      // A first share of a big tree logs a manifest update per 2000 files: 100,000 files were
      // 17 MB of updates, over the frame limit in one message.
      for (const updates of messageSlices(changes.manifest, MAX_UPDATES_PER_MESSAGE, (u) => u.byteLength)) {
        bytes += updates.reduce((n, u) => n + u.byteLength, 0);
        await conn.request('manifest/upload', { worktreeId, updates }, { signal }).catch((err: unknown) => {
          // The path is said before the share stops on it (BAD_PATH is fatal: every later
          // change of the manifest depends on this one).
          if (err instanceof CshareError && err.code === 'BAD_PATH' && typeof err.data.path === 'string') replica.refusedByRelay(err.data.path, err.message, 'BAD_PATH');
          throw err;
        });
      }
      await opts.afterManifest?.();
      // A joiner that asks for a file still in this queue gets it sooner through `need`.
      await pooled({ items: blobs.slice(priorityBlobs.length), limit: WINDOW, run: uploadBlob });
      await pooled({ items: files.slice(priorityFiles.length), limit: WINDOW, run: uploadFile });
      // The log entries of what just went up, after it, for every other replica's log.
      bytes += await uploadHistory({ conn, worktreeId, replica, since: state.acked, upTo, signal });
      this.uploading = null;
      const count = changes.manifest.length + changes.files.length + changes.blobs.length;
      state.acked = upTo;
      await replica.holdLogAfter(upTo);
      await this.opts.saveState(state);
      if (count > 0) this.opts.onEvent?.({ type: 'uploaded', changes: count, bytes, upTo });
      return count;
    });
  }

  /**
   * Which of `blobs` the relay has already, by one `manifest/offer` per page of entries
   * (path, file id, digest). A blob without a path, or whose path would make the offer
   * ambiguous, is not offered (it is uploaded; uploads are idempotent). A refused offer only
   * means everything is uploaded.
   */
  private async storedOnRelay(blobs: readonly BlobRef[]): Promise<Set<string>> {
    const { conn, worktreeId, signal } = this.opts;
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
      for (const page of messageSlices(entries, OFFER_PAGE, (e) => 3 * e.path.length + e.fileId.length + e.digest.length + 16)) {
        const { need } = await conn.request('manifest/offer', { worktreeId, entries: page }, { signal });
        const needed = new Set(need);
        for (const e of page) if (!needed.has(e.fileId)) stored.add(e.digest);
      }
    } catch (err) {
      if (signal?.aborted || !(err instanceof CshareError) || (err.code !== 'BAD_PATH' && err.code !== 'TOO_LARGE')) throw err;
      log('offer refused (%s); uploading everything', err.message);
    }
    return stored;
  }

  /**
   * Applies live events until the subscription or connection ends. Resolves when it ends
   * (the caller reconnects and catches up), rejects only on abort or a failed catch-up.
   *
   * It subscribes at once, so it can start beside an upload: a `need` (a joiner waits for a
   * file this replica has not uploaded yet: ARCHITECTURE.md "Upload priority") is answered as
   * it comes, while the other events are applied in order, each after everything queued
   * before it (the upload).
   *
   * A burst (a `git checkout` of 3000 files is ~9000 events) is not applied event by event:
   * once {@link BEHIND_AFTER} events wait, the session is behind, and the events that come
   * next are not queued but left to a catch-up, which fetches what the relay logged after the
   * last seq applied in pages and applies it in a few batches (as a join does). Event by
   * event, the burst took 11–20 s to reach the disk, and the subscription fell 256 events
   * behind, failed with `OVERLOADED` and reconnected, said as an error.
   */
  async live(): Promise<void> {
    const { conn, worktreeId, signal } = this.opts;
    const sub = conn.subscribe(worktreeResource(worktreeId), { signal, queueSize: LIVE_QUEUE_EVENTS });
    setStep('live: subscribing');
    await sub.ready;
    setStep('live: events');
    let failed = false;
    let catchUpError: unknown;
    const fail = (err: unknown) => {
      catchUpError = err;
      failed = true;
      sub.unsubscribe();
    };
    // Anything logged between the catch-up and the subscription is fetched again; Yjs makes
    // the duplicates harmless.
    let applying: Promise<void> = this.catchUp().then(() => undefined, fail);
    let queued = 0;
    // Behind: events are dropped (the catch-up after them fetches them from the relay's log);
    // `dropped` says one came since the last catch-up began reading, so another one follows.
    let behind = false;
    let dropped = false;
    const catchUpBurst = async () => {
      do {
        dropped = false;
        setStep('live: catching up on a burst');
        const applied = await this.catchUp();
        log('caught up on a burst: changes applied %d', applied.length);
        // As after a live manifest event: what the apply made this replica change goes up.
        if (applied.length > 0) await this.pushAfterApply(true);
      } while (dropped && !failed && !signal?.aborted);
      // Nothing came while that catch-up ran: the next events are live again.
      behind = false;
    };
    try {
      for await (const event of sub) {
        if (event.type === 'need') {
          void this.answerNeed(event);
          continue;
        }
        if (behind) {
          // Peers coming and going are not in the relay's log: said now, not queued (the
          // queue stays bounded however long the burst).
          if (event.type === 'peer-joined' || event.type === 'peer-left') await this.onEvent(event);
          else dropped = true;
          continue;
        }
        queued++;
        applying = applying.then(async () => {
          queued--;
          if (failed) return;
          failed = !(await this.applyEvent(event));
          // A change that could not be applied (disk full, say) was rolled back; later events
          // must not move relaySeq past it. End here: the caller reconnects and catches up from
          // the last change applied, which applies this one again.
          if (failed) sub.unsubscribe();
        });
        if (!behind && queued >= BEHIND_AFTER) {
          behind = true;
          log('%d live events waiting: catching up instead', queued);
          applying = applying.then(() => (failed ? undefined : catchUpBurst().catch(fail)));
        }
        if (failed) break;
      }
    } finally {
      sub.unsubscribe();
      // What was queued still applies in order (or stops at a failure) before this returns.
      setStep('live: applying queued events');
      await applying;
    }
    if (catchUpError !== undefined) throw catchUpError;
  }

  /** Applies one event; reports and returns false if a change could not be applied. */
  private applyEvent(event: WorktreeEvent): Promise<boolean> {
    return this.onEvent(event).then(
      () => true,
      (err: unknown) => {
        // Stopped (Ctrl-C): not an error to report; the change comes again with the next catch-up.
        if (this.opts.signal?.aborted) return false;
        const e = err instanceof CshareError ? err : new CshareError('INTERNAL', String((err as Error)?.message ?? err));
        log('event %s failed: %s', event.type, e.message);
        this.opts.onEvent?.({ type: 'error', code: e.code, message: e.message, ...(typeof e.data.path === 'string' ? { path: e.data.path } : {}) });
        return !(event.type === 'manifest' || event.type === 'file-update' || event.type === 'blob' || event.type === 'history');
      },
    );
  }

  /**
   * A joiner waits for this. A blob is sent at once, beside any upload in progress (uploads
   * are idempotent); a doc goes with the next push. A failure is reported, never thrown: the
   * joiner asks again.
   */
  private async answerNeed(event: Extract<WorktreeEvent, { type: 'need' }>): Promise<void> {
    // A few at once; the rest wait their turn (a slot passes straight to the next in line).
    if (this.needsRunning < NEEDS_AT_ONCE) this.needsRunning++;
    else await new Promise<void>((resolve) => this.needsWaiting.push(resolve));
    try {
      if (event.digest) {
        const bytes = await this.opts.replica.blob(event.digest);
        if (bytes) await this.uploadBlob(event.digest, bytes, event.fileId);
      } else await this.push();
    } catch (err) {
      if (this.opts.signal?.aborted) return;
      const e = err instanceof CshareError ? err : new CshareError('INTERNAL', String((err as Error)?.message ?? err));
      log('need %s failed: %s', event.digest ?? event.fileId, e.message);
      this.opts.onEvent?.({ type: 'error', code: e.code, message: `could not send a file a peer asked for: ${e.message}` });
    } finally {
      const next = this.needsWaiting.shift();
      if (next) next();
      else this.needsRunning--;
    }
  }

  private async onEvent(event: WorktreeEvent): Promise<void> {
    switch (event.type) {
      case 'manifest':
        await this.serial(() => this.applyLive({ manifest: [event.update], files: [], blobs: [] }, event.by ?? '', event.seq));
        // If that displaced a later write of this replica, applying set it again (last writer
        // by Lamport time wins): upload it now rather than with the next local save.
        await this.pushAfterApply(true);
        return;
      case 'file-update':
        if (event.update) await this.serial(() => this.applyLive({ manifest: [], files: [{ fileId: event.fileId, updates: [event.update!] }], blobs: [] }, event.by ?? '', event.seq));
        await this.pushAfterApply(false);
        return;
      case 'blob':
        await this.serial(async () => {
          if (await this.opts.replica.hasBlob(event.digest)) return;
          const bytes = await this.fetchBlob(event.digest);
          await this.applyLive({ manifest: [], files: [], blobs: [{ digest: event.digest, bytes }] }, event.by, event.seq);
        });
        await this.pushAfterApply(false);
        return;
      case 'history':
        await this.serial(async () => {
          await this.opts.replica.recordHistory(event.entries, event.by);
          if (event.seq > this.opts.state.relaySeq) {
            this.opts.state.relaySeq = event.seq;
            await this.opts.saveState(this.opts.state);
          }
        });
        return;
      case 'peer-joined':
        this.names.set(event.replicaId, event.name);
        this.opts.onEvent?.({ type: 'peer-joined', replicaId: event.replicaId, name: event.name, role: event.role });
        return;
      case 'peer-left':
        this.opts.onEvent?.({ type: 'peer-left', replicaId: event.replicaId, name: this.names.get(event.replicaId) });
        this.names.delete(event.replicaId);
        return;
      case 'need':
        // Answered by `live` as it arrives, never queued behind other events.
        return;
    }
  }

  private async applyLive(changes: ChangeSet, by: string, seq: number | undefined): Promise<void> {
    await this.apply(changes, by);
    if (seq !== undefined && seq > this.opts.state.relaySeq) {
      this.opts.state.relaySeq = seq;
      await this.opts.saveState(this.opts.state);
    }
  }

  private async apply(changes: ChangeSet, by: string): Promise<RecordedChange[]> {
    // Applied changes are recorded as the sender's (not this replica's), so `push` never
    // uploads them again.
    // The history of these changes is their authors' own, recorded as it comes (`history`
    // items and events): the apply logs none of its own.
    const origin = { replica: by || 'relay', author: this.names.get(by) ?? (by ? `peer ${by.slice(0, 8)}` : 'relay'), carried: true };
    // The first join's catch-up takes the share's rule files as they are (the folder's own
    // files were detached); later ones are peers' changes of rules this machine accepted.
    // Ctrl-C stops an apply (a catch-up's can be thousands of files) and applies none of it.
    const applied = await this.opts.replica
      .applyChanges(changes, origin, { scanFirst: this.scanBeforeApply, adoptRules: !this.scanBeforeApply, signal: this.opts.signal })
      .finally(() => this.reportNotices());
    if (applied.length > 0) this.opts.onEvent?.({ type: 'applied', changes: applied, by });
    // Entries with an unsafe path are never written (safety rules): the replica tells its
    // `onRefused` once for each. Nor are paths this disk cannot take (see `obstacles.ts`):
    // each is said once; the rest of the change was applied.
    for (const b of this.opts.replica.blockedPaths()) {
      const key = `${b.path}\0${b.reason}`;
      if (this.reportedRefused.has(key)) continue;
      this.reportedRefused.add(key);
      this.opts.onEvent?.({ type: 'error', code: 'BAD_PATH', message: `did not write ${JSON.stringify(b.path)} from ${origin.author}: ${b.reason}; the path is left as it is here`, path: b.path, reason: b.reason });
    }
    return applied;
  }

  /**
   * Uploads what an apply made this replica change itself: a later write of its own set again
   * (last writer wins), a save that landed during the apply, a file it created that lost its
   * path (merged into the winner), an edit that wins over a delete. `always`: without looking
   * first (a manifest change, the usual cause). Its failure is an upload's, not the event's:
   * reported, and retried with the next push.
   */
  private async pushAfterApply(always: boolean): Promise<void> {
    if (this.opts.access !== 'rw' || this.opts.signal?.aborted) return;
    try {
      if (always || (await this.opts.replica.ownChangesAfter(this.opts.state.acked)) > 0) await this.push();
    } catch (err) {
      if (this.opts.signal?.aborted) return;
      const e = err instanceof CshareError ? err : new CshareError('INTERNAL', String((err as Error)?.message ?? err));
      this.opts.onEvent?.({ type: 'error', code: e.code, message: e.message });
    }
  }

  /** Reports what the replica did that the user should hear about (see `core/notices.ts`). */
  reportNotices(): void {
    const { notices, dropped } = this.opts.replica.drainNotices();
    for (const n of notices) {
      if (n.kind === 'merged') this.opts.onEvent?.({ type: 'merged', path: n.path, seq: n.seq ?? 0, baseSeq: n.baseSeq ?? 0, message: n.message });
      else this.opts.onEvent?.({ type: 'kept', path: n.path, message: n.message });
    }
    if (dropped > 0) this.opts.onEvent?.({ type: 'kept', path: '', message: `and ${dropped} more ${dropped === 1 ? 'file' : 'files'} kept or merged (see cshare log)` });
  }

  private async uploadBlob(digest: string, bytes: Uint8Array, fileId: string | undefined): Promise<void> {
    const { conn, worktreeId, signal } = this.opts;
    if (bytes.byteLength <= MAX_BINARY_BYTES / 2 && fileId) {
      await conn.request('file/upload', { worktreeId, fileId, blob: bytes }, { signal });
      return;
    }
    for (let offset = 0; offset < bytes.byteLength || offset === 0; offset += BLOB_CHUNK_BYTES) {
      const data = bytes.subarray(offset, offset + BLOB_CHUNK_BYTES);
      await conn.request('blob/upload', { worktreeId, digest, size: bytes.byteLength, offset, data }, { signal, timeoutMs: 120_000 });
      if (bytes.byteLength === 0) break;
    }
  }

  /**
   * Fetches `digests` in batches (several per `blobs/fetch` stream, a few streams at once) and
   * applies each batch as it arrives, while the next one is fetched. Blobs the relay does not
   * have are passed to `onMissing` (the caller fetches what files still need one by one).
   */
  private async fetchAndApply(
    digests: string[],
    info: (digest: string) => { size: number; by: string },
    applied: RecordedChange[],
    onMissing: (digest: string) => void,
    onBatch?: (digests: string[]) => void,
  ): Promise<void> {
    // Batches close at a count or a size, and at a change of uploader (the history credits it).
    const batches = slices(digests, APPLY_BATCH_FILES, APPLY_BATCH_BYTES, (d) => info(d).size, (first, d) => info(first).by !== info(d).by);
    const fetch = (batch: string[]) => this.fetchBlobs(batch, (d) => info(d).size);
    let next = batches.length > 0 ? fetch(batches[0]!) : undefined;
    for (let i = 0; i < batches.length; i++) {
      const got = await next!;
      next = i + 1 < batches.length ? fetch(batches[i + 1]!) : undefined;
      // A failed prefetch is reported when awaited, not as an unhandled rejection meanwhile.
      next?.catch(() => undefined);
      const blobs: ChangeSet['blobs'] = [];
      for (const d of batches[i]!) {
        const b = got.get(d);
        if (b) blobs.push({ digest: d, bytes: b });
        else onMissing(d);
      }
      if (blobs.length > 0) applied.push(...(await this.apply({ manifest: [], files: [], blobs }, info(batches[i]![0]!).by)));
      onBatch?.(batches[i]!);
    }
  }

  /**
   * The stored ones of `digests`, fetched with a few `blobs/fetch` streams at once. A stream
   * carries few enough chunks that its items never overflow the connection's stream queue.
   */
  private async fetchBlobs(digests: string[], sizeOf: (digest: string) => number): Promise<Map<string, Uint8Array>> {
    const { conn, worktreeId, signal } = this.opts;
    const out = new Map<string, Uint8Array>();
    const parts = slices(digests, FETCH_PER_STREAM, FETCH_CHUNKS_PER_STREAM, (d) => Math.max(1, Math.ceil(sizeOf(d) / BLOB_CHUNK_BYTES)));
    await pooled({ items: parts, limit: FETCH_STREAMS, run: async (part) => {
      let cur: { digest: string; bytes: Uint8Array; filled: number } | undefined;
      const finish = () => {
        if (cur && cur.filled === cur.bytes.byteLength) out.set(cur.digest, cur.bytes);
        cur = undefined;
      };
      for await (const chunk of conn.requestStream('blobs/fetch', { worktreeId, digests: part }, { signal })) {
        if (!cur || cur.digest !== chunk.digest) {
          finish();
          if (chunk.offset === 0 && chunk.data.byteLength === chunk.size) {
            // A blob in one chunk (most are) is that chunk's bytes, not a copy of them.
            out.set(chunk.digest, chunk.data);
            continue;
          }
          cur = { digest: chunk.digest, bytes: new Uint8Array(chunk.size), filled: 0 };
        }
        if (chunk.offset !== cur.filled || chunk.size !== cur.bytes.byteLength) throw new CshareError('PROTOCOL', `blob ${chunk.digest}: chunks out of order`);
        cur.bytes.set(chunk.data, chunk.offset);
        cur.filled += chunk.data.byteLength;
      }
      finish();
    } });
    return out;
  }

  private async fetchBlob(digest: string): Promise<Uint8Array> {
    const { conn, worktreeId, signal } = this.opts;
    let out: Uint8Array | undefined;
    for await (const chunk of conn.requestStream('blob/fetch', { worktreeId, digest }, { signal })) {
      if (!out) out = new Uint8Array(chunk.size);
      if (chunk.offset + chunk.data.byteLength > out.byteLength) throw new CshareError('PROTOCOL', `blob ${digest}: chunk past its size`);
      out.set(chunk.data, chunk.offset);
    }
    return out ?? new Uint8Array();
  }
}
