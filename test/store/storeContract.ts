import { describe, expect, it } from 'vitest';
import type { KvStore } from '../../src/core/ports.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

/** The contract every {@link KvStore} implementation passes (run for LevelStore and MemoryStore). */
export function runStoreContract(name: string, setup: () => Promise<{ store: KvStore; reopen?: () => Promise<KvStore> }>): void {
  describe(`KvStore contract: ${name}`, () => {
    it('gets what was put and nothing else', async () => {
      const { store } = await setup();
      await store.put('a', enc('1'));
      expect(dec(await store.get('a'))).toBe('1');
      expect(await store.get('b')).toBeUndefined();
      expect((await store.getMany(['a', 'b'])).map(dec)).toEqual(['1', undefined]);
      expect(await store.hasMany(['b', 'a'])).toEqual([false, true]);
      expect(await store.hasMany([])).toEqual([]);
      await store.del('a');
      expect(await store.get('a')).toBeUndefined();
      await store.close();
    });

    it('applies batches of puts and deletes', async () => {
      const { store } = await setup();
      await store.batch([
        { type: 'put', key: 'x:1', value: enc('a') },
        { type: 'put', key: 'x:2', value: enc('b') },
        { type: 'put', key: 'y', value: enc('c') },
      ]);
      await store.batch([{ type: 'del', key: 'x:1' }, { type: 'put', key: 'x:3', value: enc('d') }]);
      const seen: string[] = [];
      for await (const [k, v] of store.iterate({ gte: 'x:', lt: 'x;' })) seen.push(`${k}=${dec(v)}`);
      expect(seen).toEqual(['x:2=b', 'x:3=d']);
      await store.close();
    });

    it('iterates in byte order, reversed and limited', async () => {
      const { store } = await setup();
      const keys = ['k:000002', 'k:000010', 'k:000001', 'j', 'l'];
      await store.batch(keys.map((key) => ({ type: 'put' as const, key, value: enc(key) })));
      const all: string[] = [];
      for await (const [k] of store.iterate({ gt: 'k:', lt: 'k;' })) all.push(k);
      expect(all).toEqual(['k:000001', 'k:000002', 'k:000010']);
      const rev: string[] = [];
      for await (const [k] of store.iterate({ gt: 'k:', lt: 'k;', reverse: true, limit: 2 })) rev.push(k);
      expect(rev).toEqual(['k:000010', 'k:000002']);
      const keysOnly: string[] = [];
      for await (const k of store.keys({ gt: 'k:', lt: 'k;', reverse: true, limit: 2 })) keysOnly.push(k);
      expect(keysOnly).toEqual(rev);
      await store.close();
    });

    it('does not let the caller change a stored value through its buffer', async () => {
      const { store } = await setup();
      const buf = enc('abc');
      await store.put('k', buf);
      buf[0] = 0x7a;
      expect(dec(await store.get('k'))).toBe('abc');
      await store.close();
    });

    it('reports a size that grows with data', async () => {
      const { store } = await setup();
      await store.put('big', new Uint8Array(100_000).fill(7));
      expect(await store.size()).toBeGreaterThan(0);
      await store.close();
    });

    it('keeps data across close and reopen', async () => {
      const { store, reopen } = await setup();
      if (!reopen) {
        // The memory twin has nothing to reopen; it must still reject use after close.
        await store.close();
        await expect(store.get('a')).rejects.toThrow();
        return;
      }
      await store.put('persist', enc('yes'));
      await store.close();
      const again = await reopen();
      expect(dec(await again.get('persist'))).toBe('yes');
      await again.close();
    });
  });
}
