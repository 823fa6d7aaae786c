import type { Admission } from './admission.js';
import { FairScheduler, Pacer } from './pace.js';
import type { RelayBus } from './RelayBus.js';
import type { PresenceLimits } from './presence.js';
import type { RelayLog } from './RelayLog.js';
import type { RelayStorage } from './RelayStorage.js';
import type { Room, Rooms } from './Room.js';
import type { SessionTable } from './sessions.js';
import type { Subscriptions } from './subscriptions.js';

/**
 * What the relay's handlers share (`RelayService` makes one): the storage, the connections
 * and their rooms, the bus between rooms, and the relay's rules. The handlers of each concept
 * live in their own file (`auth.ts`, `uploads.ts`, `downloads.ts`, `uploadPriority.ts`).
 */
export interface RelayContext {
  store: RelayStorage;
  /** Name the relay gives in `hello` replies. */
  relayId: string;
  /** How long a fetch waits for a sharer to upload something it asked for. */
  needTimeoutMs: number;
  /** Unfinished chunked blob uploads per connection. */
  maxUploadsPerConnection: number;
  table: SessionTable;
  subscriptions: Subscriptions;
  admission: Admission;
  rooms: Rooms;
  bus: RelayBus;
  /** Long work of requests takes turns by worktree here (see `pace.ts`). */
  scheduler: FairScheduler;
  /** Throws `OVERLOADED` while the disk is too full to store uploads. */
  checkDisk: () => void;
  /** How many presence states a connection may send (see `presence.ts`). */
  presenceLimits: PresenceLimits;
  log: RelayLog;
}

/** Long work of a request in `room`'s worktree takes turns with other worktrees' (see `pace.ts`). */
export function pacerFor(ctx: RelayContext, room: Room): Pacer {
  return new Pacer({ scheduler: ctx.scheduler, lane: room });
}
