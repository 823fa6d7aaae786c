import { mkdirSync } from 'node:fs';
import { Level } from 'level';
import { CshareError } from '../../core/errors.js';
import type { KvBatchOp, KvRange, KvStore } from '../../core/ports.js';
import { storeDirBytes } from '../layout.js';

/** Table files LevelDB keeps open (and mapped; it never keeps fewer than 74); see {@link LevelStore.open}. */
const MAX_OPEN_TABLES = 74;

/** What {@link inChunks} needs of a LevelDB iterator. */
interface ChunkedIterator<T> {
  nextv(size: number): Promise<T[]>;
  close(): Promise<void>;
}

/** Entries read from LevelDB at a time: one native call and one promise per chunk, not per entry. */
const ITERATE_CHUNK = 256;

/** An iterator's entries, read `ITERATE_CHUNK` at a time; closed when the caller stops early. */
async function* inChunks<T>(it: ChunkedIterator<T>): AsyncIterable<T> {
  try {
    for (;;) {
      const chunk = await it.nextv(ITERATE_CHUNK);
      if (chunk.length === 0) return;
      yield* chunk;
    }
  } finally {
    await it.close();
  }
}

/**
 * {@link KvStore} on LevelDB (`level` 10). Keys are UTF-8 strings, values raw bytes.
 * Batches are LevelDB write batches written with `sync: true`, so a batch that resolved
 * survives `kill -9` and a power cut alike.
 */
export class LevelStore implements KvStore {
  /**
   * Called once, before this process's first write reaches the store; if it throws, the
   * write fails. `openWorktree` removes the status view there (see `statusView.ts`).
   */
  beforeFirstWrite: (() => void) | undefined;
  /**
   * Called before every write; if it throws, the write fails. A running share or join checks
   * there that the store is still the one it opened (see `StoreGuard`).
   */
  beforeWrite: (() => void) | undefined;
  /** Has this process written to the store? */
  wrote = false;

  private constructor(
    private readonly db: Level<string, Uint8Array>,
    private readonly dir: string,
  ) {}

  /**
   * Opens (creating if needed) the database in `dir`. Fails with `STORE_LOCKED` when another
   * process holds it and `STORE_CORRUPT` when LevelDB cannot read it.
   */
  static async open(dir: string): Promise<LevelStore> {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new CshareError('IO', `cannot create the store directory ${dir}: ${(err as Error).message}`, { dir }, { cause: err });
    }
    // LevelDB maps every table file it has open into memory, and the pages read stay in the
    // process's resident set: reading a 1 GB store once (a share uploading its blobs) made
    // it 1 GB. Few open tables bound that; tables are reopened as needed.
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view', maxOpenFiles: MAX_OPEN_TABLES });
    try {
      await db.open();
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const text = `${(err as Error).message} ${cause?.message ?? ''}`;
      if (/lock/i.test(text)) {
        throw new CshareError('STORE_LOCKED', `the store in ${dir} is in use by another cshare process`, { dir }, { cause: err });
      }
      throw new CshareError('STORE_CORRUPT', `cannot open the store in ${dir}: ${text.trim()}`, { dir }, { cause: err });
    }
    return new LevelStore(db, dir);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.db.get(key)) ?? undefined;
  }

  async getMany(keys: string[]): Promise<(Uint8Array | undefined)[]> {
    if (keys.length === 0) return [];
    const values = await this.db.getMany(keys);
    return values.map((v) => v ?? undefined);
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    if (keys.length === 0) return [];
    return this.db.hasMany(keys);
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    await this.batch([{ type: 'put', key, value }]);
  }

  async del(key: string): Promise<void> {
    await this.batch([{ type: 'del', key }]);
  }

  async batch(ops: KvBatchOp[]): Promise<void> {
    if (ops.length === 0) return;
    this.beforeWrite?.();
    if (!this.wrote) {
      this.beforeFirstWrite?.();
      this.wrote = true;
    }
    // A chained batch: abstract-level's array form copies and checks every op in JavaScript
    // first (a spread of the options into each); 150,000 stat-sized puts in batches of 5,000
    // (what a first scan of 38,500 files writes) took 5.1-5.9 s that way and 0.9-1.4 s
    // chained, measured alone: the same LevelDB batch.
    const chained = this.db.batch();
    try {
      for (const op of ops) {
        if (op.type === 'put') chained.put(op.key, op.value);
        else chained.del(op.key);
      }
      await chained.write({ sync: true });
    } catch (err) {
      // A batch not written (a bad key, a full disk) releases what it holds natively; after a
      // failed write, close() only returns what that write settled.
      await chained.close();
      throw new CshareError('IO', `cannot write to the store in ${this.dir}: ${(err as Error).message}`, { dir: this.dir }, { cause: err });
    }
  }

  async *iterate(range: KvRange): AsyncIterable<[string, Uint8Array]> {
    const opts: Record<string, unknown> = { ...range };
    if (range.limit === undefined) delete opts.limit;
    yield* inChunks(this.db.iterator(opts) as unknown as ChunkedIterator<[string, Uint8Array]>);
  }

  async *keys(range: KvRange): AsyncIterable<string> {
    const opts: Record<string, unknown> = { ...range };
    if (range.limit === undefined) delete opts.limit;
    yield* inChunks(this.db.keys(opts) as unknown as ChunkedIterator<string>);
  }

  async size(): Promise<number> {
    return storeDirBytes(this.dir);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
