/**
 * The local Unix sockets a running `share`/`join` serves (the control socket of `sync/control.ts`
 * and the editor socket of `server.ts`): where they live, and how one is opened so that only the
 * owner can ever connect. Both had their own copy of this; the control socket's copy did not
 * make the socket owner-only, although its documentation said so.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, rmSync } from 'node:fs';
import { createConnection, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CshareError } from '../core/errors.js';

/** Unix socket paths are limited to about 100 bytes (108 with the NUL on Linux). */
const MAX_SOCKET_PATH = 100;

/**
 * Where the socket `name` of the worktree at `root` lives: `.cshare/<name>.sock`, or, when that
 * path is too long for a Unix socket, one in the temp dir named by a hash of the root (and
 * `tmpSuffix`, so that two sockets of one worktree differ there too).
 */
export function localSocketPath(opts: { root: string; name: string; tmpSuffix: string }): string {
  const inside = join(opts.root, '.cshare', `${opts.name}.sock`);
  if (Buffer.byteLength(inside) < MAX_SOCKET_PATH) return inside;
  const hash = createHash('sha1').update(opts.root).digest('hex').slice(0, 16);
  return join(tmpdir(), `cshare-${hash}${opts.tmpSuffix}.sock`);
}

/**
 * Makes `server` listen on `path`, owner-only (mode 0600) from the moment the socket exists. A
 * socket left at `path` by a process that was killed is replaced; one that answers means another
 * process serves it, a `STORE_LOCKED` error naming `what`.
 */
export async function listenOwnerOnly(opts: { server: Server; path: string; what: string }): Promise<void> {
  const { server, path } = opts;
  if (existsSync(path)) {
    if (await socketAnswers(path)) throw new CshareError('STORE_LOCKED', `another cshare process is already serving ${opts.what}`, { path });
    rmSync(path, { force: true });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Created owner-only (the bind happens inside listen()), not made so after: a socket in
    // the temp dir must never be open to others, not even for a moment. The umask is
    // process-wide, so it is restored before anything else can run.
    const umask = process.umask(0o177);
    try {
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(umask);
    }
  });
  chmodSync(path, 0o600);
}

/** Whether a process accepts connections on the socket at `path`. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
