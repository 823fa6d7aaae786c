/**
 * Concurrent edits against a large multi-place save, at the FileDoc level (issue 14, item
 * 12): a save whose changes span far more than 64 KiB was recorded as one replace of the
 * span, so a collaborator's concurrent edits inside it were moved to the start of the span
 * or undone. Both replicas must end with what `git merge-file` makes of the three versions.
 */
import { describe, expect, it } from 'vitest';
import { FileDoc } from '../../src/core/FileDoc.js';
import { applyLineEdits, cSourceLines, gitMergeFile, localEdits, pullEdits, statementAt, type LineEdit } from '../helpers/largeSource.js';

/** Replicas 2 and 3 of a file whose base is `base`; each saves its version, then they exchange. */
function mergeConcurrent(base: string, ours: string, theirs: string): { a: FileDoc; b: FileDoc; aSave: { inserted: number; deleted: number; ops: number } } {
  const { doc: origin, baseUpdate } = FileDoc.create({ fileId: 'big.c', clientId: 1, baseText: base });
  origin.destroy();
  const a = FileDoc.load({ fileId: 'big.c', clientId: 2, updates: [baseUpdate!] });
  const b = FileDoc.load({ fileId: 'big.c', clientId: 3, updates: [baseUpdate!] });
  const fromA = a.setText(ours)!;
  const fromB = b.setText(theirs)!;
  a.applyUpdate(fromB.update);
  b.applyUpdate(fromA.update);
  return { a, b, aSave: { inserted: fromA.inserted, deleted: fromA.deleted, ops: fromA.ops.length } };
}

describe('concurrent edits against a large multi-place save (FileDoc)', () => {
  const lines = cSourceLines({ seed: 14_12, bytes: 500_000 });
  const base = lines.join('');

  it('a "git pull" at 5 places of a 500 KB file and a collaborator editing between them merge as git merge-file does', () => {
    const ours = applyLineEdits(lines, pullEdits(lines));
    const theirs = applyLineEdits(lines, localEdits(lines));
    const oracle = gitMergeFile({ base, ours, theirs });
    expect(oracle.conflicts).toBe(0);
    const { a, b, aSave } = mergeConcurrent(base, ours, theirs);
    expect(a.text === oracle.text, 'replica A differs from git merge-file').toBe(true);
    expect(b.text === oracle.text, 'replica B differs from git merge-file').toBe(true);
    // The save spans most of the file, yet it is recorded as the few lines it changed.
    expect(ours.length).toBeGreaterThan(400_000);
    expect(aSave.inserted + aSave.deleted).toBeLessThan(400);
    expect(aSave.ops).toBeGreaterThanOrEqual(5);
  });

  it('both sides saving multi-place changes (each spanning over 64 KiB) merge as git merge-file does', () => {
    // Interleaved places: ours at 0.05, 0.25, ...; theirs at 0.15, 0.35, ...
    const ours = applyLineEdits(lines, pullEdits(lines, [0.05, 0.25, 0.45, 0.65, 0.85]));
    const theirs = applyLineEdits(lines, localEdits(lines, [0.15, 0.35, 0.55, 0.75]));
    const oracle = gitMergeFile({ base, ours, theirs });
    expect(oracle.conflicts).toBe(0);
    const { a, b } = mergeConcurrent(base, theirs, ours);
    expect(a.text === oracle.text).toBe(true);
    expect(b.text === oracle.text).toBe(true);
  });

  it('a search-and-replace over the whole file and a collaborator editing lines it did not touch merge as git merge-file does', () => {
    const ours = base.replaceAll('flags', 'options');
    // The collaborator's lines are at least two lines away from any line the rename changed
    // (git merges changes to adjacent lines as a conflict).
    const touched = lines.map((l) => l.includes('flags'));
    const edits: LineEdit[] = [];
    for (const f of [0.12, 0.33, 0.51, 0.76, 0.94]) {
      let at = statementAt(lines, Math.floor(lines.length * f));
      while (touched.slice(at - 2, at + 3).some(Boolean)) at = statementAt(lines, at + 1);
      edits.push({ at, del: 1, ins: [lines[at]!.replace(';', '; /* bob */')] });
    }
    const theirs = applyLineEdits(lines, edits);
    const oracle = gitMergeFile({ base, ours, theirs });
    expect(oracle.conflicts).toBe(0);
    const { a, b, aSave } = mergeConcurrent(base, ours, theirs);
    expect(a.text === oracle.text).toBe(true);
    expect(b.text === oracle.text).toBe(true);
    // One small op per renamed word.
    const renamed = base.split('flags').length - 1;
    expect(renamed).toBeGreaterThan(100);
    expect(aSave.ops).toBe(renamed);
  });
});
