import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stopAll, until } from '../helpers/procs.js';
import { treeOf } from '../helpers/tree.js';
import { hostilePeer, listTree, stage, stillSyncing } from './realPeer.js';

afterEach(stopAll);

/**
 * Issue 15 item 14: names that some file system opens as `.git` or `.cshare` (NTFS trailing
 * dots and spaces, 8.3 short names, alternate data streams; HFS+ ignorable code points) are
 * refused as git refuses them, by the relay and by every replica, so a hook written as
 * `.git./hooks/pre-commit` on Linux never reaches a Windows or macOS collaborator's `.git`.
 */
const ALIASES = ['.git.', '.git ', 'GIT~1', '.git::$INDEX_ALLOCATION', '.g\u200cit', '.G\u200dIT', '.cshare.', 'CSHARE~1', '.c\u200cshare'];

describe('hostile peer against real processes: platform aliases of .git and .cshare', () => {
  it('the relay refuses every alias with BAD_PATH; no replica writes one; syncing goes on', async () => {
    const s = await stage({ 'README.md': 'hello\n' });
    const mallory = await hostilePeer(s.codes.readWrite);
    try {
      let n = 0;
      for (const alias of ALIASES) {
        for (const path of [`${alias}/hooks/pre-commit`, `src/${alias}/config`]) {
          const r = await mallory.put({ [`evil${n++}`]: { path, content: '#!/bin/sh\ntouch /tmp/pwned\n', mode: 0o100755 } });
          expect({ path, r }).toEqual({ path, r: { ok: false, code: 'BAD_PATH', message: expect.stringMatching(/inside \.(git|cshare)\//) } });
        }
      }
      // A safe entry from the same peer still goes through: only the aliases were refused.
      expect(await mallory.put({ fine: { path: 'fine.txt', content: 'fine\n' } })).toEqual({ ok: true });
      await until(() => existsSync(join(s.carol, 'fine.txt')), 30_000, () => `fine.txt never reached the viewer: ${s.viewer.stderr}`);
      await stillSyncing(s, 'after.txt', 'after\n');
      for (const root of [s.alice, s.carol]) {
        const names = listTree(root, (r) => r === '.cshare' || r === '.no-home');
        expect(names.filter((p) => ALIASES.some((a) => p.split('/').includes(a)))).toEqual([]);
      }
      expect(Object.keys(treeOf(s.carol)).sort()).toEqual(['README.md', 'after.txt', 'fine.txt']);
    } finally {
      await mallory.close();
    }
  }, 120_000);
});
