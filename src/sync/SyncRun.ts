import { join } from 'node:path';
import type { CshareError } from '../core/errors.js';
import { logger } from '../core/log.js';
import { refusedMessage, type RefusedPath } from '../core/refused.js';
import { loadOrCreateIdentity } from './libp2p/identity.js';
import type { PrivateKey } from './libp2p/types.js';
import type { SyncLoop } from './SyncLoop.js';
import type { SessionEvent } from './SyncSession.js';
import { setStep } from './step.js';
import { type CshareConnection } from './connection.js';

/** How often a running share or join checks that its store is still in place (see `StoreGuard`). */
export const STORE_CHECK_MS = 1000;

/** Where a share or join stood when it was stopped (see `SyncLoop.standing`). */
export interface Standing {
  notUploaded: number;
  inSync: boolean;
}

/**
 * A running `share` or `join`: what stops it, the guard of its store, and what it holds
 * (store, relay or libp2p node, watcher, control socket), released in the reverse order of
 * holding when it ends, each one even when another fails to close.
 */
export class SyncRun {
  /** Aborted to stop the run: by the caller's signal (see {@link stopOn}), or when the store is lost. */
  readonly stop = new AbortController();
  /** For `openWorktree`: a store moved away or replaced under the run stops it (see `StoreGuard`). */
  readonly guard: { command: string; everyMs: number; onLost: (err: CshareError) => void };
  /** The run's loop, once made: where it stood is told when the run is stopped. */
  loop: SyncLoop | undefined;
  private lost: CshareError | undefined;
  private readonly held: [string, () => Promise<void>][] = [];
  private unlisten: (() => void) | undefined;
  private readonly log: ReturnType<typeof logger>;

  constructor(command: 'share' | 'join') {
    this.log = logger(command);
    this.guard = {
      command,
      everyMs: STORE_CHECK_MS,
      onLost: (err) => {
        this.lost = err;
        this.stop.abort();
      },
    };
  }

  /** Stops the run when `signal` aborts (Ctrl-C, SIGTERM), telling `onStop` first where it stood. */
  stopOn(signal: AbortSignal, onStop: (standing: Standing) => void): void {
    const onAbort = () => {
      onStop(this.loop?.standing() ?? { notUploaded: 0, inSync: false });
      this.stop.abort();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    this.unlisten = () => signal.removeEventListener('abort', onAbort);
  }

  /** Holds a resource until the run ends; the last one held is released first. */
  hold(name: string, release: () => Promise<void>): void {
    this.held.unshift([name, release]);
  }

  /** After the loop returned: the store was lost while it ran, the run fails with why. */
  throwIfLost(): void {
    if (this.lost) throw this.lost;
  }

  /**
   * Ends the run: stops what still runs and releases what it holds, naming each step (a
   * release that hangs is named by the command; see `setStep`). A release that fails is
   * logged, and the next ones still run.
   */
  async end(): Promise<void> {
    this.unlisten?.();
    this.stop.abort();
    for (const [name, release] of this.held) {
      setStep(name);
      await release().catch((err: unknown) => this.log('cleanup failed: %s', (err as Error)?.message ?? err));
    }
  }
}

/** `hello` said on a new connection; a connection whose hello fails is closed. */
export async function greeted<T>(conn: CshareConnection, hello: (conn: CshareConnection) => Promise<T>): Promise<T> {
  try {
    return await hello(conn);
  } catch (err) {
    conn.close();
    throw err;
  }
}

/** The event of a path that is not shared or not written (once per path; see `Replica.onRefused`). */
export function refusedEvent(r: RefusedPath): Extract<SessionEvent, { type: 'error' }> {
  return { type: 'error', code: r.code, message: refusedMessage(r), path: r.path, reason: r.reason };
}

/**
 * This worktree's libp2p key, in `.cshare/peer/` (owner-only): its peer id stays the same
 * across runs, because a relay binds each replica id to the peer that first used it.
 */
export async function peerKey(root: string, signal: AbortSignal): Promise<PrivateKey> {
  return (await loadOrCreateIdentity({ dataDir: join(root, '.cshare', 'peer'), signal })).privateKey;
}
