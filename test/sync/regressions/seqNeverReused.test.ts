import { describe, expect, it } from 'vitest';
import { Replica } from '../../../src/core/Replica.js';
import { MemoryStore } from '../../../src/store/memory/MemoryStore.js';
import { MemFs } from '../../helpers/MemFs.js';

const enc = new TextEncoder();
const open = (fs: MemFs, kv: MemoryStore) => Replica.open({ fs, kv, env: { USER: 'carol' }, home: '/mem/home' });
const nothing = { manifest: [], files: [], blobs: [] };
const origin = { replica: 'r-alice', author: 'alice' };

/**
 * Convergence fuzz seeds 201241, 203419, 204340, 204451, 205638, 209689, 210718, 214130 and
 * 214174: a catch-up whose missing blobs could not be fetched (the relay went away) applied an
 * empty change set, which took a seq and wrote nothing. The next upload acknowledged up to
 * that seq; the process crashed; the next one loaded the last seq the store knew and handed
 * the same seq to its next own change, which counted as acknowledged and was never uploaded.
 */
describe('a seq taken by a change that wrote nothing (convergence fuzz, seed 210718 and eight more)', () => {
  it('is never handed out again once an upload was collected up to it', async () => {
    const fs = new MemFs('/mem/carol');
    const kv = new MemoryStore();
    const first = await open(fs, kv);
    fs.writeFile('a.txt', enc.encode('one\n'));
    await first.scan();
    await first.applyChanges(nothing, origin);
    const { upTo } = await first.outgoingSince(-1);
    expect(upTo).toBe(first.seq);

    // A crash (nothing more is written by the first process), then a restart and a local edit.
    const second = await open(fs, kv);
    fs.writeFile('b.txt', enc.encode('two\n'));
    const { recorded } = await second.scan();
    expect(recorded.map((c) => `${c.kind} ${c.path}`)).toEqual(['create b.txt']);
    expect(recorded[0]!.seq).toBeGreaterThan(upTo);
    const { changes } = await second.outgoingSince(upTo);
    expect(changes.blobs.map((b) => b.path)).toEqual(['b.txt']);
    expect(changes.manifest).toHaveLength(1);
  });

  it('is not handed out again after a first join took the seq as the last private change', async () => {
    const fs = new MemFs('/mem/carol');
    const kv = new MemoryStore();
    const first = await open(fs, kv);
    await first.applyChanges(nothing, origin);
    await first.detachLocalFiles();
    const privateUpTo = first.seq;
    expect(privateUpTo).toBeGreaterThan(0);

    const second = await open(fs, kv);
    fs.writeFile('b.txt', enc.encode('two\n'));
    const { recorded } = await second.scan();
    expect(recorded[0]!.seq).toBeGreaterThan(privateUpTo);
    expect((await second.outgoingSince(privateUpTo)).changes.blobs.map((b) => b.path)).toEqual(['b.txt']);
  });
});
