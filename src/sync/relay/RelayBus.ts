import type { CshareError } from '../../core/errors.js';
import type { WorktreeEvent } from '../schema.js';
import type { Session } from './sessions.js';

/** What a bus asks of a room (`Room`) joined to it. */
export interface BusRoom {
  readonly worktreeId: string;
  broadcast(event: WorktreeEvent, origin: Session | undefined): void;
  offered(digest: string): boolean;
  requestUpload(digest: string): void;
  uploaded(digest: string): void;
  refused(digest: string, why: CshareError): void;
}

/**
 * How fan-out events and upload-priority requests go between the rooms of a worktree: every
 * event an upload, a `hello` or a departure makes is published here, and every request that a
 * peer upload a blob next goes through here, never straight to a room. Today one relay process
 * holds every room ({@link InProcessBus}); a bus over an external broker would let several
 * relay processes share one store and serve the same worktrees, each with its own room.
 *
 * Ordering: a bus delivers one worktree's events to each room in the order they were
 * published (the store announces appends in seq order, and subscribers rely on it).
 */
export interface RelayBus {
  /** `room` takes the messages for its worktree from now on (until {@link leave}). */
  join(room: BusRoom): void;
  leave(room: BusRoom): void;
  /** Fan-out: `event` to every subscriber of `worktreeId` but those of connection `origin`. */
  publish(worktreeId: string, event: WorktreeEvent, origin?: Session): void;
  /** Upload priority: true if a subscribed peer of `worktreeId` offered blob `digest`. */
  offered(worktreeId: string, digest: string): boolean;
  /** Asks the subscribed peers that offered blob `digest` to upload it now (a `need` event). */
  requestUpload(worktreeId: string, digest: string): void;
  /** Blob `digest` was stored: it is asked of nobody any more, and fetches waiting for it go on. */
  uploaded(worktreeId: string, digest: string): void;
  /** Blob `digest` was refused for good (`why`): fetches waiting for it fail now. */
  refused(worktreeId: string, digest: string, why: CshareError): void;
}

/** The bus of one relay process: each worktree has at most one room, reached directly. */
export class InProcessBus implements RelayBus {
  private readonly rooms = new Map<string, BusRoom>();

  join(room: BusRoom): void {
    this.rooms.set(room.worktreeId, room);
  }

  leave(room: BusRoom): void {
    if (this.rooms.get(room.worktreeId) === room) this.rooms.delete(room.worktreeId);
  }

  publish(worktreeId: string, event: WorktreeEvent, origin?: Session): void {
    this.rooms.get(worktreeId)?.broadcast(event, origin);
  }

  offered(worktreeId: string, digest: string): boolean {
    return this.rooms.get(worktreeId)?.offered(digest) ?? false;
  }

  requestUpload(worktreeId: string, digest: string): void {
    this.rooms.get(worktreeId)?.requestUpload(digest);
  }

  uploaded(worktreeId: string, digest: string): void {
    this.rooms.get(worktreeId)?.uploaded(digest);
  }

  refused(worktreeId: string, digest: string, why: CshareError): void {
    this.rooms.get(worktreeId)?.refused(digest, why);
  }
}
