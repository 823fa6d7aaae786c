import { logger } from '../../core/log.js';
import type { PeerInfo, PresencePort, PresenceSelection, PresenceState } from '../../editor/ports.js';
import type { WorktreeEvent } from '../schema.js';
import { colorOf } from './colors.js';

export type { PeerInfo, PresenceSelection, PresenceState };

const log = logger('presence');

/**
 * Presence for an editor server (issue 18; PROTOCOL.md `presence`): the editor server's port
 * (`editor/ports.ts` `PresencePort`, where its types are defined once). A running
 * `share`/`join` owns one (`SyncLoop.presence`), for a relay elsewhere as for the one in its
 * own process.
 */
export type PresenceHub = PresencePort;

/** Where a hub sends this replica's state: the connection of the live session (`RelayClient.sendPresence`). */
export interface PresenceLink {
  sendPresence(state: PresenceState | null): Promise<void>;
}

/** What a sync session tells a hub (see {@link LivePresence}). */
export interface PresenceFeed {
  connected(link: PresenceLink): void;
  disconnected(link: PresenceLink): void;
  onEvent(event: WorktreeEvent): void;
}

/** Options of a {@link LivePresence}. */
export interface LivePresenceOptions {
  /** This replica: never listed among the peers. */
  replicaId: string;
  /** Least time between two sends (50 ms: at most 20 a second, under the relay's 30). */
  intervalMs?: number;
}

/** Least time between two sends by default. */
export const PRESENCE_INTERVAL_MS = 50;

/** A peer as the hub tracks it: how many of its connections are here, and its info. */
interface Tracked {
  connections: number;
  info: PeerInfo;
}

/**
 * The {@link PresenceHub} of a running share or join. The sync session feeds it: the link of
 * each live subscription ({@link connected}, then {@link disconnected} when it ends) and the
 * events `peer-joined`, `peer-left` and `presence` as they arrive ({@link onEvent}), never
 * queued behind changes being applied.
 *
 * Sending: a state goes out at once unless one went out less than `intervalMs` ago; then the
 * latest one waiting goes when that time is up (intermediate ones are dropped: the relay
 * keeps only the latest anyway). While disconnected nothing is sent; on the next
 * subscription the latest state goes again, since the relay forgot it with the old
 * connection.
 *
 * Peers: a replica may have two connections at a time (a reconnect seen by the relay before
 * the old one closed), so a peer is counted per `peer-joined` and dropped at its last
 * `peer-left`. A new subscription replays who is here and their states, so the list starts
 * over with each.
 */
export class LivePresence implements PresenceHub, PresenceFeed {
  private readonly replicaId: string;
  private readonly intervalMs: number;
  private own: PresenceState | null = null;
  /** The latest state has not gone out on the current link yet. */
  private dirty = false;
  private lastSentAt = -Infinity;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private link: PresenceLink | undefined;
  private readonly tracked = new Map<string, Tracked>();
  private readonly listeners = new Set<(peers: readonly PeerInfo[]) => void>();
  private notifying = false;
  /** States sent so far (for tests and diagnostics). */
  sent = 0;

  constructor(opts: LivePresenceOptions) {
    this.replicaId = opts.replicaId;
    this.intervalMs = opts.intervalMs ?? PRESENCE_INTERVAL_MS;
  }

  publish(state: PresenceState | null): void {
    this.own = state;
    this.dirty = true;
    this.flush();
  }

  peers(): PeerInfo[] {
    return [...this.tracked.values()]
      .map((t) => ({ ...t.info }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.replicaId < b.replicaId ? -1 : a.replicaId > b.replicaId ? 1 : 0));
  }

  onChange(listener: (peers: readonly PeerInfo[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * A live subscription began on `link`: the relay replays who is here next (the list starts
   * over), and this replica's latest state goes out again (the relay forgot it with the last
   * connection).
   */
  connected(link: PresenceLink): void {
    this.link = link;
    this.clearPeers();
    if (this.own !== null) this.dirty = true;
    this.flush();
  }

  /** The subscription of `link` ended: nobody is known to be here until the next one. */
  disconnected(link: PresenceLink): void {
    if (this.link !== link) return;
    this.link = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.clearPeers();
  }

  /** Takes a live event of the worktree as it arrives; those that are not about peers are ignored. */
  onEvent(event: WorktreeEvent): void {
    switch (event.type) {
      case 'peer-joined': {
        if (event.replicaId === this.replicaId || event.role === 'relay') return;
        const t = this.tracked.get(event.replicaId);
        const { presence, readOnly: _was, ...known } = t?.info ?? { replicaId: event.replicaId, color: colorOf(event.replicaId) };
        const info: PeerInfo = { ...known, name: event.name, role: event.role, ...(event.readOnly ? { readOnly: true } : {}), ...(presence ? { presence } : {}) };
        if (t) {
          t.connections++;
          t.info = info;
        } else this.tracked.set(event.replicaId, { connections: 1, info });
        return this.changed();
      }
      case 'peer-left': {
        const t = this.tracked.get(event.replicaId);
        if (!t) return;
        if (--t.connections <= 0) this.tracked.delete(event.replicaId);
        return this.changed();
      }
      case 'presence': {
        const t = this.tracked.get(event.replicaId);
        // The relay says who joined before where they are; a state of someone unknown is stale.
        if (!t) return log('presence of %s, who is not here: ignored', event.replicaId);
        const { presence: _old, ...rest } = t.info;
        t.info = event.state ? { ...rest, presence: event.state } : rest;
        return this.changed();
      }
      default:
        return;
    }
  }

  /** Sends the latest state if it is due, or arranges for it to go when it is. */
  private flush(): void {
    if (!this.link || !this.dirty || this.timer) return;
    const wait = this.lastSentAt + this.intervalMs - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, wait);
      this.timer.unref?.();
      return;
    }
    const link = this.link;
    this.dirty = false;
    this.lastSentAt = Date.now();
    this.sent++;
    // A failed send means the connection is going: the next subscription sends the state again.
    link.sendPresence(this.own).catch((err: unknown) => log('presence not sent: %s', (err as Error)?.message ?? err));
  }

  private clearPeers(): void {
    if (this.tracked.size === 0) return;
    this.tracked.clear();
    this.changed();
  }

  /** Tells the listeners once the current burst of events is taken in (a microtask later). */
  private changed(): void {
    if (this.notifying) return;
    this.notifying = true;
    queueMicrotask(() => {
      this.notifying = false;
      const peers = Object.freeze(this.peers());
      for (const l of [...this.listeners]) {
        try {
          l(peers);
        } catch (err) {
          // A listener's bug (an editor gone) must not stop the others nor the session.
          log('a presence listener failed: %s', (err as Error)?.message ?? err);
        }
      }
    });
  }
}
