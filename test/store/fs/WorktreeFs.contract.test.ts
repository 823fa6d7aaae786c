import * as nfs from 'node:fs';
import { join } from 'node:path';
import { NodeFs } from '../../../src/store/fs/NodeFs.js';
import { MemFs } from '../../helpers/MemFs.js';
import { tempDir } from '../../helpers/tmp.js';
import { runWorktreeFsContract } from './worktreeFsContract.js';

runWorktreeFsContract('NodeFs', () => {
  const root = join(nfs.realpathSync(tempDir('cshare-fs-contract-')), 'wt');
  nfs.mkdirSync(root);
  return {
    fs: new NodeFs(root),
    rename: (from, to) => nfs.renameSync(join(root, from), join(root, to)),
    mkdir: (rel) => nfs.mkdirSync(join(root, rel), { recursive: true }),
  };
});

runWorktreeFsContract('MemFs', () => {
  const fs = new MemFs();
  return { fs, rename: (from, to) => fs.rename(from, to), mkdir: (rel) => fs.mkdir(rel) };
});
