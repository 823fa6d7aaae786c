import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeFs } from '../../../src/store/fs/NodeFs.js';

let base: string;
let root: string;
let nfs: NodeFs;
beforeEach(() => {
  base = fs.realpathSync(fs.mkdtempSync(join(tmpdir(), 'cshare-nodefs-')));
  root = join(base, 'wt');
  fs.mkdirSync(root);
  nfs = new NodeFs(root);
});
afterEach(() => {
  fs.rmSync(base, { recursive: true, force: true });
});

describe('NodeFs', () => {
  it('writes atomically with the requested mode, creating parents, leaving no temp files', () => {
    nfs.writeFile('a/b/c.txt', Buffer.from('hello'), 0o100755);
    expect(fs.readFileSync(join(root, 'a/b/c.txt'), 'utf8')).toBe('hello');
    expect(fs.statSync(join(root, 'a/b/c.txt')).mode & 0o777).toBe(0o755);
    nfs.writeFile('a/b/c.txt', Buffer.from('again'));
    expect(fs.statSync(join(root, 'a/b/c.txt')).mode & 0o777).toBe(0o755); // kept
    nfs.writeFile('a/b/c.txt', Buffer.from('x'), 0o644);
    expect(fs.statSync(join(root, 'a/b/c.txt')).mode & 0o777).toBe(0o644);
    expect(fs.readdirSync(join(root, 'a/b'))).toEqual(['c.txt']);
  });

  it.each([true, false])('writes a batch of files (more than one flush slice), each with its mode, leaving no temp files (flush: %s)', async (flush) => {
    const files = Array.from({ length: 600 }, (_, i) => ({ rel: `d${i % 7}/f${i}.txt`, data: new TextEncoder().encode(`file ${i}\n`), mode: i % 2 ? 0o755 : 0o644 }));
    fs.writeFileSync(join(root, 'keep.txt'), 'old');
    files.push({ rel: 'keep.txt', data: new TextEncoder().encode('new'), mode: 0o644 });
    await nfs.writeFiles(files, { flush });
    for (const f of files) {
      expect(fs.readFileSync(join(root, f.rel), 'utf8')).toBe(new TextDecoder().decode(f.data));
      expect(fs.statSync(join(root, f.rel)).mode & 0o777).toBe(f.mode);
    }
    const names = fs.readdirSync(root, { recursive: true }).map(String);
    expect(names.filter((n) => n.includes('cshare-tmp'))).toEqual([]);
  });

  it.each([true, false])('renames nothing into place when one file of a batch cannot be written (flush: %s)', async (flush) => {
    fs.writeFileSync(join(root, 'a.txt'), 'old a');
    fs.writeFileSync(join(root, 'blocker'), 'a file, not a directory');
    const enc = (t: string) => new TextEncoder().encode(t);
    const err = await nfs.writeFiles([{ rel: 'a.txt', data: enc('new a') }, { rel: 'new.txt', data: enc('n') }, { rel: 'blocker/x.txt', data: enc('x') }], { flush }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'IO' });
    expect(String((err as Error).message)).toMatch(/blocker/);
    expect(fs.readFileSync(join(root, 'a.txt'), 'utf8')).toBe('old a');
    expect(fs.existsSync(join(root, 'new.txt'))).toBe(false);
    expect(fs.readdirSync(root).sort()).toEqual(['a.txt', 'blocker']);
  });

  it('flushes files by path, skipping one that is gone or is now a symlink, refusing unsafe paths', async () => {
    fs.writeFileSync(join(root, 'a.txt'), 'a');
    fs.mkdirSync(join(root, 'd'));
    fs.writeFileSync(join(root, 'd/b.txt'), 'b');
    fs.symlinkSync('a.txt', join(root, 'link'));
    await expect(nfs.flushFiles(['a.txt', 'd/b.txt', 'gone.txt', 'link'])).resolves.toBeUndefined();
    await expect(nfs.flushFiles(['../outside'])).rejects.toMatchObject({ code: 'BAD_PATH' });
  });

  it('flushes many files with one sync of the file system, and file by file where `sync` cannot run', async () => {
    const rels = Array.from({ length: 300 }, (_, i) => `many/f${i}.txt`);
    fs.mkdirSync(join(root, 'many'));
    for (const rel of rels) fs.writeFileSync(join(root, rel), rel);
    await expect(nfs.flushFiles(rels)).resolves.toBeUndefined();
    await expect(nfs.flushFiles([...rels, '../outside'])).rejects.toMatchObject({ code: 'BAD_PATH' });
    const path = process.env.PATH;
    process.env.PATH = join(base, 'no-such-bin');
    try {
      await expect(nfs.flushFiles(rels)).resolves.toBeUndefined();
      await expect(nfs.flushFiles([...rels, '../outside'])).rejects.toMatchObject({ code: 'BAD_PATH' });
    } finally {
      process.env.PATH = path;
    }
  });

  it('knows the machine boot on Linux, and takes another one given', () => {
    const boot = nfs.boot();
    if (fs.existsSync('/proc/sys/kernel/random/boot_id')) {
      expect(boot!.id).toBe(fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
      expect(boot!.startedMs).toBeLessThanOrEqual(Date.now());
      expect(boot!.startedMs).toBeGreaterThan(Date.now() - 365 * 86_400_000);
    }
    expect(new NodeFs(root, { boot: { id: 'x', startedMs: 1 } }).boot()).toEqual({ id: 'x', startedMs: 1 });
    expect(new NodeFs(root, { boot: undefined }).boot()).toBeUndefined();
  });

  it('reads, stats and lists; missing paths are undefined', () => {
    nfs.writeFile('d/x.txt', Buffer.from('xyz'));
    nfs.symlink('d/l', 'x.txt');
    expect(Buffer.from(nfs.readFile('d/x.txt')!).toString()).toBe('xyz');
    expect(nfs.lstat('d/x.txt')).toMatchObject({ kind: 'file', size: 3 });
    expect(nfs.lstat('d/l')).toMatchObject({ kind: 'symlink' });
    expect(nfs.lstat('d')).toMatchObject({ kind: 'dir' });
    expect(nfs.readlink('d/l')).toBe('x.txt');
    expect(nfs.readdir('d')!.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'l', kind: 'symlink' },
      { name: 'x.txt', kind: 'file' },
    ]);
    expect(nfs.readdir('')!.map((e) => e.name)).toEqual(['d']);
    expect(nfs.readFile('nope')).toBeUndefined();
    expect(nfs.lstat('nope/deeper')).toBeUndefined();
    expect(nfs.lstat('d/x.txt/under-a-file')).toBeUndefined();
    expect(nfs.readdir('nope')).toBeUndefined();
    expect(nfs.readlink('nope')).toBeUndefined();
    expect(nfs.readExternal(join(base, 'nope'))).toBeUndefined();
    expect(() => nfs.readExternal('relative')).toThrow(/absolute/);
  });

  it('throws IO with the path for other errors', () => {
    fs.mkdirSync(join(root, 'dir'));
    expect(() => nfs.readFile('dir')).toThrow(expect.objectContaining({ code: 'IO', data: expect.objectContaining({ path: join(root, 'dir') }) }));
  });

  it('refuses unsafe paths in every method', () => {
    const bad = ['/etc/passwd', '../x', 'a/../../x', '.git/config', '.cshare/store', 'a\\b', 'a\0b', 'sub/.git/hooks/pre-commit'];
    for (const p of bad) {
      for (const call of [
        () => nfs.readFile(p),
        () => nfs.lstat(p),
        () => nfs.readdir(p),
        () => nfs.readlink(p),
        () => nfs.writeFile(p, new Uint8Array()),
        () => nfs.symlink(p, 'x'),
        () => nfs.remove(p),
        () => nfs.chmod(p, 0o644),
      ]) {
        expect(call).toThrow(expect.objectContaining({ code: 'BAD_PATH' }));
      }
    }
    expect(fs.existsSync(join(base, 'x'))).toBe(false);
  });

  it('refuses to write through a symlinked directory that leaves the root', () => {
    const outside = join(base, 'outside');
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, join(root, 'escape'));
    expect(() => nfs.writeFile('escape/pwned.txt', Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'BAD_PATH' }));
    expect(() => nfs.writeFile('escape/new/pwned.txt', Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'BAD_PATH' }));
    expect(() => nfs.remove('escape/x')).toThrow(expect.objectContaining({ code: 'BAD_PATH' }));
    expect(fs.readdirSync(outside)).toEqual([]);
    // Git's rule: not through a link that stays inside either, for every method.
    fs.mkdirSync(join(root, 'real'));
    fs.writeFileSync(join(root, 'real/keep.txt'), 'keep');
    fs.symlinkSync('real', join(root, 'alias'));
    for (const call of [
      () => nfs.writeFile('alias/ok.txt', Buffer.from('ok')),
      () => nfs.symlink('alias/l', 'x'),
      () => nfs.remove('alias/keep.txt'),
      () => nfs.chmod('alias/keep.txt', 0o755),
    ]) {
      expect(call).toThrow(expect.objectContaining({ code: 'BAD_PATH', message: expect.stringMatching(/alias is a symlink/) }));
    }
    expect(fs.readdirSync(join(root, 'real'))).toEqual(['keep.txt']);
    expect(fs.statSync(join(root, 'real/keep.txt')).mode & 0o777).not.toBe(0o755);
    expect(nfs.parentProblem('alias/x/y')).toMatchObject({ at: 'alias', code: 'BAD_PATH' });
    expect(nfs.parentProblem('real/keep.txt/x')).toMatchObject({ at: 'real/keep.txt', code: 'IO' });
    expect(nfs.parentProblem('real/new/x')).toBeUndefined();
  });

  it('refuses writeFiles through a linked folder without writing anything', async () => {
    fs.mkdirSync(join(root, 'real'));
    fs.symlinkSync('real', join(root, 'alias'));
    await expect(nfs.writeFiles([{ rel: 'a.txt', data: Buffer.from('a') }, { rel: 'alias/b.txt', data: Buffer.from('b') }])).rejects.toMatchObject({ code: 'BAD_PATH' });
    expect(fs.readdirSync(join(root, 'real'))).toEqual([]);
    expect(fs.readdirSync(root).sort()).toEqual(['alias', 'real']);
  });

  it('refuses symlinks whose target leaves the worktree, and replaces existing links', () => {
    expect(() => nfs.symlink('l', '/etc/passwd')).toThrow(expect.objectContaining({ code: 'BAD_PATH' }));
    expect(() => nfs.symlink('a/l', '../../x')).toThrow(expect.objectContaining({ code: 'BAD_PATH' }));
    nfs.symlink('a/l', '../t1');
    nfs.symlink('a/l', '../t2');
    expect(fs.readlinkSync(join(root, 'a/l'))).toBe('../t2');
  });

  it('removes a file and the directories it emptied, but not the root', () => {
    nfs.writeFile('a/b/c/d.txt', Buffer.from('x'));
    nfs.writeFile('a/keep.txt', Buffer.from('x'));
    nfs.remove('a/b/c/d.txt');
    expect(fs.existsSync(join(root, 'a/b'))).toBe(false);
    expect(fs.existsSync(join(root, 'a/keep.txt'))).toBe(true);
    nfs.remove('a/keep.txt');
    expect(fs.existsSync(root)).toBe(true);
    expect(fs.readdirSync(root)).toEqual([]);
    nfs.remove('missing/file.txt'); // not an error
  });

  it('chmods files and leaves symlinks alone', () => {
    nfs.writeFile('x.sh', Buffer.from('#!/bin/sh'), 0o644);
    nfs.chmod('x.sh', 0o100755);
    expect(fs.statSync(join(root, 'x.sh')).mode & 0o777).toBe(0o755);
    const outsideFile = join(base, 'target');
    fs.writeFileSync(outsideFile, 'x');
    fs.chmodSync(outsideFile, 0o600);
    fs.symlinkSync(outsideFile, join(root, 'link'));
    nfs.chmod('link', 0o777);
    expect(fs.statSync(outsideFile).mode & 0o777).toBe(0o600);
  });

  it('never writes through a chain of links that the kernel resolves outside (y -> ., x -> y/.., u0 -> x/.. ...)', () => {
    nfs.symlink('y', '.');
    expect(() => nfs.symlink('x', 'y/..')).toThrow(expect.objectContaining({ code: 'BAD_PATH', message: expect.stringMatching(/after a name/) }));
    // Made by hand (a user, or an older cshare), the chain still carries no write out.
    fs.symlinkSync('y/..', join(root, 'x'));
    fs.symlinkSync('x/..', join(root, 'u0'));
    expect(fs.realpathSync.native(join(root, 'u0'))).toBe(fs.realpathSync.native(join(base, '..')));
    for (const rel of ['x/ESCAPED.sh', 'u0/tmp/ESCAPED.sh', `u0/${base.split('/').pop()}/outside.txt`]) {
      expect(() => nfs.writeFile(rel, Buffer.from('#!/bin/sh\n'), 0o755)).toThrow(expect.objectContaining({ code: 'BAD_PATH' }));
    }
    expect(fs.existsSync(join(base, 'ESCAPED.sh'))).toBe(false);
    // A link whose target goes through the user's chain is refused as the kernel resolves it.
    expect(() => nfs.symlink('v', 'u0')).toThrow(expect.objectContaining({ code: 'BAD_PATH', message: expect.stringMatching(/resolves outside/) }));
  });

  it('refuses links into .git or .cshare, by any alias, directly or through a link the user made', () => {
    fs.mkdirSync(join(root, '.git/hooks'), { recursive: true });
    for (const target of ['.git', '.git/hooks', '.GIT.', 'GIT~1/config', '.cshare/store', 'sub/../.git']) {
      expect(() => nfs.symlink('g', target)).toThrow(expect.objectContaining({ code: 'BAD_PATH' }));
    }
    fs.symlinkSync('.git', join(root, 'mine'));
    expect(() => nfs.symlink('h', 'mine/hooks')).toThrow(expect.objectContaining({ code: 'BAD_PATH', message: expect.stringMatching(/resolves into \.git\//) }));
    expect(() => nfs.writeFile('mine/hooks/pre-commit', Buffer.from('x'), 0o755)).toThrow(expect.objectContaining({ code: 'BAD_PATH' }));
    expect(fs.readdirSync(join(root, '.git/hooks'))).toEqual([]);
    expect(nfs.linkProblem('ok', 'a/b')).toBeUndefined();
  });

  it('never opens a FIFO: reading one fails at once with IO, and a write replaces nothing through it', () => {
    execFileSync('mkfifo', [join(root, 'pipe')]);
    const started = Date.now();
    expect(() => nfs.readFile('pipe')).toThrow(expect.objectContaining({ code: 'IO', message: expect.stringMatching(/not a regular file/) }));
    expect(() => nfs.readExternal(join(root, 'pipe'))).toThrow(expect.objectContaining({ code: 'IO' }));
    nfs.chmod('pipe', 0o755); // not a regular file: left alone
    expect(Date.now() - started).toBeLessThan(2000);
    expect(fs.lstatSync(join(root, 'pipe')).isFIFO()).toBe(true);
    // A link is not read through either.
    fs.writeFileSync(join(base, 'secret'), 'secret');
    fs.symlinkSync(join(base, 'secret'), join(root, 'ln'));
    expect(() => nfs.readFile('ln')).toThrow(expect.objectContaining({ code: 'IO', message: expect.stringMatching(/symlink/) }));
  });
});
