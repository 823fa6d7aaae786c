import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { ManifestDoc, type ManifestEntry } from '../../src/core/ManifestDoc.js';
import { ScanScope, SCOPE_MAX_PATHS, scanWorktree } from '../../src/core/Scanner.js';
import { NodeFs } from '../../src/store/fs/NodeFs.js';
import { openReplica } from '../helpers/replica.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

const kinds = (recorded: { kind: string; path: string; from?: string }[]) => recorded.map((c) => `${c.kind} ${c.from ? `${c.from} -> ` : ''}${c.path}`).sort();

describe('ScanScope', () => {
  it('covers its paths and what is under them, and leads a walk through their parents', () => {
    const s = new ScanScope(['a/b/c.txt', 'd']);
    expect(['a/b/c.txt', 'd', 'd/e/f.txt'].map((p) => s.covers(p))).toEqual([true, true, true]);
    expect(['a/b', 'a/b/c.txt.bak', 'dd', 'x'].map((p) => s.covers(p))).toEqual([false, false, false, false]);
    expect(['a', 'a/b', 'd', 'a/b/c.txt'].map((p) => s.leadsTo(p))).toEqual([true, true, false, false]);
  });

  it('is the whole tree for a burst too big to trust, the root, or a file of rules', () => {
    expect(ScanScope.ofChanges(['a.txt', 'd/b.txt'])?.list().sort()).toEqual(['a.txt', 'd/b.txt']);
    expect(ScanScope.ofChanges(Array.from({ length: SCOPE_MAX_PATHS + 1 }, (_, i) => `f${i}`))).toBeUndefined();
    expect(ScanScope.ofChanges([])).toBeUndefined();
    expect(ScanScope.ofChanges(['a.txt', ''])).toBeUndefined();
    for (const rules of ['.gitignore', 'd/.gitignore', 'd/.cshareignore', '.cshareinclude', 'x/.gitattributes']) expect(ScanScope.ofChanges(['a.txt', rules])).toBeUndefined();
  });
});

describe('a scan of a scope', () => {
  it('lists only the files in scope, with the ignore rules of the directories above them', () => {
    const root = tempDir();
    writeTree(root, { '.gitignore': '*.log\n', 'a.txt': 'a', 'd/b.txt': 'b', 'd/x.log': 'log', 'd/e/c.txt': 'c', 'other/o.txt': 'o', 'd/.hid.cshare-tmp-0123456789ab': 'left' });
    const fs = new NodeFs(root);
    const scan = scanWorktree({ fs, statCache: new Map(), scope: new ScanScope(['d', 'a.txt', 'gone.txt']) });
    expect(scan.files.map((f) => f.path)).toEqual(['a.txt', 'd/b.txt', 'd/e/c.txt']);
    expect(scan.leftovers).toEqual(['d/.hid.cshare-tmp-0123456789ab']);
    const one = scanWorktree({ fs, statCache: new Map(), scope: new ScanScope(['d/x.log', 'd/e/c.txt']) });
    expect(one.files.map((f) => f.path)).toEqual(['d/e/c.txt']);
    expect(one.leftovers).toEqual([]);
  });

  it('records the edits in scope only; the files outside it wait for a scan that covers them', async () => {
    const root = tempDir();
    writeTree(root, { 'a.txt': 'alpha\n', 'b.txt': 'beta\n', 'd/c.txt': 'gamma\n', 'z.txt': 'zed\n' });
    const { replica } = await openReplica(root);
    await replica.scan();

    writeFileSync(join(root, 'a.txt'), 'alpha two\n');
    writeFileSync(join(root, 'd/c.txt'), 'gamma two\n');
    writeFileSync(join(root, 'b.txt'), 'beta two\n');
    rmSync(join(root, 'z.txt'));
    writeTree(root, { 'd/new.txt': 'new\n' });
    expect(kinds((await replica.scan({ scope: new ScanScope(['a.txt', 'd']) })).recorded)).toEqual(['create d/new.txt', 'edit a.txt', 'edit d/c.txt']);
    expect(kinds((await replica.scan({ scope: new ScanScope(['a.txt']) })).recorded)).toEqual([]);
    // Out of scope: neither recorded nor touched (not written back, not overwritten).
    expect(existsSync(join(root, 'z.txt'))).toBe(false);
    expect(readFileSync(join(root, 'b.txt'), 'utf8')).toBe('beta two\n');

    // The full scan finds what no scope covered, and nothing twice.
    expect(kinds((await replica.scan()).recorded)).toEqual(['delete z.txt', 'edit b.txt']);
    expect((await replica.scan()).recorded).toEqual([]);
  });

  it('scans the whole tree when a file in scope is gone or a new one copies one outside: a move stays a rename', async () => {
    const root = tempDir();
    writeTree(root, { 'a.txt': 'alpha\n', 'b.txt': 'beta\n', 'm.txt': 'move me\n', 'n.txt': 'me too\n', 'd/c.txt': 'gamma\n' });
    const { replica } = await openReplica(root);
    await replica.scan();

    // Moved out of the scope: the scope sees only the file gone.
    writeFileSync(join(root, 'b.txt'), 'beta two\n');
    renameSync(join(root, 'm.txt'), join(root, 'd/m.txt'));
    expect(kinds((await replica.scan({ scope: new ScanScope(['m.txt']) })).recorded)).toEqual(['edit b.txt', 'rename m.txt -> d/m.txt']);

    // Moved into the scope: the scope sees only a new file, with the content of one outside.
    renameSync(join(root, 'n.txt'), join(root, 'd/n.txt'));
    expect(kinds((await replica.scan({ scope: new ScanScope(['d/n.txt']) })).recorded)).toEqual(['rename n.txt -> d/n.txt']);

    // A directory removed: every file in it is gone.
    rmSync(join(root, 'd'), { recursive: true });
    expect(kinds((await replica.scan({ scope: new ScanScope(['d']) })).recorded)).toEqual(['delete d/c.txt', 'delete d/m.txt', 'delete d/n.txt']);
    expect((await replica.scan()).recorded).toEqual([]);
  });

  it('does not take a file whose content has not arrived yet for one that is gone', async () => {
    const rootA = tempDir();
    const rootB = tempDir();
    writeTree(rootA, { 'y.txt': 'why\n', 'bin.dat': new Uint8Array([0, 1, 2]) });
    const { replica: a } = await openReplica(rootA, undefined, 'alice');
    const { replica: b } = await openReplica(rootB, undefined, 'bob');
    await a.scan();
    const { changes } = await a.changesSince(-1);
    const binary = changes.blobs.find((x) => x.bytes.length === 3)!;
    await b.applyChanges({ ...changes, blobs: changes.blobs.filter((x) => x !== binary) }, { replica: a.identity.replicaId, author: 'alice' });
    expect(existsSync(join(rootB, 'bin.dat'))).toBe(false);
    writeFileSync(join(rootB, 'y.txt'), 'why not\n');
    // Not a delete, and no reason to scan the whole tree: y.txt waits for its own scan.
    expect((await b.scan({ scope: new ScanScope(['bin.dat']) })).recorded).toEqual([]);
    expect(kinds((await b.scan()).recorded)).toEqual(['edit y.txt']);
  });

  it('of a file that was replaced by a directory (or the reverse) records both sides', async () => {
    const root = tempDir();
    writeTree(root, { 'p': 'a file\n', 'q/inner.txt': 'inner\n' });
    const { replica } = await openReplica(root);
    await replica.scan();
    rmSync(join(root, 'p'));
    writeTree(root, { 'p/child.txt': 'child\n' });
    rmSync(join(root, 'q'), { recursive: true });
    writeFileSync(join(root, 'q'), 'now a file\n');
    expect(kinds((await replica.scan({ scope: new ScanScope(['p', 'q']) })).recorded)).toEqual(['create p/child.txt', 'create q', 'delete p', 'delete q/inner.txt']);
    expect((await replica.scan()).recorded).toEqual([]);
  });
});

describe('the paths a manifest update touches', () => {
  const entry = (path: string, lamport: number): ManifestEntry => ({ path, kind: 'text', mode: 0o100644, digest: 'd', size: 1, base: 'd', lamport, by: 'r' });

  it('are the path each entry has now and the one it gets, read without applying the update', () => {
    const a = ManifestDoc.create(1);
    const b = ManifestDoc.create(2);
    b.applyUpdate(a.change((set) => set('f1', entry('x.txt', 1)))!);
    const created = a.change((set) => set('f2', entry('new/n.txt', 2)))!;
    expect([...b.pathsTouchedBy(created)!]).toEqual(['new/n.txt']);
    b.applyUpdate(created);
    // Set again: the item names the one it follows, not its key.
    const moved = a.change((set) => {
      set('f1', entry('z.txt', 3));
      set('f2', entry('new/m.txt', 4));
    })!;
    expect([...b.pathsTouchedBy(moved)!].sort()).toEqual(['new/m.txt', 'new/n.txt', 'x.txt', 'z.txt']);
    expect(b.get('f1')!.path).toBe('x.txt'); // not applied
    // Set twice in one update: the second names the first, which is in the update.
    const twice = ManifestDoc.create(3);
    twice.applyUpdate(a.snapshot());
    const u1 = a.change((set) => set('f1', entry('w1.txt', 5)))!;
    const u2 = a.change((set) => set('f1', entry('w2.txt', 6)))!;
    expect([...twice.pathsTouchedBy(Y.mergeUpdates([u1, u2]))!].sort()).toEqual(['w1.txt', 'w2.txt', 'z.txt']);
  });

  it('cannot be told from garbage, or from an update following items this doc lacks', () => {
    const a = ManifestDoc.create(1);
    a.change((set) => set('f1', entry('x.txt', 1)));
    const again = a.change((set) => set('f1', entry('y.txt', 2)))!;
    expect(ManifestDoc.create(2).pathsTouchedBy(again)).toBeUndefined();
    expect(ManifestDoc.create(2).pathsTouchedBy(new Uint8Array([1, 2, 3, 250, 7]))).toBeUndefined();
    // Unsafe paths are left out (the apply refuses them anyway).
    expect([...ManifestDoc.create(2).pathsTouchedBy(ManifestDoc.create(3).change((set) => set('f9', entry('../up.txt', 1)))!)!]).toEqual([]);
  });
});

describe('the scan before an apply', () => {
  it('covers the paths the apply touches: local edits there are recorded and merged, the others wait for their own scan', async () => {
    const rootA = tempDir();
    const rootB = tempDir();
    writeTree(rootA, { 'x.txt': 'one\ntwo\nthree\n', 'y.txt': 'why\n', 'r.txt': 'rename me\n' });
    const { replica: a } = await openReplica(rootA, undefined, 'alice');
    const { replica: b } = await openReplica(rootB, undefined, 'bob');
    let since = -1;
    const ab = async () => {
      await a.scan();
      const { changes, upTo } = await a.changesSince(since);
      since = upTo;
      return b.applyChanges(changes, { replica: a.identity.replicaId, author: 'alice' });
    };
    await ab();
    await b.scan();

    // Bob edits x.txt and y.txt and creates z.txt; none is recorded yet. Alice edits x.txt,
    // renames r.txt onto z.txt and creates n.txt where bob also has a new file.
    writeFileSync(join(rootB, 'x.txt'), 'one\ntwo\nthree\nfour (bob)\n');
    writeFileSync(join(rootB, 'y.txt'), 'why not (bob)\n');
    writeFileSync(join(rootB, 'z.txt'), 'bob at z\n');
    writeFileSync(join(rootB, 'n.txt'), 'bob at n\n');
    writeFileSync(join(rootA, 'x.txt'), 'zero (alice)\none\ntwo\nthree\n');
    renameSync(join(rootA, 'r.txt'), join(rootA, 'z.txt'));
    writeFileSync(join(rootA, 'n.txt'), 'alice at n\n');
    await ab();

    expect(readFileSync(join(rootB, 'x.txt'), 'utf8')).toBe('zero (alice)\none\ntwo\nthree\nfour (bob)\n');
    const own = (await b.log()).filter((o) => o.author === 'bob').map((o) => `${o.kind} ${o.path}`).sort();
    // n.txt: Bob's create lost the path to Alice's, so Bob appended his text to hers (a merge
    // of concurrent creates, see createConflicts.ts).
    expect(own).toEqual(['create n.txt', 'create z.txt', 'edit n.txt', 'edit x.txt']);
    expect(readFileSync(join(rootB, 'n.txt'), 'utf8')).toBe('alice at n\nbob at n\n');
    // Bob's own files at z.txt and n.txt are in his history whichever entry shows there.
    for (const path of ['z.txt', 'n.txt']) expect((await b.log({ path })).some((o) => o.author === 'bob' && o.kind === 'create')).toBe(true);
    // y.txt was not in the apply's way: untouched on disk and recorded by the next scan.
    expect(readFileSync(join(rootB, 'y.txt'), 'utf8')).toBe('why not (bob)\n');
    expect((await b.scan()).recorded.map((c) => `${c.kind} ${c.path}`)).toEqual(['edit y.txt']);
  });

  it('of a file the user moved away (not recorded yet) finds the move, and the remote edit follows the file', async () => {
    const rootA = tempDir();
    const rootB = tempDir();
    writeTree(rootA, { 'x.txt': 'one\ntwo\n', 'other.txt': 'o\n' });
    const { replica: a } = await openReplica(rootA, undefined, 'alice');
    const { replica: b } = await openReplica(rootB, undefined, 'bob');
    await a.scan();
    const first = await a.changesSince(-1);
    await b.applyChanges(first.changes, { replica: a.identity.replicaId, author: 'alice' });
    mkdirSync(join(rootB, 'moved'));
    renameSync(join(rootB, 'x.txt'), join(rootB, 'moved/x.txt'));
    writeFileSync(join(rootA, 'x.txt'), 'one\ntwo\nthree (alice)\n');
    await a.scan();
    await b.applyChanges((await a.changesSince(first.upTo)).changes, { replica: a.identity.replicaId, author: 'alice' });
    expect(existsSync(join(rootB, 'x.txt'))).toBe(false);
    expect(readFileSync(join(rootB, 'moved/x.txt'), 'utf8')).toBe('one\ntwo\nthree (alice)\n');
    expect((await b.log()).filter((o) => o.author === 'bob').map((o) => `${o.kind} ${o.from} -> ${o.path}`)).toEqual(['rename x.txt -> moved/x.txt']);
  });
});
