import { describe, expect, it } from 'vitest';
import type { Replica } from '../../src/core/Replica.js';
import type { ScanScope } from '../../src/core/Scanner.js';
import { SyncLoop } from '../../src/sync/SyncLoop.js';

/** A replica that only records the scopes it is asked to scan, and fails when told to. */
function fakeReplica() {
  const scans: (string[] | 'all')[] = [];
  let failNext = false;
  const replica = {
    root: '/w',
    async scan(opts: { scope?: ScanScope } = {}) {
      scans.push(opts.scope ? opts.scope.list().sort() : 'all');
      if (failNext) {
        failNext = false;
        throw new Error('disk on fire');
      }
      return { recorded: [], files: 0, counts: { hashed: 0, fromCache: 0, fromGitIndex: 0 }, errors: [] };
    },
  };
  return { replica: replica as unknown as Replica, scans, failNext: () => (failNext = true) };
}

describe('SyncLoop.localChange (offline: it records only)', () => {
  it('scans only the paths of a burst; after a failed scoped pass, the whole tree once', async () => {
    const { replica, scans, failNext } = fakeReplica();
    const loop = new SyncLoop({
      replica, worktreeId: 'w', state: { relaySeq: 0, acked: -1 }, saveState: async () => {}, signal: new AbortController().signal,
      connect: () => new Promise(() => {}), onEvent: () => {},
    });
    await loop.localChange(['a.txt', 'd/b.txt']);
    failNext();
    await expect(loop.localChange(['c.txt'])).rejects.toThrow('disk on fire');
    await loop.localChange(['e.txt']); // c.txt is in no burst any more: the whole tree
    await loop.localChange(['f.txt']);
    await loop.localChange(['x/.gitignore']); // rules for other paths: the whole tree
    await loop.localChange(); // a pass at start
    expect(scans).toEqual([['a.txt', 'd/b.txt'], ['c.txt'], 'all', ['f.txt'], 'all', 'all']);
  });
});
