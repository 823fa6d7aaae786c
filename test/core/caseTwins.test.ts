import { describe, expect, it } from 'vitest';
import { pendingChanges, type RecordedEntry, type RecordedFiles } from '../../src/core/pending.js';
import type { ScannedFile, ScanResult } from '../../src/core/Scanner.js';

/** A scanned text file whose digest is its content (the comparison only compares digests). */
function file(path: string, digest = `d-${path}`): ScannedFile {
  return { path, kind: 'text', mode: 0o100644, size: 1, digest, stat: { size: 1, mtimeMs: 1, ctimeMs: 1, ino: 1, mode: 0o100644, kind: 'text', digest } };
}

function recorded(paths: Record<string, string>): RecordedFiles<RecordedEntry & { digest: string }> {
  const live = new Map(Object.entries(paths).map(([path, digest], i) => [path, { fileId: `f${i}`, entry: { path, kind: 'text' as const, mode: 0o100644, digest } }]));
  return { live: () => live, contentDigest: (_id, e) => e.digest };
}

const scan = (...files: ScannedFile[]): ScanResult => ({ files, excluded: [], counts: { hashed: 0, fromCache: 0, fromGitIndex: 0 }, errors: [], nested: [], leftovers: [] });

describe('new paths that differ only in case from a shared one', () => {
  it('are refused, with the shared one named, and the shared file stays', () => {
    const p = pendingChanges(recorded({ README: 'd-README' }), scan(file('README'), file('readme')));
    expect(p.creates).toEqual([]);
    expect(p.deletes).toEqual([]);
    expect(p.refused).toEqual([{ path: 'readme', code: 'BAD_PATH', message: expect.stringContaining('differs only in case from "README"') }]);
  });

  it('of two new ones, the first in git order is shared; Unicode normalisation counts as case', () => {
    const p = pendingChanges(recorded({}), scan(file('Makefile'), file('caf\u00e9'), file('cafe\u0301'), file('makefile')));
    expect(p.creates.map((f) => f.path)).toEqual(['Makefile', 'caf\u00e9']);
    expect(p.refused.map((r) => r.path)).toEqual(['cafe\u0301', 'makefile']);
  });

  it('a rename that only changes the case is a rename, not a refusal', () => {
    const p = pendingChanges(recorded({ README: 'same' }), scan(file('readme', 'same')));
    expect(p.refused).toEqual([]);
    expect(p.renames.map((r) => `${r.entry.path} -> ${r.file.path}`)).toEqual(['README -> readme']);
  });
});
