import { CshareError } from '../core/errors.js';
import type { Replica } from '../core/Replica.js';
import { RpcRelayClient } from './client/RpcRelayClient.js';
import { hashSecret, type ShareSecrets } from './joinCode.js';
import type { HelloResponse } from './schema.js';
import { type CshareConnection } from './connection.js';

/**
 * The sharer's hello: registers the worktree with the hashes of its secrets on first use,
 * resumes it after. The secret itself travels only over the encrypted transport.
 */
export async function helloAsSharer(
  conn: CshareConnection,
  opts: { replica: Replica; worktreeId: string; secrets: ShareSecrets; name: string; token?: string; signal?: AbortSignal },
): Promise<HelloResponse> {
  const res = await new RpcRelayClient({ conn, worktreeId: opts.worktreeId, signal: opts.signal }).hello({
    role: 'sharer',
    secret: opts.secrets.readWrite,
    replicaId: opts.replica.identity.replicaId,
    name: opts.replica.identity.name.slice(0, 100) || 'unknown',
    register: {
      readOnlyHash: hashSecret(opts.secrets.readOnly),
      name: opts.name.slice(0, 100) || 'worktree',
      ...(opts.token ? { token: new TextEncoder().encode(opts.token) } : {}),
    },
  });
  if (res.access !== 'rw') throw new CshareError('FORBIDDEN', 'the relay did not grant write access to this share');
  return res;
}

/** A joiner's hello with the secret from its join code. */
export async function helloAsJoiner(conn: CshareConnection, opts: { replica: Replica; worktreeId: string; secret: Uint8Array; signal?: AbortSignal }): Promise<HelloResponse> {
  return new RpcRelayClient({ conn, worktreeId: opts.worktreeId, signal: opts.signal }).hello({
    role: 'joiner',
    secret: opts.secret,
    replicaId: opts.replica.identity.replicaId,
    name: opts.replica.identity.name.slice(0, 100) || 'unknown',
  });
}
