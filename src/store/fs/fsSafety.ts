/**
 * The rules that keep every write of `NodeFs` inside its worktree, whatever peers send:
 *
 * - Git's rule: never write, create, rename, chmod or delete through a parent that is a
 *   symlink. Each parent is checked with `lstat` from the root down (the kernel's view, not a
 *   textual one: JavaScript's `realpathSync` collapses `a/..` as text while the kernel follows
 *   `a` first), immediately before the operation.
 * - A symlink is created only if its target stays inside the worktree and out of `.git/` and
 *   `.cshare/`, by the textual rule of `unsafeLinkTargetReason` and again as the kernel
 *   resolves what exists of it (for links the user made).
 * - A file that is not a regular file (a FIFO, a socket, a device) is never opened: opening a
 *   FIFO for reading blocks until a writer comes, which froze a whole replica.
 */
import * as nfs from 'node:fs';
import { CshareError } from '../../core/errors.js';
import { reservedNameOf, unsafeLinkTargetReason } from '../../core/paths.js';
import { errCode, ioError } from './ioError.js';

/** A parent of a path that is not a real directory. */
export interface ParentProblem {
  /** The parent, relative to the root. */
  at: string;
  /** What it is, in words, for the report. */
  reason: string;
  /** `BAD_PATH` for a symlink (never followed), `IO` for a file or other non-folder. */
  code: 'BAD_PATH' | 'IO';
}

/** Shared options object, so the hot `lstat` allocates nothing for them. */
const NO_THROW = { throwIfNoEntry: false } as const;

/**
 * Walks the parents of `rel` (a safe relative path) from `root` down with `lstat`: the first
 * that is a symlink or not a directory, or undefined if every existing one is a real directory.
 * With `create`, a missing parent is created (and checked again if something else created it
 * meanwhile); without, the walk stops at the first missing one (`missing: true`).
 */
export function walkParents(root: string, rel: string, create: boolean): { problem?: ParentProblem; missing?: boolean; dir: string } {
  let cur = root;
  let at = '';
  let start = 0;
  for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) {
    const name = rel.slice(start, i);
    start = i + 1;
    at = at === '' ? name : `${at}/${name}`;
    cur = `${cur}/${name}`;
    let st = lstat(cur);
    if (st === undefined) {
      if (!create) return { missing: true, dir: cur };
      try {
        nfs.mkdirSync(cur);
        continue;
      } catch (err) {
        if (errCode(err) !== 'EEXIST') throw ioError('create directory', cur, err);
        st = lstat(cur);
        if (st === undefined) throw new CshareError('IO', `Cannot create directory ${cur}: it keeps vanishing.`, { path: rel });
      }
    }
    if (st.isSymbolicLink()) return { problem: { at, reason: `${at} is a symlink, and cshare never writes through one`, code: 'BAD_PATH' }, dir: cur };
    if (!st.isDirectory()) return { problem: { at, reason: `${at} is not a folder`, code: 'IO' }, dir: cur };
  }
  return { dir: cur };
}

function lstat(abs: string): nfs.Stats | undefined {
  try {
    return nfs.lstatSync(abs, NO_THROW);
  } catch (err) {
    // The walk goes top-down, so a parent that is a file was reported before; this is a race.
    if (errCode(err) === 'ENOTDIR') return undefined;
    throw ioError('stat', abs, err);
  }
}

/** Throws the error a {@link ParentProblem} stands for, naming the path that was to be changed. */
export function parentError(rel: string, what: string, p: ParentProblem): CshareError {
  return new CshareError(p.code, `Refusing to ${what} ${rel}: ${p.reason}.`, { path: rel, at: p.at, ...(p.code === 'IO' ? { errno: 'ENOTDIR' } : {}) });
}

/**
 * Why the symlink `rel` -> `target` must not be created, or undefined. The textual rule first
 * (see `unsafeLinkTargetReason`); then what exists of the target is resolved by the kernel
 * (`realpath`), which sees links the user made: that must stay inside `realRoot` and out of
 * `.git/` and `.cshare/`. The link's own parents are real directories (checked before this),
 * so the target's leading `..` climb them exactly as the text says.
 */
export function linkTargetProblem(realRoot: string, rel: string, target: string): string | undefined {
  const textual = unsafeLinkTargetReason(rel, target);
  if (textual !== undefined) return textual;
  const parts = rel.split('/').slice(0, -1);
  for (const seg of target.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  // The longest prefix that exists is resolved; the rest is plain names (the rule above).
  for (let n = parts.length; n >= 0; n--) {
    const abs = n === 0 ? realRoot : `${realRoot}/${parts.slice(0, n).join('/')}`;
    let real: string;
    try {
      real = nfs.realpathSync.native(abs);
    } catch (err) {
      const code = errCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') continue;
      throw ioError('resolve', abs, err);
    }
    if (real !== realRoot && !real.startsWith(`${realRoot}/`)) return `the target resolves outside the worktree (to ${real})`;
    const inside = [...(real === realRoot ? [] : real.slice(realRoot.length + 1).split('/')), ...parts.slice(n)];
    for (const name of inside) {
      const reserved = reservedNameOf(name);
      if (reserved !== undefined) return `the target resolves into ${reserved}/`;
    }
    return undefined;
  }
  return undefined;
}

/**
 * Opens `abs` for reading without ever blocking: `O_NONBLOCK` (a FIFO opens at once instead of
 * waiting for a writer), `O_NOFOLLOW` unless `follow` (a symlink is not read through), and then
 * `fstat` must say it is a regular file. Undefined if it does not exist.
 */
export function openRegular(abs: string, follow = false): number | undefined {
  const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW } = nfs.constants;
  let fd: number;
  try {
    fd = nfs.openSync(abs, O_RDONLY | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW));
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'ELOOP') throw new CshareError('IO', `Cannot read ${abs}: it is a symlink, which is not read through.`, { path: abs, errno: code });
    throw ioError('read', abs, err);
  }
  let regular: boolean;
  try {
    regular = nfs.fstatSync(fd).isFile();
  } catch (err) {
    nfs.closeSync(fd);
    throw ioError('stat', abs, err);
  }
  if (!regular) nfs.closeSync(fd);
  if (!regular) throw new CshareError('IO', `Cannot read ${abs}: it is not a regular file (a folder, FIFO, socket or device), which cshare never opens.`, { path: abs, errno: 'EINVAL' });
  return fd;
}

/** The bytes of the regular file `abs` (see {@link openRegular}); undefined if it does not exist. */
export function readRegular(abs: string, follow = false): Uint8Array | undefined {
  const fd = openRegular(abs, follow);
  if (fd === undefined) return undefined;
  try {
    return nfs.readFileSync(fd);
  } catch (err) {
    throw ioError('read', abs, err);
  } finally {
    nfs.closeSync(fd);
  }
}
