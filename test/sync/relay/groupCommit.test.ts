import { describe, expect, it } from 'vitest';
import type { KvBatchOp } from '../../../src/core/ports.js';
import { MemoryStore } from '../../../src/store/memory/MemoryStore.js';
import { RelayStore } from '../../../src/sync/relay/RelayStore.js';
import { textUpdate } from './harness.js';

/** A memory store that counts its batches (each is one fsync on LevelDB). */
class CountingStore extends MemoryStore {
  batches = 0;
  override async batch(ops: KvBatchOp[]): Promise<void> {
    this.batches++;
    await super.batch(ops);
  }
}

async function storeWith(limits: ConstructorParameters<typeof RelayStore>[1] = {}): Promise<{ kv: CountingStore; store: RelayStore }> {
  const kv = new CountingStore();
  const store = new RelayStore(kv, limits);
  await store.register({ worktreeId: 'w1', readWriteHash: new Uint8Array(32), readOnlyHash: new Uint8Array(32).fill(1), name: 'w' });
  return { kv, store };
}

describe('relay: appends that arrive together are written together (group commit)', () => {
  it('200 concurrent file uploads take a few batches, each acknowledged with its own seqs, in order of the head', async () => {
    const { kv, store } = await storeWith();
    const before = kv.batches;
    const got = await Promise.all(Array.from({ length: 200 }, (_, i) => store.appendFile('w1', `f${i}`, [textUpdate(`file ${i}`)], 'r1')));
    // One write for the first, one for all that came while it was written (not 200).
    expect(kv.batches - before).toBeLessThanOrEqual(3);
    const seqs = got.map((a) => a.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(got.every((a) => a.first === a.seq)).toBe(true);
    expect(await store.head('w1')).toBe(200);
  });

  it('two uploads of one file never share a batch: the second reads the vector the first wrote', async () => {
    const { store } = await storeWith();
    await Promise.all([store.appendFile('w1', 'same', [textUpdate('a', 11)], 'r1'), store.appendFile('w1', 'other', [textUpdate('b', 12)], 'r1'), store.appendFile('w1', 'same', [textUpdate('c', 13)], 'r1')]);
    const vector = await store.fileVector('w1', 'same');
    expect([...(vector ?? new Map()).keys()].sort()).toEqual([11, 13]);
    expect(await store.head('w1')).toBe(3);
  });

  it('an upload over the quota fails alone; the others of its batch are stored', async () => {
    const { store } = await storeWith({ maxWorktreeBytes: 200 });
    const results = await Promise.allSettled([store.appendFile('w1', 'a', [textUpdate('x'.repeat(20))], 'r1'), store.appendFile('w1', 'b', [textUpdate('y'.repeat(300))], 'r1'), store.appendFile('w1', 'c', [textUpdate('z'.repeat(20))], 'r1')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(((results[1] as PromiseRejectedResult).reason as { code: string }).code).toBe('OVERLOADED');
    expect(await store.head('w1')).toBe(2);
  });

  it('an unknown worktree fails every append of the group with NOT_FOUND', async () => {
    const { store } = await storeWith();
    const results = await Promise.allSettled([store.appendHistory('nope', [{ seq: 1, kind: 'create', time: 1, author: 'a', fileId: 'f', path: 'p', inserted: 1, deleted: 0 }], 'r1')]);
    expect(((results[0] as PromiseRejectedResult).reason as { code: string }).code).toBe('NOT_FOUND');
  });
});
