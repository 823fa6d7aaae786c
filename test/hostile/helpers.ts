import { mkdirSync, readdirSync, readFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { gitBlobId } from '../../src/core/digest.js';
import { CshareError } from '../../src/core/errors.js';
import type { ChangeSet } from '../../src/core/exchange.js';
import { ManifestDoc, type ManifestEntry } from '../../src/core/ManifestDoc.js';
import type { DirEntry, FileStat, KvBatchOp, KvRange, KvStore, WorktreeFs } from '../../src/core/ports.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

/**
 * A worktree `root` inside its own `parent` directory, with a file next to it, so a test can
 * check that nothing outside the worktree was written: {@link Sandbox.outside} lists the
 * parent (minus the worktree) with contents, and must not change.
 */
export interface Sandbox {
  parent: string;
  root: string;
  outside(): Record<string, string>;
}

export function sandbox(): Sandbox {
  const parent = tempDir('cshare-hostile-');
  const root = join(parent, 'wt');
  mkdirSync(root);
  writeTree(parent, { 'outside.txt': 'precious\n', 'etc/passwd': 'root:x:0:0\n' });
  const outside = () => {
    const out: Record<string, string> = {};
    const walk = (rel: string) => {
      for (const name of readdirSync(join(parent, rel))) {
        const r = rel ? `${rel}/${name}` : name;
        if (r === 'wt') continue;
        const st = lstatSync(join(parent, r));
        if (st.isDirectory()) walk(r);
        else out[r] = st.isSymbolicLink() ? 'link' : readFileSync(join(parent, r), 'utf8');
      }
    };
    walk('');
    return out;
  };
  return { parent, root, outside };
}

/** The outside of a fresh {@link sandbox}. */
export const UNTOUCHED = { 'outside.txt': 'precious\n', 'etc/passwd': 'root:x:0:0\n' };

const enc = new TextEncoder();

/** A change set as a hostile (or honest) peer would send it: manifest entries plus their blobs. */
export function remoteChange(
  entries: Record<string, { path: string; content: string | Uint8Array; kind?: ManifestEntry['kind'] }>,
  clientId = 4242,
  lamport = 1000,
  /** The sender's manifest, for changes that build on earlier ones (a rename). */
  m = ManifestDoc.create(clientId),
): ChangeSet {
  const blobs = new Map<string, Uint8Array>();
  const update = m.change((set) => {
    for (const [fileId, e] of Object.entries(entries)) {
      const bytes = typeof e.content === 'string' ? enc.encode(e.content) : e.content;
      const digest = gitBlobId(bytes);
      blobs.set(digest, bytes);
      const kind = e.kind ?? 'text';
      set(fileId, { path: e.path, kind, mode: kind === 'symlink' ? 0o120000 : 0o100644, digest, size: bytes.length, base: digest, lamport, by: 'mallory' });
    }
  });
  return { manifest: [update!], files: [], blobs: [...blobs].map(([digest, bytes]) => ({ digest, bytes })) };
}

/** Where and how a {@link FaultyFs} fails. */
export interface FsFault {
  code: 'ENOSPC' | 'EACCES';
  /** Only writes to paths matching this fail (all writes when absent). */
  path?: RegExp;
}

function ioFault(what: string, rel: string, code: string): CshareError {
  const text = code === 'ENOSPC' ? 'no space left on device' : 'permission denied';
  return new CshareError('IO', `Cannot ${what} ${rel}: ${code}: ${text}`, { path: rel, errno: code }, { cause: Object.assign(new Error(text), { code }) });
}

/**
 * A {@link WorktreeFs} whose writes fail with `ENOSPC` or `EACCES` while {@link fault} is set,
 * the way `NodeFs` reports them (`IO` with `data.errno`). Reads always work.
 */
export class FaultyFs implements WorktreeFs {
  fault: FsFault | null = null;
  /** Writes refused so far. */
  refused = 0;

  constructor(private readonly inner: WorktreeFs) {}

  get root(): string {
    return this.inner.root;
  }

  private check(what: string, rel: string): void {
    const f = this.fault;
    if (f && (!f.path || f.path.test(rel))) {
      this.refused++;
      throw ioFault(what, rel, f.code);
    }
  }

  readdir(rel: string): DirEntry[] | undefined {
    return this.inner.readdir(rel);
  }
  lstat(rel: string): FileStat | undefined {
    return this.inner.lstat(rel);
  }
  readFile(rel: string): Uint8Array | undefined {
    return this.inner.readFile(rel);
  }
  readlink(rel: string): string | undefined {
    return this.inner.readlink(rel);
  }
  writeFile(rel: string, data: Uint8Array, mode?: number): void {
    this.check('write', rel);
    this.inner.writeFile(rel, data, mode);
  }
  symlink(rel: string, target: string): void {
    this.check('create symlink', rel);
    this.inner.symlink(rel, target);
  }
  remove(rel: string): void {
    this.check('remove', rel);
    this.inner.remove(rel);
  }
  chmod(rel: string, mode: number): void {
    this.check('chmod', rel);
    this.inner.chmod(rel, mode);
  }
  readExternal(absPath: string): Uint8Array | undefined {
    return this.inner.readExternal(absPath);
  }
}

/** A {@link KvStore} whose batches fail with a node-style `ENOSPC` error while `full` is set. */
export class FaultyKv implements KvStore {
  full = false;
  refused = 0;

  constructor(readonly inner: KvStore) {}

  private check(): void {
    if (this.full) {
      this.refused++;
      throw Object.assign(new Error('IO error: No space left on device'), { code: 'ENOSPC' });
    }
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.inner.get(key);
  }
  getMany(keys: string[]): Promise<(Uint8Array | undefined)[]> {
    return this.inner.getMany(keys);
  }
  hasMany(keys: string[]): Promise<boolean[]> {
    return this.inner.hasMany(keys);
  }
  async put(key: string, value: Uint8Array): Promise<void> {
    this.check();
    await this.inner.put(key, value);
  }
  async del(key: string): Promise<void> {
    this.check();
    await this.inner.del(key);
  }
  async batch(ops: KvBatchOp[]): Promise<void> {
    this.check();
    await this.inner.batch(ops);
  }
  iterate(range: KvRange): AsyncIterable<[string, Uint8Array]> {
    return this.inner.iterate(range);
  }
  keys(range: KvRange): AsyncIterable<string> {
    return this.inner.keys(range);
  }
  size(): Promise<number> {
    return this.inner.size();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
