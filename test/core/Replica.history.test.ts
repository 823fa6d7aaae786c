import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { FileDoc } from '../../src/core/FileDoc.js';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { openReplica } from '../helpers/replica.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { applyPatches, loadTrace } from '../helpers/traces.js';

it('replays a real editing trace through scan (save, scan) and rebuilds it after a restart', async () => {
  const trace = loadTrace('sveltecomponent');
  const every = 60;
  const root2 = tempDir();
  writeTree(root2, { 'component.svelte': trace.startContent });
  const kv2 = new MemoryStore();
  const { replica: r2 } = await openReplica(root2, kv2);
  await r2.scan();
  const chars2 = Array.from(trace.startContent);
  for (let i = 0; i < trace.txns.length; i++) {
    applyPatches(chars2, trace.txns[i]!.patches);
    if (i % every === every - 1 || i === trace.txns.length - 1) {
      writeFileSync(join(root2, 'component.svelte'), chars2.join(''));
      const rep = await r2.scan();
      expect(rep.recorded.length).toBeLessThanOrEqual(1);
    }
  }
  expect(chars2.join('')).toBe(trace.endContent);
  r2.close();

  // A restart rebuilds the doc from the compacted log: its text is the trace's end.
  const { replica: again } = await openReplica(root2, kv2);
  const h = await again.fileHistory('component.svelte');
  const doc = FileDoc.load({ fileId: h.fileId, clientId: 7, updates: h.updates });
  expect(doc.text).toBe(trace.endContent);
  // The log kept every change even though the updates were compacted into a snapshot.
  const edits = (await again.log({ path: 'component.svelte' })).filter((o) => o.kind === 'edit');
  expect(edits.length).toBeGreaterThan(256);
  let updateKeys = 0;
  for await (const [key] of kv2.iterate({ gt: 'f:', lt: 'f;' })) if (key.includes(':u:')) updateKeys++;
  expect(updateKeys).toBeLessThan(256);
  // Undo still works on a compacted history.
  await again.undo();
  again.close();
});
