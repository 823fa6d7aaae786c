/**
 * The announcement of a running `share`/`join` (`.cshare/control.path`): where its control
 * socket is, and which process it is. Other cshare processes read it to talk to that process
 * (see `sync/control.ts`), and to say who holds the store when they cannot open it.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CshareError } from '../core/errors.js';
import { logger } from '../core/log.js';
import { STORE_DIR } from './layout.js';

const log = logger('store');

/** What a running share or join announces. */
export interface Announcement {
  /** The control socket's path. */
  socket: string;
  /** The process's id; absent in the plain-path announcement of an older cshare. */
  pid?: number;
  /** `share` or `join`. */
  command?: string;
  /** The editor socket's path (EDITOR-API.md), when the process serves editors. */
  editor?: string;
}

/** Where the announcement lives. */
export function announcementPath(root: string): string {
  return join(root, STORE_DIR, 'control.path');
}

/** Announces the running process (JSON; see {@link Announcement}). */
export function writeAnnouncement(root: string, a: Announcement): void {
  writeFileSync(announcementPath(root), `${JSON.stringify(a)}\n`, { mode: 0o600 });
}

/** Removes the announcement (when the process stops serving). */
export function removeAnnouncement(root: string): void {
  rmSync(announcementPath(root), { force: true });
}

/**
 * The announcement in `.cshare/` of `root`, or undefined when there is none. It may be stale
 * (a process killed with SIGKILL leaves it): the socket or the pid tell.
 */
export function readAnnouncement(root: string): Announcement | undefined {
  let text: string;
  try {
    text = readFileSync(announcementPath(root), 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log('cannot read the announcement: %s', (err as Error).message);
    return undefined;
  }
  if (!text.startsWith('{')) return text ? { socket: text } : undefined; // an older cshare: the path alone
  try {
    const a = JSON.parse(text) as Record<string, unknown>;
    if (typeof a.socket !== 'string') return undefined;
    return {
      socket: a.socket,
      ...(Number.isSafeInteger(a.pid) && (a.pid as number) > 0 ? { pid: a.pid as number } : {}),
      ...(typeof a.command === 'string' ? { command: a.command } : {}),
      ...(typeof a.editor === 'string' ? { editor: a.editor } : {}),
    };
  } catch (err) {
    log('malformed announcement: %s', (err as Error).message);
    return undefined;
  }
}

/** Does a process with this id run (one of another user counts)? */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The `STORE_LOCKED` error for a worktree whose store another process holds: it names the
 * running share or join (its pid, and how to stop it) when one is announced, and else says
 * that some other cshare command holds it for now.
 */
export function storeLockedError(root: string, cause: unknown): CshareError {
  const a = readAnnouncement(root);
  if (a?.pid !== undefined && a.pid !== process.pid && processRuns(a.pid)) {
    const what = `cshare ${a.command ?? 'share/join'}`;
    return new CshareError(
      'STORE_LOCKED',
      `${what} is running in ${root} (pid ${a.pid}) and holds its store. Stop it with "cshare unshare" (or kill ${a.pid}) first; while it runs, status, log, files, scan, undo and redo work through it`,
      { root, pid: a.pid, command: a.command ?? null },
      { cause },
    );
  }
  return new CshareError(
    'STORE_LOCKED',
    `the store of ${root} is in use by another cshare process (a command still running, or a share or join that is starting or runs with --once); try again when it has finished`,
    { root },
    { cause },
  );
}
