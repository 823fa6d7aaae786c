import { lstatSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CshareError, toCshareError } from '../core/errors.js';
import { fallbackFolderName, freeFolderName, safeFolderName } from '../core/folderName.js';
import { logger } from '../core/log.js';
import { backoff } from './backoff.js';
import { connectTimeoutMs, dialAny } from './dial.js';
import type { JoinCode } from './joinCode.js';
import { createCshareNode } from './libp2p/Libp2pNode.js';
import { RpcRelayClient } from './client/RpcRelayClient.js';
import { cshareConnection, type CshareConnection } from './connection.js';

const log = logger('join');

/** Errors that mean the relay was not reached (worth another attempt), as `SyncLoop` counts them. */
const UNREACHABLE = new Set(['CONNECTION_CLOSED', 'TIMEOUT']);

/** Options of {@link defaultJoinFolder}. */
export interface DefaultJoinFolderOptions {
  cwd: string;
  code: JoinCode;
  worktreeId: string;
  /** Keep trying to reach the relay for ever (`--retry`), else give up as the join would. */
  retry?: boolean;
  /** What to say when the relay cannot be reached (the join's own hint). */
  unreachableHint: string;
  signal: AbortSignal;
}

/**
 * The folder a `join` without a folder argument joins into: in `cwd`, named after the shared
 * worktree's own folder (as its sharer registered it), or `<name>-2`, `-3`... if that is
 * taken; a name that is unsafe gives `cshare-<id>`.
 */
export async function defaultJoinFolder(opts: DefaultJoinFolderOptions): Promise<string> {
  const told = await askWorktreeName(opts);
  const safe = safeFolderName(told);
  if (safe === undefined) log('the shared name %j is not a safe folder name: using a name of its own', told);
  const base = safe ?? fallbackFolderName(opts.worktreeId);
  const cwd = resolve(opts.cwd);
  const name = freeFolderName(base, (n) => exists(join(cwd, n)));
  if (name === undefined) throw new CshareError('WOULD_OVERWRITE', `${join(cwd, base)} and the next 998 names after it are taken: name a folder to join into (cshare join <code> <dir>)`, { root: join(cwd, base) });
  const root = join(cwd, name);
  // Belt and braces: whatever the name, the folder is a child of the current one.
  if (dirname(root) !== cwd) throw new CshareError('INTERNAL', `the join folder ${root} would not be in ${cwd}`);
  return root;
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * The shared worktree's name, asked of its relay with `worktree/info` (proving the code's
 * secret, binding nothing) on a connection of a throwaway node: the join's own peer key and
 * store belong in the folder this decides. An unreachable relay is tried as the join tries it: until the connect timeout,
 * or for ever with `retry`.
 */
async function askWorktreeName(opts: DefaultJoinFolderOptions): Promise<string> {
  const { code, worktreeId, signal } = opts;
  const node = await createCshareNode({ listen: [], relayClient: false, signal });
  const started = Date.now();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const conn = cshareConnection(await dialAny(node, code.relay, signal), { peer: `relay ${code.relay[0]}` });
        try {
          return await worktreeNameOn(conn, { worktreeId, secret: code.secret, signal });
        } finally {
          conn.close();
        }
      } catch (err) {
        const e = toCshareError(err);
        if (signal.aborted || !UNREACHABLE.has(e.code)) throw e;
        if (!opts.retry && Date.now() - started >= connectTimeoutMs()) {
          throw new CshareError(e.code, `${e.message}; gave up after ${Math.round((Date.now() - started) / 1000)} s; ${opts.unreachableHint} (--retry keeps trying)`, e.data, { cause: e });
        }
        log('asking the worktree name failed, trying again: %s', e.message);
        await backoff(attempt, signal);
      }
    }
  } finally {
    await node.stop();
  }
}

/** Asks `worktree/info` on `conn` (before any hello): the name the sharer registered. */
export async function worktreeNameOn(conn: CshareConnection, opts: { worktreeId: string; secret: Uint8Array; signal?: AbortSignal }): Promise<string> {
  return new RpcRelayClient({ conn, worktreeId: opts.worktreeId, signal: opts.signal }).worktreeName(opts.secret);
}
