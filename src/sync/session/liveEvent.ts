import { CshareError } from '../../core/errors.js';
import type { ChangeSet } from '../../core/exchange.js';
import { logger } from '../../core/log.js';
import type { WorktreeEvent } from '../schema.js';
import { advanceRelaySeq, type SessionContext } from './context.js';

const log = logger('session');

/**
 * Uploads what an apply made this replica change itself (see `SyncSession.pushAfterApply`);
 * `always`: without looking first.
 */
export type PushAfterApply = (always: boolean) => Promise<void>;

/**
 * Applies one live event; reports and returns false if a change could not be applied (the
 * caller stops there: later events must not move relaySeq past it).
 */
export function applyLiveEvent(ctx: SessionContext, event: WorktreeEvent, pushAfterApply: PushAfterApply): Promise<boolean> {
  return onEvent(ctx, event, pushAfterApply).then(
    () => true,
    (err: unknown) => {
      // Stopped (Ctrl-C): not an error to report; the change comes again with the next catch-up.
      if (ctx.signal?.aborted) return false;
      const e = err instanceof CshareError ? err : new CshareError('INTERNAL', String((err as Error)?.message ?? err));
      log('event %s failed: %s', event.type, e.message);
      ctx.emit({ type: 'error', code: e.code, message: e.message, ...(typeof e.data.path === 'string' ? { path: e.data.path } : {}) });
      return !(event.type === 'manifest' || event.type === 'file-update' || event.type === 'blob' || event.type === 'history');
    },
  );
}

/** What one event does: a change is applied (one at a time with the rest), a peer is said. */
export async function onEvent(ctx: SessionContext, event: WorktreeEvent, pushAfterApply: PushAfterApply): Promise<void> {
  switch (event.type) {
    case 'manifest':
      await ctx.serial(() => applyLive(ctx, { manifest: [event.update], files: [], blobs: [] }, event.by ?? '', event.seq));
      // If that displaced a later write of this replica, applying set it again (last writer
      // by Lamport time wins): upload it now rather than with the next local save.
      await pushAfterApply(true);
      return;
    case 'file-update':
      if (event.update) await ctx.serial(() => applyLive(ctx, { manifest: [], files: [{ fileId: event.fileId, updates: [event.update!] }], blobs: [] }, event.by ?? '', event.seq));
      await pushAfterApply(false);
      return;
    case 'blob':
      await ctx.serial(async () => {
        if (await ctx.replica.hasBlob(event.digest)) return;
        const bytes = await ctx.client.fetchBlob(event.digest);
        await applyLive(ctx, { manifest: [], files: [], blobs: [{ digest: event.digest, bytes }] }, event.by, event.seq);
      });
      await pushAfterApply(false);
      return;
    case 'history':
      await ctx.serial(async () => {
        await ctx.replica.recordHistory(event.entries, event.by);
        await advanceRelaySeq(ctx, event.seq);
      });
      return;
    case 'peer-joined':
      ctx.applier.names.set(event.replicaId, event.name);
      ctx.emit({ type: 'peer-joined', replicaId: event.replicaId, name: event.name, role: event.role });
      return;
    case 'peer-left':
      ctx.emit({ type: 'peer-left', replicaId: event.replicaId, name: ctx.applier.names.get(event.replicaId) });
      ctx.applier.names.delete(event.replicaId);
      return;
    case 'need':
    case 'presence':
      // Handled by the live loop as they arrive, never queued behind other events.
      return;
  }
}

async function applyLive(ctx: SessionContext, changes: ChangeSet, by: string, seq: number | undefined): Promise<void> {
  await ctx.applier.apply(changes, by);
  await advanceRelaySeq(ctx, seq);
}
