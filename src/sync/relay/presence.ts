import { logger } from '../../core/log.js';
import { MAX_PATH_LENGTH, type PresenceMessage, type WorktreeEvent } from '../schema.js';
import { authorize } from './auth.js';
import type { RelayContext } from './relayContext.js';
import type { Session } from './sessions.js';
import { checkPath } from './validate.js';
import { type CshareConnection } from '../connection.js';

const log = logger('relay');

/**
 * Presence on the relay (issue 18): who is in which file, with their cursors. Ephemeral by
 * design: a `presence` send is never stored, never logged, never given a seq; it goes on the
 * bus to the worktree's other subscribers at once, and the room keeps each connection's latest
 * state in memory only, for a subscriber that comes later (`Room.subscribe`), until that
 * connection closes (`Room.forget`). Read-only peers may send it: it changes nothing.
 *
 * A client throttles itself to about 20 states a second (`presence/PresenceHub.ts`); the relay
 * allows each connection {@link PresenceLimits} and drops the rest on arrival, not queued: a
 * flood costs its sender's connection the decoding, and every subscriber at most the allowed
 * rate of small events, so it neither grows the relay's memory nor delays others' changes.
 */

/** How many presence states a connection may send; see {@link DEFAULT_PRESENCE_LIMITS}. */
export interface PresenceLimits {
  /** States a connection may send per second, on average. */
  perSecond: number;
  /** States it may send at once after a quiet spell (a bucket of that many tokens). */
  burst: number;
}

/**
 * Half again the client's own throttle (20 a second), with a burst, so that a well-behaved
 * client whose sends arrive bunched (a stalled network) is never dropped.
 */
export const DEFAULT_PRESENCE_LIMITS: Readonly<PresenceLimits> = Object.freeze({ perSecond: 30, burst: 30 });

/** A token bucket: {@link take} is true while the connection is within its rate. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly limits: PresenceLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = limits.burst;
    this.at = now();
  }

  /** Takes a token if there is one; false: over the rate (drop the message). */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.limits.burst, this.tokens + ((t - this.at) / 1000) * this.limits.perSecond);
    this.at = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Serves `presence` sends on `conn` for `session`. */
export function servePresence(conn: CshareConnection, session: Session, ctx: RelayContext): void {
  conn.on('presence', (msg) => presence(ctx, session, msg));
}

/**
 * One `presence` send: checked (the connection's worktree, a safe path), counted against the
 * connection's rate (excess dropped silently: an error frame per dropped state would be a
 * flood back), then published with the replica id its `hello` proved, so nobody speaks for
 * another.
 */
function presence(ctx: RelayContext, session: Session, msg: PresenceMessage): void {
  const { binding } = authorize(ctx, session, msg.worktreeId, false);
  if (msg.state) checkPath(msg.state.path, MAX_PATH_LENGTH);
  session.presenceRate ??= new TokenBucket(ctx.presenceLimits);
  if (!session.presenceRate.take()) {
    session.presenceDropped = (session.presenceDropped ?? 0) + 1;
    // Once per 1000: a flooder must not flood the debug log either.
    if (session.presenceDropped % 1000 === 1) log('%s: presence over %d/s, dropped %d so far', session.peerId, ctx.presenceLimits.perSecond, session.presenceDropped);
    return;
  }
  const event: WorktreeEvent = { type: 'presence', replicaId: binding.replicaId, ...(msg.state ? { state: msg.state } : {}) };
  ctx.bus.publish(binding.worktreeId, event, session);
}
