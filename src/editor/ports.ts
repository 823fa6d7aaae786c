/**
 * What the editor server needs from the running `share`/`join` (its host): live documents of
 * the replica, undo/redo, presence and the connection state. The server codes against these
 * ports only, so that its tests run it against fakes and `sync/editorHost.ts` plugs in the
 * real replica, loop and presence hub.
 */
import type { LiveDoc, LiveListener } from '../core/liveDocs.js';

/** The replica's side of an open document (`Replica.openLive`, `core/liveDocs.ts`). */
export type { LiveDoc, LiveListener } from '../core/liveDocs.js';

/** A cursor or selection as presence carries it. */
export interface PresenceSelection {
  anchor: Uint8Array;
  head: Uint8Array;
}

/** Where a peer is. */
export interface PresenceState {
  path: string;
  selections: PresenceSelection[];
  line: number;
  column?: number;
}

/** A peer of the worktree. */
export interface PeerInfo {
  replicaId: string;
  name: string;
  role: 'sharer' | 'joiner';
  readOnly?: boolean;
  color: string;
  presence?: PresenceState;
}

/** The running process's presence (`sync/presence/`). */
export interface PresencePort {
  publish(state: PresenceState | null): void;
  peers(): PeerInfo[];
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
