/**
 * What the editor server needs from the running `share`/`join` (its host): live documents of
 * the replica, undo/redo, presence and the connection state. The server codes against these
 * ports only, so that its tests run it against fakes and `sync/editorHost.ts` plugs in the
 * real replica, loop and presence hub.
 */
import type { LiveDoc, LiveListener } from '../core/liveDocs.js';

/** The replica's side of an open document (`Replica.openLive`, `core/liveDocs.ts`). */
export type { LiveDoc, LiveListener } from '../core/liveDocs.js';

/**
 * One cursor or selection of a peer: `Y.encodeRelativePosition()` of a position in the file's
 * `Y.Text` (its `FileDoc`), so that it stays right across concurrent edits. Opaque bytes to
 * the relay; `anchor === head` is a plain cursor. (The one definition: the sync protocol's
 * `presence` message, `sync/schema.ts`, carries this type.)
 */
export interface PresenceSelection {
  anchor: Uint8Array;
  head: Uint8Array;
}

/**
 * Where a peer is: the file (a shared path), its selections (the first is the primary
 * cursor), and the 1-based line (and column, in characters) of the primary head, for
 * `cshare status` and other displays that do not decode the positions.
 */
export interface PresenceState {
  path: string;
  selections: PresenceSelection[];
  line: number;
  column?: number;
}

/** A peer connected to the worktree now, as an editor shows it. */
export interface PeerInfo {
  replicaId: string;
  /** Its author name ('' or 'unknown' when it has none: show its short id). */
  name: string;
  role: 'sharer' | 'joiner';
  /** It joined with the read-only code: it edits nothing (absent: read-write). */
  readOnly?: boolean;
  /** `#rrggbb`, the same on every replica (see `sync/presence/colors.ts`). */
  color: string;
  /** Where it is; absent: connected but in no file. */
  presence?: PresenceState;
}

/**
 * The running process's presence: this replica's state goes out, the other peers' come in
 * (`sync/presence/PresenceHub.ts` implements it).
 */
export interface PresencePort {
  /**
   * This replica's own state (null: in no file). Throttled (at most ~20 sends/s, latest state
   * wins, the last state always goes out), re-sent after a reconnect.
   */
  publish(state: PresenceState | null): void;
  /** The other peers of the worktree connected now (from peer-joined/peer-left and presence events). */
  peers(): PeerInfo[];
  /** Called (once per burst of events, after it) with the peers whenever they change; returns the unsubscribe. */
  onChange(listener: (peers: readonly PeerInfo[]) => void): () => void;
}

/** The state of the connection to the relay, as editors are told it. */
export type ConnectionState = 'online' | 'offline' | 'reconnecting';

/** The running share or join, as the editor server sees it. */
export interface EditorHost {
  root: string;
  replicaId: string;
  /** This replica's name, as peers see it. */
  name: string;
  role: 'sharer' | 'joiner';
  readOnly: boolean;
  /** Opens a live document; rejects with a `CshareError` (`BAD_PATH`, `NOT_FOUND`...) for a path that cannot be. */
  openLive(opts: { path: string; origin: string; listener: LiveListener }): Promise<LiveDoc>;
  /** cshare's selective undo/redo of this replica's own edits (of `path`, or of all). */
  undo(path: string | undefined): Promise<{ changed: string[] }>;
  redo(path: string | undefined): Promise<{ changed: string[] }>;
  /** Absent until presence is there (the server then reports no peers). */
  presence?: PresencePort;
  connection(): ConnectionState;
  onConnection(listener: (state: ConnectionState) => void): () => void;
}
