import type { ChangeSet } from '../../core/exchange.js';
import type { RecordedChange } from '../../core/history.js';
import type { Replica } from '../../core/Replica.js';
import type { RelayClient } from '../client/RelayClient.js';
import type { PresenceFeed } from '../presence/PresenceHub.js';
import type { Access } from '../schema.js';

/** What a session remembers between runs (in the replica's store). */
export interface SyncState {
  /** Last relay seq this replica has seen (catch-up asks for what comes after). */
  relaySeq: number;
  /** Last own change seq the relay acknowledged (uploads start after it); -1: upload the whole state. */
  acked: number;
  /**
   * The highest relay seq under which the relay said it stored an upload of this replica's
   * (`RelayClient.stored`): a relay whose log ends before it lost them.
   */
  stored?: number;
}

/** What a session reports as it goes (one JSON line each with `--json`). */
export type SessionEvent =
  | { type: 'applied'; changes: RecordedChange[]; by: string }
  | { type: 'uploaded'; changes: number; bytes: number; upTo: number }
  /**
   * How far a big transfer is (20 files or more; at most every 250 ms, and at its end):
   * `upload` counts files sent of those the push sends; `download` counts files written of
   * those a catch-up fetched (`totalBytes`: of their content and text updates).
   */
  | { type: 'progress'; phase: 'upload' | 'download'; done: number; total: number; bytes: number; totalBytes?: number }
  | { type: 'peer-joined'; replicaId: string; name: string; role: string }
  | { type: 'peer-left'; replicaId: string; name?: string }
  | { type: 'merged'; path: string; seq: number; baseSeq: number; message: string }
  /** A local file that was never shared from here stayed where a peer's file would have gone. */
  | { type: 'kept'; path: string; message: string }
  /**
   * The relay's log ends at `head`, before seq `seen` this replica had seen there: it lost
   * changes. The log is read again from its start, and (`reupload`) everything this replica
   * has is uploaded again.
   */
  | { type: 'relay-behind'; head: number; seen: number; reupload: boolean }
  /** The relay answers again after an outage that was reported with an `error`. */
  | { type: 'reconnected' }
  /** With `path` and `reason` for a path that is not shared or not written (see `core/refused.ts`). */
  | { type: 'error'; code: string; message: string; path?: string; reason?: string };

/**
 * What the parts of a sync session (catch-up, upload, live events, `need`, blob fetching)
 * share: built once by `SyncSession`, which owns the state behind it. Everything that touches
 * the replica goes through {@link SessionContext.serial}, one at a time, in order.
 */
export interface SessionContext {
  readonly replica: Replica;
  /** The one way to the relay (see `client/RelayClient.ts`). */
  readonly client: RelayClient;
  readonly access: Access;
  /** Remembered between runs; changed here, saved with {@link SessionContext.saveState}. */
  readonly state: SyncState;
  readonly signal: AbortSignal | undefined;
  readonly applier: ChangeApplier;
  /** Told of each live subscription and of peers' events as they arrive (see `presence/`). */
  readonly presence: PresenceFeed | undefined;
  saveState(): Promise<void>;
  /** Reports an event to the session's caller. */
  emit(event: SessionEvent): void;
  /** Runs `fn` after everything queued before it. */
  serial<T>(fn: () => Promise<T>): Promise<T>;
  /** Reports what the replica did that the user should hear about (see `core/notices.ts`). */
  reportNotices(): void;
}

/** Applies others' changes to the replica, credited to their authors (`Applier`, `apply.ts`). */
export interface ChangeApplier {
  /** Peers currently connected to the worktree: replica id -> name (credits their changes). */
  readonly names: Map<string, string>;
  /** Applies `changes` made by replica `by` ('' when they are nobody's in particular). */
  apply(changes: ChangeSet, by: string): Promise<RecordedChange[]>;
  /** After the first catch-up every apply records the disk first. */
  scanFromNowOn(): void;
}

/** Relay seq `seq` was applied: remember it (saved) if it is past the last one seen. */
export async function advanceRelaySeq(ctx: SessionContext, seq: number | undefined): Promise<void> {
  if (seq === undefined || seq <= ctx.state.relaySeq) return;
  ctx.state.relaySeq = seq;
  await ctx.saveState();
}
