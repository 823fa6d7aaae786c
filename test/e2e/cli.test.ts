import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cshare, cshareJson } from '../helpers/cli.js';
import { git, tempDir, writeTree } from '../helpers/tmp.js';

describe('cshare CLI', () => {
  it('answers a plain status before loading the commands, exactly as the status command does', () => {
    const root = tempDir();
    git(root, ['init', '-q']);
    writeTree(root, { 'a.txt': 'a\n', 'sub/b.txt': 'b\n' });
    expect(cshareJson(root, ['scan']).code).toBe(0);
    writeFileSync(join(root, 'a.txt'), 'changed\n');
    writeTree(root, { 'sub/new.txt': 'new\n' });
    // `-C` is not answered early: it goes through oclif and the status command.
    for (const args of [['status'], ['status', '--json']]) {
      const early = cshare(join(root, 'sub'), args, { DEBUG: 'cshare:status' });
      const command = cshare(join(root, 'sub'), [...args, '-C', root], { DEBUG: 'cshare:status' });
      expect(early.code).toBe(0);
      expect(early.stderr).toContain('answered before loading the commands');
      expect(command.stderr).not.toContain('answered before loading the commands');
      expect(early.stdout).toBe(command.stdout);
      expect(early.stdout).toContain('sub/new.txt');
    }
    // The second and later runs were answered by the status cache: still the same.
    expect(cshareJson(root, ['status']).json.changed).toEqual([
      { path: 'a.txt', change: 'modified' },
      { path: 'sub/new.txt', change: 'created' },
    ]);
    expect(cshare(root, ['status', '--bogus']).code).not.toBe(0);
  });

  it('answers a plain files before loading the commands, exactly as the files command does', () => {
    const root = tempDir();
    git(root, ['init', '-q']);
    writeTree(root, { 'a.txt': 'a\n', 'sub/b.txt': 'b\n', '.gitignore': 'build/\n', 'build/out.js': 'x' });
    expect(cshareJson(root, ['scan']).code).toBe(0);
    // Changed since the scan: the early answer hashes these as the command does.
    writeFileSync(join(root, 'a.txt'), 'changed\n');
    writeTree(root, { 'sub/new.txt': 'new\n', 'bin.dat': new Uint8Array([0, 1, 2]) });
    for (const args of [['files'], ['files', '--json']]) {
      const early = cshare(join(root, 'sub'), args, { DEBUG: 'cshare:files' });
      // `-C` is not answered early: it goes through oclif and the files command.
      const command = cshare(join(root, 'sub'), [...args, '-C', root], { DEBUG: 'cshare:files' });
      expect(early.code).toBe(0);
      expect(early.stderr).toContain('answered before loading the commands');
      expect(command.stderr).not.toContain('answered before loading the commands');
      expect(early.stdout).toBe(command.stdout);
    }
    const listed = cshareJson(root, ['files']).json;
    expect(listed.files.map((f: { path: string }) => f.path)).toEqual(['.gitignore', 'a.txt', 'bin.dat', 'sub/b.txt', 'sub/new.txt']);
    expect(listed.files.find((f: { path: string }) => f.path === 'bin.dat')).toMatchObject({ kind: 'binary', size: 3 });
    // Not early: --excluded, and a folder without a store.
    expect(cshare(root, ['files', '--excluded'], { DEBUG: 'cshare:files' }).stderr).not.toContain('answered before');
    const bare = tempDir();
    writeTree(bare, { 'x.txt': 'x\n' });
    const none = cshare(bare, ['files', '--json'], { DEBUG: 'cshare:files' });
    expect(none.stderr).not.toContain('answered before');
    expect(JSON.parse(none.stdout).files.map((f: { path: string }) => f.path)).toEqual(['x.txt']);
  });

  it('files, scan, log, undo, redo and status work end to end in a git repo', () => {
    const root = tempDir();
    git(root, ['init', '-q']);
    git(root, ['config', 'user.name', 'Repo Author']);
    writeTree(root, { 'src/app.ts': 'export const x = 1;\n', '.gitignore': 'build/\n', 'build/out.js': 'x', '.env': 'SECRET=1' });

    const files = cshareJson(root, ['files']);
    expect(files.code).toBe(0);
    expect(files.json.ok).toBe(true);
    expect(files.json.files.map((f: { path: string }) => f.path)).toEqual(['.gitignore', 'src/app.ts']);
    expect(files.json.files[1]).toMatchObject({ kind: 'text', mode: '100644', size: 20 });
    expect(files.json.files[1].digest).toBe(git(root, ['hash-object', 'src/app.ts']).trim());

    const excluded = cshareJson(root, ['files', '--excluded']);
    expect(excluded.json.excluded).toEqual(expect.arrayContaining([{ path: '.env', reason: 'secret' }]));

    expect(cshareJson(root, ['scan']).json.recorded).toHaveLength(2);
    writeFileSync(join(root, 'src/app.ts'), 'export const x = 2;\n');
    const status = cshareJson(root, ['status']);
    expect(status.json).toMatchObject({ ok: true, files: 2, sharing: 'off', changed: [{ path: 'src/app.ts', change: 'modified' }] });
    expect(status.json.replica.name).toBe('Repo Author');

    const scan = cshareJson(root, ['scan']);
    expect(scan.json.recorded).toMatchObject([{ kind: 'edit', path: 'src/app.ts', inserted: 1, deleted: 1 }]);

    const log = cshareJson(root, ['log', 'src/app.ts', '-n', '1', '--patch']);
    expect(log.json.changes).toMatchObject([{ kind: 'edit', author: 'Repo Author', path: 'src/app.ts', patch: [{ del: '1', ins: '2' }] }]);
    const human = cshare(root, ['log', '--patch']);
    expect(human.stdout).toContain('Author: Repo Author');
    expect(human.stdout).toContain('+2');

    expect(cshareJson(root, ['undo']).json).toMatchObject({ ok: true, kind: 'undo', path: 'src/app.ts' });
    expect(readFileSync(join(root, 'src/app.ts'), 'utf8')).toBe('export const x = 1;\n');
    expect(cshareJson(root, ['redo']).code).toBe(0);
    expect(readFileSync(join(root, 'src/app.ts'), 'utf8')).toBe('export const x = 2;\n');
  });

  it('errors are one JSON object with a code and a non-zero exit code', () => {
    const root = tempDir();
    writeTree(root, { 'a.txt': 'a' });
    cshare(root, ['scan']);
    const r = cshareJson(root, ['undo']);
    expect(r.code).toBe(8);
    expect(r.json).toEqual({ ok: false, code: 'NOTHING_TO_UNDO', message: 'nothing to undo' });

    const human = cshare(root, ['undo']);
    expect(human.code).toBe(8);
    expect(human.stderr).toContain('nothing to undo');

    const bad = cshareJson(root, ['log', '--no-such-flag']);
    expect(bad.code).toBe(2);
    expect(bad.json).toMatchObject({ ok: false, code: 'USAGE' });
  });

  it('a worktree that is not a directory, and a damaged .cshare, give clear errors', () => {
    const root = tempDir();
    writeTree(root, { 'plain-file': 'x' });
    const notDir = cshareJson(root, ['files', '-C', join(root, 'missing')]);
    expect(notDir.code).not.toBe(0);
    expect(notDir.json.ok).toBe(false);

    const broken = tempDir();
    writeTree(broken, { 'a.txt': 'a' });
    expect(cshare(broken, ['scan']).code).toBe(0);
    // Overwrite every LevelDB file with garbage.
    const storeDir = join(broken, '.cshare/store');
    for (const name of ['CURRENT']) writeFileSync(join(storeDir, name), 'garbage\0\0');
    const r = cshareJson(broken, ['status']);
    expect(r.code).toBe(5);
    expect(r.json).toMatchObject({ ok: false, code: 'STORE_CORRUPT' });
    expect(r.json.message).toMatch(/store/);
    // The worktree itself is untouched.
    expect(readFileSync(join(broken, 'a.txt'), 'utf8')).toBe('a');

    const fileStore = tempDir();
    mkdirSync(join(fileStore, 'sub'));
    writeFileSync(join(fileStore, '.cshare'), 'not a dir');
    expect(cshareJson(fileStore, ['status']).json).toMatchObject({ ok: false, code: 'STORE_CORRUPT' });
  });
});
