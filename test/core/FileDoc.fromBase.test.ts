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

  it('reads the text of a version, and tells when it cannot', () => {
    const { a } = pair(base);
    const v1 = a.version();
    a.setText('other\n');
    expect(a.textAt(v1)).toBe(base);
    expect(a.textAt(new Uint8Array([1, 2, 3]))).toBeUndefined();
    expect(a.applyFromBase(new Uint8Array([255]), 'x')).toBeUndefined();
  });
});
