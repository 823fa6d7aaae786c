import { CshareError } from '../../core/errors.js';
import type { KvBatchOp } from '../../core/ports.js';
import { decodeValue, encodeValue, type Value } from '../rpc/codec.js';

/**
 * Key and record helpers of the LevelDB relay store (`RelayStore`); the key layout itself is
 * documented in `RelayStore.ts` and ARCHITECTURE.md "Relay store keys".
 */

const ID = /^[A-Za-z0-9_-]{1,128}$/;
const DIGEST = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const SEQ_DIGITS = 15;

/** A seq as a fixed-width key segment, so key order is seq order. */
export function pad(seq: number): string {
  return String(seq).padStart(SEQ_DIGITS, '0');
}

/** A seq as a stored value (decimal text). */
export function seqValue(seq: number): Uint8Array {
  return new Uint8Array(Buffer.from(String(seq), 'utf8'));
}

/** The put of one worktree log entry. */
export function logPut(worktreeId: string, seq: number, record: Record<string, Value>): KvBatchOp {
  return { type: 'put', key: `wt/${worktreeId}/log/${pad(seq)}`, value: encodeValue(record) };
}

/** Decodes a stored codec record, or throws `STORE_CORRUPT`. */
export function decodeRecord(raw: Uint8Array): Record<string, Value> {
  const v = decodeValue(raw);
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    throw new CshareError('STORE_CORRUPT', 'the relay store has a malformed record');
  }
  return v as Record<string, Value>;
}

/** A record field that must be bytes. */
export function asBytes(v: Value | undefined): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new CshareError('STORE_CORRUPT', 'the relay store has a malformed record');
  return v;
}

/** A record field that must be a number. */
export function asNumber(v: Value | undefined): number {
  if (typeof v !== 'number') throw new CshareError('STORE_CORRUPT', 'the relay store has a malformed record');
  return v;
}

/** Throws `PROTOCOL` unless `id` is a schema id (safe inside a key: no `/`). */
export function checkId(id: string, what: string): void {
  if (typeof id !== 'string' || !ID.test(id)) throw new CshareError('PROTOCOL', `bad ${what} ${JSON.stringify(String(id).slice(0, 140))}`);
}

/** Throws `PROTOCOL` unless `digest` is a hex git blob id. */
export function checkDigest(digest: string): void {
  if (typeof digest !== 'string' || !DIGEST.test(digest)) throw new CshareError('PROTOCOL', `bad digest ${JSON.stringify(String(digest).slice(0, 80))}`);
}

/** The key of a blob's chunk at `offset`, or (without one) the prefix of all its chunks. */
export function chunkKey(worktreeId: string, blob: { upload: string; packed: boolean }, offset: number | undefined): string {
  return `wt/${worktreeId}/${blob.packed ? 'bq' : 'bc'}/${blob.upload}/${offset === undefined ? '' : pad(offset)}`;
}

/** A peer id as a key segment (peer ids are base58 or, in tests, any schema id: no `/`). */
export function peerKey(peerId: string): string {
  return encodeURIComponent(peerId);
}
