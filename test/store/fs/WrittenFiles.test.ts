import { appendFileSync, mkdirSync, readFileSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WrittenFiles } from '../../../src/store/fs/WrittenFiles.js';
import { tempDir } from '../../helpers/tmp.js';

/** A worktree with a `.cshare/` (where the access-time probe goes) and `f.txt` written a minute ago. */
function written(): { root: string; abs: string } {
  const root = tempDir('cshare-written-');
  mkdirSync(join(root, '.cshare'));
  const abs = join(root, 'f.txt');
  writeFileSync(abs, 'text\n');
  const past = new Date(Date.now() - 60_000);
  utimesSync(abs, past, past);
  return { root, abs };
}

describe('WrittenFiles: was a file cshare wrote read since?', () => {
  it('says no until someone reads the file, then yes', () => {
    const { root, abs } = written();
    const files = new WrittenFiles(root);
    files.note('f.txt', abs);
    expect(files.lastWrite('f.txt')?.read).toBe(false);
    readFileSync(abs);
    expect(files.lastWrite('f.txt')?.read).toBe(true);
  });

  // A reader (an editor reloading, a poll) that reads the file between its rename into place and
  // the open that holds it moved the access time first; taken as the mark, that read and every
  // later one went unseen (test/e2e/realUse/staleBuffer.test.ts failed so in a CI run: the
  // user's deletion of a collaborator's line was undone as a stale save).
  it('sees a read made before the file was held', () => {
    const { root, abs } = written();
    readFileSync(abs);
    const files = new WrittenFiles(root);
    files.note('f.txt', abs);
    expect(files.lastWrite('f.txt')?.read).toBe(true);
  });

  it('cannot tell for a file it never held', () => {
    const { root } = written();
    expect(new WrittenFiles(root).lastWrite('f.txt')).toBeUndefined();
  });

  // What is at the path is the file cshare wrote, or someone's save: a reader (a poll, a build)
  // moves the access time of cshare's write, and that file seen again was taken for the user
  // bringing an older text back on purpose (concurrentSaves lost the other side's lines).
  it('tells the file written, still in place and read, from a new file of the same text', () => {
    const { root, abs } = written();
    const files = new WrittenFiles(root);
    files.note('f.txt', abs);
    readFileSync(abs);
    expect(files.lastWrite('f.txt')).toEqual({ read: true, inPlace: true });
    // An editor's save: a new file of the same text renamed over it.
    writeFileSync(`${abs}~`, 'text\n');
    renameSync(`${abs}~`, abs);
    expect(files.lastWrite('f.txt')).toEqual({ read: true, inPlace: false });
  });

  it('an in-place write of the file written leaves it no longer in place', () => {
    const { root, abs } = written();
    const files = new WrittenFiles(root);
    files.note('f.txt', abs);
    expect(files.lastWrite('f.txt')?.inPlace).toBe(true);
    appendFileSync(abs, 'more\n');
    expect(files.lastWrite('f.txt')?.inPlace).toBe(false);
  });
});
