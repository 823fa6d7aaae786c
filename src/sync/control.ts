import { existsSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { CshareError, isErrorCode, toCshareError } from '../core/errors.js';
import { logger } from '../core/log.js';
import { listenOwnerOnly, localSocketPath } from '../editor/localSocket.js';
import { readAnnouncement, removeAnnouncement, writeAnnouncement } from '../store/announce.js';

const log = logger('control');

/** Largest request or response line on the control socket. */
const MAX_LINE = 64 * 1024 * 1024;

/** The commands a running `share`/`join` answers for other cshare processes. */
export type ControlCommand = 'status' | 'log' | 'undo' | 'redo' | 'restore' | 'scan' | 'files' | 'unshare' | 'presence';

/** Serves one command; the result must be JSON-serialisable. */
export type ControlHandler = (args: Record<string, unknown>) => Promise<unknown>;

/**
 * Where the control socket of the worktree at `root` lives. Unix socket paths are limited to
 * about 100 bytes, so a deep worktree gets one in the temp dir, named by a hash of the root.
 */
export function controlSocketPath(root: string): string {
  return localSocketPath({ root, name: 'control', tmpSuffix: '' });
}

/** The control socket of a process serving the worktree at `root`, if there is one (it may be stale). */
export function controlEndpoint(root: string): string | undefined {
  const path = readAnnouncement(root)?.socket ?? controlSocketPath(root);
  return existsSync(path) ? path : undefined;
}

/**
 * Serves the control socket while a sync process runs: one JSON request per line
 * (`{ id, cmd, args }`), one JSON reply per line (`{ id, ok, result }` or
 * `{ id, ok: false, code, message }`). Only the local user can reach it (mode 0600 on the
 * socket inside `.cshare/`). The socket is announced in `.cshare/control.path` with this
 * process's id and `command`, so that a command that cannot open the store can say which
 * process holds it and how to stop it.
 */
export async function serveControl(opts: { root: string; handlers: Partial<Record<ControlCommand, ControlHandler>>; command?: string }): Promise<{ close(): Promise<void> }> {
  const { root, handlers } = opts;
  const path = controlSocketPath(root);
  const server: Server = createServer((socket) => serveSocket(socket, handlers));
  await listenOwnerOnly({ server, path, what: root });
  server.on('error', (err) => log('control socket error: %s', err.message));
  writeAnnouncement(root, { socket: path, pid: process.pid, ...(opts.command ? { command: opts.command } : {}) });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        rmSync(path, { force: true });
        removeAnnouncement(root);
      }),
  };
}

function serveSocket(socket: Socket, handlers: Partial<Record<ControlCommand, ControlHandler>>): void {
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('error', (err) => log('control client error: %s', err.message));
  socket.on('data', (chunk: string) => {
    buf += chunk;
    if (buf.length > MAX_LINE) {
      socket.destroy();
      return;
    }
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      void answer(line);
    }
  });
  const answer = async (line: string) => {
    let id: unknown = null;
    try {
      const req = JSON.parse(line) as { id?: unknown; cmd?: unknown; args?: unknown };
      id = req.id ?? null;
      const handler = typeof req.cmd === 'string' ? handlers[req.cmd as ControlCommand] : undefined;
      if (!handler) throw new CshareError('USAGE', `the running cshare process does not answer ${String(req.cmd)}`);
      const args = req.args && typeof req.args === 'object' ? (req.args as Record<string, unknown>) : {};
      const result = await handler(args);
      socket.write(`${JSON.stringify({ id, ok: true, result })}\n`);
    } catch (err) {
      const e = err instanceof SyntaxError ? new CshareError('USAGE', 'malformed control request') : toCshareError(err);
      socket.write(`${JSON.stringify({ id, ok: false, code: e.code, message: e.message })}\n`);
    }
  };
}

/**
 * Sends one command to the running sync process of `root`, or returns `undefined` when none
 * runs (no socket, or nobody answers).
 */
export async function callControl(root: string, cmd: ControlCommand, args: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<{ result: unknown } | undefined> {
  const path = controlEndpoint(root);
  if (path === undefined) return undefined;
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new CshareError('TIMEOUT', `the running cshare process did not answer ${cmd} in time`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.once('error', () => {
      clearTimeout(timer);
      resolve(undefined); // stale socket: nobody runs
    });
    s.once('connect', () => s.write(`${JSON.stringify({ id: 1, cmd, args })}\n`));
    s.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      s.destroy();
      try {
        const reply = JSON.parse(buf.slice(0, nl)) as { ok: boolean; result?: unknown; code?: unknown; message?: unknown };
        if (reply.ok) resolve({ result: reply.result });
        else reject(new CshareError(isErrorCode(reply.code) ? reply.code : 'INTERNAL', String(reply.message ?? 'error')));
      } catch (err) {
        reject(new CshareError('INTERNAL', 'malformed reply from the running cshare process', {}, { cause: err }));
      }
    });
  });
}
