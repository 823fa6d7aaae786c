import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isText } from '../../src/core/classify.js';
import { gitBlobId } from '../../src/core/digest.js';
import { isSecretName, SECRET_PATTERNS } from '../../src/core/ignore/secrets.js';
import { isScratchName, SCRATCH_PATTERNS } from '../../src/core/ignore/scratch.js';
import type { WorktreeFs } from '../../src/core/ports.js';
import { compareGitPaths, scanWorktree, type CachedStat, type ScanResult } from '../../src/core/Scanner.js';
import { NodeFs } from '../../src/store/fs/NodeFs.js';
import ignore from 'ignore';
import { git, gitInit, put, sandbox, type Sandbox } from './gitOracle.js';

const boxes: Sandbox[] = [];
afterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});
function box(): Sandbox {
  const b = sandbox();
  boxes.push(b);
  return b;
}
function cacheOf(result: ScanResult): Map<string, CachedStat> {
  return new Map(result.files.map((f) => [f.path, f.stat]));
}

describe('digest and classify', () => {
  it('gitBlobId equals git hash-object', () => {
    const b = box();
    for (const bytes of [new Uint8Array(0), Buffer.from('hello\n'), Uint8Array.from({ length: 70000 }, (_, i) => i % 251)]) {
      expect(gitBlobId(bytes)).toBe(git(b.repo, b.env, ['hash-object', '--stdin'], Buffer.from(bytes)).trim());
    }
  });

  it('isText: UTF-8 without NUL, within the limit', () => {
    expect(isText(Buffer.from('plain ascii\n'))).toBe(true);
    expect(isText(Buffer.from('ünïcødé 😀'))).toBe(true);
    expect(isText(new Uint8Array(0))).toBe(true);
    expect(isText(Buffer.from('a\0b'))).toBe(false);
    expect(isText(Uint8Array.from([0xc3]))).toBe(false); // truncated sequence
    expect(isText(Uint8Array.from([0xed, 0xa0, 0x80]))).toBe(false); // surrogate
    expect(isText(Buffer.from('12345'), 4)).toBe(false);
    expect(isText(Buffer.from('1234'), 4)).toBe(true);
    const sub = Buffer.from('xx\0yy').subarray(3);
    expect(isText(sub)).toBe(true);
  });

  it('isSecretName agrees with the gitignore patterns', () => {
    const ig = ignore({ ignorecase: false }).add([...SECRET_PATTERNS]);
    for (const name of ['.env', '.env.local', '.env.', '.envrc', 'env', 'a.pem', 'pem', 'x.key', 'x.keys', 'k.p12', 'id_rsa', 'id_rsa.pub', 'my_id_rsa', 'id_ed25519', 'id_ed25519.pub', '.npmrc', '.netrc', '.pypirc', 'credentials.json', 'credentials.json5', 'README', 'c', 'i', 'id', 'cred.key', 'x.m', 'y', '2', 'a.p2', 'my.pem.bak']) {
      expect({ name, secret: isSecretName(name) }).toEqual({ name, secret: ig.ignores(name) });
    }
  });

  it('isScratchName agrees with the gitignore patterns of editor and OS scratch files', () => {
    const ig = ignore({ ignorecase: false }).add([...SCRATCH_PATTERNS]);
    const names = ['.a.txt.swp', 'a.swp', '.swp', 'x.swo', 'x.swn', 'x.swx', 'swp', 'notes~', '~', '~x', '4913', '49130', '.#lock', '.#', '#auto#', '#', '##', '#x', 'a#b#',
      'f.kate-swp', '.f.un~', 'a.txt___jb_tmp___', 'a.txt___jb_old___', '___jb_tmp', '.DS_Store', '.ds_store', '._x', '._', '.x', 'Thumbs.db', 'desktop.ini', 'README.md', 'main.c', 'swap.txt', '.gitignore'];
    for (const name of names) expect({ name, scratch: isScratchName(name) }).toEqual({ name, scratch: ig.ignores(name) });
  });

  it('compareGitPaths orders by UTF-8 bytes', () => {
    const paths = ['a.txt', 'a/b', 'a', 'ab', '\uffff', '😀', 'z', 'É', 'a b'];
    const want = [...paths].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...paths].sort(compareGitPaths)).toEqual(want);
  });
});

describe('scanWorktree caching', () => {
  it('rescans an unchanged tree without reading, and re-reads only what changed', () => {
    const b = box();
    for (let i = 0; i < 50; i++) put(b.repo, `d${i % 5}/f${i}.txt`, `file ${i}\n`);
    fs.symlinkSync('d0/f0.txt', join(b.repo, 'link'));
    const fsys = new NodeFs(b.repo);
    const cold = scanWorktree({ fs: fsys, statCache: new Map(), racyWindowMs: 0, now: Date.now() + 100 });
    expect(cold.counts).toEqual({ hashed: 51, fromCache: 0, fromGitIndex: 0 });
    const warm = scanWorktree({ fs: fsys, statCache: cacheOf(cold), racyWindowMs: 0, now: Date.now() + 100 });
    expect(warm.counts).toEqual({ hashed: 0, fromCache: 51, fromGitIndex: 0 });
    expect(warm.files).toEqual(cold.files);

    const earlier = new Date(Date.now() - 5000);
    fs.utimesSync(join(b.repo, 'd3/f3.txt'), earlier, earlier); // touch: same content, new ctime
    // `now` a little later than the fresh ctime, so the touched file is not racy itself.
    const touched = scanWorktree({ fs: fsys, statCache: cacheOf(warm), racyWindowMs: 0, now: Date.now() + 100 });
    expect(touched.counts).toEqual({ hashed: 1, fromCache: 50, fromGitIndex: 0 });
    expect(touched.files.map((f) => f.digest)).toEqual(cold.files.map((f) => f.digest));

    fs.writeFileSync(join(b.repo, 'd4/f4.txt'), 'changed\n');
    const changed = scanWorktree({ fs: fsys, statCache: cacheOf(touched), racyWindowMs: 0, now: Date.now() + 100 });
    expect(changed.counts.hashed).toBe(1);
    expect(changed.files.find((f) => f.path === 'd4/f4.txt')?.digest).toBe(gitBlobId(Buffer.from('changed\n')));
  });

  it('does not trust the stat of a file written in the same instant as the scan (racy)', () => {
    const b = box();
    put(b.repo, 'a.txt', 'aaaa');
    const fsys = new NodeFs(b.repo);
    const mtime = fs.statSync(join(b.repo, 'a.txt')).mtimeMs;
    const first = scanWorktree({ fs: fsys, statCache: new Map(), now: mtime, racyWindowMs: 10 });
    expect(first.files[0]!.stat.ctimeMs).toBe(-1);
    // Same size, same mtime: only the smudged cache entry makes the change visible.
    fs.writeFileSync(join(b.repo, 'a.txt'), 'bbbb');
    fs.utimesSync(join(b.repo, 'a.txt'), new Date(mtime), new Date(mtime));
    const second = scanWorktree({ fs: fsys, statCache: cacheOf(first), racyWindowMs: 0 });
    expect(second.counts.hashed).toBe(1);
    expect(second.files[0]!.digest).toBe(gitBlobId(Buffer.from('bbbb')));
  });

  it('takes a time with a fraction of a second as racy only within 250 ms of the scan, a time in whole seconds within 3 s', () => {
    const b = box();
    put(b.repo, 'fine.txt', 'fine');
    put(b.repo, 'coarse.txt', 'coarse');
    const real = new NodeFs(b.repo);
    const now = 1_700_000_010_000;
    // The times a file system of nanoseconds (fine) and one of seconds (coarse) would give a
    // file written 1 s before the scan started.
    const times: Record<string, number> = { 'fine.txt': now - 1000 + 0.123456, 'coarse.txt': now - 1000 };
    const fsys = new Proxy(real, {
      get(target, prop) {
        if (prop === 'lstat') return (p: string) => {
          const st = target.lstat(p);
          return st && times[p] !== undefined ? { ...st, mtimeMs: times[p], ctimeMs: times[p] } : st;
        };
        const v = Reflect.get(target, prop);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as WorktreeFs;
    const scanned = scanWorktree({ fs: fsys, statCache: new Map(), now });
    const stat = (p: string) => scanned.files.find((f) => f.path === p)!.stat;
    expect(stat('fine.txt').ctimeMs).toBe(times['fine.txt']);
    expect(stat('coarse.txt').ctimeMs).toBe(-1);
    // 200 ms before the scan: racy even with a fraction of a second.
    times['fine.txt'] = now - 200 + 0.5;
    expect(scanWorktree({ fs: fsys, statCache: new Map(), now }).files.find((f) => f.path === 'fine.txt')!.stat.ctimeMs).toBe(-1);
    // A window given is used for both.
    times['fine.txt'] = now - 1000 + 0.5;
    expect(scanWorktree({ fs: fsys, statCache: new Map(), now, racyWindowMs: 2000 }).files.find((f) => f.path === 'fine.txt')!.stat.ctimeMs).toBe(-1);
    // The next scan trusts the fine entry (reads nothing of it) and reads the coarse one again.
    times['fine.txt'] = now - 1000 + 0.123456;
    const again = scanWorktree({ fs: fsys, statCache: cacheOf(scanned), now: now + 5000 });
    expect(again.counts).toMatchObject({ fromCache: 1, hashed: 1 });
  });

  it('takes blob ids from the git index when its stat data matches, but not with attributes', () => {
    const b = box();
    gitInit(b.repo, b.env);
    for (let i = 0; i < 20; i++) put(b.repo, `f${i}.txt`, `file ${i}\n`);
    put(b.repo, 'big.bin', Buffer.alloc(3000, 1));
    git(b.repo, b.env, ['add', '.']);
    const fsys = new NodeFs(b.repo);
    const result = scanWorktree({ fs: fsys, statCache: new Map(), env: b.env, home: b.home, racyWindowMs: 0, textLimit: 1000 });
    // All but the newest entry (which could be racy against the index write).
    expect(result.counts.fromGitIndex).toBeGreaterThanOrEqual(19);
    expect(result.counts.fromGitIndex + result.counts.hashed).toBe(21);
    const big = result.files.find((f) => f.path === 'big.bin')!;
    expect(big).toMatchObject({ kind: 'binary', digest: gitBlobId(Buffer.alloc(3000, 1)) });

    put(b.repo, '.gitattributes', '*.txt text eol=crlf\n');
    const withAttrs = scanWorktree({ fs: fsys, statCache: new Map(), env: b.env, home: b.home, racyWindowMs: 0 });
    expect(withAttrs.counts.fromGitIndex).toBe(0);
  });
});

describe('scanWorktree robustness', () => {
  it('skips files that vanish mid-scan', () => {
    const b = box();
    for (const p of ['a.txt', 'b.txt', 'c.txt', 'd/e.txt']) put(b.repo, p, p);
    const real = new NodeFs(b.repo);
    const flaky: WorktreeFs = Object.assign(Object.create(real) as WorktreeFs, {
      lstat(rel: string) {
        if (rel === 'b.txt') fs.rmSync(join(b.repo, 'b.txt'), { force: true });
        return real.lstat(rel);
      },
      readFile(rel: string) {
        if (rel === 'c.txt') fs.rmSync(join(b.repo, 'c.txt'), { force: true });
        return real.readFile(rel);
      },
      readdir(rel: string) {
        const out = real.readdir(rel);
        if (rel === '') fs.rmSync(join(b.repo, 'd'), { recursive: true, force: true });
        return out;
      },
    });
    const result = scanWorktree({ fs: flaky, statCache: new Map() });
    expect(result.files.map((f) => f.path)).toEqual(['a.txt']);
    expect(result.errors).toEqual([]);
  });

  it('reports unreadable files and directories in errors instead of throwing', () => {
    const b = box();
    put(b.repo, 'ok.txt', 'ok');
    put(b.repo, 'locked.txt', 'secret-ish');
    put(b.repo, 'lockeddir/x.txt', 'x');
    fs.chmodSync(join(b.repo, 'locked.txt'), 0o000);
    fs.chmodSync(join(b.repo, 'lockeddir'), 0o000);
    try {
      const result = scanWorktree({ fs: new NodeFs(b.repo), statCache: new Map() });
      if (process.getuid?.() === 0) {
        // root reads everything: the point is only that nothing throws.
        expect(result.files.map((f) => f.path)).toContain('ok.txt');
      } else {
        expect(result.files.map((f) => f.path)).toEqual(['ok.txt']);
        expect(result.errors.map((e) => e.path).sort()).toEqual(['locked.txt', 'lockeddir']);
        expect(result.errors[0]!.message).toMatch(/permission denied|EACCES/i);
      }
    } finally {
      fs.chmodSync(join(b.repo, 'locked.txt'), 0o644);
      fs.chmodSync(join(b.repo, 'lockeddir'), 0o755);
    }
  });

  it('reports non-UTF-8 file names instead of crashing, and keeps case variants', () => {
    const b = box();
    put(b.repo, 'fine.txt', 'x');
    put(b.repo, 'Fine.txt', 'y');
    fs.writeFileSync(Buffer.concat([Buffer.from(`${b.repo}/bad-`), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]), 'z');
    const result = scanWorktree({ fs: new NodeFs(b.repo), statCache: new Map() });
    expect(result.files.map((f) => f.path)).toEqual(['Fine.txt', 'fine.txt']);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]!.message).toMatch(/UTF-8/);
  });

  it('honours an aborted signal', () => {
    const b = box();
    put(b.repo, 'a.txt', 'a');
    const ac = new AbortController();
    ac.abort();
    expect(() => scanWorktree({ fs: new NodeFs(b.repo), statCache: new Map(), signal: ac.signal })).toThrow();
  });

  it('survives a corrupt git index by ignoring it', () => {
    const b = box();
    gitInit(b.repo, b.env);
    put(b.repo, '.gitignore', 'ign/\n');
    put(b.repo, 'ign/tracked.txt', 't');
    put(b.repo, 'a.txt', 'a');
    git(b.repo, b.env, ['add', '-f', '.']);
    const idx = join(b.repo, '.git', 'index');
    fs.writeFileSync(idx, fs.readFileSync(idx).subarray(0, 50));
    const result = scanWorktree({ fs: new NodeFs(b.repo), statCache: new Map(), env: b.env, home: b.home });
    expect(result.files.map((f) => f.path)).toEqual(['.gitignore', 'a.txt']);
    expect(result.errors).toEqual([]);
  });
});
