import { describe, expect, it } from 'vitest';
import { pooled } from '../../src/sync/pooled.js';

/** A promise settled from outside. */
function gate(): { promise: Promise<void>; open: () => void; fail: (err: Error) => void } {
  let open!: () => void;
  let fail!: (err: Error) => void;
  const promise = new Promise<void>((resolve, reject) => ((open = resolve), (fail = reject)));
  return { promise, open, fail };
}

/** Lets every callback already due run (promise reactions, then one turn of the loop). */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('pooled', () => {
  it('runs every item, at most `limit` at once', async () => {
    let running = 0;
    let most = 0;
    const done: number[] = [];
    const gates = Array.from({ length: 10 }, gate);
    const all = pooled({
      items: gates.map((_, i) => i),
      limit: 3,
      run: async (i) => {
        most = Math.max(most, ++running);
        await gates[i]!.promise;
        running--;
        done.push(i);
      },
    });
    for (const g of gates) {
      await turn();
      g.open();
    }
    await all;
    expect(done).toEqual([...Array(10).keys()]);
    expect(most).toBe(3);
  });

  it('at the first failure starts nothing more, and rejects only once the calls running have settled', async () => {
    const gates = Array.from({ length: 6 }, gate);
    const started: number[] = [];
    const running = new Set<number>();
    let runningAtRejection: number[] | undefined;
    const all = pooled({
      items: gates.map((_, i) => i),
      limit: 3,
      run: async (i) => {
        started.push(i);
        running.add(i);
        try {
          await gates[i]!.promise;
        } finally {
          running.delete(i);
        }
      },
    }).catch((err: unknown) => {
      runningAtRejection = [...running];
      throw err;
    });
    await turn();
    expect(started).toEqual([0, 1, 2]);
    gates[0]!.fail(new Error('first'));
    await turn();
    // Items 1 and 2 still run: the call has not rejected, and took no new item.
    expect(runningAtRejection).toBeUndefined();
    expect(started).toEqual([0, 1, 2]);
    gates[1]!.fail(new Error('second'));
    gates[2]!.open();
    await expect(all).rejects.toThrow('first');
    expect(runningAtRejection).toEqual([]);
    expect(started).toEqual([0, 1, 2]);
  });

  it('resolves at once with no items', async () => {
    await expect(pooled({ items: [], limit: 4, run: () => Promise.reject(new Error('never')) })).resolves.toBeUndefined();
  });
});
