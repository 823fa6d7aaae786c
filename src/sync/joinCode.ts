import { createHash, randomBytes } from 'node:crypto';
import { CshareError } from '../core/errors.js';

/**
 * Join codes (ARCHITECTURE.md "Join code"): `cs1.` followed by the base58 (bitcoin alphabet) of a
 * compact binary record. A typo anywhere is caught by the checksum, and a code from a newer
 * cshare is recognised by its version byte.
 *
 * Byte layout (before base58):
 *
 * ```
 * code     = version:u8 (=1) flags:u8 idLen:u8 id{idLen} secretLen:u8 secret{secretLen}
 *            relayCount:u8 (len:u16be utf8{len}){relayCount} check:u8[4]
 * flags    = bit 0: read-only code; other bits must be 0
 * idLen, secretLen in 16..64; relayCount <= 8; each relay address (a multiaddr) 1..1024 bytes
 * check    = the first 4 bytes of sha256(every byte before it)
 * ```
 */

/** What a join code carries. */
export interface JoinCode {
  /** Relay multiaddrs, tried in order. */
  relay: string[];
  /** The worktree's random id (16+ bytes). */
  worktreeId: Uint8Array;
  /** The secret the relay checks (16+ bytes); the relay stores only {@link hashSecret} of it. */
  secret: Uint8Array;
  /** A read-only code: the relay refuses every write made with it. */
  readOnly: boolean;
}

/** Prefix of every join code; the digit is the format version. */
export const JOIN_CODE_PREFIX = 'cs1.';
const VERSION = 1;
const MIN_ID_BYTES = 16;
const MAX_ID_BYTES = 64;
const MAX_RELAYS = 8;
const MAX_RELAY_BYTES = 1024;
const CHECK_BYTES = 4;
/** Longest code we try to decode (8 relays of 1 KiB, base58-expanded, and some slack). */
const MAX_CODE_CHARS = 12_000;

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const ALPHABET_INDEX = new Map([...ALPHABET].map((c, i) => [c, i]));

/** Encodes `bytes` in base58 (bitcoin alphabet; each leading zero byte becomes a `1`). */
export function base58Encode(bytes: Uint8Array): string {
  let zeros = 0;
  while (zeros < bytes.length && bytes[zeros] === 0) zeros++;
  // Base-58 digits, least significant first; each input byte multiplies the number by 256.
  const digits: number[] = [];
  for (let i = zeros; i < bytes.length; i++) {
    let carry = bytes[i]!;
    for (let j = 0; j < digits.length; j++) {
      carry += digits[j]! << 8;
      digits[j] = carry % 58;
      carry = (carry / 58) | 0;
    }
    while (carry > 0) {
      digits.push(carry % 58);
      carry = (carry / 58) | 0;
    }
  }
  let out = '1'.repeat(zeros);
  for (let i = digits.length - 1; i >= 0; i--) out += ALPHABET[digits[i]!];
  return out;
}

/**
 * Decodes base58 (bitcoin alphabet); throws `USAGE` naming the first character that is not
 * base58 (its 1-based position, plus `offset` when `text` is part of a longer code).
 */
export function base58Decode(text: string, offset = 0): Uint8Array {
  let zeros = 0;
  while (zeros < text.length && text[zeros] === '1') zeros++;
  const bytes: number[] = []; // least significant first
  for (let i = zeros; i < text.length; i++) {
    const value = ALPHABET_INDEX.get(text[i]!);
    if (value === undefined) {
      throw new CshareError('USAGE', `the join code has an invalid character ${JSON.stringify(text[i])} at position ${offset + i + 1} (base58 has no 0, O, I or l): copy it again`, {
        position: offset + i + 1,
      });
    }
    let carry = value;
    for (let j = 0; j < bytes.length; j++) {
      carry += bytes[j]! * 58;
      bytes[j] = carry & 0xff;
      carry >>= 8;
    }
    while (carry > 0) {
      bytes.push(carry & 0xff);
      carry >>= 8;
    }
  }
  const out = new Uint8Array(zeros + bytes.length);
  for (let i = 0; i < bytes.length; i++) out[out.length - 1 - i] = bytes[i]!;
  return out;
}

/** Encodes a join code; throws `USAGE` if a field is out of bounds. */
export function encodeJoinCode(code: JoinCode): string {
  const { relay, worktreeId, secret, readOnly } = code;
  checkLength('worktree id', worktreeId);
  checkLength('secret', secret);
  if (relay.length > MAX_RELAYS) throw new CshareError('USAGE', `a join code holds at most ${MAX_RELAYS} relay addresses, not ${relay.length}`);
  const relayBytes = relay.map((r) => Buffer.from(r, 'utf8'));
  for (const r of relayBytes) {
    if (r.length === 0 || r.length > MAX_RELAY_BYTES) throw new CshareError('USAGE', `a relay address must be 1 to ${MAX_RELAY_BYTES} bytes long`);
  }
  const parts: Uint8Array[] = [
    Uint8Array.of(VERSION, readOnly ? 1 : 0, worktreeId.length),
    worktreeId,
    Uint8Array.of(secret.length),
    secret,
    Uint8Array.of(relayBytes.length),
  ];
  for (const r of relayBytes) parts.push(Uint8Array.of(r.length >> 8, r.length & 0xff), r);
  const body = Buffer.concat(parts);
  const check = checksum(body);
  return JOIN_CODE_PREFIX + base58Encode(Buffer.concat([body, check]));
}

/**
 * Decodes a join code. Throws `USAGE` with a message that says what is wrong for anything
 * that is not an intact code: a wrong prefix, a character that is not base58, a typo (the
 * checksum), a truncated code or a code from a newer cshare.
 */
export function decodeJoinCode(text: string): JoinCode {
  if (typeof text !== 'string') throw new CshareError('USAGE', 'the join code must be a string');
  const code = text.trim();
  if (!code.startsWith(JOIN_CODE_PREFIX)) {
    const m = /^cs(\d+)\./.exec(code);
    if (m) throw new CshareError('USAGE', `this join code has format version ${m[1]}, which this cshare does not read: upgrade cshare`);
    throw new CshareError('USAGE', `not a cshare join code: it should start with "${JOIN_CODE_PREFIX}"`);
  }
  if (code.length > MAX_CODE_CHARS) throw new CshareError('USAGE', 'the join code is too long: copy it again');
  const bytes = base58Decode(code.slice(JOIN_CODE_PREFIX.length), JOIN_CODE_PREFIX.length);
  const damaged = (): CshareError => new CshareError('USAGE', 'the join code is damaged or incomplete (checksum mismatch): copy it again');
  if (bytes.length < 3 + 2 * MIN_ID_BYTES + 2 + CHECK_BYTES) throw damaged();
  const body = bytes.subarray(0, bytes.length - CHECK_BYTES);
  if (!Buffer.from(checksum(body)).equals(bytes.subarray(bytes.length - CHECK_BYTES))) throw damaged();
  // From here on the checksum matched, so a bad field means another producer, not a typo.
  const malformed = (what: string): CshareError => new CshareError('USAGE', `the join code is malformed (${what})`);
  let pos = 0;
  const u8 = (): number => {
    if (pos >= body.length) throw malformed('too short');
    return body[pos++]!;
  };
  const take = (n: number): Uint8Array => {
    if (pos + n > body.length) throw malformed('too short');
    const out = body.slice(pos, pos + n);
    pos += n;
    return out;
  };
  const version = u8();
  if (version !== VERSION) throw new CshareError('USAGE', `this join code has version ${version}, which this cshare does not read: upgrade cshare`);
  const flags = u8();
  if ((flags & ~1) !== 0) throw malformed('unknown flags');
  const idLen = u8();
  if (idLen < MIN_ID_BYTES || idLen > MAX_ID_BYTES) throw malformed('bad worktree id length');
  const worktreeId = take(idLen);
  const secretLen = u8();
  if (secretLen < MIN_ID_BYTES || secretLen > MAX_ID_BYTES) throw malformed('bad secret length');
  const secret = take(secretLen);
  const relayCount = u8();
  if (relayCount > MAX_RELAYS) throw malformed('too many relays');
  const relay: string[] = [];
  for (let i = 0; i < relayCount; i++) {
    const len = (u8() << 8) | u8();
    if (len === 0 || len > MAX_RELAY_BYTES) throw malformed('bad relay address length');
    const raw = take(len);
    const addr = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    try {
      relay.push(addr.decode(raw));
    } catch {
      throw malformed('a relay address is not UTF-8');
    }
  }
  if (pos !== body.length) throw malformed('trailing bytes');
  return { relay, worktreeId, secret, readOnly: (flags & 1) === 1 };
}

/** A worktree id as it appears in messages and resource paths (lower-case hex). */
export function worktreeIdToString(worktreeId: Uint8Array): string {
  return Buffer.from(worktreeId).toString('hex');
}

/** The secrets of a new share: a random worktree id, a read-write and a read-only secret. */
export interface ShareSecrets {
  worktreeId: Uint8Array;
  readWrite: Uint8Array;
  readOnly: Uint8Array;
}

/** Makes the random id and secrets of a new share (128 bits each, from `crypto.randomBytes`). */
export function newShareSecrets(): ShareSecrets {
  return { worktreeId: randomBytes(16), readWrite: randomBytes(16), readOnly: randomBytes(16) };
}

/** SHA-256 of a secret: what the relay stores and compares, never the secret itself. */
export function hashSecret(secret: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(secret).digest());
}

function checksum(body: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(body).digest().subarray(0, CHECK_BYTES));
}

function checkLength(what: string, bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array) || bytes.length < MIN_ID_BYTES || bytes.length > MAX_ID_BYTES) {
    throw new CshareError('USAGE', `the ${what} of a join code must be ${MIN_ID_BYTES} to ${MAX_ID_BYTES} bytes`);
  }
}
