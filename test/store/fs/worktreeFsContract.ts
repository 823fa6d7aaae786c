/**
 * What every `WorktreeFs` must do, as `core/` uses it: one suite run against `NodeFs` on a real
 * directory and against `MemFs` (test/helpers/MemFs.ts), so that the tests and the fuzzer that
 * run on the memory twin hold on disk too. Guarded writes and removals go through the helpers
 * core calls them with (`writeGuarded`, `removeIfUnchanged` or `removeChecked`), so a file
 * system without its own `writeFiles` is held to the same results.
 */
import { describe, expect, it } from 'vitest';
import { gitBlobId } from '../../../src/core/digest.js';
import { CshareError } from '../../../src/core/errors.js';
import { removeChecked, writeGuarded } from '../../../src/core/FsJournal.js';
import type { WorktreeFs } from '../../../src/core/ports.js';

/** A file system under test, and what a user does to it behind cshare's back. */
export interface ContractSubject {
  fs: WorktreeFs;
  /** `mv from to` within one existing folder (the inode stays). */
  rename(from: string, to: string): void;
  /** Makes a folder (and its parents), as a user would. */
  mkdir(rel: string): void;
}

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

/** The error code `fn` throws (undefined: it did not throw). */
function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof CshareError ? err.code : `not a CshareError: ${String(err)}`;
  }
  return undefined;
}

const names = (fs: WorktreeFs, rel: string) => fs.readdir(rel)?.map((e) => `${e.name}:${e.kind}`).sort();

/** The contract; `make` gives a fresh, empty worktree each time. */
export function runWorktreeFsContract(name: string, make: () => ContractSubject): void {
  describe(`WorktreeFs contract: ${name}`, () => {
    it('writes, reads, stats and lists files, creating parents', () => {
      const { fs } = make();
      fs.writeFile('a/b/c.txt', bytes('hello'), 0o755);
      fs.writeFile('top.txt', bytes('x'));
      expect(text(fs.readFile('a/b/c.txt'))).toBe('hello');
      const st = fs.lstat('a/b/c.txt')!;
      expect([st.kind, st.size, st.mode & 0o777]).toEqual(['file', 5, 0o755]);
      expect(fs.lstat('top.txt')!.mode & 0o777).toBe(0o644);
      expect(fs.lstat('a')!.kind).toBe('dir');
      expect(names(fs, '')).toEqual(['a:dir', 'top.txt:file']);
      expect(names(fs, 'a/b')).toEqual(['c.txt:file']);
      // A write replaces the file (a new inode: temp file, then rename) and keeps its mode.
      const ino = st.ino;
      fs.writeFile('a/b/c.txt', bytes('again'));
      expect(fs.lstat('a/b/c.txt')!.ino).not.toBe(ino);
      expect(fs.lstat('a/b/c.txt')!.mode & 0o777).toBe(0o755);
    });

    it('answers undefined for what is not there', () => {
      const { fs } = make();
      fs.writeFile('f.txt', bytes('x'));
      expect(fs.lstat('nope')).toBeUndefined();
      expect(fs.readFile('nope')).toBeUndefined();
      expect(fs.readlink('nope')).toBeUndefined();
      expect(fs.readdir('nope')).toBeUndefined();
      expect(fs.readFile('f.txt/under')).toBeUndefined();
    });

    it('a guarded write honours what it expects, and hands back what a save left there', async () => {
      const { fs } = make();
      fs.writeFile('f.txt', bytes('one'));
      // Expecting what is there: written, nothing to report, with the stat of what was written.
      let [r] = await writeGuarded(fs, [{ rel: 'f.txt', data: bytes('two'), expect: gitBlobId(bytes('one')) }]);
      expect([r!.displaced, r!.occupied, text(fs.readFile('f.txt'))]).toEqual([undefined, undefined, 'two']);
      expect(r!.stat?.ino).toBe(fs.lstat('f.txt')!.ino);
      // Expecting what a save has replaced since: written, and the save handed back.
      [r] = await writeGuarded(fs, [{ rel: 'f.txt', data: bytes('three'), expect: gitBlobId(bytes('one')) }]);
      expect([text(r!.displaced), text(fs.readFile('f.txt'))]).toEqual(['two', 'three']);
      // Expecting a free path that a file took meanwhile: nothing written.
      [r] = await writeGuarded(fs, [{ rel: 'f.txt', data: bytes('four'), expect: null }]);
      expect([r!.occupied, text(fs.readFile('f.txt'))]).toEqual([true, 'three']);
      // Expecting a free path that is free: written.
      [r] = await writeGuarded(fs, [{ rel: 'd/new.txt', data: bytes('new'), expect: null }]);
      expect([r!.occupied, text(fs.readFile('d/new.txt'))]).toEqual([undefined, 'new']);
      // A folder where a file is expected: occupied, left alone.
      [r] = await writeGuarded(fs, [{ rel: 'd', data: bytes('x'), expect: gitBlobId(bytes('x')) }]);
      expect([r!.occupied, fs.lstat('d')!.kind]).toEqual([true, 'dir']);
    });

    it('keeps a renamed file (the user moving it) as the same inode', () => {
      const subject = make();
      const { fs } = subject;
      fs.writeFile('d/a.txt', bytes('content'));
      const ino = fs.lstat('d/a.txt')!.ino;
      subject.rename('d/a.txt', 'd/b.txt');
      expect(fs.lstat('d/a.txt')).toBeUndefined();
      expect(fs.lstat('d/b.txt')!.ino).toBe(ino);
      expect(text(fs.readFile('d/b.txt'))).toBe('content');
      expect(names(fs, 'd')).toEqual(['b.txt:file']);
    });

    it('removes a file only if it holds what is expected, pruning emptied folders', () => {
      const { fs } = make();
      const removeIfUnchanged = (rel: string, expect: string) => (fs.removeIfUnchanged ? fs.removeIfUnchanged(rel, expect) : removeChecked(fs, rel, expect));
      fs.writeFile('d/e/f.txt', bytes('mine'));
      fs.writeFile('keep.txt', bytes('k'));
      expect(text(removeIfUnchanged('d/e/f.txt', gitBlobId(bytes('other'))))).toBe('mine');
      expect(text(fs.readFile('d/e/f.txt'))).toBe('mine');
      expect(removeIfUnchanged('d/e/f.txt', gitBlobId(bytes('mine')))).toBeUndefined();
      expect(fs.lstat('d/e/f.txt')).toBeUndefined();
      expect(fs.lstat('d')).toBeUndefined();
      expect(removeIfUnchanged('gone.txt', gitBlobId(bytes('x')))).toBeUndefined();
      fs.remove('keep.txt');
      fs.remove('keep.txt'); // a missing file is not an error
      expect(names(fs, '')).toEqual([]);
    });

    it('makes symlinks that stay inside, and never reads or writes through one', () => {
      const subject = make();
      const { fs } = subject;
      fs.writeFile('real/f.txt', bytes('x'));
      fs.symlink('link', 'real');
      fs.symlink('sub/up', '../real/f.txt');
      expect(fs.lstat('link')!.kind).toBe('symlink');
      expect(fs.readlink('sub/up')).toBe('../real/f.txt');
      expect(codeOf(() => fs.readFile('sub/up'))).toBe('IO');
      expect(codeOf(() => fs.writeFile('link/g.txt', bytes('y')))).toBe('BAD_PATH');
      expect(codeOf(() => fs.remove('link/f.txt'))).toBe('BAD_PATH');
      expect(fs.lstat('real/g.txt')).toBeUndefined();
      expect(text(fs.readFile('real/f.txt'))).toBe('x');
      subject.mkdir('.git');
      for (const target of ['/etc/passwd', '../out', 'real/../../out', '.git/config', 'real/../.git/config', '.cshare/store', '']) {
        expect(codeOf(() => fs.symlink('bad', target)), target).toBe('BAD_PATH');
      }
      expect(fs.lstat('bad')).toBeUndefined();
    });

    it('refuses unsafe paths everywhere', () => {
      const { fs } = make();
      for (const rel of ['../x', '/abs', 'a//b', './a', 'a/./b', 'a/..', '.git/config', '.cshare/store', 'x/.GIT/y', 'a\\b', 'a\0b', '']) {
        expect(codeOf(() => fs.writeFile(rel, bytes('x'))), rel).toBe('BAD_PATH');
        expect(codeOf(() => fs.readFile(rel)), rel).toBe('BAD_PATH');
        expect(codeOf(() => fs.remove(rel)), rel).toBe('BAD_PATH');
        if (rel !== '') expect(codeOf(() => fs.lstat(rel)), rel).toBe('BAD_PATH');
      }
      expect(names(fs, '')).toEqual([]);
    });
  });
}
