import * as Y from 'yjs';
import { describe, expect, it } from 'vitest';
import { Prng } from '../../../src/sync/prng.js';
import { isDeleted, scanUpdate } from '../../../src/sync/relay/updateScan.js';
import { tinyStructs } from '../../helpers/yjsUpdates.js';
import { mutate, testSeed } from '../helpers.js';

/** A doc with every kind of content Yjs encodes, edited by several clients, with deletions. */
function richUpdates(rng: Prng): Uint8Array[] {
  const docs = [1, 2, 3].map((client) => {
    const d = new Y.Doc({ gc: rng.chance(0.5) });
    d.clientID = client * 1000 + rng.int(1000);
    return d;
  });
  const updates: Uint8Array[] = [];
  for (let step = 0; step < 40; step++) {
    const d = rng.pick(docs);
    const t = d.getText('t');
    const m = d.getMap<unknown>('m');
    const a = d.getArray<unknown>('a');
    const before = Y.encodeStateVector(d);
    d.transact(() => {
      switch (rng.int(9)) {
        case 0:
          t.insert(rng.int(t.length + 1), rng.pick(['x', 'héllo', '😀 wide', 'line\n']));
          break;
        case 1:
          if (t.length > 0) t.delete(rng.int(t.length), 1 + rng.int(3));
          break;
        case 2:
          m.set(`k${rng.int(5)}`, { path: `src/f${rng.int(9)}.ts`, size: rng.int(1e6), deleted: rng.chance(0.2), tags: ['a', null, 1.5, true], bin: Uint8Array.of(1, 2) });
          break;
        case 3:
          m.delete(`k${rng.int(5)}`);
          break;
        case 4:
          a.insert(Math.min(a.length, rng.int(3)), [1, 'two', { three: [3] }, null]);
          break;
        case 5:
          t.format(0, Math.min(2, t.length), { bold: true });
          t.insertEmbed(0, { image: 'x.png' });
          break;
        case 6:
          m.set(`n${rng.int(3)}`, new Y.Map());
          a.push([new Y.Text('sub'), new Y.XmlElement('p'), new Y.XmlText('q')]);
          break;
        case 7:
          a.push([new Y.Doc({ guid: `sub${rng.int(99)}` })]);
          d.getArray('json').insert(0, [new Uint8Array([9])]);
          break;
        default:
          if (a.length > 0) a.delete(0, 1);
      }
    });
    updates.push(Y.encodeStateAsUpdate(d, before));
    // Spread some updates to the other docs, so later ones build on other clients' items.
    const other = rng.pick(docs);
    if (other !== d) Y.applyUpdate(other, Y.encodeStateAsUpdate(d, Y.encodeStateVector(other)));
  }
  updates.push(Y.mergeUpdates(updates.slice(0, 20)), ...docs.map((d) => Y.encodeStateAsUpdate(d)));
  return updates;
}

describe('scanUpdate', () => {
  it('finds what Yjs decodes: the clock ranges, every JSON and Any value, the delete set', async () => {
    const seed = testSeed(0x5ca9);
    const rng = new Prng(seed);
    let compared = 0;
    for (let round = 0; round < 12; round++) {
      for (const u of richUpdates(rng)) {
        const scan = await scanUpdate(u, { what: 'an update', values: true });
        const meta = Y.parseUpdateMeta(u);
        expect(scan.from, `seed ${seed}`).toEqual(meta.from);
        expect(scan.to, `seed ${seed}`).toEqual(meta.to);
        const { structs, ds } = Y.decodeUpdate(u);
        const values: { client: number; clock: number; value: unknown }[] = [];
        for (const s of structs) {
          if (!(s instanceof Y.Item)) continue;
          const arr = s.content instanceof Y.ContentAny ? s.content.arr : s.content instanceof Y.ContentJSON ? s.content.arr : undefined;
          arr?.forEach((value, i) => values.push({ client: s.id.client, clock: s.id.clock + i, value }));
          for (let i = 0; i < s.length; i++) {
            expect(isDeleted(scan.deletes, s.id.client, s.id.clock + i), `seed ${seed}`).toBe(Y.isDeleted(ds, Y.createID(s.id.client, s.id.clock + i)));
          }
        }
        // Binary values are counted, not kept (the relay never looks into them).
        const strip = (v: unknown): unknown => (v instanceof Uint8Array ? new Uint8Array(0) : Array.isArray(v) ? v.map(strip) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, strip(x)])) : v);
        expect(scan.values, `seed ${seed}`).toEqual(values.map((v) => ({ ...v, value: strip(v.value) })));
        expect(scan.units).toBeGreaterThanOrEqual(structs.length);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(500);
  });

  it('accepts nothing Yjs could not decode: mutated updates scan only if Yjs decodes them', async () => {
    const seed = testSeed(0xbadd);
    const rng = new Prng(seed);
    let accepted = 0;
    let refused = 0;
    const valid = richUpdates(rng);
    for (let i = 0; i < 5000; i++) {
      const bad = mutate(rng, rng.pick(valid));
      let ok = true;
      try {
        await scanUpdate(bad, { what: 'an update', values: rng.chance(0.5) });
      } catch (err) {
        expect(err, `seed ${seed} case ${i}`).toMatchObject({ code: 'PROTOCOL' });
        ok = false;
      }
      if (!ok) {
        refused++;
        continue;
      }
      accepted++;
      expect(() => Y.decodeUpdate(bad), `seed ${seed} case ${i}: ${Buffer.from(bad).toString('hex').slice(0, 200)}`).not.toThrow();
    }
    expect(accepted).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(1000);
  });

  it('refuses an update that decodes to too many structs before building any (the 13 MiB attack)', async () => {
    const update = tinyStructs(2_300_000);
    expect(update.length).toBeGreaterThan(12 * 1024 * 1024);
    const before = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    await expect(scanUpdate(update, { what: 'a file update' })).rejects.toMatchObject({ code: 'TOO_LARGE', message: expect.stringMatching(/more than 200000 structs/) });
    // Stopped at the bound: a small part of the update was read, nothing was kept.
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(32 * 1024 * 1024);
    // Under a bound above its size, it is valid (Yjs decodes it too).
    const small = tinyStructs(1000);
    await expect(scanUpdate(small, { what: 'a file update' })).resolves.toMatchObject({ units: 1000 });
    expect(Y.decodeUpdate(small).structs).toHaveLength(1000);
  });
});
