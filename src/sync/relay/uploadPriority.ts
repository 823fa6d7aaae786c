import { CshareError } from '../../core/errors.js';
import type { RelayBus } from './RelayBus.js';
import type { RelayStorage } from './RelayStorage.js';
import type { Rooms } from './Room.js';

/**
 * Upload priority (ARCHITECTURE.md "Upload priority"): a joiner fetching a blob the relay does
 * not have yet should not wait for the sharer's whole upload. `manifest/offer` made the room
 * remember which connection offered it (`Room.rememberOffer`); a fetch has that connection
 * asked for it through the bus (`RelayBus.requestUpload`, a `need` event) and waits for it.
 */

/** What waiting for a blob needs: the store, the rooms and bus, and how long to wait. */
export interface NeedContext {
  store: RelayStorage;
  rooms: Rooms;
  bus: RelayBus;
  needTimeoutMs: number;
}

/**
 * Waits until blob `digest` of the worktree is stored: if a connected peer offered it, it is
 * asked for it, and the wait ends when it arrives, the peer leaves, `needTimeoutMs` passes or
 * the fetch is cancelled. Otherwise `NOT_FOUND` at once.
 */
export async function ensureAvailable(ctx: NeedContext, worktreeId: string, digest: string, signal: AbortSignal): Promise<void> {
  if (!ctx.bus.offered(worktreeId, digest)) throw new CshareError('NOT_FOUND', `the relay does not have blob ${digest}, and no connected peer offered it`, { digest });
  const { arrived, waiter, done } = ctx.rooms.of(worktreeId).waitFor(digest);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const onAbort = (): void => waiter.reject(signal.reason instanceof Error ? signal.reason : new CshareError('CONNECTION_CLOSED', 'fetch cancelled'));
  try {
    // Registered before this check, so an upload finishing in between is not missed.
    if (await ctx.store.getBlob(worktreeId, digest)) return;
    ctx.bus.requestUpload(worktreeId, digest);
    timer = setTimeout(() => waiter.reject(new CshareError('TIMEOUT', `the sharer did not upload blob ${digest} within ${ctx.needTimeoutMs} ms; try again`, { digest })), ctx.needTimeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    await arrived;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    done();
  }
}
