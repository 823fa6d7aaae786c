/**
 * A bounded single-consumer async queue: the producer pushes without waiting, the consumer
 * iterates. `push` returns false when the queue is full (`capacity` items, or `maxBytes` by the
 * sizes the producer gives), and the producer decides what that
 * means (the RPC layer ends the stream or subscription with an `OVERLOADED` error rather than
 * stop reading the connection, which would stall every other call on it). After `end()` the
 * consumer drains what is queued and finishes; after `fail(err)` it drains, then throws `err`.
 * Returning from the iteration early (break, abort) calls `onReturn` once, so the producer can
 * cancel upstream.
 */
export class BoundedQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private sizes: number[] = [];
  private head = 0;
  private queuedBytes = 0;
  private done = false;
  private error: unknown = undefined;
  private failed = false;
  private waiter: { resolve: () => void } | undefined;
  private iterated = false;
  private returned = false;
  private closeListeners: (() => void)[] = [];

  constructor(
    readonly capacity: number,
    private readonly onReturn?: () => void,
    readonly maxBytes = Infinity,
    /** Called with an item's bytes when it leaves the queue (taken, or dropped). */
    private readonly onRelease?: (bytes: number) => void,
  ) {}

  /** Items waiting for the consumer. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** True once `end`, `fail` or an early return happened. */
  get closed(): boolean {
    return this.done || this.failed || this.returned;
  }

  /** Calls `fn` once when the queue closes (`end`, `fail` or an early return); at once if it has. */
  onClosed(fn: () => void): void {
    if (this.closed) fn();
    else this.closeListeners.push(fn);
  }

  private notifyClosed(): void {
    const fns = this.closeListeners;
    this.closeListeners = [];
    for (const fn of fns) fn();
  }

  /** Bytes waiting for the consumer, by the sizes given to `push`. */
  get bytes(): number {
    return this.queuedBytes;
  }

  /**
   * Queues an item of `bytes` bytes; false when the queue is full or closed (the item is not
   * queued). An item is always taken into an empty queue, whatever its size.
   */
  push(item: T, bytes = 0): boolean {
    if (this.closed || this.size >= this.capacity || (this.size > 0 && this.queuedBytes + bytes > this.maxBytes)) return false;
    this.items.push(item);
    this.sizes.push(bytes);
    this.queuedBytes += bytes;
    this.wake();
    return true;
  }

  /** No more items: the consumer finishes after draining. */
  end(): void {
    if (this.closed) return;
    this.done = true;
    this.wake();
    this.notifyClosed();
  }

  /**
   * The consumer throws `err` at once: what is queued is dropped (a consumer too slow to
   * keep up gets no more of it, and its memory is freed now).
   */
  drop(err: unknown): void {
    if (this.closed) return;
    this.releaseAll();
    this.items = [];
    this.sizes = [];
    this.head = 0;
    this.queuedBytes = 0;
    this.fail(err);
  }

  private releaseAll(): void {
    if (!this.onRelease) return;
    for (let i = this.head; i < this.sizes.length; i++) this.onRelease(this.sizes[i]!);
  }

  /** The consumer throws `err` after draining what is queued. */
  fail(err: unknown): void {
    if (this.closed) return;
    this.failed = true;
    this.error = err;
    this.wake();
    this.notifyClosed();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve();
  }

  private finishEarly(): void {
    if (this.returned) return;
    const wasOpen = !this.done && !this.failed;
    this.returned = true;
    this.releaseAll();
    this.items = [];
    this.sizes = [];
    this.head = 0;
    this.queuedBytes = 0;
    this.wake();
    if (wasOpen) {
      this.notifyClosed();
      this.onReturn?.();
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterated) throw new Error('BoundedQueue can be iterated only once');
    this.iterated = true;
    return {
      next: async (): Promise<IteratorResult<T>> => {
        for (;;) {
          if (this.returned) return { done: true, value: undefined };
          if (this.size > 0) {
            const value = this.items[this.head]!;
            const bytes = this.sizes[this.head]!;
            this.queuedBytes -= bytes;
            this.onRelease?.(bytes);
            this.items[this.head++] = undefined as T;
            if (this.head > 1024 && this.head * 2 > this.items.length) {
              this.items = this.items.slice(this.head);
              this.sizes = this.sizes.slice(this.head);
              this.head = 0;
            }
            return { done: false, value };
          }
          if (this.failed) {
            this.returned = true;
            throw this.error;
          }
          if (this.done) return { done: true, value: undefined };
          await new Promise<void>((resolve) => (this.waiter = { resolve }));
        }
      },
      return: async (): Promise<IteratorResult<T>> => {
        this.finishEarly();
        return { done: true, value: undefined };
      },
    };
  }
}
