import { setMaxListeners } from 'node:events';
import { isAbsolute, relative, sep } from 'node:path';
import { CshareError, toCshareError } from '../core/errors.js';
import { watchWorktree, type WorktreeWatch } from '../store/fs/WorktreeWatcher.js';
import { logger } from '../core/log.js';
import type { ScanReport } from '../core/recordScan.js';
import type { Replica } from '../core/Replica.js';
import { ScanScope } from '../core/Scanner.js';
import { backoff } from './backoff.js';
import { LivePresence, type PresenceHub } from './presence/PresenceHub.js';
import type { Access } from './schema.js';
import { SyncSession, type SessionEvent, type SyncSessionOptions, type SyncState } from './SyncSession.js';
import { setStep } from './step.js';
import { type CshareConnection } from './connection.js';
import { uploadLiveEdits } from './liveUploads.js';

/** Where a running share/join stands with its relay (the editor API's `status`). */
export type ConnectionState = 'online' | 'offline' | 'reconnecting';

const log = logger('sync');

/**
 * Errors that no reconnect can fix: wrong code, refused access, another protocol, a message
 * over the frame limit (sent again, it would be again: a loop that never uploads).
 */
const FATAL = new Set(['UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND', 'PROTOCOL', 'FRAME_TOO_LARGE', 'USAGE', 'STORE_CORRUPT', 'BAD_PATH']);

/** Errors that mean the relay (or the sharer serving itself) could not be reached or went away. */
const UNREACHABLE = new Set(['CONNECTION_CLOSED', 'TIMEOUT']);

/** Options of a {@link SyncLoop}. */
export interface SyncLoopOptions {
  replica: Replica;
  worktreeId: string;
  state: SyncState;
  saveState: (state: SyncState) => Promise<void>;
  /** Opens a connection and says hello; called again after every disconnect. */
  connect: (signal: AbortSignal) => Promise<{ conn: CshareConnection; access: Access }>;
  onEvent: (event: SessionEvent) => void;
  /** Called once, after the first catch-up and before the upload (and its scan) begins. */
  onCaughtUp?: () => Promise<void> | void;
  /**
   * Called before each local change is looked for (a watcher's burst, a scan asked for); what
   * it throws refuses it. A share or join checks there that its store is still in place.
   */
  beforeLocalChange?: () => void;
  /** Called once, after the first catch-up and upload. */
  onInSync?: (session: SyncSession) => Promise<void> | void;
  /** Stop after the first catch-up and upload. */
  once?: boolean;
  /** Local files are to go up (the user agreed): a first `join --once` scans before its upload. */
  uploadLocal?: boolean;
  /**
   * What the user can do when the relay cannot be reached (`ask the sharer for a new join
   * code`): added to the one error event of each outage.
   */
  unreachableHint?: string;
  /**
   * Give up (throw, exit code 12) when no connection was ever made and the relay could not be
   * reached for this long; undefined: keep trying for ever (`--retry`).
   */
  giveUpAfterMs?: number;
  /** See {@link SyncSessionOptions.firstCatchUpWithoutScan} (first connection only). */
  firstCatchUpWithoutScan?: boolean;
  /**
   * Waits before reconnect attempt `attempt` (default {@link backoff}: jittered, wall-clock).
   * Tests pass a deterministic one so that a seeded run replays exactly.
   */
  backoff?: (attempt: number, signal: AbortSignal) => Promise<void>;
  /**
   * Waits `ms` before an apply's paths are scanned again (default: a wall-clock timer). Tests
   * pass a deterministic one: under load a wall-clock recheck fired at a different step of a
   * seeded run, and the run no longer replayed exactly (the fuzzer's "is deterministic").
   */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  signal: AbortSignal;
}

/**
 * Keeps a replica in sync with the relay: connect, catch up, upload, then follow live events;
 * when the connection drops, back off and do it again (catch-up and upload send only what
 * the other side lacks). Ends when `signal` aborts, or after the first round with `once`.
 */
export class SyncLoop {
  session: SyncSession | null = null;
  private hub: LivePresence | undefined;
  private scanAllNext = false;
  private readonly recheck = new Set<string>();
  /** The recheck waiting (a timer, or `true` while a given `sleep` runs). */
  private recheckTimer: NodeJS.Timeout | true | undefined;
  /** The first round announced the sync (`onInSync`); see {@link standing}. */
  private inSync = false;
  /** Where the loop stands with the relay (see {@link onStatus}). */
  private connectionNow: ConnectionState = 'offline';
  private readonly statusListeners = new Set<() => void>();
  /** The watch of {@link watchHeld}, told which files a peer changed (the fast path). */
  private watch: WorktreeWatch | undefined;

  constructor(private readonly opts: SyncLoopOptions) {
    if (!opts.once) uploadLiveEdits({ replica: opts.replica, session: () => this.session, report: (err) => this.reportWatchError(err), signal: opts.signal });
  }

  /**
   * Presence (issue 18): this replica's state out, the other peers' in, over every connection
   * the loop makes. An editor server publishes and listens here. The same hub for the loop's
   * life (made when first asked for).
   */
  get presence(): PresenceHub {
    return this.presenceFeed;
  }

  private get presenceFeed(): LivePresence {
    return (this.hub ??= new LivePresence({ replicaId: this.opts.replica.identity.replicaId }));
  }

  /** Online (caught up, following), offline (never connected yet), or reconnecting after a drop. */
  get connection(): ConnectionState {
    return this.connectionNow;
  }

  /**
   * Calls `listener` whenever the connection state or the peers connected change (an editor
   * server's `status`); returns the function that stops it.
   */
  onStatus(listener: () => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  private statusChanged(): void {
    for (const listener of this.statusListeners) {
      try {
        listener();
      } catch (err) {
        log('a status listener threw: %s', (err as Error)?.message ?? String(err));
      }
    }
  }

  private setConnection(state: ConnectionState): void {
    if (state === this.connectionNow) return;
    this.connectionNow = state;
    this.statusChanged();
  }

  /**
   * Records and uploads local changes now (from the watcher); records only while offline.
   * `paths` (relative) are the ones a watcher's burst named: only they are scanned, unless
   * {@link ScanScope.ofChanges} says the whole tree must be, or the last scoped pass failed
   * (its paths would otherwise wait for their next event). `onScanned` is told what the scan
   * recorded, before the upload. With `recordedOnly` (the watcher's bursts) it resolves once
   * they are recorded, and the upload goes on beside the next one (`SyncSession.pushRecorded`).
   */
  async localChange(paths?: readonly string[], onScanned?: (report: ScanReport) => void, opts: { recordedOnly?: boolean } = {}): Promise<void> {
    this.opts.beforeLocalChange?.();
    const scope = paths && !this.scanAllNext ? ScanScope.ofChanges(paths) : undefined;
    try {
      // Not between the rounds of a burst's catch-up (see `SyncSession.afterBurst`).
      await this.session?.afterBurst();
      if (this.session && opts.recordedOnly) {
        // The upload goes on while the next burst is recorded; its failure is said as a
        // failed push's is, and what it did not upload goes with the next one.
        const { sent } = await this.session.pushRecorded({ scope, onScanned });
        sent.catch((err: unknown) => this.reportWatchError(err));
      } else if (this.session) await this.session.push({ scope, onScanned });
      else {
        const report = await this.opts.replica.scan({ scope });
        onScanned?.(report);
      }
      if (!scope) this.scanAllNext = false;
    } catch (err) {
      this.scanAllNext = true;
      throw err;
    }
  }

  /**
   * Starts watching the worktree before the first scan, reporting nothing until `release()`
   * (a sharer calls it once sharing has begun, a joiner once in sync): then what was saved
   * since the watch began is recorded as one burst, and only if something was; after that
   * each burst of file events is recorded and uploaded. A big tree is not rescanned after
   * the upload to find out that nothing changed (at 100,000 files that rescan was the peak
   * of a sharer's memory).
   */
  async watchHeld(root: string): Promise<WorktreeWatch> {
    const onChange = (paths: string[]) => this.localChange(relativePaths(root, paths), undefined, { recordedOnly: true });
    this.watch = await watchWorktree({ root, onChange, onError: (err) => this.reportWatchError(err), signal: this.opts.signal, held: true });
    return this.watch;
  }

  /**
   * Scans the paths an apply wrote once more, shortly after: a save that lands right after a
   * write can be missing from the watcher's events (@parcel/watcher folds the events of a file
   * replaced in one step, `renameat2` exchange, together with the next ones into none), and a
   * save the watcher never reports would wait for the next one. The written files' stat cache
   * entries are exact, so this costs one `lstat` each when nothing happened.
   */
  private recheckLater(paths: readonly string[]): void {
    if (paths.length === 0) return;
    for (const p of paths) this.recheck.add(p);
    if (this.recheckTimer || this.opts.signal.aborted) return;
    const run = (): void => {
      this.recheckTimer = undefined;
      const list = [...this.recheck];
      this.recheck.clear();
      this.localChange(list, undefined, { recordedOnly: true }).catch((err: unknown) => this.reportWatchError(err));
    };
    if (this.opts.sleep) {
      this.recheckTimer = true;
      this.opts.sleep(RECHECK_MS, this.opts.signal).then(() => {
        if (!this.opts.signal.aborted) run();
        else this.recheckTimer = undefined;
      }, (err: unknown) => this.reportWatchError(err));
      return;
    }
    const timer = setTimeout(run, RECHECK_MS);
    timer.unref();
    this.recheckTimer = timer;
  }

  private reportWatchError(err: unknown): void {
    // Stopped on purpose (Ctrl-C): a scan the signal cut short is no error, and said after the
    // "stopped" line it became the last word of a `--json` run (progress.test.ts, in a CI run).
    if (this.opts.signal.aborted) {
      log('after the stop: %s', (err as Error)?.message ?? String(err));
      return;
    }
    // A burst refused with a reason of ours keeps its code (a store that went away).
    const code = err instanceof CshareError ? err.code : 'IO';
    this.opts.onEvent({ type: 'error', code, message: (err as Error)?.message ?? String(err) });
  }

  /**
   * Where the sync stands, read at once (a Ctrl-C handler reads it before anything is torn
   * down): the files of the upload in progress not sent yet (0 when none runs), and whether
   * the worktree was in sync once (`onInSync`: the join codes printed, `joined`).
   */
  standing(): { notUploaded: number; inSync: boolean } {
    const u = this.session?.uploading;
    return { notUploaded: u ? u.total - u.done : 0, inSync: this.inSync };
  }


  /**
   * Connects, syncs and follows live events until `signal` aborts (or, with `once`, after
   * the first round); after a disconnect, backs off and connects again. Throws what no
   * reconnect can fix (see {@link failed}).
   */
  async run(): Promise<void> {
    const { signal } = this.opts;
    // Every request in flight listens on this signal (an upload window of 64, 16 answers to
    // `need` beside it, fetch streams, the subscription and the watcher): more than Node's
    // default warning threshold of 10, and not a leak.
    setMaxListeners(128, signal);
    const tries: Tries = { attempt: 0, first: true, started: Date.now(), connectedOnce: false, outage: undefined };
    while (!signal.aborted) {
      let conn: CshareConnection | undefined;
      try {
        setStep('connect');
        const c = await this.opts.connect(signal);
        conn = c.conn;
        tries.connectedOnce = true;
        if ((await this.syncOver(c, tries)) === 'done') return;
        log('connection ended; reconnecting');
      } catch (err) {
        if (signal.aborted) break;
        this.failed(err, tries);
      } finally {
        setStep('closing the connection');
        this.session = null;
        this.setConnection(tries.connectedOnce && !signal.aborted ? 'reconnecting' : 'offline');
        conn?.close();
      }
      setStep('reconnect backoff');
      await (this.opts.backoff ?? backoff)(tries.attempt++, signal);
    }
  }

  /**
   * One connection's life: catch up, upload, then follow live events until it ends. 'done'
   * after the first round with `once`.
   */
  private async syncOver(c: { conn: CshareConnection; access: Access }, tries: Tries): Promise<'done' | 'ended'> {
    const { first } = tries;
    const session = this.newSession(c, first);
    setStep('catch-up');
    await session.catchUp();
    if (first) await this.opts.onCaughtUp?.();
    this.session = session;
    this.setConnection('online');
    // Subscribed before the upload, so that a joiner waiting for a file still in its
    // queue gets it next (`need`); other events apply after the upload, in order.
    const live = this.opts.once ? undefined : session.live();
    // Its failure is handled where it is awaited, below, or ends with the connection.
    live?.catch(() => undefined);
    setStep('upload');
    await this.upload(session, first);
    tries.first = false;
    if (this.opts.once) return 'done';
    tries.attempt = 0;
    if (tries.outage !== undefined) {
      tries.outage = undefined;
      this.opts.onEvent({ type: 'reconnected' });
    }
    setStep('live');
    await live;
    return 'ended';
  }

  /** The session of a new connection; an apply's paths are scanned again shortly after. */
  private newSession(c: { conn: CshareConnection; access: Access }, first: boolean): SyncSession {
    return new SyncSession({
      ...this.opts, conn: c.conn, access: c.access, signal: this.opts.signal, firstCatchUpWithoutScan: first && this.opts.firstCatchUpWithoutScan, presence: this.presenceFeed,
      onEvent: (e) => {
        // A file open in an editor was not written: nothing to look at again (and at 20
        // keystrokes a second, a push every 400 ms held the next keystroke's apply back).
        if (e.type === 'applied' && !this.opts.once) {
          const written = e.changes.map((ch) => ch.path).filter((p) => !this.opts.replica.isOpenInEditor(p));
          this.recheckLater(written);
          // What a peer just changed is likely to be saved here next (the two work on it).
          if (written.length <= 16) this.watch?.hot(written);
        }
        if (e.type === 'peer-joined' || e.type === 'peer-left') queueMicrotask(() => this.statusChanged());
        this.opts.onEvent(e);
      },
    });
  }

  /**
   * The upload after a catch-up. The first one announces the sync (`onInSync`) once the
   * manifest and the files being worked on are up; the rest uploads after the announcement
   * (with --once, before returning).
   */
  private async upload(session: SyncSession, first: boolean): Promise<void> {
    await session.push({
      // A first `join --once` writes what it fetched and is done: like a clone, it does not
      // scan the tree it just wrote (at 100,000 files that scan was the peak of its memory;
      // anything saved meanwhile is recorded by the next command, nothing is lost).
      scan: !(this.opts.once && first && this.opts.firstCatchUpWithoutScan && !this.opts.uploadLocal),
      afterManifest: first
        ? async () => {
            await this.opts.onInSync?.(session);
            this.inSync = true;
          }
        : undefined,
    });
  }

  /**
   * A connection that failed or could not be made: throws what no reconnect can fix (a fatal
   * code; anything on the first try of `once`; an unreachable relay past `giveUpAfterMs`
   * when none was ever reached), else says so, once per outage.
   */
  private failed(err: unknown, tries: Tries): void {
    const e = toCshareError(err);
    const unreachable = UNREACHABLE.has(e.code);
    const hint = unreachable && this.opts.unreachableHint ? `; ${this.opts.unreachableHint}` : '';
    if (FATAL.has(e.code)) throw e;
    // `--once` tries once: what to do about an unreachable relay is said then too.
    if (this.opts.once && tries.first) throw hint ? new CshareError(e.code, `${e.message}${hint}`, e.data, { cause: e }) : e;
    const waited = Date.now() - tries.started;
    if (unreachable && !tries.connectedOnce && this.opts.giveUpAfterMs !== undefined && waited >= this.opts.giveUpAfterMs) {
      throw new CshareError(e.code, `${e.message}; gave up after ${Math.round(waited / 1000)} s${hint} (--retry keeps trying)`, e.data, { cause: e });
    }
    if (tries.outage === e.code) log('still failing: %s', e.message);
    else {
      tries.outage = e.code;
      this.opts.onEvent({ type: 'error', code: e.code, message: `${e.message} (${unreachable ? 'still trying, and says so when it is back' : 'reconnecting'}${hint})` });
    }
  }
}

/** Where {@link SyncLoop.run} stands between connections. */
interface Tries {
  /** Reconnect attempts since the last connection that synced (the backoff's step). */
  attempt: number;
  /** No connection synced yet: the next one is the first round (`onCaughtUp`, `onInSync`). */
  first: boolean;
  /** When the loop started, for `giveUpAfterMs`. */
  started: number;
  /** A connection was made once (a relay that was reached is never given up on). */
  connectedOnce: boolean;
  /**
   * The code of the error that reported the current outage: a relay that stays away is said
   * once, not at every attempt (every 10 s, for hours), and its return is said too.
   */
  outage: string | undefined;
}

/**
 * How long after an apply its paths are scanned again (see `SyncLoop.recheckLater`): after
 * the watcher's own batching, and after `ASIDE_GRACE_MS` (store/fs/AsideFiles.ts), so a save
 * a writer put in a replaced file, recorded then, goes up with this push.
 */
const RECHECK_MS = 400;

/**
 * A watcher's absolute paths relative to `root`, with `/` separators; `''` (the whole tree)
 * for the root itself or for a path that is not under it.
 */
function relativePaths(root: string, paths: readonly string[]): string[] {
  return paths.map((p) => {
    const rel = relative(root, p).split(sep).join('/');
    return rel === '..' || rel.startsWith('../') || isAbsolute(rel) ? '' : rel;
  });
}
