/**
 * What a running `share` or `join` hands the editor server (`src/editor/`, EDITOR-API.md): its
 * replica (`Replica.openLive`, `undo`, `redo`), its role and access, and where it stands with
 * the relay, told as it changes (the API's `status` notification). The server is started by the
 * `live` option of `share`/`join` once the process's sync loop exists (before it connects, so an
 * editor can attach while it catches up) and closed when the process ends, before its store.
 */
import type { Replica } from '../core/Replica.js';
import type { PresenceHub } from './presence/PresenceHub.js';
import type { ConnectionState, SyncLoop } from './SyncLoop.js';
import type { SyncRun } from './SyncRun.js';

export type { ConnectionState } from './SyncLoop.js';

/** The running share/join, as the editor server sees it. */
export interface LiveHost {
  readonly replica: Replica;
  /** The worktree root (absolute). */
  readonly root: string;
  readonly role: 'sharer' | 'joiner';
  /** A join with a read-only code: edits stay on this machine (the API answers `-32011`). */
  readonly readOnly: boolean;
  /** Stops when the process stops. */
  readonly signal: AbortSignal;
  /** Online (caught up, following), offline (not connected yet), or reconnecting after a drop. */
  connection(): ConnectionState;
  /** Peers connected to the worktree now: replica id -> name. */
  peers(): ReadonlyMap<string, string>;
  /** Calls `listener` when the connection state or the peers change; returns the function that stops it. */
  onStatus(listener: () => void): () => void;
  /** The process's presence (`SyncLoop.presence`): cursors of this replica out, the peers' in. */
  readonly presence: PresenceHub;
  /** Uploads what was recorded outside a live edit (an undo or redo from an editor), as `cshare undo` through the control socket does. */
  localChange(): Promise<void>;
}

/** Starts the editor server on a running share/join; what it returns is closed when the process ends. */
export type StartLive = (host: LiveHost) => Promise<{ close(): Promise<void> } | undefined>;

/** Starts `start` (the `live` option) on the loop of a running share/join, held by `run` until it ends. */
export async function startLive(opts: { start: StartLive | undefined; loop: SyncLoop; run: SyncRun; replica: Replica; role: 'sharer' | 'joiner'; readOnly: boolean }): Promise<void> {
  const { start, loop, run, replica } = opts;
  if (!start) return;
  const host: LiveHost = {
    replica,
    root: replica.root,
    role: opts.role,
    readOnly: opts.readOnly,
    signal: run.stop.signal,
    connection: () => loop.connection,
    peers: () => loop.session?.peers ?? new Map(),
    onStatus: (listener) => loop.onStatus(listener),
    presence: loop.presence,
    localChange: () => loop.localChange(),
  };
  const server = await start(host);
  if (server) run.hold('closing the editor server', () => server.close());
}
