import { describe, expect, it } from 'vitest';
import { Prng } from '../../../src/sync/prng.js';
import { Pacer } from '../../../src/sync/relay/pace.js';
import { checkPathSet, foldPath } from '../../../src/sync/relay/validate.js';
import { testSeed } from '../helpers.js';

/** The obvious quadratic check the linear one replaced: what it must answer, set by set. */
function naive(paths: string[]): 'case' | 'folder' | undefined {
  const seen = new Map<string, string>();
  for (const p of paths) {
    const prev = seen.get(foldPath(p));
    if (prev !== undefined && prev !== p) return 'case';
    seen.set(foldPath(p), p);
  }
  for (const key of seen.keys()) {
    for (let i = key.indexOf('/'); i !== -1; i = key.indexOf('/', i + 1)) if (seen.has(key.slice(0, i))) return 'folder';
  }
  return undefined;
}

async function linear(paths: string[]): Promise<'case' | 'folder' | undefined> {
  try {
    await checkPathSet(paths);
    return undefined;
  } catch (err) {
    expect(err).toMatchObject({ code: 'BAD_PATH' });
    return /differ only in case/.test((err as Error).message) ? 'case' : 'folder';
  }
}

describe('checkPathSet', () => {
  it('answers as the quadratic check on random sets of short, nested, case-folded paths', async () => {
    const seed = testSeed(0xa11ce);
    const rng = new Prng(seed);
    const segs = ['a', 'A', 'b', 'ab', 'é', 'e\u0301', 'x.txt', 'X.TXT', 'src'];
    let conflicts = 0;
    for (let round = 0; round < 2000; round++) {
      const paths = Array.from({ length: 1 + rng.int(6) }, () => Array.from({ length: 1 + rng.int(4) }, () => rng.pick(segs)).join('/'));
      const expected = naive(paths);
      if (expected) conflicts++;
      expect(await linear(paths), `seed ${seed} round ${round}: ${JSON.stringify(paths)}`).toBe(expected);
    }
    // Both kinds of conflict, and clean sets, were exercised.
    expect(conflicts).toBeGreaterThan(200);
    expect(conflicts).toBeLessThan(1900);
  });

  it('names the file that is also a folder, however deep', async () => {
    const deep = 'd/'.repeat(1000);
    await expect(checkPathSet([`${deep}x/y`, `${deep}X`])).rejects.toMatchObject({ code: 'BAD_PATH', message: expect.stringMatching(/is a file and also a folder of/) });
    await expect(checkPathSet([`${deep}x/y`, `${deep}x/z`, `${deep}xy`])).resolves.toBeUndefined();
  });

  it('gives way to other work on a large set of deep paths instead of holding the event loop', async () => {
    const deep = 'a/'.repeat(2040);
    const paths = Array.from({ length: 3800 }, (_, i) => `${deep}f${i}`);
    const pacer = new Pacer();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      await checkPathSet(paths, pacer);
    } finally {
      clearInterval(timer);
    }
    // Hashing 15 M characters twice takes tens of milliseconds: it ran in several slices,
    // and timers fired in between.
    expect(pacer.yields).toBeGreaterThan(2);
    expect(ticks).toBeGreaterThan(0);
  });
});
