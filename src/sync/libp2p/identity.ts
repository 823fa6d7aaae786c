import { generateKeyPair, peerIdFromPrivateKey, privateKeyFromProtobuf, privateKeyToProtobuf } from './vendor.js';
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CshareError } from '../../core/errors.js';
import type { PrivateKey } from './types.js';

/** File name of the node key inside a data directory. */
export const IDENTITY_FILE = 'identity.key';

/** Options of {@link loadOrCreateIdentity}. */
export interface IdentityOptions {
  /** Directory that holds `identity.key` (created, mode 0700, if missing). */
  dataDir: string;
  signal?: AbortSignal;
}

/** A node identity: its private key and the peer id derived from it. */
export interface Identity {
  privateKey: PrivateKey;
  /** The peer id as a string (`12D3KooW...`). */
  peerId: string;
  /** Path of the key file. */
  path: string;
  /** True when this call generated the key. */
  created: boolean;
}

/**
 * Loads the node's Ed25519 key from `<dataDir>/identity.key`, or generates and stores one, so
 * the peer id (which peers and join codes refer to) survives restarts.
 *
 * The file holds the libp2p protobuf encoding of the key, mode 0600. It is written to a
 * temporary file, synced, then hard-linked into place, so a crash never leaves a truncated key
 * and, when two processes race to create it, the link of the second fails (`EEXIST`): both end
 * up with the one key on disk, because each returns what it reads back, not what it generated.
 */
export async function loadOrCreateIdentity(opts: IdentityOptions): Promise<Identity> {
  opts.signal?.throwIfAborted();
  if (typeof opts.dataDir !== 'string' || opts.dataDir === '') throw new CshareError('USAGE', 'loadOrCreateIdentity: dataDir is required');
  const path = join(opts.dataDir, IDENTITY_FILE);
  const existing = await readKey(path);
  if (existing) return { privateKey: existing, peerId: peerIdFromPrivateKey(existing).toString(), path, created: false };

  opts.signal?.throwIfAborted();
  await mkdir(opts.dataDir, { recursive: true, mode: 0o700 }).catch((err: unknown) => {
    throw new CshareError('IO', `cannot create ${opts.dataDir}: ${(err as Error).message}`, { path: opts.dataDir }, { cause: err });
  });
  const key = await generateKeyPair('Ed25519');
  await createAtomically(path, privateKeyToProtobuf(key));
  const stored = await readKey(path);
  if (!stored) throw new CshareError('IO', `identity key ${path} vanished right after it was written`, { path });
  return { privateKey: stored, peerId: peerIdFromPrivateKey(stored).toString(), path, created: true };
}

/** Reads and decodes the key file; `undefined` if there is none. */
async function readKey(path: string): Promise<PrivateKey | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CshareError('IO', `cannot read identity key ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
  let key: PrivateKey;
  try {
    key = privateKeyFromProtobuf(bytes);
  } catch (err) {
    throw new CshareError('STORE_CORRUPT', `identity key ${path} is not a libp2p private key; move it away to create a new identity`, { path }, { cause: err });
  }
  if (key.type !== 'Ed25519') {
    throw new CshareError('STORE_CORRUPT', `identity key ${path} is a ${key.type} key, cshare expects Ed25519`, { path, type: key.type });
  }
  return key;
}

/**
 * Creates `path` with `bytes` unless it exists: writes a synced temporary file (mode 0600) and
 * hard-links it to `path`, which is atomic and fails if another process got there first (then
 * its key stands and ours is dropped).
 */
async function createAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await link(tmp, path).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    });
  } catch (err) {
    throw new CshareError('IO', `cannot write identity key ${path}: ${(err as Error).message}`, { path }, { cause: err });
  } finally {
    await unlink(tmp).catch((err: unknown) => {
      // The temporary file may never have been created; anything else is worth knowing about.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    });
  }
}
