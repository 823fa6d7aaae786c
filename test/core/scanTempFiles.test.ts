import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { isCshareTempName } from '../../src/core/paths.js';
import { scanWorktree } from '../../src/core/Scanner.js';
import { NodeFs } from '../../src/store/fs/NodeFs.js';
import { openReplica } from '../helpers/replica.js';
import { tempDir } from '../helpers/tmp.js';

// Found by the multi-process chaos run (test/e2e/chaos.test.ts): a process killed between
// writing the temporary file of an atomic write and renaming it left it behind, and the next
// scan shared it with everyone as a new file.
it('a scan skips the temporary files of cshare atomic writes left by a killed process', () => {
  const root = tempDir();
  mkdirSync(join(root, 'src'));
  writeFileSync(join(root, 'src/a.bin'), 'a');
  writeFileSync(join(root, 'src/.a.bin.cshare-tmp-0123456789ab'), 'half written');
  writeFileSync(join(root, '.cshare-tmp-notes'), 'a user file that only looks similar');
  const scan = scanWorktree({ fs: new NodeFs(root), statCache: new Map() });
  expect(scan.files.map((f) => f.path).sort()).toEqual(['.cshare-tmp-notes', 'src/a.bin']);
  expect(isCshareTempName('.x.cshare-tmp-abcdef012345')).toBe(true);
  expect(isCshareTempName('x.cshare-tmp-abcdef012345')).toBe(false);
});

it('recording removes such leftovers (nothing of its own is being written then), and keeps look-alike user files', async () => {
  const root = tempDir();
  mkdirSync(join(root, 'src'));
  writeFileSync(join(root, 'src/a.bin'), 'a');
  writeFileSync(join(root, 'src/.a.bin.cshare-tmp-0123456789ab'), 'half written');
  writeFileSync(join(root, '.cshare-tmp-notes'), 'a user file that only looks similar');
  const { replica } = await openReplica(root);
  const { recorded } = await replica.scan();
  expect(recorded.map((c) => c.path).sort()).toEqual(['.cshare-tmp-notes', 'src/a.bin']);
  expect(existsSync(join(root, 'src/.a.bin.cshare-tmp-0123456789ab'))).toBe(false);
  expect(existsSync(join(root, '.cshare-tmp-notes'))).toBe(true);
  replica.close();
});
