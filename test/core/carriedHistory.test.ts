import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_CARRIED_PATCH_CHARS, type HistoryEntry } from '../../src/core/carriedHistory.js';
import type { Replica } from '../../src/core/Replica.js';
import { openReplica } from '../helpers/replica.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

async function all(r: Replica, since: number): Promise<HistoryEntry[]> {
  const out: HistoryEntry[] = [];
  for await (const e of r.ownHistory(since, r.seq)) out.push(e);
  return out;
}

const shown = (ops: { kind: string; path: string; author: string; time: number; inserted: number; deleted: number }[]) =>
  ops.map(({ kind, path, author, time, inserted, deleted }) => ({ kind, path, author, time, inserted, deleted }));

describe('history that travels with the changes', () => {
  it("records an author's entries as they were logged, each once, whatever is sent again", async () => {
    const rootA = tempDir();
    const { replica: alice } = await openReplica(rootA, undefined, 'alice');
    const { replica: bob } = await openReplica(tempDir(), undefined, 'bob');
    writeTree(rootA, { 'a.txt': 'one\n', 'b.bin': new Uint8Array([0, 1]) });
    await alice.scan();
    const first = await all(alice, -1);
    writeFileSync(join(rootA, 'a.txt'), 'one\ntwo\n');
    await alice.scan();
    const both = await all(alice, -1);
    expect(both.map((e) => `${e.kind} ${e.path}`)).toEqual(['create a.txt', 'create b.bin', 'edit a.txt']);

    expect(await bob.recordHistory(first, alice.identity.replicaId)).toBe(2);
    // A push that was not acknowledged goes again, with what came after it.
    expect(await bob.recordHistory(both, alice.identity.replicaId)).toBe(1);
    expect(await bob.recordHistory(both, alice.identity.replicaId)).toBe(0);
    // Its own entries, coming back, are not recorded twice.
    expect(await alice.recordHistory(both, alice.identity.replicaId)).toBe(0);
    expect(shown(await bob.log())).toEqual(shown(await alice.log()));
    expect((await bob.log()).every((op) => op.replica === alice.identity.replicaId)).toBe(true);
    // A small edit's patch travels with it.
    expect((await bob.log({ limit: 1 }))[0]!.patch).toEqual([{ pos: 4, del: '', ins: 'two\n' }]);
  });

  it('carries a small patch, and only says that a big one was left out', async () => {
    const root = tempDir();
    const { replica } = await openReplica(root, undefined, 'alice');
    writeTree(root, { 'a.txt': 'x\n' });
    await replica.scan();
    const since = replica.seq;
    writeFileSync(join(root, 'a.txt'), `x\n${'y'.repeat(MAX_CARRIED_PATCH_CHARS + 1)}\n`);
    await replica.scan();
    const [big] = await all(replica, since);
    expect(big).toMatchObject({ kind: 'edit', patchTruncated: true });
    expect(big!.patch).toBeUndefined();
    expect(big!.inserted).toBe(MAX_CARRIED_PATCH_CHARS + 2);
  });
});
