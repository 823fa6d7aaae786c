/**
 * Waits before reconnect attempt `n` (0-based): 250 ms doubling to 10 s, with jitter so that
 * many peers of a restarted relay do not all come back at once. Resolves early on abort.
 */
export function backoff(n: number, signal?: AbortSignal): Promise<void> {
  const ms = Math.min(10_000, 250 * 2 ** Math.min(n, 6)) * (0.75 + Math.random() * 0.5);
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
