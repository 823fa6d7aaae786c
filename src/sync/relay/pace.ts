/**
 * Long work on a peer's request, in slices: the relay serves every peer from one event loop,
 * so no request may hold it for more than a few milliseconds (issue 15, item 5). Work that
 * can take longer (checking a large offer's paths, scanning a large update) calls
 * {@link Pacer.step} as it goes; once a slice has run for {@link SLICE_MS}, the step yields
 * to everything else that is waiting before the work goes on.
 */

/** How long one slice of a request's work may hold the event loop. */
export const SLICE_MS = 4;

/** Yields to other work once a slice has taken {@link SLICE_MS}; see the file comment. */
export class Pacer {
  private sliceStart = performance.now();
  /** Times this pacer yielded. */
  yields = 0;

  constructor(private readonly sliceMs = SLICE_MS) {}

  /**
   * Resolves at once while the slice is young (callers check {@link due} first to avoid the
   * promise), else after other queued work (I/O callbacks included) has run.
   */
  async step(): Promise<void> {
    if (!this.due()) return;
    this.yields++;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.sliceStart = performance.now();
  }

  /** True once the current slice has run for its time. */
  due(): boolean {
    return performance.now() - this.sliceStart >= this.sliceMs;
  }
}
