/**
 * The editor socket of a running `share`/`join` (EDITOR-API.md "Connecting"): a Unix socket,
 * owner-only, that several editors use at once, each with its own {@link EditorSession}.
 * Closing it tells every editor a last `status` (offline), closes their documents (the disk gets
 * the merged text) and ends their connections.
 */
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { logger } from '../core/log.js';
import { listenOwnerOnly, localSocketPath } from './localSocket.js';
import type { EditorHost } from './ports.js';
import { RpcConnection, type RpcLimits } from './rpc.js';
import { EditorSession } from './session.js';

const log = logger('editor');

/** Flood limits of one editor connection (see `rpc.ts`). */
export const EDITOR_LIMITS: RpcLimits = { maxQueue: 2000, maxRefused: 2000 };

/**
 * Where the editor socket of the worktree at `root` lives: `.cshare/editor.sock`, or, when that
 * path is too long for a Unix socket (about 100 bytes), one in the temp dir named by a hash of
 * the root (as `sync/control.ts` does for the control socket).
 */
export function editorSocketPath(root: string): string {
  return localSocketPath({ root, name: 'editor', tmpSuffix: '-editor' });
}

/** A running editor server. */
export interface EditorServer {
  /** The socket's path (announced in `.cshare/control.path`). */
  path: string;
  /** How many editors are connected. */
  connections(): number;
  close(): Promise<void>;
}

/** Serves editors for `host` on {@link editorSocketPath} until closed. */
export async function serveEditor(opts: { host: EditorHost; limits?: RpcLimits }): Promise<EditorServer> {
  const { host } = opts;
  const path = editorSocketPath(host.root);
  const sessions = new Set<{ session: EditorSession; conn: RpcConnection }>();
  let next = 1;
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    const session = new EditorSession(host, next++);
    const conn = new RpcConnection(socket, session, opts.limits ?? EDITOR_LIMITS);
    session.attach(conn);
    const entry = { session, conn };
    sessions.add(entry);
    conn.onClose(() => sessions.delete(entry));
    log('editor %d connected', next - 1);
  });
  await listenOwnerOnly({ server, path, what: `editors for ${host.root}` });
  server.on('error', (err) => log('editor socket error: %s', err.message));
  return {
    path,
    connections: () => sessions.size,
    close: async () => {
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const { session, conn } of [...sessions]) {
        session.farewell();
        await session.closeAll();
        conn.close();
      }
      rmSync(path, { force: true });
      await closing;
    },
  };
}
