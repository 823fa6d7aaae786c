import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { isCshareTempName } from '../../src/core/paths.js';

/**
 * A worktree's files as path -> "mode:content" (symlinks as "link:target"), minus .cshare/. A
 * file that vanishes between the listing and its read (a running process renamed its temp
 * file into place) is left out: callers that wait for a tree to settle compare it again.
 */
export function treeOf(root: string, skip = new Set(['.cshare', '.no-home'])): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel))) {
      if (rel === '' && skip.has(name)) continue;
      // What a write moved aside a moment ago (see `store/fs/AsideFiles.ts`), as scans skip it.
      if (isCshareTempName(name)) continue;
      const r = rel ? `${rel}/${name}` : name;
      try {
        const st = lstatSync(join(root, r));
        if (st.isDirectory()) walk(r);
        else if (st.isSymbolicLink()) out[r] = `link:${readlinkSync(join(root, r))}`;
        else out[r] = `${st.mode & 0o111 ? 'x' : '-'}:${readFileSync(join(root, r)).toString('base64')}`;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  };
  walk('');
  return out;
}
