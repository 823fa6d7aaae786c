import { logger } from '../../core/log.js';
import type { KvBatchOp } from '../../core/ports.js';

const log = logger('relay');

/** One append waiting for its group's batch (see {@link AppendGroups}). */
export interface AppendJob {
  count: number;
  ops: (seq: number, i: number) => KvBatchOp[] | Promise<KvBatchOp[]>;
  extra?: () => KvBatchOp[] | Promise<KvBatchOp[]>;
  bytes: number;
  /**
   * What the job reads and rewrites under the lock (a file's state vector, a blob's record):
   * two jobs with the same key never share a batch, since the second must read what the
   * first wrote.
   */
  key?: string;
  /**
   * Told of the job's seqs as soon as its batch is durable, before `resolve`: called in seq
   * order, job after job and group after group (see {@link AppendGroups}).
   */
  announce?: (a: { first: number; seq: number }) => void;
  resolve: (a: { first: number; seq: number }) => void;
  reject: (err: unknown) => void;
}

/** What a group's writer needs of the store, all under the worktree's lock. */
export interface GroupTarget {
  /** Throws if the worktree is not registered (every job of the group fails). */
  checkRegistered(worktreeId: string): Promise<void>;
  head(worktreeId: string): Promise<number>;
  usage(worktreeId: string): Promise<number>;
  /** Throws when `used + bytes` exceeds the quota. */
  checkFits(worktreeId: string, used: number, bytes: number): void;
  /** Writes a group's batch (with the new head and usage) and updates the caches, or forgets them on failure. */
  commit(worktreeId: string, batch: KvBatchOp[], head: number, used: number): Promise<void>;
  /** Runs `fn` under the worktree's lock. */
  locked(worktreeId: string, fn: () => Promise<void>): Promise<void>;
}

/**
 * Group commit of a relay's appends: the uploads that arrive while a worktree's batch is being
 * written go out together in the next one, one `sync: true` LevelDB write (one fsync) for all
 * of them, each still acknowledged only once its batch is durable. One batch per upload
 * serialised 3000 fsyncs behind the worktree's lock when a `git checkout` changed 3000 files:
 * the relay sat idle in fsync for ~15 s of the ~20 s the checkout took to reach a joiner.
 *
 * Jobs are announced (`AppendJob.announce`: the relay's broadcast of their events) here, in seq
 * order, not by whoever awaits them: those resume after different numbers of awaits (a blob's
 * upload after its pack write), so a later seq's event went out first. A subscriber takes a
 * live event's seq as how far it has caught up: one whose fetch of the earlier blob then failed
 * (the relay went down) caught up after it on reconnecting, and never had that file's content
 * (convergence fuzz seed 1685738, `--legacy`).
 */
export class AppendGroups {
  private readonly waiting = new Map<string, AppendJob[]>();

  constructor(private readonly target: GroupTarget) {}

  /** Queues `job`; the first job of a group schedules the group's write under the lock. */
  add(worktreeId: string, job: AppendJob): void {
    const queue = this.waiting.get(worktreeId);
    if (queue) {
      queue.push(job);
      return;
    }
    this.waiting.set(worktreeId, [job]);
    // Its failures are each job's: `write` settles every job it takes.
    void this.target.locked(worktreeId, () => this.write(worktreeId));
  }

  private async write(worktreeId: string): Promise<void> {
    const jobs = this.waiting.get(worktreeId) ?? [];
    // Jobs added from here on start the next group, written after this one.
    this.waiting.delete(worktreeId);
    try {
      await this.target.checkRegistered(worktreeId);
    } catch (err) {
      for (const j of jobs) j.reject(err);
      return;
    }
    let i = 0;
    while (i < jobs.length) {
      let head: number;
      let used: number;
      try {
        head = await this.target.head(worktreeId);
        used = await this.target.usage(worktreeId);
      } catch (err) {
        for (; i < jobs.length; i++) jobs[i]!.reject(err);
        return;
      }
      const batch: KvBatchOp[] = [];
      const keys = new Set<string>();
      const done: { job: AppendJob; first: number; seq: number }[] = [];
      for (; i < jobs.length; i++) {
        const job = jobs[i]!;
        if (job.key !== undefined && keys.has(job.key)) break;
        try {
          this.target.checkFits(worktreeId, used, job.bytes);
          const ops: KvBatchOp[] = [];
          for (let n = 0; n < job.count; n++) ops.push(...(await job.ops(head + 1 + n, n)));
          if (job.extra) ops.push(...(await job.extra()));
          batch.push(...ops);
        } catch (err) {
          job.reject(err);
          continue;
        }
        if (job.key !== undefined) keys.add(job.key);
        done.push({ job, first: head + 1, seq: head + job.count });
        head += job.count;
        used += job.bytes;
      }
      if (done.length === 0) continue;
      try {
        await this.target.commit(worktreeId, batch, head, used);
      } catch (err) {
        for (const d of done) d.job.reject(err);
        continue;
      }
      for (const d of done) {
        const appended = { first: d.first, seq: d.seq };
        try {
          d.job.announce?.(appended);
        } catch (err) {
          // Stored all the same: the other jobs still resolve, and subscribers that missed the
          // event find the entry when they catch up.
          log('announcing seqs %d..%d failed: %s', d.first, d.seq, (err as Error)?.message ?? err);
        }
        d.job.resolve(appended);
      }
    }
  }
}
