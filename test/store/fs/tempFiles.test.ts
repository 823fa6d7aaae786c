import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CshareError } from '../../../src/core/errors.js';
import { gitBlobId } from '../../../src/core/digest.js';
import { AsideFiles, ASIDE_GRACE_MS } from '../../../src/store/fs/AsideFiles.js';
import { createTemps, type TempSpec } from '../../../src/store/fs/tempFiles.js';
import { until } from '../../helpers/procs.js';
import { tempDir } from '../../helpers/tmp.js';

let root: string;
beforeEach(() => {
  root = tempDir('cshare-temps-');
  for (const d of ['a', 'b']) fs.mkdirSync(join(root, d));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const spec = (rel: string, text: string, perms?: number): TempSpec => ({
  rel,
  abs: join(root, rel),
  prefix: join(root, rel, '..', `.${rel.split('/').pop()}.cshare-tmp-`),
  perms,
  data: Buffer.from(text),
});

describe('temp files created on the thread pool (createTemps)', () => {
  it('writes each one with its bytes and permissions, in the order given, closed or left open as asked', async () => {
    // More than run at once, so the pool's workers take turns; one mode the umask would cut.
    const specs = Array.from({ length: 40 }, (_, i) => spec(`${i % 2 ? 'a' : 'b'}/f${i}.txt`, `file ${i}\n`.repeat(i + 1), i === 3 ? 0o4755 : i % 3 ? 0o644 : 0o755));
    const temps = await createTemps(specs, false);
    expect(temps.map((t) => t.rel)).toEqual(specs.map((s) => s.rel));
    temps.forEach((t, i) => {
      expect(t.fd).toBeUndefined();
      expect(t.path.startsWith(specs[i]!.prefix)).toBe(true);
      expect(fs.readFileSync(t.path, 'utf8')).toBe(`file ${i}\n`.repeat(i + 1));
      expect(fs.statSync(t.path).mode & 0o7777).toBe(specs[i]!.perms);
    });
    const open = await createTemps([spec('a/open.txt', 'kept open')], true);
    expect(typeof open[0]!.fd).toBe('number');
    expect(fs.fstatSync(open[0]!.fd!).size).toBe(9);
    fs.closeSync(open[0]!.fd!);
  });

  it('fails as a whole when one cannot be written: IO naming its path, and none of the others is left behind', async () => {
    const specs = [...Array.from({ length: 20 }, (_, i) => spec(`a/f${i}.txt`, `file ${i}`)), spec('missing/x.txt', 'nowhere'), spec('b/last.txt', 'last')];
    const err = await createTemps(specs, false).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CshareError);
    expect((err as CshareError).code).toBe('IO');
    expect((err as CshareError).message).toContain('missing/x.txt');
    expect(fs.readdirSync(join(root, 'a'))).toEqual([]);
    expect(fs.readdirSync(join(root, 'b'))).toEqual([]);
  });
});

describe('moved-aside files (AsideFiles)', () => {
  it('removes one nobody wrote to after the grace period, and hands over a save that reached one', async () => {
    const dir = join(root, 'aside');
    fs.mkdirSync(dir);
    const asides = new AsideFiles();
    const late: { rel: string; text: string; replaced: string }[] = [];
    asides.onLateSave((rel, bytes, replaced) => late.push({ rel, text: Buffer.from(bytes).toString(), replaced }));
    const keep = (name: string, text: string) => {
      const path = join(dir, name);
      fs.writeFileSync(path, text);
      const st = fs.lstatSync(path, { bigint: true });
      asides.keep(`w/${name}`, { path, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs }, gitBlobId(Buffer.from(text)));
      return path;
    };
    const started = Date.now();
    for (let i = 0; i < 30; i++) keep(`quiet${i}`, `as written ${i}`);
    const written = keep('late', 'as written');
    // A writer that opened it before it was replaced writes its save into it now.
    fs.appendFileSync(written, ' and a late save');
    await until(() => fs.readdirSync(dir).length === 0, 10_000, () => `left: ${fs.readdirSync(dir).join(', ')}`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(ASIDE_GRACE_MS);
    expect(late).toEqual([{ rel: 'w/late', text: 'as written and a late save', replaced: gitBlobId(Buffer.from('as written')) }]);
  });
});
