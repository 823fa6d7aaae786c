/**
 * What the convergence fuzzer's parts share: a replica as the driver sees it, and what a
 * part may do to the world (`WorldView`). The driver is `harness.ts`; the parts that give
 * replicas different ignore rules (`rules.ts`) and that make users save at awkward moments
 * (`saves.ts`) act through these.
 */
import type { Replica } from '../../src/core/Replica.js';
import type { Prng } from '../../src/sync/prng.js';
import type { SyncLoop } from '../../src/sync/SyncLoop.js';
import type { FuzzFs, ProcFs } from './FuzzFs.js';
import type { SimKv, SimLink } from './sim.js';

/** A running replica process. */
export interface Proc {
  epoch: number;
  replica?: Replica;
  loop?: SyncLoop;
  stop: AbortController;
  fs: ProcFs;
  links: Set<SimLink>;
  /** Settles when the process's sync loop ends (it should not, until a crash). */
  done?: Promise<void>;
  /** Set if the loop ended on its own (a fatal error). */
  exited?: string;
  /** Crash at the n-th store write from now. */
  crashAtWrite?: number;
  /** Applies of remote changes under way (a save may be made to land inside one). */
  applying: number;
}

/** One replica: its disk and store survive crashes; `proc` is the process, if running. */
export interface FuzzNode {
  index: number;
  name: string;
  role: 'sharer' | 'joiner';
  fs: FuzzFs;
  kv: SimKv;
  clientId: number;
  replicaId: string;
  proc?: Proc;
  partitioned: boolean;
  /** Started at least once (joined): the share's files are on its disk. */
  joined: boolean;
  /** Changed on disk since the watcher last fired. */
  dirty: boolean;
  /** The paths changed since then: what a watcher's burst names (the scan is scoped to them). */
  touched: Set<string>;
  /** Own updates made durable: doc ('m' or a fileId), change seq, end clock of this client. */
  ledger: { doc: string; seq: number; clock: number }[];
  /** Highest own seq reported acknowledged by the relay ('uploaded' upTo, saved `acked`). */
  acked: number;
  /** Own changes up to this seq were made before joining and are never shared (see join). */
  privateUpTo: number;
  /**
   * Paths this replica's user removed from its disk (deleted, or renamed away) and whose
   * removal it has not recorded yet: the only paths it may record as deleted.
   */
  userRemoved: Set<string>;
}

/** Which of the fuzzer's optional behaviours a seed uses (each drawn per seed). */
export interface Features {
  /** Replicas get different ignore rules and git-tracked sets; users edit `.gitignore` files. */
  rules: boolean;
  /** Users append to journal files, also while an apply writes them, and from stale editors. */
  saves: boolean;
  /** Several replicas create the same journal file at once while partitioned. */
  creates: boolean;
}

/** No optional behaviour: the fuzzer as it ran before they existed (regression seeds replay so). */
export const LEGACY: Features = { rules: false, saves: false, creates: false };

/** What the fuzzer's parts may do to the world. */
export interface WorldView {
  /** The parts' own random source (the driver's stays as it was without them). */
  readonly xrng: Prng;
  readonly nodes: readonly FuzzNode[];
  log(line: string): void;
  count(what: string): void;
  /** Ends the run with a failed property. */
  fail(reason: string): never;
  /** The user changed `path` on `node`'s disk: its watcher will fire. */
  touch(node: FuzzNode, path: string): void;
  /** `node` can no longer reach the relay (until a step or the heal reconnects it). */
  partition(node: FuzzNode): void;
}

/** A replica's store's raw contents (the fuzzer reads them for its oracles). */
export function storeMap(node: FuzzNode): Map<string, Uint8Array> {
  return kvMap(node.kv);
}

/** A store's raw contents. */
export function kvMap(kv: SimKv): Map<string, Uint8Array> {
  return (kv.disk as unknown as { map: Map<string, Uint8Array> }).map;
}
