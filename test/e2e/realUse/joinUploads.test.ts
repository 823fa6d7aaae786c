/**
 * Story (issue 14, item 7): joining never sends a file of the joined folder to everyone
 * unasked. Files the share does not have are listed (`--dry-run`: `upload`) and go up only with
 * `--yes` (without a terminal, the join refuses with exit 16); a folder joined to one share
 * refuses another share's code; rejoining after offline edits asks, as `share` does.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { cshare, cshareJson } from '../../helpers/cli.js';
import { start, stopAll, until } from '../../helpers/procs.js';
import { writeTree } from '../../helpers/tmp.js';
import { cluster, read, startRelay } from './cluster.js';

afterEach(stopAll);

it('asks before uploading local files, refuses another share\'s code, and asks again after offline edits', async () => {
  const c = await cluster({ files: { 'shared.txt': 'shared\n' } });
  // Carol's folder has a file of her own.
  const carol = join(c.base, 'carol');
  mkdirSync(carol);
  writeTree(carol, { 'private-notes.txt': 'mine only\n', 'shared.txt': 'shared\n' });
  const dry = cshareJson(c.base, ['join', c.codes.readWrite, carol, '--dry-run']);
  expect(dry.code).toBe(0);
  expect(dry.json.changes).toContainEqual({ path: 'private-notes.txt', change: 'upload' });
  const refused = cshareJson(c.base, ['join', c.codes.readWrite, carol, '--once']);
  expect(refused.code).toBe(16);
  expect(refused.json).toMatchObject({ ok: false, code: 'CONFIRM_REQUIRED' });
  expect(refused.json.message).toContain('private-notes.txt');
  // With --yes it goes up, as asked for.
  expect(cshareJson(c.base, ['join', c.codes.readWrite, carol, '--once', '--yes']).code).toBe(0);
  await until(() => read(c.alice, 'private-notes.txt') === 'mine only\n');

  // Another share, whose code Carol uses on the same folder: refused, nothing goes up.
  const other = join(c.base, 'other');
  writeTree(other, { 'o.txt': 'other share\n' });
  mkdirSync(join(c.base, 'r2'));
  const relay2 = await startRelay(join(c.base, 'r2'));
  const sharer2 = start('olga', other, ['share', '--relay', relay2.addr]);
  const codes2 = (await sharer2.line((x) => x.event === 'sharing')).codes as { readWrite: string };
  const wrong = cshareJson(c.base, ['join', codes2.readWrite, carol, '--once', '--yes']);
  expect(wrong.code).toBe(17);
  expect(wrong.json.message).toMatch(/joined to another share/);
  expect(existsSync(join(other, 'private-notes.txt'))).toBe(false);
  expect(existsSync(join(other, 'shared.txt'))).toBe(false);

  // Offline edits: a file added while not joined is not uploaded by a plain rejoin.
  writeFileSync(join(carol, 'added-offline.txt'), 'secret-ish\n');
  const rejoin = cshare(c.base, ['join', c.codes.readWrite, carol, '--once']);
  expect(rejoin.code).toBe(16);
  expect(rejoin.stderr).toContain('added-offline.txt');
  expect(existsSync(join(c.alice, 'added-offline.txt'))).toBe(false);
  expect(cshareJson(c.base, ['join', c.codes.readWrite, carol, '--once', '--yes']).code).toBe(0);
  await until(() => read(c.alice, 'added-offline.txt') === 'secret-ish\n');
}, 180_000);
