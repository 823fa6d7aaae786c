/**
 * Story (issue 14, item 5): a joined worktree copied with `cp -a` (a backup restored beside
 * the original, a second checkout made by copying) and joined from both copies. The copy
 * finds its store moved to another directory and takes a replica id of its own; both copies
 * then sync with the sharer, and every side converges (with one id, they diverged for good).
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { cshareJson } from '../../helpers/cli.js';
import { start, stopAll, until } from '../../helpers/procs.js';
import { cluster, read } from './cluster.js';

afterEach(stopAll);

it('cp -a of a joined worktree, joined from both: each copy has its own replica id and all three converge', async () => {
  const c = await cluster({ files: { 'f.txt': 'one\n', 'g.txt': 'g\n' } });
  await c.joiner.stop();
  const bob2 = join(c.base, 'bob2');
  execFileSync('cp', ['-a', c.bob, bob2]);
  const j1 = start('bob', c.base, ['join', c.codes.readWrite, c.bob]);
  const j2 = start('bob', c.base, ['join', c.codes.readWrite, bob2]);
  await j1.line((l) => l.event === 'joined');
  await j2.line((l) => l.event === 'joined');
  const id1 = cshareJson(c.bob, ['status']).json.replica.id;
  const id2 = cshareJson(bob2, ['status']).json.replica.id;
  expect(id1).not.toBe(id2);

  // Each copy edits the same file; the sharer edits it too.
  appendFileSync(join(c.bob, 'f.txt'), 'from bob\n');
  appendFileSync(join(bob2, 'f.txt'), 'from the copy\n');
  appendFileSync(join(c.alice, 'g.txt'), 'from alice\n');
  const done = (t: string | undefined) => t !== undefined && t.includes('from bob') && t.includes('from the copy');
  await until(() => done(read(c.alice, 'f.txt')) && read(c.alice, 'f.txt') === read(c.bob, 'f.txt') && read(c.bob, 'f.txt') === read(bob2, 'f.txt'), 60_000, () => `alice ${read(c.alice, 'f.txt')} bob ${read(c.bob, 'f.txt')} copy ${read(bob2, 'f.txt')}`);
  await until(() => read(c.bob, 'g.txt') === 'g\nfrom alice\n' && read(bob2, 'g.txt') === 'g\nfrom alice\n');
}, 180_000);
