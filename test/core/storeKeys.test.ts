/**
 * One owner for the replica store's keys: `storeKeys.ts` builds them, `ReplicaStore` (with
 * `StoredLog`) reads and writes the `KvStore`, and every write of a change goes through a named
 * `ChangeBatch` method that the store reads back under the same key.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ChangeBatch } from '../../src/core/ChangeBatch.js';
import type { OpEntry } from '../../src/core/history.js';
import { ReplicaStore } from '../../src/core/ReplicaStore.js';
import type { CachedStat } from '../../src/core/scanFiles.js';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { literalsOf, sourceFiles } from '../docs/sourceScan.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CORE = sourceFiles(ROOT, 'src/core');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** A literal that looks like a replica store key (as `test/docs/architecture.test.ts` finds them). */
const KEY_LIKE = /^[a-z]+:\S*$/;

/** Key literals outside `storeKeys.ts`, each with why. */
const ALLOWED: Record<string, string[]> = {
  'src/core/log.ts': ['cshare:<>'], // a debug namespace, not a key
};

describe('the store keys have one owner', () => {
  it('finds the files it checks', () => {
    expect(CORE).toContain('src/core/storeKeys.ts');
    expect(CORE.length).toBeGreaterThan(40);
  });

  it('no file of src/core but storeKeys.ts builds a store key', () => {
    const built = CORE.filter((f) => f !== 'src/core/storeKeys.ts').flatMap((file) =>
      literalsOf(file, read(file))
        .filter((l) => KEY_LIKE.test(l.text))
        .map((l) => ({ file, text: l.text })),
    );
    const strays = built.filter((b) => !(ALLOWED[b.file] ?? []).includes(b.text));
    expect(strays).toEqual([]);
    // The allowance does not outlive what it allows.
    for (const [file, texts] of Object.entries(ALLOWED)) expect(built.filter((b) => b.file === file).map((b) => b.text)).toEqual(texts);
  });

  it('no file of src/core but ReplicaStore.ts and StoredLog.ts calls the KvStore', () => {
    const calls = /\bkv\s*\.\s*(?:get|getMany|hasMany|put|del|batch|iterate|keys|size|close)\s*\(/;
    const callers = CORE.filter((f) => calls.test(read(f)));
    expect(callers.sort()).toEqual(['src/core/ReplicaStore.ts', 'src/core/StoredLog.ts']);
  });
});

describe('ChangeBatch writes read back through ReplicaStore', () => {
  const stat = (path: string): CachedStat => ({ size: path.length, mtimeMs: 1, ctimeMs: 2, ino: 3, mode: 0o100644, kind: 'text', digest: `d-${path}`, fileId: `id-${path}` });
  const op = (seq: number, replica: string): OpEntry => ({ seq, kind: 'edit', time: seq, author: 'a', replica, fileId: 'f1', path: 'a.txt', inserted: 1, deleted: 0, inverse: {} });

  it('stores each named write where its named read finds it, and drops what is dropped', async () => {
    const store = new ReplicaStore(new MemoryStore());
    const batch = new ChangeBatch();
    batch.putStat('a/b.txt', stat('a/b.txt'));
    batch.putStat('a/c.txt', stat('a/c.txt'));
    batch.putStat('ab.txt', stat('ab.txt'));
    batch.putOp(op(1, 'me'));
    batch.putOp(op(2, 'peer'));
    batch.putOp(op(3, 'me'));
    batch.markUndoable(1);
    batch.markUndoable(3);
    batch.pushStack('re', 2);
    batch.putTextDigest('f1', 'abc');
    batch.putRuleBaseline('.gitignore', 'x\n');
    batch.putInterrupted('n.txt', { fileId: 'f9', digest: 'd9' });
    batch.putHistorySeen('peer', 7);
    batch.putPriorMerge('f2', { into: 'f1', text: 'hi' });
    batch.putForwarded('f2', 4);
    batch.markForwardWaiting('f3');
    batch.putUnflushed(5, { boot: 'b', files: [] });
    batch.putVersions('f1', [{ d: 'x' }]);
    batch.putFileUpdate('f1', 3, 'edit', new Uint8Array([1]));
    batch.putFileUpdate('f1', 4, 'r000000', new Uint8Array([2]));
    batch.putManifestUpdate(3, new Uint8Array([3]));
    batch.putManifestUpdate(4, new Uint8Array([4]), 'r000000');
    batch.putSeq(4);
    batch.putLamport(9);
    await store.commit(batch);

    expect([...(await store.statCacheOf(['a'])).keys()]).toEqual(['a/b.txt', 'a/c.txt']);
    expect((await store.statsAt(['ab.txt'])).get('ab.txt')).toEqual(stat('ab.txt'));
    expect((await store.op(2))?.replica).toBe('peer');
    const mine: number[] = [];
    for await (const o of store.opsOf(['me'], { after: 0 })) mine.push(o.seq);
    expect(mine).toEqual([1, 3]);
    const undo: number[] = [];
    for await (const seq of store.stack('un')) undo.push(seq);
    expect(undo).toEqual([3, 1]);
    expect(await store.textDigests()).toEqual(new Map([['f1', 'abc']]));
    expect(await store.ruleBaselines()).toEqual(new Map([['.gitignore', 'x\n']]));
    expect(await store.interruptedWrites()).toEqual(new Map([['n.txt', { fileId: 'f9', digest: 'd9' }]]));
    expect(await store.historySeen('peer')).toBe(7);
    expect(await store.priorMerge('f2')).toEqual({ into: 'f1', text: 'hi' });
    expect(await store.forwarded('f2')).toBe(4);
    expect(await store.forwardsWaiting()).toEqual(['f3']);
    const notes: string[] = [];
    for await (const n of store.unflushedNotes()) notes.push(new TextDecoder().decode(n.value));
    expect(notes).toEqual(['{"boot":"b","files":[]}']);
    expect(await store.versions('f1')).toEqual([{ d: 'x' }]);
    expect(await store.ownFileUpdatesAfter('f1', 0)).toEqual([new Uint8Array([1])]);
    expect(await store.ownManifestUpdatesAfter(3)).toEqual([]);
    expect(await store.ownManifestUpdatesAfter(2)).toEqual([new Uint8Array([3])]);
    expect(await store.savedSeq()).toBe(4);
    expect(await store.savedLamport()).toBe(9);
    expect(await store.lastSeq()).toBe(3);
    expect(await store.hasFileLog('f1')).toBe(true);
    expect(await store.hasFileLog('f')).toBe(false);

    const drop = new ChangeBatch();
    drop.dropStat('a/b.txt');
    drop.dropFromStack('un', 3);
    drop.dropRuleBaseline('.gitignore');
    drop.dropInterrupted('n.txt');
    drop.dropForwardWaiting('f3');
    await store.commit(drop);
    expect([...(await store.statCache()).keys()]).toEqual(['a/c.txt', 'ab.txt']);
    const after: number[] = [];
    for await (const seq of store.stack('un')) after.push(seq);
    expect(after).toEqual([1]);
    expect((await store.ruleBaselines()).size).toBe(0);
    expect((await store.interruptedWrites()).size).toBe(0);
    expect(await store.forwardsWaiting()).toEqual([]);
  });

  it('a first join drops the CRDT state and the stacks, and keeps the stat cache and the log', async () => {
    const store = new ReplicaStore(new MemoryStore());
    const batch = new ChangeBatch();
    batch.putStat('a.txt', stat('a.txt'));
    batch.putOp(op(1, 'me'));
    batch.markUndoable(1);
    batch.putTextDigest('f1', 'abc');
    batch.putFileUpdate('f1', 1, 'edit', new Uint8Array([1]));
    batch.putManifestUpdate(1, new Uint8Array([3]));
    await store.commit(batch);
    const detach = new ChangeBatch();
    await store.stageDetach(detach);
    await store.commit(detach);
    expect((await store.manifestState()).count).toBe(0);
    expect(await store.hasFileLog('f1')).toBe(false);
    expect((await store.textDigests()).size).toBe(0);
    const undo: number[] = [];
    for await (const seq of store.stack('un')) undo.push(seq);
    expect(undo).toEqual([]);
    expect((await store.statCache()).has('a.txt')).toBe(true);
    expect((await store.op(1))?.seq).toBe(1);
  });
});
