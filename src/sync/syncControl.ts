import { CshareError } from '../core/errors.js';
import { listFiles } from '../core/filesList.js';
import { logger } from '../core/log.js';
import type { ScanReport } from '../core/recordScan.js';
import type { Replica } from '../core/Replica.js';
import { serveControl } from './control.js';
import { presenceFromJson, statusPeers } from './presence/presenceJson.js';
import type { SyncLoop } from './SyncLoop.js';
import type { SyncState } from './SyncSession.js';

const log = logger('control');

/**
 * Serves the control socket of a running share or join (`command`): `status` (with what only
 * the running process knows: peers, connection, unacknowledged changes), `log`, `files`,
 * `undo`, `redo`, `scan` (each of the last three followed by an upload), `unshare` (stops
 * the process) and `presence` (publishes this replica's presence: a test and debugging hook). LevelDB lets one process open the store: other cshare commands go through
 * this one while it runs.
 */
export function serveSyncControl(opts: { replica: Replica; loop: SyncLoop; state: SyncState; stop: AbortController; command: 'share' | 'join'; info: () => Record<string, unknown> }) {
  const { replica, loop, state, stop } = opts;
  const path = (args: Record<string, unknown>) => (typeof args.path === 'string' ? args.path : undefined);
  return serveControl({ root: replica.root, command: opts.command, handlers: {
    status: async () => {
      const info = opts.info();
      const own = await replica.ownChangesAfter(state.acked);
      return {
        ...(await replica.status({ signal: stop.signal })),
        ...info,
        peers: statusPeers(loop.presence.peers()),
        connected: loop.session !== null,
        uploading: loop.session?.uploading ? loop.session.uploading.total - loop.session.uploading.done : 0,
        // A read-only join's own changes are never acknowledged (the relay refuses them):
        // they are kept here, not pending.
        ...(info.readOnly === true ? { unacknowledged: 0, kept: own } : { unacknowledged: own }),
      };
    },
    log: async (args) => ({ changes: await replica.log({ path: path(args), limit: typeof args.limit === 'number' ? args.limit : undefined, patches: args.patches === true }) }),
    undo: async (args) => {
      const r = await replica.undo({ path: path(args), signal: stop.signal });
      await loop.localChange();
      return r;
    },
    redo: async (args) => {
      const r = await replica.redo({ path: path(args), signal: stop.signal });
      await loop.localChange();
      return r;
    },
    restore: async (args) => {
      const p = path(args);
      if (p === undefined) throw new CshareError('USAGE', 'restore needs a path');
      const r = await replica.restore({ path: p, change: typeof args.change === 'number' ? args.change : undefined });
      await loop.localChange();
      return r;
    },
    files: async (args) => listFiles(replica, { excluded: args.excluded === true }),
    scan: async () => {
      // What `cshare scan` prints is what was recorded; the upload that follows is the
      // session's business (a failed one is retried when it reconnects).
      let report: ScanReport | undefined;
      try {
        await loop.localChange(undefined, (r) => (report = r));
      } catch (err) {
        if (report === undefined) throw err;
        log('upload after a scan failed: %s', (err as Error)?.message ?? err);
      }
      if (report === undefined) throw new CshareError('INTERNAL', 'the running process scanned nothing');
      const { recorded, files, errors } = report;
      return { recorded, files, errors };
    },
    unshare: async () => {
      setImmediate(() => stop.abort());
      return { stopped: true };
    },
    // Publishes this replica's presence as an editor would (`args.state`, its positions in
    // base64; null: in no file): for tests and debugging without an editor, not a command.
    presence: async (args) => {
      loop.presence.publish(presenceFromJson(args.state));
      return { published: true };
    },
  } });
}
