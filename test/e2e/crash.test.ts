import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { FileDoc } from '../../src/core/FileDoc.js';
import { Replica } from '../../src/core/Replica.js';
import { NodeFs } from '../../src/store/fs/NodeFs.js';
import { BlobPacks } from '../../src/store/fs/BlobPacks.js';
import { LevelStore } from '../../src/store/level/LevelStore.js';
import { tempDir } from '../helpers/tmp.js';

const script = fileURLToPath(new URL('../fixtures/scanLoop.mjs', import.meta.url));
const KILLS = Number(process.env.CSHARE_CRASH_KILLS ?? 12);

/** Runs the scan loop until it has reported a few changes, then kills it with SIGKILL. */
function runAndKill(root: string, seed: number, delayMs: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, root, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const seqs: number[] = [];
    let buf = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) seqs.push(Number(l));
      // Start the kill timer once the child is recording, then kill at a random later moment.
      if (!timer) timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const deadline = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code, signal) => {
      clearTimeout(deadline);
      if (signal !== 'SIGKILL') reject(new Error(`scan loop exited with ${code}: ${err}`));
      else resolve(seqs);
    });
  });
}

it('a store killed with SIGKILL during scans opens and keeps every reported change', async () => {
  const root = tempDir();
  const reported: number[] = [];
  for (let k = 0; k < KILLS; k++) {
    reported.push(...(await runAndKill(root, k + 1, 20 + ((k * 37) % 200))));
  }
  expect(reported.length).toBeGreaterThan(KILLS);

  const kv = await LevelStore.open(`${root}/.cshare/store`);
  const packs = BlobPacks.open(`${root}/.cshare/packs`);
  const replica = await Replica.open({ fs: new NodeFs(root), kv, packs, env: { USER: 'check' } });
  const logged = new Set((await replica.log()).map((o) => o.seq));
  const missing = reported.filter((s) => !logged.has(s));
  expect(missing).toEqual([]);
  // The store is consistent with itself: after recording what the last kill interrupted,
  // nothing is left pending, and every file's recorded digest matches the disk.
  await replica.scan();
  expect((await replica.status()).changed).toEqual([]);
  // Every text file's history rebuilds to exactly what is on disk.
  const files = await replica.files();
  expect(files.files.length).toBeGreaterThan(0);
  for (const f of files.files.filter((x) => x.kind === 'text' && x.path.startsWith('f'))) {
    const h = await replica.fileHistory(f.path);
    const doc = FileDoc.load({ fileId: h.fileId, clientId: 99, updates: h.updates });
    expect(doc.text).toBe(readFileSync(join(root, f.path), 'utf8'));
    doc.destroy();
  }
  replica.close();
  packs.close();
  await kv.close();
}, 120_000);
