/**
 * A replica's counters, in one object that only its methods change: the change seq, the
 * Lamport clock of manifest entries, and how far compaction may fold the logs. Every module
 * that records a change takes its seq and times here; nothing sets them from outside.
 */

/** The counters as loaded from the store (see `ReplicaContext.load`). */
export interface CountersOptions {
  /** The last seq handed out (`meta:seq`, or the newest op entry's). */
  seq: number;
  /** The Lamport clock: past every manifest entry's time (`meta:lamport`). */
  lamport: number;
  /** See {@link Counters.keepLogAfter}; default Infinity (not sharing). */
  keepLogAfter?: number;
}

/** The change seq, the Lamport clock and the compaction limit of one replica. */
export class Counters {
  private lastSeq: number;
  private clock: number;
  private keep: number;
  /** The highest seq the store knows was handed out (see {@link unpersisted}). */
  private durable: number;

  constructor(opts: CountersOptions) {
    this.lastSeq = opts.seq;
    this.clock = opts.lamport;
    this.durable = opts.seq;
    this.keep = Infinity;
    if (opts.keepLogAfter !== undefined) this.keepLogAfter = opts.keepLogAfter;
  }

  /** The last seq handed out: the latest change of this replica. */
  get seq(): number {
    return this.lastSeq;
  }

  /**
   * A new change's seq. Seqs are never reused: a change may take one without writing an op
   * entry (say, remote updates that changed nothing visible), and upload marks and update keys
   * depend on every seq being new.
   */
  nextSeq(): number {
    return ++this.lastSeq;
  }

  /** The Lamport clock now. */
  get lamport(): number {
    return this.clock;
  }

  /** A new time for a manifest entry this replica writes, after every one it has seen. */
  nextLamport(): number {
    return ++this.clock;
  }

  /** Moves the clock past a time seen on another replica's entry, so later changes order after it. */
  observeLamport(time: number): void {
    if (time > this.clock) this.clock = time;
  }

  /**
   * Compaction keeps the logged updates of changes after this seq: they are what a sync
   * session still has to upload (its acknowledged position; -1 before its first upload).
   * Infinity while not sharing: nothing is held back.
   */
  get keepLogAfter(): number {
    return this.keep;
  }

  /** Anything but a number (a damaged sync state's `acked`) holds back every update: the safe side. */
  set keepLogAfter(seq: number) {
    this.keep = typeof seq === 'number' && !Number.isNaN(seq) ? seq : -1;
  }

  /** May compaction fold the logged updates of change `seq` into a snapshot? */
  mayCompact(seq: number): boolean {
    return seq <= this.keep;
  }

  /** The last seq handed out if the store does not know it was (then it must be persisted), else undefined. */
  unpersisted(): number | undefined {
    return this.lastSeq > this.durable ? this.lastSeq : undefined;
  }

  /** The store knows now that every seq up to `seq` was handed out. */
  persisted(seq: number): void {
    this.durable = Math.max(this.durable, seq);
  }
}
