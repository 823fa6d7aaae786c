import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ManifestDoc } from '../../src/core/ManifestDoc.js';
import { COMPACT_AFTER } from '../../src/core/ReplicaContext.js';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { openReplica } from '../helpers/replica.js';
import { tempDir } from '../helpers/tmp.js';

const liveOf = (m: ManifestDoc) => [...m.live()].map(([path, { fileId, entry }]) => [path, fileId, entry.digest]).sort();

it('folds the manifest log into snapshot parts that rebuild it, and a first upload sends those stored pieces', async () => {
  const root = tempDir();
  const kv = new MemoryStore();
  const { replica } = await openReplica(root, kv);
  // One manifest update per scan: enough scans to compact twice.
  for (let i = 0; i < 2 * COMPACT_AFTER + 10; i++) {
    writeFileSync(join(root, `f${i % 300}.txt`), `version ${i}\n`);
    await replica.scan();
  }
  const keys: string[] = [];
  for await (const [key] of kv.iterate({ gt: 'm:', lt: 'm;' })) keys.push(key);
  const parts = keys.filter((k) => k.startsWith('m:sp:'));
  const logged = keys.filter((k) => k.startsWith('m:u:'));
  expect(parts.length).toBeGreaterThanOrEqual(1);
  expect(keys).not.toContain('m:snap');
  expect(logged.length).toBeLessThan(COMPACT_AFTER);

  const { changes } = await replica.outgoingSince(-1);
  expect(changes.manifest.length).toBe(parts.length + logged.length);
  const rebuilt = ManifestDoc.load(99, undefined, changes.manifest);
  const before = (replica as unknown as { ctx: { manifest: ManifestDoc } }).ctx.manifest;
  expect(liveOf(rebuilt)).toEqual(liveOf(before));
  expect(liveOf(rebuilt).length).toBe(300);
  replica.close();

  // A restart loads the parts and the log after them.
  const { replica: again } = await openReplica(root, kv);
  expect(liveOf((again as unknown as { ctx: { manifest: ManifestDoc } }).ctx.manifest)).toEqual(liveOf(rebuilt));
  again.close();
});

it('moves the single snapshot of an older store into the parts', async () => {
  const root = tempDir();
  const kv = new MemoryStore();
  const { replica } = await openReplica(root, kv);
  writeFileSync(join(root, 'a.txt'), 'a\n');
  await replica.scan();
  const m = (replica as unknown as { ctx: { manifest: ManifestDoc } }).ctx.manifest;
  const want = liveOf(m);
  replica.close();
  // An older store: everything in m:snap, no log.
  const ops = [{ type: 'put' as const, key: 'm:snap', value: m.snapshot() }];
  for await (const [key] of kv.iterate({ gt: 'm:u:', lt: 'm:u;' })) ops.push({ type: 'del', key } as never);
  await kv.batch(ops);
  const { replica: again } = await openReplica(root, kv);
  expect(liveOf((again as unknown as { ctx: { manifest: ManifestDoc } }).ctx.manifest)).toEqual(want);
  for (let i = 0; i < COMPACT_AFTER + 1; i++) {
    writeFileSync(join(root, `b${i}.txt`), `${i}\n`);
    await again.scan();
  }
  const keys: string[] = [];
  for await (const [key] of kv.iterate({ gt: 'm:', lt: 'm;' })) keys.push(key);
  expect(keys).not.toContain('m:snap');
  expect(keys.some((k) => k.startsWith('m:sp:'))).toBe(true);
  const { changes } = await again.outgoingSince(-1);
  const paths = liveOf(ManifestDoc.load(5, undefined, changes.manifest)).map((e) => e[0]);
  expect(paths.length).toBe(COMPACT_AFTER + 2);
  expect(paths).toContain('a.txt');
  again.close();
});
