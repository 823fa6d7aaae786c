import type { RecordedChange } from '../../core/history.js';
import { logger } from '../../core/log.js';
import type { WorktreeEvent } from '../schema.js';
import { setStep } from '../step.js';
import type { LiveEvents } from '../client/RelayClient.js';
import type { SessionContext } from './context.js';
import { applyLiveEvent, onEvent, type PushAfterApply } from './liveEvent.js';
import type { NeedAnswers } from './need.js';

const log = logger('session');

/**
 * Live events waiting to be applied (behind an upload, a catch-up or each other) before the
 * session stops queueing them and catches up from the relay's log instead (see {@link follow}).
 */
const BEHIND_AFTER = 32;
/**
 * Events the live subscription holds until they are read. A connection decodes every frame of
 * a chunk it reads before the reader runs, and after a long write to disk (an apply of 250
 * files) the chunks waiting hold hundreds of small events: with the connection's default of
 * 256 the subscription failed (`OVERLOADED`, "fell more than 256 items behind") although
 * this side reads them at once. The relay holds at most 1024 per subscriber (see
 * `relay/subscriptions.ts`); the queue's byte bound (32 MB) still holds.
 */
const LIVE_QUEUE_EVENTS = 4096;

/** What the live loop needs of the rest of the session. */
export interface LiveSteps {
  /** The session's catch-up (serial). */
  catchUp: () => Promise<RecordedChange[]>;
  pushAfterApply: PushAfterApply;
  needs: NeedAnswers;
}

/**
 * Applies live events until the subscription or connection ends (see `SyncSession.live`).
 * Resolves when it ends, rejects only on abort or a failed catch-up.
 */
export async function follow(ctx: SessionContext, steps: LiveSteps): Promise<void> {
  const sub = ctx.client.subscribe({ queueSize: LIVE_QUEUE_EVENTS });
  setStep('live: subscribing');
  await sub.ready;
  setStep('live: events');
  // Before any event is read: the relay replays who is here, and the hub starts its list over.
  ctx.presence?.connected(ctx.client);
  try {
    await new LiveRun(ctx, steps, sub).run();
  } finally {
    ctx.presence?.disconnected(ctx.client);
  }
}

/** One subscription's events: applied in order, or, once behind, left to a catch-up. */
class LiveRun {
  private failed = false;
  private catchUpError: unknown;
  /** Everything queued so far, applied in order. */
  private applying: Promise<void>;
  private queued = 0;
  /** Behind: events are dropped (the catch-up after them fetches them from the relay's log). */
  private behind = false;
  /** One came since the last catch-up began reading, so another one follows. */
  private dropped = false;

  constructor(
    private readonly ctx: SessionContext,
    private readonly steps: LiveSteps,
    private readonly sub: LiveEvents,
  ) {
    // Anything logged between the catch-up and the subscription is fetched again; Yjs makes
    // the duplicates harmless.
    this.applying = steps.catchUp().then(() => undefined, (err: unknown) => this.fail(err));
  }

  async run(): Promise<void> {
    try {
      for await (const event of this.sub) {
        if ((await this.arrived(event)) && this.failed) break;
      }
    } finally {
      this.sub.unsubscribe();
      // What was queued still applies in order (or stops at a failure) before this returns.
      setStep('live: applying queued events');
      await this.applying;
    }
    if (this.catchUpError !== undefined) throw this.catchUpError;
  }

  /** Handles one event as it arrives; true if it was queued. */
  private async arrived(event: WorktreeEvent): Promise<boolean> {
    if (event.type === 'need') {
      void this.steps.needs.answer(event);
      return false;
    }
    // Peers and where they are go to the presence hub as they arrive, never behind changes
    // being applied (a peer's state must not wait for an upload); presence is nothing more.
    if (event.type === 'peer-joined' || event.type === 'peer-left' || event.type === 'presence') this.ctx.presence?.onEvent(event);
    if (event.type === 'presence') return false;
    if (this.behind) {
      // Peers coming and going are not in the relay's log: said now, not queued (the
      // queue stays bounded however long the burst).
      if (event.type === 'peer-joined' || event.type === 'peer-left') await onEvent(this.ctx, event, this.steps.pushAfterApply);
      else this.dropped = true;
      return false;
    }
    this.enqueue(event);
    if (!this.behind && this.queued >= BEHIND_AFTER) {
      this.behind = true;
      log('%d live events waiting: catching up instead', this.queued);
      this.applying = this.applying.then(() => (this.failed ? undefined : this.catchUpBurst().catch((err: unknown) => this.fail(err))));
    }
    return true;
  }

  /** Applies `event` after everything queued before it. */
  private enqueue(event: WorktreeEvent): void {
    this.queued++;
    this.applying = this.applying.then(async () => {
      this.queued--;
      if (this.failed) return;
      this.failed = !(await applyLiveEvent(this.ctx, event, this.steps.pushAfterApply));
      // A change that could not be applied (disk full, say) was rolled back; later events
      // must not move relaySeq past it. End here: the caller reconnects and catches up from
      // the last change applied, which applies this one again.
      if (this.failed) this.sub.unsubscribe();
    });
  }

  /** Catches up until no event was dropped meanwhile; then events are live again. */
  private async catchUpBurst(): Promise<void> {
    do {
      this.dropped = false;
      setStep('live: catching up on a burst');
      const applied = await this.steps.catchUp();
      log('caught up on a burst: changes applied %d', applied.length);
      // As after a live manifest event: what the apply made this replica change goes up.
      if (applied.length > 0) await this.steps.pushAfterApply(true);
    } while (this.dropped && !this.failed && !this.ctx.signal?.aborted);
    this.behind = false;
  }

  private fail(err: unknown): void {
    this.catchUpError = err;
    this.failed = true;
    this.sub.unsubscribe();
  }
}
