import { existsSync, lstatSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CshareError } from '../core/errors.js';
import { Replica } from '../core/Replica.js';
import { NodeFs } from './fs/NodeFs.js';
import { LevelStore } from './level/LevelStore.js';

/** Where a worktree's store lives inside it. */
export const STORE_DIR = '.cshare';

/**
 * The worktree root for `cwd`: the nearest ancestor holding `.cshare/`, else the nearest
 * holding `.git`, else `cwd` itself (like `git init` would pick).
 */
export function findWorktreeRoot(cwd: string): string {
  const start = resolve(cwd);
  let st;
  try {
    st = statSync(start);
  } catch (err) {
    throw new CshareError('NOT_A_DIRECTORY', `${start} does not exist`, { path: start }, { cause: err });
  }
  if (!st.isDirectory()) throw new CshareError('NOT_A_DIRECTORY', `${start} is not a directory`, { path: start });
  for (const marker of [STORE_DIR, '.git']) {
    for (let dir = start; ; dir = dirname(dir)) {
      if (existsSync(join(dir, marker))) return dir;
      if (dirname(dir) === dir) break;
    }
  }
  return start;
}

/** An open replica and what must be closed with it. */
export interface OpenWorktree {
  replica: Replica;
  store: LevelStore;
  close(): Promise<void>;
}

/**
 * Opens the replica of the worktree containing `cwd`, creating `.cshare/` on first use.
 * Errors name what to do: a damaged store is `STORE_CORRUPT` (move `.cshare` aside), one in use
 * by a running `share`/`join` is `STORE_LOCKED`.
 */
export async function openWorktree(opts: { cwd: string; env?: NodeJS.ProcessEnv; textLimit?: number; exactRoot?: boolean }): Promise<OpenWorktree> {
  const root = opts.exactRoot ? resolve(opts.cwd) : findWorktreeRoot(opts.cwd);
  const storeDir = join(root, STORE_DIR);
  const st = existsSync(storeDir) ? lstatSync(storeDir) : undefined;
  if (st && !st.isDirectory()) {
    throw new CshareError('STORE_CORRUPT', `${storeDir} exists but is not a directory; move it aside`, { path: storeDir });
  }
  const store = await LevelStore.open(join(storeDir, 'store'));
  try {
    const env = opts.env ?? process.env;
    const replica = await Replica.open({
      fs: new NodeFs(root),
      kv: store,
      env,
      home: env.HOME ?? homedir(),
      textLimit: opts.textLimit,
    });
    return {
      replica,
      store,
      async close() {
        replica.close();
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
