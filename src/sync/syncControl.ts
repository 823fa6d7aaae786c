import type { Replica } from '../core/Replica.js';
import { serveControl } from './control.js';
import type { SyncLoop } from './runSync.js';
import type { SyncState } from './SyncSession.js';

/**
 * Serves the control socket of a running share or join: `status` (with what only the running
 * process knows: peers, connection, unacknowledged changes), `log`, `undo`, `redo`, `scan`
 * (each followed by an upload) and `unshare` (stops the process).
 */
export function serveSyncControl(opts: { replica: Replica; loop: SyncLoop; state: SyncState; stop: AbortController; info: () => Record<string, unknown> }) {
  const { replica, loop, state, stop } = opts;
  const path = (args: Record<string, unknown>) => (typeof args.path === 'string' ? args.path : undefined);
  return serveControl(replica.root, {
    status: async () => ({
      ...(await replica.status()),
      ...opts.info(),
      peers: [...(loop.session?.peers ?? new Map<string, string>()).entries()].map(([id, name]) => ({ id, name })),
      connected: loop.session !== null,
      uploading: loop.session?.uploading ? loop.session.uploading.total - loop.session.uploading.done : 0,
      unacknowledged: await replica.ownChangesAfter(state.acked),
    }),
    log: async (args) => ({ changes: await replica.log({ path: path(args), limit: typeof args.limit === 'number' ? args.limit : undefined, patches: args.patches === true }) }),
    undo: async (args) => {
      const r = await replica.undo({ path: path(args) });
      await loop.localChange();
      return r;
    },
    redo: async (args) => {
      const r = await replica.redo({ path: path(args) });
      await loop.localChange();
      return r;
    },
    scan: async () => {
      await loop.localChange();
      return { ok: true };
    },
    unshare: async () => {
      setImmediate(() => stop.abort());
      return { stopped: true };
    },
  });
}
