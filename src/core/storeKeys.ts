/**
 * The key layout of a replica's store, and how its values are encoded (`.cshare/store`), all in one ordered key space: the
 * table in ARCHITECTURE.md "Replica store keys", checked against every key this file builds by
 * `test/docs/architecture.test.ts` (a new key family goes in that table).
 *
 * Keys are built here only, for `ReplicaStore` (with its logs half, `StoredLog`) and
 * `ChangeBatch`: the rest of `core/` reads and writes the store through their named methods,
 * never by key, and never talks to the `KvStore` port itself (`test/core/storeKeys.test.ts`
 * holds both), so the layout can change in one place.
 */
import { CshareError } from './errors.js';
import type { KvRange } from './ports.js';

/** `<seq>` is zero-padded to this many digits, so that key order is numeric order. */
export const SEQ_WIDTH = 12;

/** Pads a sequence number for use in a key. */
export function seqKey(seq: number): string {
  return String(seq).padStart(SEQ_WIDTH, '0');
}

/**
 * The suffix that tells apart the `n`th of several remote updates logged under one change:
 * zero-padded, so that key order is the order they were applied in.
 */
export function remoteSub(n: number): string {
  return `r${String(n).padStart(6, '0')}`;
}

const REMOTE_SUB = /\.r(\d+)$/;

/**
 * Orders logged update keys (`...:u:<seq>.<sub>`) as they were applied. Stores written before
 * {@link remoteSub} padded its number have `r10` before `r2` in key order: applied in that
 * order, a Yjs update waits for the ones it depends on, and a 100,000-file manifest logged so
 * took 4 s instead of under 1 to load.
 */
export function byLogOrder(a: string, b: string): number {
  const ra = REMOTE_SUB.exec(a);
  const rb = REMOTE_SUB.exec(b);
  if (ra && rb && a.slice(0, ra.index) === b.slice(0, rb.index)) return Number(ra[1]) - Number(rb[1]);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The change seq in an update key (`...:u:<seq>.<sub>`). */
export function seqOfKey(key: string): number {
  const at = key.lastIndexOf(':u:');
  return Number(key.slice(at + 3, at + 3 + SEQ_WIDTH));
}

/** Was the update under this key logged by this replica itself (remote ones carry an `.r<n>` suffix)? */
export function isOwnUpdateKey(key: string): boolean {
  return !REMOTE_SUB.test(key);
}

/** The keys whose text starts with `prefix` (and nothing else): `;` follows `:` and `0` follows `/`. */
export function prefixRange(prefix: string, extra: Omit<KvRange, 'gt' | 'gte' | 'lt' | 'lte'> = {}): KvRange {
  const last = prefix.charCodeAt(prefix.length - 1);
  return { gt: prefix, lt: prefix.slice(0, -1) + String.fromCharCode(last + 1), ...extra };
}

/** The undo (`un`) and redo (`re`) stacks: empty values under the seqs of the changes on them. */
export type Stack = 'un' | 're';

/** The prefix of each key family that holds one entry per path, file, seq or author. */
export const FAMILY = {
  unflushed: 'meta:unflushed:',
  meta: 'meta:x:',
  manifestPart: 'm:sp:',
  manifestUpdate: 'm:u:',
  file: 'f:',
  blobRef: 'bp:',
  blob: 'b:',
  stat: 's:',
  op: 'o:',
  textDigest: 'd:',
  ruleBaseline: 'rb:',
  interrupted: 'ri:',
  forwardWaiting: 'fwp:',
  liveNote: 'lv:',
} as const;

/** Every key this replica's store holds, by family (see the table in ARCHITECTURE.md). */
export const KEY = {
  replica: 'meta:replica',
  location: 'meta:location',
  seq: 'meta:seq',
  lamport: 'meta:lamport',
  keepLogAfter: 'meta:keepLogAfter',
  applying: 'meta:applying',
  unflushed: (seq: number) => `meta:unflushed:${seqKey(seq)}`,
  meta: (name: string) => `meta:x:${name}`,
  /** The manifest snapshot of stores from before snapshot parts (read only). */
  manifestSnapshot: 'm:snap',
  manifestPart: (n: number) => `m:sp:${String(n).padStart(6, '0')}`,
  manifestUpdate: (seq: number, sub?: string) => `m:u:${seqKey(seq)}${sub ? `.${sub}` : ''}`,
  /** Every key of one file's doc history: its snapshot and its updates. */
  fileLog: (fileId: string) => `f:${fileId}:`,
  fileSnapshot: (fileId: string) => `f:${fileId}:snap`,
  fileUpdates: (fileId: string) => `f:${fileId}:u:`,
  fileUpdate: (fileId: string, seq: number, sub: string) => `f:${fileId}:u:${seqKey(seq)}.${sub}`,
  /** Where the updates of change `seq` and later start in a file's log. */
  fileUpdatesFrom: (fileId: string, seq: number) => `f:${fileId}:u:${seqKey(seq)}`,
  blobRef: (digest: string) => `bp:${digest}`,
  blob: (digest: string) => `b:${digest}`,
  stat: (path: string) => `s:${path}`,
  op: (seq: number) => `o:${seqKey(seq)}`,
  stack: (which: 'un' | 're', seq: number) => `${which}:${seqKey(seq)}`,
  stackFamily: (which: 'un' | 're') => `${which}:`,
  historySeen: (by: string) => `hs:${by}`,
  textDigest: (fileId: string) => `d:${fileId}`,
  versions: (fileId: string) => `v:${fileId}`,
  ruleBaseline: (path: string) => `rb:${path}`,
  interrupted: (path: string) => `ri:${path}`,
  priorMerge: (fileId: string) => `mc:${fileId}`,
  forwarded: (fileId: string) => `fw:${fileId}`,
  forwardWaiting: (fileId: string) => `fwp:${fileId}`,
  liveNote: (fileId: string) => `lv:${fileId}`,
} as const;

/** The families a first join drops (`Replica.detachLocalFiles`): the CRDT state and the undo stacks. */
export const DETACHED_FAMILIES = ['m:', 'f:', 'd:', 'un:', 're:'] as const;

/** A stored value and its key (a handle for `ChangeBatch.dropKey`). */
export interface StoredPiece {
  key: string;
  value: Uint8Array;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Encodes a JSON value for the store. */
export function jsonBytes(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}

/** Encodes a text value (a digest, a rule file's text). */
export function textBytes(text: string): Uint8Array {
  return enc.encode(text);
}

/** Decodes a text value. */
export function textOf(bytes: Uint8Array): string {
  return dec.decode(bytes);
}

/** Decodes a JSON value from the store; a damaged value is `STORE_CORRUPT`, never a crash. */
export function parseJson<T>(bytes: Uint8Array, key: string): T {
  try {
    return JSON.parse(dec.decode(bytes)) as T;
  } catch (err) {
    throw new CshareError('STORE_CORRUPT', `the store entry ${key} is damaged; move .cshare aside to rebuild history`, { key }, { cause: err });
  }
}
