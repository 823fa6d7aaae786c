import { describe, expect, it } from 'vitest';
import { Replica } from '../../../src/core/Replica.js';
import { MemoryStore } from '../../../src/store/memory/MemoryStore.js';
import { MemFs } from '../../helpers/MemFs.js';
import { FuzzFs, ProcFs } from '../../fuzz/FuzzFs.js';
import { link, localSide, textOf, type Side } from './harness.js';

const enc = new TextEncoder();
const text = (fs: MemFs, path: string) => textOf(fs, path) ?? '';
/** A replica named `name` over `fs` (a plain in-memory worktree unless given) and a memory store. */
const side = (name: string, fs?: MemFs) => localSide(name, fs);

/** Every link, in order, `n` times; resolves with whether the last round sent nothing. */
async function rounds(links: (() => Promise<boolean>)[], n: number): Promise<boolean> {
  let quiet = false;
  for (let i = 0; i < n; i++) {
    quiet = true;
    for (const l of links) if (await l()) quiet = false;
  }
  return quiet;
}

/** How many lines of `whole` are `line`. */
const count = (whole: string, line: string) => whole.split('\n').filter((l) => l === line).length;

describe('files created at once on several replicas (convergence fuzz)', () => {
  // Seeds 100 and 347: replicas that had edited the file merged away took the merge for a
  // delete of their edit and put the file back; it won the path again and was merged again,
  // and the replicas never went quiet. Seed 146: with a third create, a text came out twice.
  it('a file merged into another is not put back by a replica that edited it: its edit is added once, and the replicas go quiet', async () => {
    const [a, b, c] = await Promise.all([side('alice'), side('bob'), side('carol')]);
    const sides = [a, b, c];
    const all = [link(a, b), link(a, c), link(b, a), link(b, c), link(c, a), link(c, b)];
    a.fs.writeFile('base.txt', enc.encode('base\n'));
    await rounds(all, 2);

    // Three creates of n.txt; lamport times order them bob < alice < carol (the later wins the
    // path): alice and carol record other files first.
    a.fs.writeFile('a1.txt', enc.encode('1\n'));
    await a.replica.scan();
    for (const f of ['c1.txt', 'c2.txt', 'c3.txt']) {
      c.fs.writeFile(f, enc.encode('1\n'));
      await c.replica.scan();
    }
    for (const s of sides) s.fs.writeFile('n.txt', enc.encode(`from ${s.name}\n`));
    await Promise.all(sides.map((s) => s.replica.scan()));
    // Bob sees alice's file win and merges his text into it; alice then sees carol's win and
    // merges hers (without bob's merge) into carol's: bob's edit of alice's file is one the
    // merge did not see.
    await link(a, b)();
    await link(c, a)();
    await link(a, b)();
    expect(await rounds(all, 8)).toBe(true);
    const final = text(a.fs, 'n.txt');
    for (const s of sides) expect(text(s.fs, 'n.txt')).toBe(final);
    for (const line of ['from alice', 'from bob', 'from carol']) expect(count(final, line)).toBe(1);
  });

  // Seed 1: a file made while a first join caught up without a scan was found at the path of a
  // shared file and left alone; the next scan took it for an edit of the shared file and
  // replaced the peer's text everywhere.
  it('a file found at a shared path that this replica never held is recorded as a file of its own and merged, not as an edit', async () => {
    const [a, b] = await Promise.all([side('alice'), side('bob')]);
    a.fs.writeFile('n.txt', enc.encode('from alice\n'));
    await b.replica.detachLocalFiles();
    b.fs.writeFile('n.txt', enc.encode('from bob\n'));
    // The first catch-up of a join applies without a scan: bob's file is kept, and recorded
    // (by the apply's rescan, or the next scan) as bob's new file, not as an edit of alice's.
    await link(a, b, { scanFirst: false })();
    expect(text(b.fs, 'n.txt')).toBe('from bob\n');
    await b.replica.scan();
    const log = await b.replica.log({ path: 'n.txt' });
    expect(log.filter((op) => op.author === 'bob').map((op) => op.kind)).toEqual(['create']);
    expect(await rounds([link(a, b), link(b, a)], 4)).toBe(true);
    for (const s of [a, b]) {
      expect(count(text(s.fs, 'n.txt'), 'from alice')).toBe(1);
      expect(count(text(s.fs, 'n.txt'), 'from bob')).toBe(1);
    }
  });

  // Seed 42 (creates): the same, with the local file equal to the shared file's first text.
  // The apply left it and noted nothing, so a scan compared it with that first text, found it
  // unchanged, and the replica kept it for good while everyone else had the file's later text.
  it('a file kept at a shared path is compared with what the shared file holds now, not with its first text', async () => {
    const [a, b] = await Promise.all([side('alice'), side('bob')]);
    a.fs.writeFile('n.txt', enc.encode('first\n'));
    await a.replica.scan();
    a.fs.writeFile('n.txt', enc.encode('first\nalice\n'));
    await b.replica.detachLocalFiles();
    b.fs.writeFile('n.txt', enc.encode('first\n'));
    const ab = link(a, b, { scanFirst: false });
    await ab();
    expect(text(b.fs, 'n.txt')).toBe('first\n');
    // Nothing more of n.txt comes from alice: bob's own scans must find the difference.
    expect(await rounds([ab, link(b, a)], 4)).toBe(true);
    expect(text(b.fs, 'n.txt')).toBe(text(a.fs, 'n.txt'));
    expect(count(text(a.fs, 'n.txt'), 'alice')).toBe(1);
  });

  // The other side of the rule above: a file this replica wrote, replaced by a save at once
  // (the write's stat could not vouch for it), is still the shared file, and the save an edit.
  it('a save that replaced a file right after an apply wrote it is an edit of that file, not a file of its own', async () => {
    const a = await side('alice');
    const fs = new FuzzFs('/mem/bob', { now: 1_000_000_000_000 });
    const b = await side('bob', fs);
    a.fs.writeFile('n.txt', enc.encode('one\n'));
    const ab = link(a, b);
    await ab();
    a.fs.writeFile('n.txt', enc.encode('one\nalice\n'));
    fs.hook = (point, rel) => {
      if (point !== 'placed' || rel !== 'n.txt') return undefined;
      fs.hook = undefined;
      fs.writeFile(rel, enc.encode(`${text(fs, rel)}bob\n`)); // by rename: a new file
      return undefined;
    };
    await ab();
    expect(text(fs, 'n.txt')).toBe('one\nalice\nbob\n');
    const log = await b.replica.log({ path: 'n.txt' });
    expect(log.map((op) => op.kind)).toEqual(['edit', 'edit', 'create']);
    expect(b.replica.fileCount()).toBe(1);
  });

  // Seeds 40 and 97: a save of the file a replica's disk still showed, after another file
  // created at once took its path but before that file's content arrived, was recorded as a
  // third file at the path, and the texts came out twice.
  it('a save of a file that lost its path, made before the winner arrived, is an edit of that file', async () => {
    const [a, b] = await Promise.all([side('alice'), side('bob')]);
    a.fs.writeFile('other.txt', enc.encode('1\n'));
    await a.replica.scan();
    a.fs.writeFile('n.txt', enc.encode('from alice\n'));
    await a.replica.scan();
    b.fs.writeFile('n.txt', enc.encode('from bob\n'));
    await b.replica.scan();
    // Bob learns of alice's n.txt (it wins the path), not yet its content.
    const { changes } = await a.replica.changesSince(-1);
    await b.replica.applyChanges({ manifest: changes.manifest, files: [], blobs: [] }, { replica: a.replica.identity.replicaId, author: 'alice' });
    expect(text(b.fs, 'n.txt')).toBe('from bob\n');
    b.fs.writeFile('n.txt', enc.encode('from bob\nbob again\n'));
    const { recorded } = await b.replica.scan();
    expect(recorded.map((r) => `${r.kind} ${r.path}`)).toEqual(['edit n.txt']);
    expect(await rounds([link(a, b), link(b, a)], 5)).toBe(true);
    for (const s of [a, b]) {
      const final = text(s.fs, 'n.txt');
      for (const line of ['from alice', 'from bob', 'bob again']) expect(count(final, line)).toBe(1);
    }
  });

  // Seeds 28 and 59: a save that landed while an apply replaced the file that lost its path
  // with the one that won was recorded as an edit of the winner: its text (the loser's) replaced
  // the winner's everywhere. Seed 31: a save that landed while the merged text was written back
  // was taken as an edit of the merged text (no version of what the disk showed was noted), and
  // undid the merge.
  for (const when of ['before the apply writes', 'while the merge is written back'] as const) {
    it(`a save made on a file that lost its path to one created at once keeps every text (${when})`, async () => {
      const a = await side('alice');
      const fs = new FuzzFs('/mem/bob', { now: 1_000_000_000_000 });
      const b = await side('bob', fs);
      // Alice's n.txt wins (she records another file first: a later lamport time).
      a.fs.writeFile('other.txt', enc.encode('1\n'));
      await a.replica.scan();
      a.fs.writeFile('n.txt', enc.encode('from alice\n'));
      await a.replica.scan();
      fs.writeFile('n.txt', enc.encode('from bob\n'));
      await b.replica.scan();
      let exchanges = 0;
      fs.hook = (point, rel) => {
        if (point !== 'exchange' || rel !== 'n.txt' || (when === 'while the merge is written back' && ++exchanges < 2)) return undefined;
        fs.hook = undefined;
        // Bob appends to what his editor shows: his file, or alice's once it was written.
        fs.writeFile(rel, enc.encode(`${text(fs, rel)}bob again\n`));
        return undefined;
      };
      expect(await rounds([link(a, b), link(b, a)], 5)).toBe(true);
      for (const s of [a, b]) {
        const final = text(s.fs, 'n.txt');
        for (const line of ['from alice', 'from bob', 'bob again']) expect(count(final, line)).toBe(1);
      }
    });
  }

  // Seeds 346 and 3125: a writer that had the losing file open wrote into it just after the
  // apply replaced it with the winner (a late save, handed over by the write): recorded as an
  // edit of the winner, it replaced the winner's text.
  it('a late save into a file that an apply replaced with the one created at once is an edit of the replaced file', async () => {
    const a = await side('alice');
    const disk = new FuzzFs('/mem/bob', { now: 1_000_000_000_000 });
    const fs = new ProcFs(disk, { guarded: true, later: (fn) => fn(), onLost: () => expect.unreachable('no process crashed') });
    const b: Side = { name: 'bob', fs: disk, replica: await Replica.open({ fs, kv: new MemoryStore(), env: { USER: 'bob' }, home: '/mem/home' }) };
    a.fs.writeFile('other.txt', enc.encode('1\n'));
    await a.replica.scan();
    a.fs.writeFile('n.txt', enc.encode('from alice\n'));
    await a.replica.scan();
    disk.writeFile('n.txt', enc.encode('from bob\n'));
    await b.replica.scan();
    let late = false;
    disk.hook = (point, rel, old) => {
      if (point !== 'oldInode' || rel !== 'n.txt' || late) return undefined;
      late = true;
      return enc.encode(`${new TextDecoder().decode(old)}bob late\n`);
    };
    expect(await rounds([link(a, b), link(b, a)], 5)).toBe(true);
    expect(late).toBe(true);
    for (const s of [a, b]) {
      const final = text(s.fs, 'n.txt');
      for (const line of ['from alice', 'from bob', 'bob late']) expect(count(final, line)).toBe(1);
    }
  });

  // Seed 3000126: the file that lost its path stayed on bob's disk (the winner's content was
  // not there yet) while edits of it arrived; a save made on what the disk showed landed as the
  // winner was written. Recorded against the loser's doc as if the disk had shown its text now,
  // it deleted the edits that had arrived, and only scraps of the save were forwarded.
  it('a save made on an older text of a file that lost its path, found as the winner is written, keeps every text', async () => {
    const [a, c] = await Promise.all([side('alice'), side('carol')]);
    const fs = new FuzzFs('/mem/bob', { now: 1_000_000_000_000 });
    const b = await side('bob', fs);
    // Carol's n.txt wins the path (she records another file first: a later lamport time).
    c.fs.writeFile('other.txt', enc.encode('1\n'));
    await c.replica.scan();
    c.fs.writeFile('n.txt', enc.encode('from carol\n'));
    await c.replica.scan();
    a.fs.writeFile('n.txt', enc.encode('from alice\n'));
    const ab = link(a, b);
    await ab();
    expect(text(fs, 'n.txt')).toBe('from alice\n');
    // Bob learns of carol's n.txt, not yet its content; then of alice's edit of hers.
    const { changes } = await c.replica.changesSince(-1);
    await b.replica.applyChanges({ manifest: changes.manifest, files: [], blobs: [] }, { replica: c.replica.identity.replicaId, author: 'carol' });
    a.fs.writeFile('n.txt', enc.encode('from alice\nalice more\n'));
    await ab();
    expect(text(fs, 'n.txt')).toBe('from alice\n');
    fs.hook = (point, rel) => {
      if (point !== 'exchange' || rel !== 'n.txt') return undefined;
      fs.hook = undefined;
      fs.writeFile(rel, enc.encode(`${text(fs, rel)}bob again\n`));
      return undefined;
    };
    const sides = [a, b, c];
    const all = [ab, link(a, c), link(b, a), link(b, c), link(c, a), link(c, b)];
    expect(await rounds(all, 6)).toBe(true);
    expect(fs.hook).toBeUndefined();
    const final = text(a.fs, 'n.txt');
    for (const s of sides) expect(text(s.fs, 'n.txt')).toBe(final);
    for (const line of ['from alice', 'alice more', 'from carol', 'bob again']) expect(count(final, line)).toBe(1);
  });

  // Convergence fuzz seed 275384664: an editor that had loaded the losing file saved its buffer
  // after the path had changed hands; taken as an edit of the winner, the save deleted the
  // winner's own lines.
  it("a save from an editor that loaded the file that lost the path is an edit of that file: the winner's lines stay", async () => {
    const [a, b, c] = await Promise.all([side('alice'), side('bob'), side('carol')]);
    const sides = [a, b, c];
    a.fs.writeFile('a1.txt', enc.encode('1\n'));
    await a.replica.scan();
    a.fs.writeFile('n.txt', enc.encode('from alice\n'));
    b.fs.writeFile('n.txt', enc.encode('from bob\n'));
    await Promise.all([a.replica.scan(), b.replica.scan()]);
    // Carol gets bob's n.txt first: her editor loads it.
    await link(b, c)();
    expect(text(c.fs, 'n.txt')).toBe('from bob\n');
    const buffer = text(c.fs, 'n.txt');
    // Then alice's wins the path everywhere, and bob merges his text into it.
    const all = [link(a, b), link(a, c), link(b, a), link(b, c), link(c, a), link(c, b)];
    expect(await rounds(all, 4)).toBe(true);
    expect(text(c.fs, 'n.txt')).toBe('from alice\nfrom bob\n');
    // Carol's editor saves the buffer it has, with a line added.
    c.fs.writeFile('n.txt', enc.encode(`${buffer}carol\n`));
    expect(await rounds(all, 6)).toBe(true);
    const final = text(a.fs, 'n.txt');
    for (const s of sides) expect(text(s.fs, 'n.txt')).toBe(final);
    for (const line of ["from alice", "from bob", "carol"]) expect(count(final, line), final).toBe(1);
  });

  // Convergence fuzz seed 422409893: carol's disk showed bob's file (written by the apply that
  // brought it: no version of it noted) when one change brought an edit of it and its merge
  // into alice's. The text carol's disk held was not noted (the file was merged away before
  // its doc's updates came in), so a save landing on it as alice's file was written was taken
  // as made on bob's text after the edit: it replaced bob's new line, and merged into alice's
  // file its own line came out garbled.
  it('a save displaced by the change that merges its file into the winner is merged from the text the disk held', async () => {
    const [a, b] = await Promise.all([side('alice'), side('bob')]);
    const fs = new FuzzFs('/mem/carol', { now: 1_000_000_000_000 });
    const c = await side('carol', fs);
    // Alice's n.txt wins the path (she records another file first: a later lamport time).
    a.fs.writeFile('a1.txt', enc.encode('1\n'));
    await a.replica.scan();
    a.fs.writeFile('n.txt', enc.encode('from alice\n'));
    b.fs.writeFile('n.txt', enc.encode('from bob\n'));
    await Promise.all([a.replica.scan(), b.replica.scan()]);
    const bob = { replica: b.replica.identity.replicaId, author: 'bob' };
    const first = await b.replica.changesSince(-1);
    await c.replica.applyChanges(first.changes, bob);
    expect(text(fs, 'n.txt')).toBe('from bob\n');
    // Bob adds a line, then learns of alice's file and merges his into it.
    b.fs.writeFile('n.txt', enc.encode('from bob\nbob more\n'));
    await b.replica.scan();
    b.replica.keepLogAfter(first.upTo);
    await link(a, b)();
    expect(count(text(b.fs, 'n.txt'), 'from alice')).toBe(1);
    // Carol gets all of that in one change (alice's file, bob's edit, his merge); her save
    // lands as alice's file is written over bob's.
    const fromAlice = (await a.replica.changesSince(-1)).changes;
    const fromBob = (await b.replica.changesSince(first.upTo)).changes;
    fs.hook = (point, rel) => {
      if (point !== 'exchange' || rel !== 'n.txt') return undefined;
      fs.hook = undefined;
      fs.writeFile(rel, enc.encode(`${text(fs, rel)}carol\n`));
      return undefined;
    };
    const together = { manifest: [...fromAlice.manifest, ...fromBob.manifest], files: [...fromAlice.files, ...fromBob.files], blobs: [...fromAlice.blobs, ...fromBob.blobs] };
    await c.replica.applyChanges(together, bob, { scanFirst: false });
    expect(fs.hook).toBeUndefined();
    const sides = [a, b, c];
    const all = [link(a, b), link(a, c), link(b, a), link(b, c), link(c, a), link(c, b)];
    expect(await rounds(all, 6)).toBe(true);
    const final = text(a.fs, 'n.txt');
    for (const s of sides) expect(text(s.fs, 'n.txt')).toBe(final);
    for (const line of ['from alice', 'from bob', 'bob more', 'carol']) expect(count(final, line), final).toBe(1);
  });
});
