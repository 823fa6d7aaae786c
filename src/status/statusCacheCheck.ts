/**
 * The check of a status cache against the worktree (see `statusCache.ts`): its inputs (one
 * `stat` each), its directories (one `lstat` each; a changed one listed again) and its files
 * (one `lstat` each, in chunks shared by the main thread and, for many files, a worker).
 */
import { lstatSync, readdirSync, type Dirent } from 'node:fs';
import { isMainThread, Worker } from 'node:worker_threads';
import { logger } from '../core/log.js';
import type { StatusChange } from '../core/pending.js';
import type { NestedRepo } from '../core/Scanner.js';
import { splitSection } from '../core/sectionedFile.js';
import { abs, decodeStatusCache, DIR_NUMS, FILE_NUMS, INPUT_NUMS, readStatusCacheBytes, statOf, type DecodedCache } from './statusCache.js';

const log = logger('status-cache');

/** Below this many files one thread checks them all; above, a worker shares the chunks. */
export const WORKER_MIN_FILES = 20_000;

function direntKind(d: Dirent): number {
  return d.isFile() ? 0 : d.isDirectory() ? 1 : d.isSymbolicLink() ? 2 : 3;
}

/** Files per chunk of the check; threads take chunks until none is left. */
const CHUNK = 512;

/**
 * The check of the files, shared by threads: each takes the next chunk (`next[0]`), reads
 * its paths (`\0`-joined in `paths`; chunk k runs from byte `starts[k]` to `starts[k + 1] - 1`),
 * `lstat`s `prefix` + each path and compares with its cached stats, setting `codes[i]` to 0
 * (unchanged) or 1 (changed or gone), then marks the chunk done. False when a chunk holds
 * another number of paths than it should (a damaged cache). Source text, so that a worker
 * runs the very same code as the main thread.
 */
const CHECK_SOURCE = `function checkChunks(fs, prefix, paths, starts, next, nums, codes, done) {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const opts = { throwIfNoEntry: false };
  const total = codes.length;
  const chunks = starts.length - 1;
  for (let k = Atomics.add(next, 0, 1); k < chunks; k = Atomics.add(next, 0, 1)) {
    const names = decoder.decode(paths.subarray(starts[k], starts[k + 1] - 1)).split('\\0');
    const first = k * ${CHUNK};
    if (names.length !== Math.min(${CHUNK}, total - first)) return false;
    for (let j = 0; j < names.length; j++) {
      const i = first + j;
      const o = i * ${FILE_NUMS};
      let st;
      try {
        st = fs.lstatSync(prefix + names[j], opts);
      } catch {
        st = undefined; // a parent that is no directory now (ENOTDIR), or unreadable: a suspect
      }
      codes[i] = st !== undefined && st.size === nums[o] && st.mtimeMs === nums[o + 1] && st.ctimeMs === nums[o + 2] && st.ino === nums[o + 3] && st.mode === nums[o + 4] ? 0 : 1;
    }
    Atomics.store(done, k, 1);
  }
  return true;
}`;

const WORKER_SOURCE = `${CHECK_SOURCE}
const { parentPort, workerData: w } = require('node:worker_threads');
parentPort.postMessage(checkChunks(require('node:fs'), w.prefix, new Uint8Array(w.buffer, w.pathsOffset, w.pathsLength), w.starts, w.next, new Float64Array(w.buffer, w.numsOffset, w.numsLength), w.codes, w.done));`;

type CheckChunks = (fs: Pick<typeof import('node:fs'), 'lstatSync'>, prefix: string, paths: Uint8Array, starts: Int32Array, next: Int32Array, nums: Float64Array, codes: Uint8Array, done: Uint8Array) => boolean;
const checkChunks = new Function(`return ${CHECK_SOURCE}`)() as CheckChunks;

/**
 * Where each chunk's paths start in the `\0`-joined list, and where the list ends (+1), or
 * undefined when the list does not hold `n` paths.
 */
function chunkStarts(paths: Uint8Array, n: number): Int32Array | undefined {
  const chunks = Math.ceil(n / CHUNK);
  const starts = new Int32Array(new SharedArrayBuffer((chunks + 1) * 4));
  let i = 0;
  for (let k = 1; k < chunks; k++) {
    for (let j = 0; j < CHUNK; j++) {
      i = paths.indexOf(0, i) + 1;
      if (i === 0) return undefined;
    }
    starts[k] = i;
  }
  starts[chunks] = paths.byteLength + 1;
  return starts;
}

/** The check on a worker; resolves when it has stopped taking chunks (false if it failed). */
function startWorker(data: Record<string, unknown>): { stopped: Promise<boolean>; terminate(): void } {
  let worker: Worker;
  try {
    worker = new Worker(WORKER_SOURCE, { eval: true, workerData: data });
  } catch (err) {
    log('no worker for the status check: %s', (err as Error).message);
    return { stopped: Promise.resolve(false), terminate: () => {} };
  }
  const stopped = new Promise<boolean>((resolve) => {
    worker.once('message', (ok: unknown) => resolve(ok === true));
    worker.once('error', (err) => {
      log('status check worker failed: %s', err.message);
      resolve(false);
    });
    worker.once('exit', () => resolve(false));
  });
  return { stopped, terminate: () => void worker.terminate() };
}

/**
 * Checks every cached file, on this thread and (for many files) a worker. A worker still
 * starting when this thread has done every chunk is stopped; chunks a failed worker left
 * undone are done here. False when the cache is damaged.
 */
async function checkFiles(root: string, cache: DecodedCache, workerMinFiles: number): Promise<Uint8Array | undefined> {
  const n = cache.files;
  const codes = new Uint8Array(new SharedArrayBuffer(n));
  const starts = chunkStarts(cache.filePaths, n);
  if (starts === undefined) return undefined;
  const chunks = starts.length - 1;
  const next = new Int32Array(new SharedArrayBuffer(4));
  const done = new Uint8Array(new SharedArrayBuffer(chunks));
  // Paths relative to the root when this thread can make it the working directory (workers
  // share it): an `lstat` of an absolute path costs more, and two threads walking the same
  // leading directories slow each other down.
  const cwd = process.cwd();
  let prefix = `${root}/`;
  if (isMainThread) {
    try {
      if (cwd !== root) process.chdir(root);
      prefix = '';
    } catch (err) {
      log('checking by absolute paths: %s', (err as Error).message);
    }
  }
  try {
    const worker =
      n >= workerMinFiles
        ? startWorker({ prefix, buffer: cache.bytes.buffer, pathsOffset: cache.filePaths.byteOffset, pathsLength: cache.filePaths.byteLength, starts, next, numsOffset: cache.fileNums.byteOffset, numsLength: cache.fileNums.length, codes, done })
        : undefined;
    const fs = { lstatSync };
    let ok = checkChunks(fs, prefix, cache.filePaths, starts, next, cache.fileNums, codes, done);
    if (worker) {
      if (ok && done.every((d) => d === 1)) worker.terminate();
      else if (!(await worker.stopped)) {
        // Chunks the worker took and did not finish: done here, from a fresh counter.
        for (let k = 0; k < chunks && ok; k++) {
          if (Atomics.load(done, k) === 1) continue;
          const one = new Int32Array(new SharedArrayBuffer(4));
          ok = checkChunks(fs, prefix, cache.filePaths, starts.subarray(k, k + 2), one, cache.fileNums, codes.subarray(k * CHUNK), done.subarray(k, k + 1));
        }
      }
    }
    return ok ? codes : undefined;
  } finally {
    if (prefix === '' && cwd !== root) process.chdir(cwd);
  }
}

/** The outcome of {@link checkStatusCache}. */
export interface CacheCheck {
  /** Did the cached scan match what is recorded? */
  clean: boolean;
  /** The cached answer, which holds for every path not in `suspects`. */
  changes: StatusChange[];
  /** Paths that may have changed since (relative; a directory stands for all under it). */
  suspects: string[];
  /** The repositories inside the tree, as cached (see `ScanResult.nested`). */
  nested: NestedRepo[];
  /** The cache itself, to be brought up to date after a scan of the suspects. */
  cache: DecodedCache;
}

/**
 * Reads the status cache at `path` and checks it against the worktree at `root`. Undefined
 * when there is no cache for this view and environment, or an input (git config, excludes
 * file, git index, rule file) has changed: then only a whole-tree scan can tell.
 */
export async function checkStatusCache(opts: { root: string; path: string; viewKey: string; envKey: string; workerMinFiles?: number }): Promise<CacheCheck | undefined> {
  const { root } = opts;
  const bytes = readStatusCacheBytes(opts.path);
  if (bytes === undefined) return undefined;
  const cache = decodeStatusCache(bytes, opts.viewKey, opts.envKey);
  if (cache === undefined) return undefined;

  for (let i = 0; i < cache.inputPaths.length; i++) {
    const st = statOf(cache.inputPaths[i]!, true);
    const o = i * INPUT_NUMS;
    const n = cache.inputNums;
    const same = st === undefined ? n[o] === -1 : st.size === n[o] && st.mtimeMs === n[o + 1] && st.ctimeMs === n[o + 2] && st.ino === n[o + 3];
    if (!same) {
      log('status cache not used: %s changed', cache.inputPaths[i]);
      return undefined;
    }
  }

  const suspects: string[] = [];
  if (!checkDirs(root, cache, suspects)) return undefined;

  const codes = await checkFiles(root, cache, opts.workerMinFiles ?? WORKER_MIN_FILES);
  if (codes === undefined) return undefined; // the path list does not hold the files the header counts
  if (codes.includes(1)) {
    const paths = splitSection(cache.filePaths, cache.files) ?? [];
    for (let i = 0; i < codes.length; i++) if (codes[i] === 1) suspects.push(paths[i]!);
  }
  return { clean: cache.clean, changes: cache.changes, suspects, nested: cache.nested, cache };
}

/**
 * Directories: one whose stat changed is listed again, and its entries that are new or of
 * another kind are suspects. An entry that went is found by the check of the files (a
 * shared file) or does not matter (an ignored one). False when the root itself is gone.
 */
function checkDirs(root: string, cache: DecodedCache, suspects: string[]): boolean {
  let names: string[] | undefined;
  let start = 0;
  for (let i = 0; i < cache.dirPaths.length; i++) {
    const path = cache.dirPaths[i]!;
    const count = cache.counts[i]!;
    const from = start;
    start += count;
    const st = statOf(abs(root, path), false);
    const o = i * DIR_NUMS;
    const d = cache.dirNums;
    if (st === undefined || !st.isDirectory()) {
      if (path === '') return false;
      suspects.push(path);
      continue;
    }
    if (st.mtimeMs === d[o] && st.ctimeMs === d[o + 1] && st.ino === d[o + 2] && st.mode === d[o + 3]) continue;
    names ??= splitSection(cache.names, cache.kinds.length);
    if (names === undefined) return false;
    const before = new Map<string, number>();
    for (let j = from; j < from + count; j++) before.set(names[j]!, cache.kinds[j]!);
    let now: Dirent[];
    try {
      now = readdirSync(abs(root, path), { withFileTypes: true });
    } catch (err) {
      log('cannot list %s: %s', path, (err as Error).message);
      if (path === '') return false;
      suspects.push(path);
      continue;
    }
    for (const e of now) {
      if (before.get(e.name) !== direntKind(e)) suspects.push(path === '' ? e.name : `${path}/${e.name}`);
    }
  }
  return true;
}

