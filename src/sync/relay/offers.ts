import { CshareError } from '../../core/errors.js';

/**
 * Upload priority (ARCHITECTURE.md "Upload priority"): the relay remembers which connection offered a
 * blob it lacks, so that a joiner fetching it can have that peer asked to upload it next.
 *
 * What is remembered is bounded per connection, per worktree and in all (issue 15, item 6:
 * 200,000 offers per connection, unbounded in connections, took ~60 sessions to the relay's
 * 4.4 GB heap). Past a bound an offer is still answered but not remembered, so a fetch of
 * that blob gets `NOT_FOUND` at once instead of waiting: the joiner retries later.
 */

/** Bounds of {@link Offers}; see {@link DEFAULT_OFFER_LIMITS}. */
export interface OfferLimits {
  perConnection: number;
  perWorktree: number;
  total: number;
}

/**
 * The defaults: a first share of 100,000 files is remembered whole; a remembered blob costs
 * ~150 bytes (its key in the connection's set and the worktree's map).
 */
export const DEFAULT_OFFER_LIMITS: Readonly<OfferLimits> = Object.freeze({ perConnection: 150_000, perWorktree: 250_000, total: 600_000 });

/** Blobs remembered across every worktree (the `total` bound). */
export class OfferCounter {
  count = 0;
  constructor(readonly limits: OfferLimits = DEFAULT_OFFER_LIMITS) {}
}

/** Who waits for a blob to arrive. */
export interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** An offering connection, as far as offers care: its remembered keys. */
export interface Offerer {
  offered: Set<string>;
}

/** One worktree's remembered offers and the fetches waiting for them. */
export class Offers<S extends Offerer = Offerer> {
  /** Key (`b:<digest>`) -> the connection(s) that offered it. */
  private readonly by = new Map<string, S | Set<S>>();
  private readonly waiting = new Map<string, Set<Waiter>>();

  constructor(private readonly counter: OfferCounter) {}

  /** Remembered keys of this worktree. */
  get size(): number {
    return this.by.size;
  }

  /** True if nothing is remembered or awaited. */
  get idle(): boolean {
    return this.by.size === 0 && this.waiting.size === 0;
  }

  /** Remembers that `session` offered `key`; false if a bound said no. */
  remember(session: S, key: string): boolean {
    const { perConnection, perWorktree, total } = this.counter.limits;
    if (session.offered.has(key)) return true;
    if (session.offered.size >= perConnection || this.counter.count >= total) return false;
    const held = this.by.get(key);
    if (held === undefined) {
      if (this.by.size >= perWorktree) return false;
      this.by.set(key, session);
    } else if (held instanceof Set) held.add(session);
    else this.by.set(key, new Set([held, session]));
    session.offered.add(key);
    this.counter.count++;
    return true;
  }

  /** The connections that offered `key`. */
  offerers(key: string): S[] {
    const held = this.by.get(key);
    return held === undefined ? [] : held instanceof Set ? [...held] : [held];
  }

  /** Waits for `key` until `delivered` or the offerers leave; registered before it returns. */
  wait(key: string): { arrived: Promise<void>; waiter: Waiter; done: () => void } {
    let waiter!: Waiter;
    const arrived = new Promise<void>((resolve, reject) => (waiter = { resolve, reject }));
    let set = this.waiting.get(key);
    if (!set) this.waiting.set(key, (set = new Set()));
    set.add(waiter);
    const done = (): void => {
      set.delete(waiter);
      if (set.size === 0 && this.waiting.get(key) === set) this.waiting.delete(key);
    };
    return { arrived, waiter, done };
  }

  /** `key` was stored: nobody needs to be asked for it any more, and its waiters go on. */
  delivered(key: string): void {
    for (const s of this.offerers(key)) {
      if (s.offered.delete(key)) this.counter.count--;
    }
    this.by.delete(key);
    for (const w of this.waiting.get(key) ?? []) w.resolve();
  }

  /**
   * `key` was offered but will never be stored (the relay refused it): it is no longer asked
   * for, and fetches waiting for it fail now instead of at their timeout.
   */
  undeliverable(key: string, why: CshareError): void {
    for (const s of this.offerers(key)) {
      if (s.offered.delete(key)) this.counter.count--;
    }
    this.by.delete(key);
    const err = new CshareError('NOT_FOUND', `the relay refused ${key.slice(2)} from its sharer: ${why.message}`, why.data);
    for (const w of this.waiting.get(key) ?? []) w.reject(err);
  }

  /** `session` left: its offers are forgotten, and fetches waiting only on it fail. */
  forget(session: S): void {
    for (const key of session.offered) {
      this.counter.count--;
      const held = this.by.get(key);
      if (held instanceof Set) {
        held.delete(session);
        if (held.size === 1) this.by.set(key, [...held][0]!);
        continue;
      }
      this.by.delete(key);
      // An error only for a blob someone waits for: a connection leaving with 150,000 offers
      // remembered made as many errors (and stack traces), 2 s of one step.
      const waiters = this.waiting.get(key);
      if (!waiters) continue;
      const err = new CshareError('NOT_FOUND', `the peer that offered ${key.slice(2)} disconnected before uploading it`);
      for (const w of waiters) w.reject(err);
    }
    session.offered.clear();
  }
}
