/** Options of {@link pooled}. */
export interface PooledOptions<T> {
  items: readonly T[];
  /** Most calls of `run` at once. */
  limit: number;
  run: (item: T) => Promise<void>;
}

/**
 * Runs `run` over `items` with at most `limit` calls at once, in order. At the first failure
 * no item is started any more, and the calls already running are waited for before the first
 * failure rejects: a caller that goes on after the rejection (the session's next step on the
 * replica, a retry) never runs beside work of this call, so "one at a time" on the replica
 * holds. Failures after the first are dropped (they are the same trouble, usually a closed
 * connection).
 */
export async function pooled<T>(opts: PooledOptions<T>): Promise<void> {
  const { items, limit, run } = opts;
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      try {
        await run(items[next++]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}
