/**
 * What the editor server needs from the running `share`/`join` (its host): live documents of
 * the replica, undo/redo, presence and the connection state. The server codes against these
 * ports only, so that its tests run it against fakes and `sync/editorHost.ts` plugs in the
 * real replica, loop and presence hub.
 */
import type { TextOp } from '../core/hunkDiff.js';
import type { TextEdit } from '../core/textEdits.js';

/** Changes of a live document not made through it (see `LiveDoc`); called in order. */
export interface LiveListener {
  /** Ops applied one after the other, in UTF-16 positions of the text the listener last had. */
  changed(ops: readonly TextOp[]): void;
  /** The waiting path became a shared text file with this text. */
  arrived(text: string): void;
  /** The file was renamed to `to` (a path of the worktree). */
  renamed(to: string): void;
  /** The file was deleted: the live document has ended. */
  deleted(): void;
}

/** One editor's live view of a shared text file (the replica's side, `Replica.openLive`). */
export interface LiveDoc {
  readonly state: 'live' | 'waiting';
  /** The document's text when opened ('' when waiting). */
  readonly text: string;
  /** Records edits: `plan` runs inside the replica's lock and returns edits of the current text. */
  edit(plan: () => readonly TextEdit[]): Promise<void>;
  /**
   * Records the buffer's `text` as a save of it (merged like a save); resolves with the ops
   * that take `text` to the merged document text (which has every change told before it).
   */
  reconcile(text: string): Promise<readonly TextOp[]>;
  /** The buffer was written to disk with this text: no new edit. */
  saved(text: string): void;
  /** Presence positions: a Y.RelativePosition's encoding, and back (undefined: not in this doc). */
  relativePosition(offset: number): Uint8Array;
  absolutePosition(rel: Uint8Array): number | undefined;
  /** The editor closed it: the disk gets the merged text. */
  close(): Promise<void>;
}

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
