import { describe, expect, it } from 'vitest';
import { ManifestDoc, type ManifestEntry } from '../../src/core/ManifestDoc.js';
import { Prng } from '../../src/sync/prng.js';

/**
 * A file and a folder of one name (`a` and `a/b`) cannot both be on a disk: `ManifestDoc.live`
 * keeps the later write of each such pair and leaves the other out, the same on every replica
 * whatever order the updates came in, so no replica tries to write both (issue 15 item 10).
 */

const entry = (path: string, lamport: number): ManifestEntry => ({ path, kind: 'text', mode: 0o100644, digest: 'd', size: 0, base: 'd', lamport, by: 'r' });

function updatesOf(rng: Prng, n: number): Uint8Array[] {
  const names = ['a', 'b', 'c'];
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const m = ManifestDoc.create(100 + i);
    const depth = 1 + rng.int(3);
    const path = Array.from({ length: depth }, () => rng.pick(names)).join('/');
    out.push(m.change((set) => set(`f${i}`, entry(path, 1 + rng.int(20))))!);
  }
  return out;
}

describe('ManifestDoc.live: files and folders of one name', () => {
  it('keeps the later of a file and an entry below it, and reports the other as refused', () => {
    const m = ManifestDoc.create(1);
    m.change((set) => {
      set('fa', entry('a', 5));
      set('fab', entry('a/b', 3));
      set('fx', entry('x/y', 9));
      set('fxy', entry('x/y/z', 10));
      set('fq', entry('q', 1));
    });
    expect([...m.live().keys()].sort()).toEqual(['a', 'q', 'x/y/z']);
    expect([...m.conflicted()].sort()).toEqual([['fab', 'a/b'], ['fx', 'x/y']]);
    expect(m.refused().map((r) => r.path).sort()).toEqual(['a/b', 'x/y']);
  });

  it('random trees, updates in two orders: the same live set everywhere, and no path is a folder of another', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rng = new Prng(seed);
      const updates = updatesOf(rng, 2 + rng.int(10));
      const one = ManifestDoc.load(7, undefined, updates);
      const two = ManifestDoc.load(8, undefined, [...updates].reverse());
      const live = [...one.live()].map(([p, { fileId }]) => `${fileId}:${p}`).sort();
      expect({ seed, live }).toEqual({ seed, live: [...two.live()].map(([p, { fileId }]) => `${fileId}:${p}`).sort() });
      const paths = new Set(one.live().keys());
      for (const p of paths) for (let i = p.indexOf('/'); i !== -1; i = p.indexOf('/', i + 1)) expect({ seed, p, parent: paths.has(p.slice(0, i)) }).toEqual({ seed, p, parent: false });
    }
  });
});
