/**
 * The generated worktree of the network benchmarks: the same shape as `bench/scan.ts`'s
 * (nested dirs, mostly text of mixed sizes, 5% binaries, a .gitignore with some ignored
 * content), from a seeded PRNG so every run measures the same tree. Kept here rather than
 * imported because `scan.ts` does not export its generator.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Writes `files` files (about 10 KB each on average: 10,000 files are ~100 MB) under `root`,
 * plus ignored content (`tmp/`, `*.log`) that sharing must skip. Returns the shared files
 * and bytes.
 */
export function generateTree(root: string, files = 10_000, seed = 42): { files: number; bytes: number } {
  const rand = prng(seed);
  const words = 'const let function return import export class interface type async await yield value index path file scan tree hash'.split(' ');
  const lines: string[] = [];
  for (let i = 0; i < 4000; i++) lines.push(Array.from({ length: 3 + Math.floor(rand() * 10) }, () => words[Math.floor(rand() * words.length)]).join(' '));
  const pool = Buffer.from(lines.join('\n') + '\n');
  const binPool = Buffer.alloc(2 * 1024 * 1024);
  for (let i = 0; i < binPool.length; i++) binPool[i] = Math.floor(rand() * 256);

  const dirs: string[] = [''];
  for (let i = 0; i < 150; i++) {
    const parent = dirs[Math.floor(rand() * dirs.length)]!;
    const d = parent === '' ? `d${i}` : `${parent}/d${i}`;
    if (d.split('/').length > 5) continue;
    dirs.push(d);
    fs.mkdirSync(join(root, d), { recursive: true });
  }
  fs.writeFileSync(join(root, '.gitignore'), '*.log\ntmp/\nnode_modules/\n');
  let bytes = 0;
  for (let i = 0; i < files; i++) {
    const dir = dirs[Math.floor(rand() * dirs.length)]!;
    const binary = rand() < 0.05;
    // Text: 0.5–30 KB, skewed small; binary: 10–100 KB.
    const size = binary ? 10_000 + Math.floor(rand() * 90_000) : 500 + Math.floor(rand() * rand() * 30_000);
    const src = binary ? binPool : pool;
    const off = Math.floor(rand() * (src.length - size));
    const body = Buffer.concat([Buffer.from(`// file ${i}\n`), src.subarray(off, off + size)]);
    const name = binary ? `f${i}.bin` : `f${i}.${['ts', 'js', 'md', 'json', 'txt'][i % 5]}`;
    fs.writeFileSync(join(root, dir, name), body);
    bytes += body.length;
  }
  fs.mkdirSync(join(root, 'tmp'), { recursive: true });
  for (let i = 0; i < 50; i++) fs.writeFileSync(join(root, 'tmp', `t${i}.dat`), pool.subarray(0, 5000));
  for (let i = 0; i < 50; i++) fs.writeFileSync(join(root, `l${i}.log`), pool.subarray(0, 1000));
  return { files: files + 1, bytes };
}

/**
 * sha1 of every regular file and symlink target under `root` by relative path, skipping
 * the directories named in `skip` (`.git`, `.cshare`).
 */
export function digestTree(root: string, skip = new Set(['.git', '.cshare'])): Map<string, string> {
  const outMap = new Map<string, string>();
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!skip.has(e.name)) walk(r);
      } else if (e.isSymbolicLink()) outMap.set(r, `link:${fs.readlinkSync(join(root, r))}`);
      else if (e.isFile()) outMap.set(r, createHash('sha1').update(fs.readFileSync(join(root, r))).digest('hex'));
    }
  };
  walk('');
  return outMap;
}

/** Differences between two digest maps (at most `limit` listed); empty when equal. */
export function compareDigests(want: Map<string, string>, got: Map<string, string>, limit = 10): string[] {
  const diffs: string[] = [];
  for (const [p, d] of want) {
    if (!got.has(p)) diffs.push(`missing ${p}`);
    else if (got.get(p) !== d) diffs.push(`differs ${p}`);
  }
  for (const p of got.keys()) if (!want.has(p)) diffs.push(`extra ${p}`);
  return diffs.slice(0, limit).concat(diffs.length > limit ? [`... ${diffs.length - limit} more`] : []);
}
