/**
 * The byte stream of one folder's connection to the daemon serving it, with no `vscode` import
 * (unit-tested without an editor): the editor socket the running `share`/`join` announces in
 * the folder's `.cshare/` (EDITOR-API.md "Connecting"), else `cshare editor` spawned there.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** A byte stream to the daemon, and how it ends. */
export interface Link {
  via: 'socket' | 'bridge';
  out: Writable;
  input: Readable;
  /** Resolves when it is over: the bridge's exit code, null for a socket or a bridge that could not start. */
  ended: Promise<number | null>;
  /** What went wrong, as the user is told it (the bridge's last line on stderr). */
  why(): string;
  kill(): void;
}

/**
 * The editor socket named by the announcement in `folder`/.cshare (EDITOR-API.md
 * "Connecting"), connected; undefined when there is none or nobody answers on it.
 */
export async function socketLink(folder: string, log: (m: string) => void): Promise<Link | undefined> {
  let path: unknown;
  try {
    path = (JSON.parse(readFileSync(join(folder, '.cshare', 'control.path'), 'utf8')) as { editor?: unknown }).editor;
  } catch (e) {
    // No announcement (nothing runs here, or the folder is inside a worktree) or an older
    // one's plain path: the bridge knows what to do.
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log(`announcement: ${(e as Error).message}`);
    return undefined;
  }
  if (typeof path !== 'string') return undefined;
  const sock = await new Promise<Socket | undefined>((resolve) => {
    const s = connect(path);
    const failed = (e: Error) => {
      // A stale announcement (the process was killed): the bridge says so properly.
      log(`editor socket ${path}: ${e.message}`);
      resolve(undefined);
    };
    s.once('error', failed);
    s.once('connect', () => {
      s.off('error', failed);
      resolve(s);
    });
  });
  if (!sock) return undefined;
  const ended = new Promise<number | null>((resolve) => sock.once('close', () => resolve(null)));
  sock.on('error', (e) => log(`editor socket: ${e.message}`));
  return { via: 'socket', out: sock, input: sock, ended, why: () => 'the connection to cshare closed', kill: () => sock.destroy() };
}

/** `cshare editor` spawned in `folder`: the stdio bridge to the daemon serving it. */
export function bridgeLink(command: string, folder: string, log: (m: string) => void): Link {
  const child = spawn(command, ['editor'], { cwd: folder, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4096)));
  const ended = new Promise<number | null>((resolve) => {
    child.on('error', (e) => {
      stderr += e.message;
      resolve(null);
    });
    child.on('exit', (code) => resolve(code));
  });
  child.stdin!.on('error', (e) => log(`bridge stdin: ${e.message}`));
  return { via: 'bridge', out: child.stdin!, input: child.stdout!, ended, why: () => stderr.trim().split('\n').pop()?.replace(/^error:\s*/, '') ?? '', kill: () => child.kill() };
}
