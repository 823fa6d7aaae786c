import { describe, expect, it } from 'vitest';
import { ManifestDoc, type ManifestEntry } from '../../src/core/ManifestDoc.js';
import { byLogOrder, remoteSub } from '../../src/core/storeKeys.js';

const entry = (path: string, lamport: number): ManifestEntry => ({ path, kind: 'text', mode: 0o100644, digest: 'd', size: 1, base: 'd', lamport, by: 'r' });

describe('the order of logged updates', () => {
  it('is the order they were applied in: by change, then by their number among one change\'s remote updates', () => {
    const keys = ['m:u:000000000005.r10', 'm:u:000000000005.r2', 'm:u:000000000004.r11', 'm:u:000000000005.base', 'm:u:000000000005.r1', 'm:u:000000000004'];
    expect([...keys].sort(byLogOrder)).toEqual(['m:u:000000000004', 'm:u:000000000004.r11', 'm:u:000000000005.base', 'm:u:000000000005.r1', 'm:u:000000000005.r2', 'm:u:000000000005.r10']);
    // New keys sort so by themselves.
    const padded = [10, 2, 1, 100].map((n) => `f:x:u:000000000007.${remoteSub(n)}`);
    expect([...padded].sort()).toEqual([...padded].sort(byLogOrder));
  });

  it('does not matter to the loaded manifest, which is the same whatever order its pieces come in', () => {
    const source = ManifestDoc.create(7);
    const updates = Array.from({ length: 40 }, (_, i) => source.change((set) => set(`f${i % 13}`, entry(`p${i}.txt`, i)))!);
    const inOrder = ManifestDoc.load(1, undefined, updates);
    // Out of order as `r10` before `r2` put them: each piece waits for earlier ones.
    const shuffled = [...updates.keys()].sort((a, b) => (String(a) < String(b) ? -1 : 1)).map((i) => updates[i]!);
    const loaded = ManifestDoc.load(1, undefined, shuffled);
    expect([...loaded.live().keys()].sort()).toEqual([...inOrder.live().keys()].sort());
    expect([...loaded.all()]).toEqual([...inOrder.all()]);
    expect(loaded.doc.store.pendingStructs).toBeNull();
  });
});
