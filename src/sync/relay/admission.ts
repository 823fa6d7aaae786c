import { createHash, timingSafeEqual } from 'node:crypto';
import { CshareError } from '../../core/errors.js';

/**
 * Who may register a new worktree on a relay (issue 15, item 8). Anyone who can reach the
 * port could, and every bound meant for a share's own peers then applied to strangers.
 *
 * - `--token <secret>` (repeatable): only a sharer that presents one of the operator's relay
 *   tokens registers (`share --relay-token`); everyone else gets `UNAUTHORIZED`.
 * - `--open`: anyone registers, with no rate limit (a relay on a trusted network).
 * - Neither (the default): anyone registers, at a limited rate: a peer may register
 *   {@link DEFAULT_ADMISSION}`.perPeer.burst` worktrees at once and one more every
 *   `perPeer.everyMs`, the relay as a whole `total.burst` and one every `total.everyMs`, and
 *   a peer holds at most `maxWorktreesPerPeer` worktrees. Past that: `OVERLOADED`.
 *
 * In every mode each worktree has a quota of stored bytes, and the relay refuses uploads
 * once its disk is nearly full (`RelayStore`, `RelayService`). Joining an existing worktree
 * needs its join code only, never a relay token.
 */

/** A token bucket: `burst` at once, refilled with one every `everyMs`. */
export interface Rate {
  burst: number;
  everyMs: number;
}

/** The admission rule; see the file comment. */
export interface AdmissionPolicy {
  open: boolean;
  /** Relay tokens (as given to `--token`); registering needs one when any is set. */
  tokens: string[];
  perPeer: Rate;
  total: Rate;
  maxWorktreesPerPeer: number;
}

/** The default rule: no token, rate-limited registrations. */
export const DEFAULT_ADMISSION: Readonly<AdmissionPolicy> = Object.freeze({
  open: false,
  tokens: [],
  perPeer: Object.freeze({ burst: 5, everyMs: 60_000 }),
  total: Object.freeze({ burst: 20, everyMs: 30_000 }),
  maxWorktreesPerPeer: 32,
});

/** Peers whose buckets are remembered (the fullest are forgotten first: they are as new). */
const MAX_BUCKETS = 10_000;

class Bucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly rate: Rate,
    now: number,
  ) {
    this.tokens = rate.burst;
    this.at = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    this.tokens = Math.min(this.rate.burst, this.tokens + (now - this.at) / this.rate.everyMs);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  full(now: number): boolean {
    return this.tokens + (now - this.at) / this.rate.everyMs >= this.rate.burst;
  }
}

/** Applies an {@link AdmissionPolicy} to registrations. */
export class Admission {
  readonly policy: AdmissionPolicy;
  private readonly tokenHashes: Buffer[];
  private readonly peers = new Map<string, Bucket>();
  private readonly total: Bucket;

  constructor(
    policy: Partial<AdmissionPolicy> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.policy = { ...DEFAULT_ADMISSION, ...policy };
    this.tokenHashes = this.policy.tokens.map(digest);
    this.total = new Bucket(this.policy.total, now());
  }

  /** The rule in words, for the relay's start-up line. */
  describe(): string {
    if (this.tokenHashes.length > 0) return 'new shares need a relay token';
    if (this.policy.open) return 'anyone may register new shares (--open)';
    return 'anyone may register new shares, at a limited rate';
  }

  /**
   * Throws unless `peerId` may register a worktree now, presenting `token`; `registered`
   * counts the worktrees it holds already (up to the bound).
   */
  async check(peerId: string, token: Uint8Array | undefined, registered: (max: number) => Promise<number>): Promise<void> {
    if (this.tokenHashes.length > 0) {
      // Compared in constant time against every token, whichever matches.
      const presented = digest(token ?? new Uint8Array(0));
      let ok = false;
      for (const h of this.tokenHashes) ok = timingSafeEqual(h, presented) || ok;
      if (!token || !ok) throw new CshareError('UNAUTHORIZED', 'this relay registers new shares only with a relay token from its operator: cshare share --relay-token <token>');
      return;
    }
    if (this.policy.open) return;
    const max = this.policy.maxWorktreesPerPeer;
    if ((await registered(max)) >= max) {
      throw new CshareError('OVERLOADED', `peer ${peerId} registered ${max} worktrees on this relay already, its limit`, { max });
    }
    const now = this.now();
    let bucket = this.peers.get(peerId);
    if (!bucket) {
      if (this.peers.size >= MAX_BUCKETS) this.forgetFull(now);
      this.peers.set(peerId, (bucket = new Bucket(this.policy.perPeer, now)));
    }
    if (!bucket.take(now)) throw new CshareError('OVERLOADED', 'too many new shares from this peer: try again in a minute');
    if (!this.total.take(now)) throw new CshareError('OVERLOADED', 'too many new shares on this relay right now: try again in a minute');
  }

  private forgetFull(now: number): void {
    for (const [peer, b] of this.peers) if (b.full(now)) this.peers.delete(peer);
    // Still too many: every one is recent, so any may go (a new peer id is free anyway).
    if (this.peers.size >= MAX_BUCKETS) this.peers.clear();
  }
}

function digest(b: Uint8Array | string): Buffer {
  return createHash('sha256').update(b).digest();
}
