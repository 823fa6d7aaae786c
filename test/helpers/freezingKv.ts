import type { KvBatchOp, KvRange, KvStore } from '../../src/core/ports.js';
import type { MemoryStore } from '../../src/store/memory/MemoryStore.js';

/**
 * A store whose writes stop completing once the key `freezeAfter` has been put (or a batch
 * `freezeAfterBatch` picks has been written): the process hangs there, as if the machine died
 * or the process was killed, and the test opens the store underneath (`inner`) again.
 */
export class FreezingKv implements KvStore {
  freezeAfter: string | undefined;
  freezeAfterBatch: ((ops: readonly KvBatchOp[]) => boolean) | undefined;
  private frozen = false;
  constructor(readonly inner: MemoryStore) {}
  get(key: string) {
    return this.inner.get(key);
  }
  getMany(keys: string[]) {
    return this.inner.getMany(keys);
  }
  hasMany(keys: string[]) {
    return this.inner.hasMany(keys);
  }
  put(key: string, value: Uint8Array) {
    if (this.frozen) return new Promise<void>(() => {});
    if (key === this.freezeAfter) this.frozen = true;
    return this.inner.put(key, value);
  }
  del(key: string) {
    return this.frozen ? new Promise<void>(() => {}) : this.inner.del(key);
  }
  batch(ops: KvBatchOp[]) {
    if (this.frozen) return new Promise<void>(() => {});
    if (this.freezeAfterBatch?.(ops)) this.frozen = true;
    return this.inner.batch(ops);
  }
  iterate(range: KvRange) {
    return this.inner.iterate(range);
  }
  keys(range: KvRange) {
    return this.inner.keys(range);
  }
  size() {
    return this.inner.size();
  }
  close() {
    return this.inner.close();
  }
}
