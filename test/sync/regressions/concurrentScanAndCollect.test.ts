import { describe, expect, it } from 'vitest';
import { Replica } from '../../../src/core/Replica.js';
import type { KvBatchOp } from '../../../src/core/ports.js';
import { MemoryStore } from '../../../src/store/memory/MemoryStore.js';
import { MemFs } from '../../helpers/MemFs.js';

/** A memory store whose batches wait at a gate while `hold` is set. */
class GatedStore extends MemoryStore {
  hold: Promise<void> | null = null;
  override async batch(ops: KvBatchOp[]): Promise<void> {
    if (this.hold) await this.hold;
    return super.batch(ops);
  }
}

describe('a scan still committing while outgoing changes are collected (chaos run, seed 4242)', () => {
  it('is never counted as collected: every change up to the returned seq is in the collection', async () => {
    const fs = new MemFs('/mem/carol');
    const kv = new GatedStore();
    const replica = await Replica.open({ fs, kv, env: { USER: 'carol' }, home: '/mem/home' });
    fs.writeFile('a.txt', new TextEncoder().encode('one\n'));
    await replica.scan();
    const acked = replica.seq;

    // A watcher's scan takes a seq for the new file, then waits for its batch to commit...
    fs.writeFile('b.bin', Uint8Array.of(0, 1, 2));
    let open!: () => void;
    kv.hold = new Promise((resolve) => (open = resolve));
    const scanning = replica.scan();
    await new Promise((r) => setTimeout(r, 10));
    // ...while a session collects what to upload.
    const collecting = replica.outgoingSince(acked);
    await new Promise((r) => setTimeout(r, 10));
    kv.hold = null;
    open();
    await scanning;
    const { changes, upTo } = await collecting;
    const later = await replica.outgoingSince(upTo);
    // The create of b.bin is uploaded by one of the two pushes, never skipped by both.
    expect(changes.manifest.length + later.changes.manifest.length).toBeGreaterThan(0);
    expect([...changes.blobs, ...later.changes.blobs].map((b) => b.path)).toContain('b.bin');
  });
});
