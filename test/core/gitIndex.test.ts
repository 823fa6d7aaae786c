import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CshareError } from '../../src/core/errors.js';
import { GitIndex, parseGitIndex } from '../../src/core/gitIndex.js';
import { git, gitInit, put, rng, sandbox, type Sandbox } from './gitOracle.js';

const boxes: Sandbox[] = [];
afterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});

/** A repository with nested, long, unicode and executable paths, some staged with -N. */
function repoWithIndex(version: number): Sandbox {
  const b = sandbox('cshare-index-');
  boxes.push(b);
  gitInit(b.repo, b.env);
  const long = `${'d'.repeat(120)}/${'n'.repeat(200)}/${'f'.repeat(3900)}`.slice(0, 4000);
  const paths = ['a.txt', 'dir/b.txt', 'dir/sub/c.txt', 'dir/sub/c2.txt', 'dirx.txt', 'ünï/ç.txt', 'x y.md', 'zz/long-name-shares-prefix-1', 'zz/long-name-shares-prefix-2'];
  for (const p of paths) put(b.repo, p, `content of ${p}\n`);
  put(b.repo, 'run.sh', 'echo\n', 0o755);
  fs.symlinkSync('a.txt', join(b.repo, 'link'));
  git(b.repo, b.env, ['add', '.']);
  // A name longer than 0xfff bytes exercises the NUL-terminated long-name case.
  try {
    fs.mkdirSync(join(b.repo, long.split('/').slice(0, 2).join('/')), { recursive: true });
    put(b.repo, long, 'long\n');
    git(b.repo, b.env, ['add', long]);
  } catch {
    // Some file systems refuse 4000-byte paths; the rest of the test still stands.
  }
  // Intent-to-add needs extended flags, which make git write at least version 3.
  if (version >= 3) {
    put(b.repo, 'new.txt', 'intent\n');
    git(b.repo, b.env, ['add', '-N', 'new.txt']);
  }
  git(b.repo, b.env, ['update-index', '--index-version', String(version)]);
  return b;
}

/** `git ls-files -s` as path -> { mode, oid, stage }. */
function lsFiles(b: Sandbox): Map<string, { mode: number; oid: string; stage: number }> {
  const out = new Map<string, { mode: number; oid: string; stage: number }>();
  for (const line of git(b.repo, b.env, ['-c', 'core.quotepath=off', 'ls-files', '-s', '-z']).split('\0')) {
    if (!line) continue;
    const m = /^(\d+) ([0-9a-f]+) (\d)\t(.*)$/s.exec(line)!;
    out.set(m[4]!, { mode: parseInt(m[1]!, 8), oid: m[2]!, stage: Number(m[3]) });
  }
  return out;
}

describe('parseGitIndex', () => {
  for (const version of [2, 3, 4]) {
    it(`reads a version ${version} index like git ls-files -s`, () => {
      const b = repoWithIndex(version);
      const bytes = fs.readFileSync(join(b.repo, '.git', 'index'));
      expect(bytes.readUInt32BE(4)).toBe(version);
      const entries = parseGitIndex(bytes);
      const want = lsFiles(b);
      expect([...entries.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [path, w] of want) expect({ path, mode: entries.get(path)!.mode, oid: entries.get(path)!.oid, stage: entries.get(path)!.stage }).toEqual({ path, ...w });
      const st = fs.statSync(join(b.repo, 'a.txt'));
      const a = entries.get('a.txt')!;
      expect(a.size).toBe(st.size);
      expect(a.ino).toBe(st.ino % 2 ** 32);
      expect(a.mtimeSec).toBe(Math.floor(st.mtimeMs / 1000));
      if (version >= 3) expect(entries.get('new.txt')!.intentToAdd).toBe(true);
      expect(a.intentToAdd).toBe(false);
    });
  }

  it('throws IO on truncated or corrupted input, and never anything else', () => {
    const b = repoWithIndex(4);
    const good = fs.readFileSync(join(b.repo, '.git', 'index'));
    expect(() => parseGitIndex(new Uint8Array(0))).toThrow(CshareError);
    expect(() => parseGitIndex(Buffer.from('XXXX\0\0\0\x02\0\0\0\x00' + '\0'.repeat(20)))).toThrow(/signature/);
    for (const cut of [13, 40, 80, good.length - 30]) {
      const e = (() => {
        try {
          parseGitIndex(good.subarray(0, cut));
          return undefined;
        } catch (err) {
          return err;
        }
      })();
      // Cutting only extension bytes can still leave a readable index; otherwise it is IO.
      if (e !== undefined) expect(e).toMatchObject({ code: 'IO' });
    }
    const r = rng(7);
    for (let i = 0; i < 500; i++) {
      const bad = Buffer.from(good);
      for (let k = 0; k < 1 + r.int(4); k++) bad[12 + r.int(bad.length - 12)] = r.int(256);
      try {
        parseGitIndex(bad);
      } catch (err) {
        expect(err).toBeInstanceOf(CshareError);
        expect((err as CshareError).code).toBe('IO');
      }
    }
  });

  for (const version of [2, 4]) {
    it(`GitIndex (version ${version}) decodes on demand what parseGitIndex decodes up front`, () => {
      const b = repoWithIndex(version);
      const bytes = fs.readFileSync(join(b.repo, '.git', 'index'));
      const full = parseGitIndex(bytes);
      const index = GitIndex.parse(bytes);
      expect(index.size).toBe(full.size);
      expect([...index.paths()]).toEqual([...full.keys()]);
      for (const [path, e] of full) {
        expect(index.has(path)).toBe(true);
        expect(index.get(path)).toEqual(e);
      }
      expect(index.has('nope')).toBe(false);
      expect(index.get('nope')).toBeUndefined();
      expect(index.has('dir')).toBe(false); // directories are not entries
      expect(index.newestMtimeMs()).toBe(Math.max(...[...full.values()].map((e) => e.mtimeSec * 1000 + e.mtimeNsec / 1e6)));
    });
  }
});
