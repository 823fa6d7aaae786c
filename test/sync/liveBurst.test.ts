import { describe, expect, it } from 'vitest';
import type { RecordedChange } from '../../src/core/history.js';
import type { LiveEvents } from '../../src/sync/client/RelayClient.js';
import type { WorktreeEvent } from '../../src/sync/schema.js';
import type { SessionContext } from '../../src/sync/session/context.js';
import { follow } from '../../src/sync/session/live.js';
import type { NeedAnswers } from '../../src/sync/session/need.js';
import { waitFor } from './helpers.js';

/** A gate a test opens when it wants. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/** A live feed the test pushes events into; ends when `end()` is called. */
function feed(): { sub: LiveEvents; push: (e: WorktreeEvent) => void; end: () => void } {
  const queue: WorktreeEvent[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  const sub: LiveEvents = {
    ready: Promise.resolve(),
    unsubscribe: () => {
      ended = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
  const kick = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  return { sub, push: (e) => (queue.push(e), kick()), end: () => ((ended = true), kick()) };
}

const update = (i: number): WorktreeEvent => ({ type: 'file-update', fileId: `f${i}` });
const change: RecordedChange = { seq: 1, kind: 'edit', path: 'a.txt', inserted: 1, deleted: 0 };

describe('a burst of live events (a git checkout on the other side)', () => {
  it('is caught up on in rounds, with local pushes held until the last round is over and one push after it', async () => {
    const { sub, push, end } = feed();
    const first = gate();
    const rounds = [gate(), gate()];
    let catchUps = 0;
    const bursts: boolean[] = [];
    const pushes: boolean[] = [];
    const serialQueue: Promise<unknown>[] = [];
    const ctx = {
      client: { subscribe: () => sub },
      signal: undefined,
      applier: { names: new Map() },
      emit: () => undefined,
      serial: <T>(fn: () => Promise<T>) => {
        const run = fn();
        serialQueue.push(run);
        return run;
      },
    } as unknown as SessionContext;
    const running = follow(ctx, {
      needs: {} as NeedAnswers,
      burst: (b) => bursts.push(b),
      pushAfterApply: async (always) => void pushes.push(always),
      catchUp: async () => {
        const n = catchUps++;
        // The first catch-up (before any live event) is held until the burst has queued up.
        if (n === 0) await first.wait;
        else await rounds[n - 1]!.wait;
        return n === 0 ? [] : [change];
      },
    });
    // 40 events while the first catch-up runs: from the 32nd on the session is behind.
    for (let i = 0; i < 40; i++) push(update(i));
    await waitFor(() => bursts.length === 1);
    expect(bursts).toEqual([true]);
    first.open();
    // The burst's first round runs; an event that comes meanwhile makes a second one.
    await waitFor(() => catchUps === 2);
    push(update(40));
    await new Promise((resolve) => setImmediate(resolve));
    rounds[0]!.open();
    await waitFor(() => catchUps === 3);
    // Still in the burst: nothing said it ended, and no push ran after a round.
    expect(bursts).toEqual([true]);
    expect(pushes.filter((p) => p)).toEqual([]);
    rounds[1]!.open();
    await waitFor(() => bursts.length === 2);
    expect(bursts).toEqual([true, false]);
    // One push of what the applies changed here, for both rounds.
    await waitFor(() => pushes.filter((p) => p).length === 1);
    end();
    await running;
    expect(catchUps).toBe(3);
    expect(pushes.filter((p) => p)).toEqual([true]);
  });
});
