import { describe, expect, it } from 'vitest';
import { CshareError } from '../../src/core/errors.js';
import { Prng } from '../../src/sync/prng.js';
import {
  base58Decode,
  base58Encode,
  decodeJoinCode,
  encodeJoinCode,
  hashSecret,
  newShareSecrets,
  worktreeIdToString,
  type JoinCode,
} from '../../src/sync/joinCode.js';
import { testSeed } from './helpers.js';

const RELAY = '/dns4/relay.example.org/tcp/4001/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp';
const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

function sample(): JoinCode {
  const s = newShareSecrets();
  return { relay: [RELAY, '/ip4/127.0.0.1/tcp/4001/ws'], worktreeId: s.worktreeId, secret: s.readWrite, readOnly: false };
}

function usageError(fn: () => unknown): CshareError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CshareError);
    expect((err as CshareError).code).toBe('USAGE');
    return err as CshareError;
  }
  throw new Error('expected a USAGE error');
}

describe('base58', () => {
  it('matches the bitcoin alphabet and keeps leading zeros', () => {
    expect(base58Encode(new TextEncoder().encode('Hello World!'))).toBe('2NEpo7TZRRrLZSi2U');
    expect(base58Encode(Uint8Array.of(0, 0, 1))).toBe('112');
    expect(base58Encode(new Uint8Array())).toBe('');
    expect(Array.from(base58Decode('112'))).toEqual([0, 0, 1]);
  });

  it('round-trips random bytes', () => {
    const rng = new Prng(testSeed(7));
    for (let i = 0; i < 300; i++) {
      const bytes = rng.bytes(rng.int(80));
      if (rng.chance(0.2)) bytes.fill(0, 0, rng.int(4));
      expect(Array.from(base58Decode(base58Encode(bytes)))).toEqual(Array.from(bytes));
    }
  });
});

describe('join codes', () => {
  it('round-trip every field', () => {
    for (const readOnly of [false, true]) {
      const code = { ...sample(), readOnly };
      const text = encodeJoinCode(code);
      expect(text.startsWith('cs1.')).toBe(true);
      expect(text.slice(4)).toMatch(/^[1-9A-HJ-NP-Za-km-z]+$/);
      const back = decodeJoinCode(text);
      expect(back.relay).toEqual(code.relay);
      expect(Buffer.from(back.worktreeId).equals(code.worktreeId)).toBe(true);
      expect(Buffer.from(back.secret).equals(code.secret)).toBe(true);
      expect(back.readOnly).toBe(readOnly);
    }
    const none = decodeJoinCode(`  ${encodeJoinCode({ ...sample(), relay: [] })}\n`);
    expect(none.relay).toEqual([]);
  });

  it('detects every single-character typo', () => {
    const text = encodeJoinCode(sample());
    for (let i = 4; i < text.length; i++) {
      const c = text[i]!;
      const other = ALPHABET[(ALPHABET.indexOf(c) + 1 + (i % 57)) % 58]!;
      usageError(() => decodeJoinCode(text.slice(0, i) + other + text.slice(i + 1)));
    }
  });

  it('detects swapped, dropped and added characters and says what is wrong', () => {
    const text = encodeJoinCode(sample());
    let swaps = 0;
    for (let i = 4; i + 1 < text.length; i++) {
      if (text[i] === text[i + 1]) continue;
      swaps++;
      usageError(() => decodeJoinCode(text.slice(0, i) + text[i + 1] + text[i] + text.slice(i + 2)));
    }
    expect(swaps).toBeGreaterThan(10);
    expect(usageError(() => decodeJoinCode(text.slice(0, -1))).message).toMatch(/damaged|copy it again/);
    usageError(() => decodeJoinCode(text.slice(0, 30)));
    usageError(() => decodeJoinCode(text + '2'));
    expect(usageError(() => decodeJoinCode(text.slice(0, 10) + '0' + text.slice(11))).message).toMatch(/invalid character "0" at position 11/);
    expect(usageError(() => decodeJoinCode('https://example.org')).message).toMatch(/should start with "cs1\."/);
    expect(usageError(() => decodeJoinCode('cs2.abc')).message).toMatch(/upgrade/);
    usageError(() => decodeJoinCode('cs1.'));
    usageError(() => decodeJoinCode(''));
  });

  it('rejects random garbage with USAGE, never anything else', () => {
    const rng = new Prng(testSeed(11));
    for (let i = 0; i < 500; i++) {
      const len = rng.int(200);
      let s = 'cs1.';
      for (let j = 0; j < len; j++) s += ALPHABET[rng.int(58)];
      usageError(() => decodeJoinCode(s));
    }
  });

  it('refuses to encode out-of-bounds fields', () => {
    usageError(() => encodeJoinCode({ ...sample(), secret: new Uint8Array(8) }));
    usageError(() => encodeJoinCode({ ...sample(), worktreeId: new Uint8Array(65) }));
    usageError(() => encodeJoinCode({ ...sample(), relay: Array.from({ length: 9 }, () => RELAY) }));
    usageError(() => encodeJoinCode({ ...sample(), relay: [''] }));
  });
});

describe('share secrets', () => {
  it('are random, 128 bits or more, and hash with sha256', () => {
    const a = newShareSecrets();
    const b = newShareSecrets();
    for (const s of [a, b]) {
      expect(s.worktreeId.length).toBeGreaterThanOrEqual(16);
      expect(s.readWrite.length).toBeGreaterThanOrEqual(16);
      expect(s.readOnly.length).toBeGreaterThanOrEqual(16);
    }
    expect(Buffer.from(a.readWrite).equals(b.readWrite)).toBe(false);
    expect(Buffer.from(a.readWrite).equals(a.readOnly)).toBe(false);
    expect(worktreeIdToString(a.worktreeId)).toMatch(/^[0-9a-f]{32}$/);
    expect(Buffer.from(hashSecret(new TextEncoder().encode('abc'))).toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
