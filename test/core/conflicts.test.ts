import { appendFileSync, readFileSync, renameSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pair } from '../helpers/replicaPair.js';
import { writeTree } from '../helpers/tmp.js';

const read = (root: string, rel: string) => (existsSync(join(root, rel)) ? readFileSync(join(root, rel), 'utf8') : undefined);


describe('concurrent creates and deletes', () => {
  it('two creates of one text path merge as text, the same way on both sides, once', async () => {
    const { rootA, rootB, a, b, ab, ba } = await pair();
    writeTree(rootA, { 'base.txt': 'x\n' });
    await ab();
    await ba();
    writeTree(rootA, { 'n.md': 'from alice\n' });
    writeTree(rootB, { 'n.md': 'from bob\n' });
    await a.scan();
    await b.scan();
    // Both exchange, then exchange again what the merge produced.
    for (let i = 0; i < 3; i++) {
      await ab();
      await ba();
    }
    const text = read(rootA, 'n.md');
    expect(read(rootB, 'n.md')).toBe(text);
    expect(['from alice\nfrom bob\n', 'from bob\nfrom alice\n']).toContain(text);
    expect(a.drainNotices().notices.concat(b.drainNotices().notices).some((n) => n.kind === 'merged' && n.path === 'n.md')).toBe(true);
  });

  it('a file made here while a peer\'s file for its path was on the way is a create of its own, merged, not an edit of the peer\'s', async () => {
    const { rootA, rootB, a, b, ab, ba } = await pair();
    writeTree(rootA, { 'base.txt': 'x\n', 'a.md': 'old\n' });
    writeTree(rootB, { 'b.md': 'from bob\n' });
    await ab();
    await ba();
    await a.scan();
    const { upTo } = await a.changesSince(-1);
    // Alice renames a.md to n.md; Bob, at the same time, renames his b.md to n.md, and Alice's
    // change reaches him before any scan of his (the window between his last scan and the
    // apply): his n.md is kept, and recorded as the new half of his rename.
    renameSync(join(rootA, 'a.md'), join(rootA, 'n.md'));
    writeTree(rootA, { 'n.md': 'old\nalice edits\n' });
    await a.scan();
    renameSync(join(rootB, 'b.md'), join(rootB, 'n.md'));
    const { changes } = await a.changesSince(upTo);
    await b.applyChanges(changes, { replica: a.identity.replicaId, author: 'alice' }, { scanFirst: false });
    expect(read(rootB, 'n.md')).toContain('from bob');
    for (let i = 0; i < 3; i++) {
      await ab();
      await ba();
    }
    const text = read(rootA, 'n.md');
    expect(read(rootB, 'n.md')).toBe(text);
    expect(text).toContain('from bob\n');
    expect(text).toContain('alice edits\n');
    expect(read(rootB, 'b.md')).toBeUndefined();
    expect(read(rootA, 'b.md')).toBeUndefined();
  });

  it('an edit wins over a delete that did not see it; a delete that saw the edit stands', async () => {
    const { rootA, rootB, b, ab, ba } = await pair();
    writeTree(rootA, { 'f.txt': 'one\n', 'g.txt': 'g\n' });
    await ab();
    await ba();
    rmSync(join(rootA, 'f.txt'));
    appendFileSync(join(rootB, 'f.txt'), 'two (bob)\n');
    await b.scan();
    await ab(); // Alice's delete reaches Bob, who edited since: he puts the file back
    await ba(); // Bob's edit and his entry reach Alice
    expect(read(rootB, 'f.txt')).toBe('one\ntwo (bob)\n');
    expect(read(rootA, 'f.txt')).toBe('one\ntwo (bob)\n');
    // Alice, having seen the edit, deletes again: that stands.
    rmSync(join(rootA, 'f.txt'));
    await ab();
    await ba();
    expect(read(rootA, 'f.txt')).toBeUndefined();
    expect(read(rootB, 'f.txt')).toBeUndefined();
  });

  it('restore brings back a file a peer deleted, with its text, and undo PATH does too', async () => {
    const { rootA, rootB, b, ab, ba } = await pair();
    writeTree(rootA, { 'f.txt': 'keep\n', 'h.txt': 'h\n' });
    await ab();
    rmSync(join(rootA, 'f.txt'));
    await ab();
    expect(read(rootB, 'f.txt')).toBeUndefined();
    const r = await b.restore({ path: 'f.txt' });
    expect(r).toMatchObject({ kind: 'create', path: 'f.txt' });
    expect(read(rootB, 'f.txt')).toBe('keep\n');
    await ba();
    expect(read(rootA, 'f.txt')).toBe('keep\n');
    rmSync(join(rootA, 'h.txt'));
    await ab();
    await b.undo({ path: 'h.txt' });
    expect(read(rootB, 'h.txt')).toBe('h\n');
    await expect(b.restore({ path: 'h.txt' })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(b.restore({ path: 'nope.txt' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
