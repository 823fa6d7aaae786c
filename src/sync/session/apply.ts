import type { ChangeSet } from '../../core/exchange.js';
import type { RecordedChange } from '../../core/history.js';
import type { Replica } from '../../core/Replica.js';
import type { ChangeApplier, SessionEvent } from './context.js';

/** Options of an {@link Applier}. */
export interface ApplierOptions {
  replica: Replica;
  emit: (event: SessionEvent) => void;
  /** Reports the replica's notices (merges, kept files) after each apply. */
  reportNotices: () => void;
  signal: AbortSignal | undefined;
  /**
   * Record the disk before each apply (false for a first join's first catch-up, whose local
   * files were recorded and detached already: see `SyncSessionOptions.firstCatchUpWithoutScan`).
   */
  scanFirst: boolean;
}

/**
 * Applies what others changed to the replica (and so to the disk), credited to its authors,
 * and says what it did: the changes applied, the paths it would not write (once each per
 * session). It also knows the peers' names, which credit their changes.
 */
export class Applier implements ChangeApplier {
  /** Peers currently connected to the worktree: replica id -> name. */
  readonly names = new Map<string, string>();
  /** Blocked paths already reported (once each, per session). */
  private readonly reportedRefused = new Set<string>();
  private scanFirst: boolean;

  constructor(private readonly opts: ApplierOptions) {
    this.scanFirst = opts.scanFirst;
  }

  /** After the first catch-up every apply records the disk first. */
  scanFromNowOn(): void {
    this.scanFirst = true;
  }

  /** Applies `changes` made by replica `by` ('' when they are nobody's in particular). */
  async apply(changes: ChangeSet, by: string): Promise<RecordedChange[]> {
    const { replica, emit } = this.opts;
    // Applied changes are recorded as the sender's (not this replica's), so `push` never
    // uploads them again.
    // The history of these changes is their authors' own, recorded as it comes (`history`
    // items and events): the apply logs none of its own.
    const origin = { replica: by || 'relay', author: this.names.get(by) ?? (by ? `peer ${by.slice(0, 8)}` : 'relay'), carried: true };
    // The first join's catch-up takes the share's rule files as they are (the folder's own
    // files were detached); later ones are peers' changes of rules this machine accepted.
    // Ctrl-C stops an apply (a catch-up's can be thousands of files) and applies none of it.
    const applied = await replica
      .applyChanges(changes, origin, { scanFirst: this.scanFirst, adoptRules: !this.scanFirst, signal: this.opts.signal })
      .finally(() => this.opts.reportNotices());
    if (applied.length > 0) emit({ type: 'applied', changes: applied, by });
    this.reportBlocked(origin.author);
    return applied;
  }

  /**
   * Entries with an unsafe path are never written (safety rules): the replica tells its
   * `onRefused` once for each. Nor are paths this disk cannot take (see `obstacles.ts`):
   * each is said once; the rest of the change was applied.
   */
  private reportBlocked(author: string): void {
    for (const b of this.opts.replica.blockedPaths()) {
      const key = `${b.path}\0${b.reason}`;
      if (this.reportedRefused.has(key)) continue;
      this.reportedRefused.add(key);
      this.opts.emit({ type: 'error', code: 'BAD_PATH', message: `did not write ${JSON.stringify(b.path)} from ${author}: ${b.reason}; the path is left as it is here`, path: b.path, reason: b.reason });
    }
  }
}
