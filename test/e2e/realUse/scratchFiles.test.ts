/**
 * Story (issue 14, item 10): an editor's scratch files stay on the machine that made them.
 * vim's swap file used to appear on the other side within a second (where vim showed E325 for
 * a swap file of a process on another machine) and was stored forever. A root
 * `.cshareinclude` re-admits one, on the machine that has it.
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { stopAll, until } from '../../helpers/procs.js';
import { cluster, read } from './cluster.js';

afterEach(stopAll);

it("vim's swap file, backups and emacs lock files are not shared; .cshareinclude re-admits one", async () => {
  const c = await cluster({ files: { 'f.txt': 'one\ntwo\n' } });
  const vim = spawn('vim', ['-N', '-u', 'NONE', '-i', 'NONE', '-es', 'f.txt'], { cwd: c.bob, stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, HOME: c.base } });
  const exited = new Promise((r) => vim.on('exit', r));
  try {
    await until(() => existsSync(join(c.bob, '.f.txt.swp')), 30_000, () => 'vim made no swap file');
    writeFileSync(join(c.bob, 'notes.txt~'), 'backup\n');
    writeFileSync(join(c.bob, '.#f.txt'), 'lock\n');
    writeFileSync(join(c.bob, '.DS_Store'), 'finder\n');
    writeFileSync(join(c.bob, 'sentinel.txt'), 'after the scratch files\n');
    await until(() => read(c.alice, 'sentinel.txt') === 'after the scratch files\n');
    for (const name of ['.f.txt.swp', 'notes.txt~', '.#f.txt', '.DS_Store']) expect(existsSync(join(c.alice, name)), name).toBe(false);
  } finally {
    vim.stdin.write('q!\n');
    await exited;
  }
  // A backup file Alice wants shared: her .cshareinclude re-admits it (hers only: it is not shared).
  writeFileSync(join(c.alice, '.cshareinclude'), 'keep.txt~\n');
  writeFileSync(join(c.alice, 'keep.txt~'), 'wanted backup\n');
  await until(() => read(c.bob, 'keep.txt~') === 'wanted backup\n');
  expect(existsSync(join(c.bob, '.cshareinclude'))).toBe(false);
}, 120_000);
