/**
 * Long work on a peer's request, in slices: the relay serves every peer from one event loop,
 * so no request may hold it for more than a few milliseconds (issue 15, item 5). Work that
 * can take longer (checking a large offer's paths, scanning a large update) calls
 * {@link Pacer.step} as it goes; once a slice has run for {@link SLICE_MS}, the step gives way
 * before the work goes on.
 *
 * Giving way goes through a {@link FairScheduler}: the slices waiting to go on take turns by
 * lane (the relay gives each worktree one), one slice per turn of the event loop, with I/O
 * polled in between. A peer that starts a hundred long requests therefore gets no more turns
 * than one that starts one, and an honest peer's small request waits at most a slice or two.
 */

/** How long one slice of a request's work may hold the event loop. */
export const SLICE_MS = 4;

/** Lets slices of long work take turns by lane, one per turn of the event loop. */
export class FairScheduler {
  private readonly lanes = new Map<unknown, (() => void)[]>();
  /** Lanes with waiting slices, in turn order. */
  private order: unknown[] = [];
  private scheduled = false;
  /** Turns given so far. */
  turns = 0;

  /** Resolves when it is `lane`'s turn. */
  turn(lane: unknown): Promise<void> {
    return new Promise<void>((resolve) => {
      let waiting = this.lanes.get(lane);
      if (!waiting) {
        this.lanes.set(lane, (waiting = []));
        this.order.push(lane);
      }
      waiting.push(resolve);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const lane = this.order.shift();
      if (lane === undefined) return;
      const waiting = this.lanes.get(lane)!;
      const next = waiting.shift()!;
      if (waiting.length > 0) this.order.push(lane);
      else this.lanes.delete(lane);
      this.turns++;
      if (this.order.length > 0) this.schedule();
      next();
    });
  }
}

/** Gives way once a slice has taken {@link SLICE_MS}; see the file comment. */
export class Pacer {
  private sliceStart = performance.now();
  /** Times this pacer gave way. */
  yields = 0;

  constructor(
    private readonly opts: { scheduler?: FairScheduler; lane?: unknown; sliceMs?: number } = {},
  ) {}

  /** Resolves at once while the slice is young, else at the lane's next turn. */
  async step(): Promise<void> {
    if (!this.due()) return;
    this.yields++;
    if (this.opts.scheduler) await this.opts.scheduler.turn(this.opts.lane);
    else await new Promise<void>((resolve) => setImmediate(resolve));
    this.sliceStart = performance.now();
  }

  /** True once the current slice has run for its time (callers check it to skip the promise). */
  due(): boolean {
    return performance.now() - this.sliceStart >= (this.opts.sliceMs ?? SLICE_MS);
  }
}
