import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { openReplica } from '../helpers/replica.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

it('a file caught empty in the middle of an in-place save is read again, not recorded as deleted and re-inserted (chaos run, seed 11)', async () => {
  const root = tempDir();
  writeTree(root, { 'notes.txt': 'hello\n' });
  const { replica } = await openReplica(root, new MemoryStore());
  await replica.scan();
  // The save's truncate has happened, its write not yet, when the scan reads the file.
  writeFileSync(join(root, 'notes.txt'), '');
  const scanning = replica.scan();
  await new Promise((r) => setTimeout(r, 20));
  writeFileSync(join(root, 'notes.txt'), 'hello\nworld\n');
  const { recorded } = await scanning;
  expect(recorded.map((c) => [c.kind, c.path, c.inserted, c.deleted])).toEqual([['edit', 'notes.txt', 6, 0]]);
  const edits = (await replica.log({ path: 'notes.txt' })).filter((o) => o.kind === 'edit');
  expect(edits.map((o) => [o.inserted, o.deleted])).toEqual([[6, 0]]);

  // A file really emptied is recorded as such (after the short wait).
  writeFileSync(join(root, 'notes.txt'), '');
  await replica.scan();
  const after = (await replica.log({ path: 'notes.txt' })).filter((o) => o.kind === 'edit');
  expect(after.map((o) => [o.inserted, o.deleted])).toEqual([[0, 12], [6, 0]]);
  replica.close();
});
