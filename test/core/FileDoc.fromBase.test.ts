import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { FileDoc } from '../../src/core/FileDoc.js';
import { tempDir } from '../helpers/tmp.js';

const A = 1001;
const B = 2002;

function pair(base: string): { a: FileDoc; b: FileDoc } {
  return { a: FileDoc.create({ fileId: 'f1', clientId: A, baseText: base }).doc, b: FileDoc.create({ fileId: 'f1', clientId: B, baseText: base }).doc };
}

function sync(from: FileDoc, to: FileDoc): void {
  to.applyUpdate(Y.diffUpdate(from.snapshot(), to.stateVector()));
}

/** What `git merge-file` makes of a base and two sides (the oracle for non-conflicting edits). */
function gitMerge(base: string, ours: string, theirs: string): string {
  const dir = tempDir('cshare-merge-');
  for (const [n, t] of [['base', base], ['ours', ours], ['theirs', theirs]] as const) writeFileSync(join(dir, n), t);
  return execFileSync('git', ['merge-file', '-p', join(dir, 'ours'), join(dir, 'base'), join(dir, 'theirs')], { encoding: 'utf8' });
}

describe('FileDoc.applyFromBase: a save made from an earlier version', () => {
  const base = 'line 1\nline 2\nline 3\nline 4\nline 5\n';

  it("keeps a collaborator's edit that the save's base did not have (stale buffer, edit elsewhere)", () => {
    const { a, b } = pair(base);
    const v1 = a.version();
    b.setText(base.replace('line 1\n', 'line 1 by alice\n'));
    sync(b, a); // Alice's edit reaches Bob's disk; Bob's editor still holds v1
    const bobSave = base.replace('line 5\n', 'line 5 by bob\n');
    const change = a.applyFromBase(v1, bobSave);
    expect(change).toBeTruthy();
    expect(a.text).toBe('line 1 by alice\nline 2\nline 3\nline 4\nline 5 by bob\n');
    expect(a.text).toBe(gitMerge(base, bobSave, b.text));
    sync(a, b);
    expect(b.text).toBe(a.text);
  });

  it('keeps both inserted texts when both sides touched the same line', () => {
    const { a, b } = pair(base);
    const v1 = a.version();
    b.setText(base.replace('line 3\n', 'line 3\nalice was here\n'));
    sync(b, a);
    a.applyFromBase(v1, base.replace('line 3\n', 'line 3\nbob was here\n'));
    expect(a.text).toContain('alice was here\n');
    expect(a.text).toContain('bob was here\n');
    expect(a.text.startsWith('line 1\nline 2\nline 3\n')).toBe(true);
    expect(a.text.endsWith('line 4\nline 5\n')).toBe(true);
  });

  it('an unchanged stale save changes nothing (nothing reverted)', () => {
    const { a, b } = pair(base);
    const v1 = a.version();
    b.setText(base.replace('line 2\n', ''));
    sync(b, a);
    expect(a.applyFromBase(v1, base)).toBeNull();
    expect(a.text).toBe('line 1\nline 3\nline 4\nline 5\n');
  });

  it("does not bring back what the collaborator deleted, and deletes only the base's characters", () => {
    const { a, b } = pair(base);
    const v1 = a.version();
    // Alice deletes line 2 and inserts inside the range Bob deletes.
    b.setText('line 1\nline 3\nALICE\nline 4\nline 5\n');
    sync(b, a);
    // Bob deletes lines 3 and 4 in his stale buffer.
    a.applyFromBase(v1, 'line 1\nline 2\nline 5\n');
    expect(a.text).toBe('line 1\nALICE\nline 5\n');
  });

  it('matches git merge-file on random non-overlapping edits of a long text', () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 20; round++) {
      const lines = Array.from({ length: 400 }, (_, i) => `line ${i} ${'x'.repeat(rnd(30))}`);
      const text = `${lines.join('\n')}\n`;
      const { a, b } = pair(text);
      const v1 = a.version();
      // Alice edits lines with even tens, Bob with odd tens: never adjacent, as git needs.
      const alice = lines.map((l, i) => (Math.floor(i / 10) % 2 === 0 && rnd(5) === 0 ? `${l} alice` : l));
      const bob = lines.map((l, i) => (Math.floor(i / 10) % 2 === 1 && i % 10 > 1 && i % 10 < 8 && rnd(5) === 0 ? (rnd(2) ? `${l} bob` : null) : l)).filter((l) => l !== null);
      const aliceText = `${alice.join('\n')}\n`;
      const bobText = `${bob.join('\n')}\n`;
      b.setText(aliceText);
      sync(b, a);
      a.applyFromBase(v1, bobText);
      expect(a.text).toBe(gitMerge(text, bobText, aliceText));
      sync(a, b);
      expect(b.text).toBe(a.text);
    }
  });

  it('gives the version of the saved text, so the next save from that buffer merges without doubling', () => {
    const { a, b } = pair(base);
    const v1 = a.version();
    b.setText(base.replace('line 1\n', 'line 1 by alice\n'));
    sync(b, a);
    const bob1 = base.replace('line 5\n', 'line 5 by bob\n');
    const change = a.applyFromBase(v1, bob1);
    expect(change?.savedVersion).toBeDefined();
    expect(a.textAt(change!.savedVersion!)).toBe(bob1);
    // Bob's editor goes on from its buffer (it never reloaded) and saves again.
    const bob2 = bob1.replace('line 3\n', 'line 3 again bob\n');
    a.applyFromBase(change!.savedVersion!, bob2);
    expect(a.text).toBe('line 1 by alice\nline 2\nline 3 again bob\nline 4\nline 5 by bob\n');
  });

  it('reads a version that ends inside an item Yjs merged since (two saves in a row by one side)', () => {
    const { a } = pair('start\nend\n');
    a.setText('start\nalice 1\nend\n');
    const v1 = a.version();
    // The next save adds right after the last: Yjs merges the two inserts into one item, which
    // the version taken between them covers only in part.
    a.setText('start\nalice 1\nalice 2\nend\n');
    expect(a.textAt(v1)).toBe('start\nalice 1\nend\n');
    a.applyFromBase(v1, 'start\nalice 1\nend\nX\n');
    expect(a.text).toBe('start\nalice 1\nalice 2\nend\nX\n');
  });

  it('merges saves from versions whose items Yjs has merged since (appenders on both sides, seeded)', () => {
    // Yjs splits items at a snapshot's boundaries to read it, then merges them back at the end
    // of that transaction: visibility must be worked out per character run, not per item (the
    // concurrent appenders story lost and interleaved lines when it was not).
    for (let seed = 1; seed <= 60; seed++) {
      let x = seed;
      const rnd = (n: number) => {
        x = (x * 1103515245 + 12345) & 0x7fffffff;
        return x % n;
      };
      const { a, b } = pair('start\n');
      const want = ['start\n'];
      // Alice's editor: the text it holds and the version of it.
      let held = a.text;
      let heldVersion = a.version();
      const versions: Uint8Array[] = [heldVersion];
      for (let i = 0; i < 16; i++) {
        const r = rnd(4);
        if (r === 0) {
          const line = `bob ${i}\n`;
          want.push(line);
          b.setText(b.text + line);
          sync(b, a);
          versions.push(a.version());
        } else {
          const line = `alice ${i}\n`;
          want.push(line);
          if (r === 1) {
            // The editor has the text now (it reloaded) and saves: an ordinary save.
            held = a.text + line;
            a.setText(held);
            heldVersion = a.version();
          } else {
            // A save from the buffer it holds, however stale.
            held += line;
            const change = a.applyFromBase(heldVersion, held);
            expect(change).not.toBeUndefined();
            if (change?.savedVersion) heldVersion = change.savedVersion;
            else if (a.text === held) heldVersion = a.version();
            else throw new Error(`seed ${seed}: no version of the saved text`);
          }
          versions.push(a.version());
          // Read every kept version, as choosing a base does (each read splits items).
          for (const v of versions.slice(-8)) a.textAt(v);
          sync(a, b);
        }
        if (rnd(3) === 0) {
          held = a.text;
          heldVersion = a.version();
        }
      }
      sync(a, b);
      sync(b, a);
      for (const line of want) expect(a.text.split(line).length - 1, `seed ${seed}: ${JSON.stringify(line)} in ${JSON.stringify(a.text)}`).toBe(1);
      expect(b.text).toBe(a.text);
    }
  });

  it('reads the text of a version, and tells when it cannot', () => {
    const { a } = pair(base);
    const v1 = a.version();
    a.setText('other\n');
    expect(a.textAt(v1)).toBe(base);
    expect(a.textAt(new Uint8Array([1, 2, 3]))).toBeUndefined();
    expect(a.applyFromBase(new Uint8Array([255]), 'x')).toBeUndefined();
  });
});
