import type { KvBatchOp, KvRange, KvStore } from '../../core/ports.js';

/**
 * The in-memory twin of {@link LevelStore}: same contract (checked by
 * `test/store/storeContract.ts`), used by unit tests and the in-memory sync tests.
 * Keys are kept in a sorted array so range iteration matches LevelDB's byte order for the
 * ASCII keys cshare uses.
 */
export class MemoryStore implements KvStore {
  private readonly map = new Map<string, Uint8Array>();
  private sorted: string[] | null = null;
  private closed = false;

  async get(key: string): Promise<Uint8Array | undefined> {
    this.check();
    return this.map.get(key);
  }

  async getMany(keys: string[]): Promise<(Uint8Array | undefined)[]> {
    this.check();
    return keys.map((k) => this.map.get(k));
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    this.check();
    return keys.map((k) => this.map.has(k));
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    await this.batch([{ type: 'put', key, value }]);
  }

  async del(key: string): Promise<void> {
    await this.batch([{ type: 'del', key }]);
  }

  async batch(ops: KvBatchOp[]): Promise<void> {
    this.check();
    for (const op of ops) {
      if (op.type === 'put') {
        if (!this.map.has(op.key)) this.sorted = null;
        // Copy: a caller that reuses its buffer must not change what was stored.
        this.map.set(op.key, op.value.slice());
      } else if (this.map.delete(op.key)) {
        this.sorted = null;
      }
    }
  }

  async *iterate(range: KvRange): AsyncIterable<[string, Uint8Array]> {
    this.check();
    if (this.sorted === null) this.sorted = [...this.map.keys()].sort(compareKeys);
    const keys = this.sorted.filter((k) => inRange(k, range));
    if (range.reverse) keys.reverse();
    const limit = range.limit ?? Infinity;
    let n = 0;
    for (const key of keys) {
      if (n++ >= limit) return;
      const value = this.map.get(key);
      if (value !== undefined) yield [key, value];
    }
  }

  async *keys(range: KvRange): AsyncIterable<string> {
    for await (const [key] of this.iterate(range)) yield key;
  }

  async size(): Promise<number> {
    let total = 0;
    for (const [k, v] of this.map) total += k.length + v.byteLength;
    return total;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private check(): void {
    if (this.closed) throw new Error('MemoryStore is closed');
  }
}

function compareKeys(a: string, b: string): number {
  const ba = Buffer.from(a);
  const bb = Buffer.from(b);
  return Buffer.compare(ba, bb);
}

function inRange(key: string, r: KvRange): boolean {
  if (r.gt !== undefined && compareKeys(key, r.gt) <= 0) return false;
  if (r.gte !== undefined && compareKeys(key, r.gte) < 0) return false;
  if (r.lt !== undefined && compareKeys(key, r.lt) >= 0) return false;
  if (r.lte !== undefined && compareKeys(key, r.lte) > 0) return false;
  return true;
}
