import { CshareError } from '../../core/errors.js';
import { BoundedQueue } from '../rpc/BoundedQueue.js';
import type { WorktreeEvent } from '../schema.js';
import type { Session, Subscriber } from './sessions.js';

/**
 * Worktree events on their way to subscribers (issue 15, item 7). Each subscription's queue
 * is bounded in events and in bytes, and all queues together in bytes: a subscriber that
 * falls behind either bound is dropped at once with `OVERLOADED` (its queue freed), and
 * resubscribes and catches up from the store (`worktree/sync-pages`), which is what a subscriber
 * that lost its connection does anyway. One subscriber that never read used to make the
 * relay hold 2.2 GB; now it holds at most `queueBytes`.
 */

/** Bounds of {@link Subscriptions}; see {@link DEFAULT_SUBSCRIPTION_LIMITS}. */
export interface SubscriptionLimits {
  /** Events queued per subscription. */
  queueSize: number;
  /** Bytes of updates queued per subscription (an event always fits an empty queue). */
  queueBytes: number;
  /** Bytes queued in all subscriptions together. */
  totalBytes: number;
}

export const DEFAULT_SUBSCRIPTION_LIMITS: Readonly<SubscriptionLimits> = Object.freeze({
  queueSize: 1024,
  queueBytes: 8 * 1024 * 1024,
  totalBytes: 256 * 1024 * 1024,
});

/** The bytes an event holds: its update, or a presence state's positions and path. */
function eventBytes(e: WorktreeEvent): number {
  if (e.type === 'presence') return e.state ? e.state.path.length * 3 + e.state.selections.reduce((n, s) => n + s.anchor.byteLength + s.head.byteLength, 0) : 0;
  return 'update' in e && e.update ? e.update.byteLength : 0;
}

/** Every subscription's queue, with the bounds above. */
export class Subscriptions {
  readonly limits: SubscriptionLimits;
  /** Bytes queued in all subscriptions now. */
  queued = 0;
  /** Subscribers dropped for being too slow so far. */
  dropped = 0;

  constructor(
    limits: Partial<SubscriptionLimits> = {},
    private readonly onDrop: (session: Session, reason: string) => void = () => undefined,
  ) {
    this.limits = { ...DEFAULT_SUBSCRIPTION_LIMITS, ...limits };
  }

  /**
   * A new subscription of `session`, its queue starting with `first` (who is there already:
   * see `Room.subscribe`); it ends when `signal` aborts.
   */
  subscribe(session: Session, first: readonly WorktreeEvent[], signal: AbortSignal): AsyncIterable<WorktreeEvent> {
    const queue = new BoundedQueue<WorktreeEvent>(this.limits.queueSize, undefined, this.limits.queueBytes, (bytes) => (this.queued -= bytes));
    const sub: Subscriber = { queue };
    // Counted as every event is: a replay of many peers' presence holds their positions. What
    // does not fit the queue's bounds is left out (peers' next states come anyway).
    for (const e of first) {
      const bytes = eventBytes(e);
      if (queue.push(e, bytes)) this.queued += bytes;
    }
    session.subs.add(sub);
    signal.addEventListener(
      'abort',
      () => {
        session.subs.delete(sub);
        queue.drop(new CshareError('CONNECTION_CLOSED', 'unsubscribed'));
      },
      { once: true },
    );
    return queue;
  }

  /**
   * Queues `event` on every subscription of `session`; a subscription that fell behind a
   * bound is dropped instead (`OVERLOADED`).
   */
  sendTo(session: Session, event: WorktreeEvent): void {
    const bytes = eventBytes(event);
    for (const sub of session.subs) {
      const { queue } = sub;
      // Over the relay's total, the subscriber that is behind (not empty) makes room.
      const overTotal = queue.size > 0 && this.queued + bytes > this.limits.totalBytes;
      if (!overTotal && queue.push(event, bytes)) {
        this.queued += bytes;
        continue;
      }
      const reason = overTotal
        ? `the relay holds ${this.limits.totalBytes} bytes of events for slow subscribers already`
        : queue.size >= queue.capacity
          ? `fell more than ${queue.capacity} events behind`
          : `fell more than ${queue.maxBytes} bytes behind`;
      this.drop(session, sub, reason);
    }
  }

  /** Ends every subscription of a closed connection. */
  end(session: Session): void {
    for (const sub of session.subs) sub.queue.drop(new CshareError('CONNECTION_CLOSED', 'connection closed'));
    session.subs.clear();
  }

  private drop(session: Session, sub: Subscriber, reason: string): void {
    session.subs.delete(sub);
    this.dropped++;
    sub.queue.drop(new CshareError('OVERLOADED', `${reason}; resubscribe and catch up with worktree/sync-pages`));
    this.onDrop(session, reason);
  }
}
