import { CshareError } from '../core/errors.js';
import type { RecordedChange } from '../core/history.js';
import type { Replica } from '../core/Replica.js';
import type { LiveUpload } from '../core/liveDocs.js';
import type { RelayClient } from './client/RelayClient.js';
import { RpcRelayClient } from './client/RpcRelayClient.js';
import type { PresenceFeed } from './presence/PresenceHub.js';
import type { Access } from './schema.js';
import { Applier } from './session/apply.js';
import { catchUp } from './session/catchUp.js';
import type { SessionContext } from './session/context.js';
import { follow } from './session/live.js';
import { NeedAnswers } from './session/need.js';
import type { SessionEvent, SyncState } from './session/context.js';
import { recordReadOnly, upload, type PushOptions, type Uploading } from './session/upload.js';
import { type CshareConnection } from './connection.js';

export type { SessionEvent, SyncState } from './session/context.js';
export type { PushOptions } from './session/upload.js';

/** Options for {@link SyncSession}. */
export interface SyncSessionOptions {
  replica: Replica;
  /** The way to the relay; or `conn`, which the session wraps in an {@link RpcRelayClient}. */
  client?: RelayClient;
  /** The connection to the relay, when no `client` is given. */
  conn?: CshareConnection;
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
  /** Where peers' presence goes and this replica's comes from (the loop's hub). */
  presence?: PresenceFeed;
  signal?: AbortSignal;
}

/**
 * One replica's sync with the relay over one connection: catch up on what others did, upload
 * this replica's own changes (only the logged updates after the acknowledged seq), then apply
 * live events as they come and upload local changes as they are recorded. Everything that
 * touches the replica runs one at a time, in order.
 *
 * Every request goes through one {@link RelayClient}. The steps live in `session/`, one
 * concept a file: `catchUp.ts`, `upload.ts`, `live.ts` (and `liveEvent.ts`), `need.ts`,
 * `blobFetch.ts`, `apply.ts`.
 */
export class SyncSession {
  /** The upload in progress, for `status` (files still uploading). */
  uploading: Uploading = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly ctx: SessionContext;
  private readonly needs: NeedAnswers;

  constructor(private readonly opts: SyncSessionOptions) {
    const { replica, access, state, signal } = opts;
    const emit = (event: SessionEvent): void => opts.onEvent?.(event);
    const reportNotices = (): void => this.reportNotices();
    this.ctx = {
      replica,
      client: clientOf(opts),
      access,
      state,
      signal,
      applier: new Applier({ replica, emit, reportNotices, signal, scanFirst: !opts.firstCatchUpWithoutScan }),
      presence: opts.presence,
      saveState: () => opts.saveState(opts.state),
      emit,
      serial: (fn) => this.serial(fn),
      reportNotices,
    };
    this.needs = new NeedAnswers(this.ctx, () => this.push());
  }

  get state(): SyncState {
    return this.opts.state;
  }

  /** Peers currently connected to the worktree, by replica id. */
  get peers(): Map<string, string> {
    return this.ctx.applier.names;
  }

  /** Catches up from the relay: everything after the last relay seq seen. */
  catchUp(): Promise<RecordedChange[]> {
    return this.serial(() => catchUp(this.ctx));
  }

  /**
   * Records local changes (of `scope` only, when given: a watcher's burst; `onScanned` is told
   * what was recorded) and uploads this replica's changes the relay lacks.
   */
  push(opts: PushOptions = {}): Promise<number> {
    return this.serial(() => (this.opts.access !== 'rw' ? recordReadOnly(this.ctx, opts) : upload(this.ctx, opts, (u) => (this.uploading = u))));
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
   * once 32 events wait, the session is behind, and the events that come next are not queued
   * but left to a catch-up, which fetches what the relay logged after the last seq applied in
   * pages and applies it in a few batches (as a join does). Event by event, the burst took
   * 11–20 s to reach the disk, and the subscription fell 256 events behind, failed with
   * `OVERLOADED` and reconnected, said as an error.
   */
  live(): Promise<void> {
    return follow(this.ctx, { catchUp: () => this.catchUp(), pushAfterApply: (always) => this.pushAfterApply(always), needs: this.needs });
  }

  /**
   * Uploads one live edit now (`sync/liveUploads.ts`), beside whatever the session is doing;
   * resolves once the relay stored it (then the next upload leaves it out). Nothing for a
   * read-only session: its edits stay here, as its saves do.
   */
  async uploadLive(upload: LiveUpload): Promise<void> {
    if (this.opts.access !== 'rw') return;
    await this.ctx.client.uploadFileUpdates(upload.fileId, upload.updates);
    this.opts.replica.liveUploaded(upload.fileId, upload.seq);
  }

  /** The access this session has: read-write, or read-only. */
  get access(): Access {
    return this.opts.access;
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

  /** Runs `fn` after everything queued before it. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
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
}

/** The session's client: the one given, or one over the connection given. */
function clientOf(opts: SyncSessionOptions): RelayClient {
  if (opts.client) {
    if (opts.client.worktreeId !== opts.worktreeId) throw new CshareError('USAGE', `the relay client is for worktree ${opts.client.worktreeId}, not ${opts.worktreeId}`);
    return opts.client;
  }
  if (!opts.conn) throw new CshareError('USAGE', 'a sync session needs a relay client or a connection');
  return new RpcRelayClient({ conn: opts.conn, worktreeId: opts.worktreeId, signal: opts.signal });
}
