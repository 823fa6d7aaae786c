/** Reading and writing the status view (`.cshare/status-view`, see `core/statusView.ts`). */
import { closeSync, fstatSync, openSync, readFileSync, rmSync } from 'node:fs';
import { CshareError } from '../core/errors.js';
import { decodeStatusView, encodeStatusView, type StatusView } from '../core/statusView.js';
import { fileKey, statusViewPath, writeFileReplacing } from './layout.js';

/**
 * The worktree's status view, or undefined when there is none that can be used. One that
 * cannot (damaged, or of another version) is removed, so the next close writes it again.
 */
export function readStatusView(root: string): StatusView | undefined {
  return readStatusViewKeyed(root)?.view;
}

/** {@link readStatusView}, with the key of the file version read (see `fileKey`). */
export function readStatusViewKeyed(root: string): { view: StatusView; key: string } | undefined {
  let bytes: Uint8Array;
  let key: string;
  let fd: number;
  try {
    fd = openSync(statusViewPath(root), 'r');
  } catch {
    return undefined; // no view: the store is opened instead
  }
  try {
    key = fileKey(fstatSync(fd));
    bytes = readFileSync(fd);
  } catch {
    return undefined; // unreadable: the store is opened instead, and reports what is wrong
  } finally {
    closeSync(fd);
  }
  const view = decodeStatusView(bytes);
  if (!view) {
    rmSync(statusViewPath(root), { force: true });
    return undefined;
  }
  return { view, key };
}

/** Removes the view; it must be gone before the store changes, so a failure is an error. */
export function removeStatusView(root: string): void {
  try {
    rmSync(statusViewPath(root), { force: true });
  } catch (err) {
    throw new CshareError('IO', `cannot remove ${statusViewPath(root)} before writing to the store: ${(err as Error).message}`, {}, { cause: err });
  }
}

/** Writes the view (temp file, flush, rename). */
export function writeStatusView(root: string, view: StatusView): void {
  writeFileReplacing(statusViewPath(root), encodeStatusView(view));
}
