import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS, suggestCommands } from '../../src/cli/cli.js';
import { BIN, cshare, cshareJson } from '../helpers/cli.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

/** `cshare args...` as a user types it; the folder is one where no worktree is. */
function run(args: string[], cwd = tempDir()) {
  return cshare(cwd, args);
}

describe('help and version, as in git', () => {
  it('cshare alone, cshare help, -h and --help print the overview: every command, the quick start, where the docs are', () => {
    // The overview's list is the commands there are.
    const sources = readdirSync(new URL('../../src/commands', import.meta.url)).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, ''));
    expect([...COMMANDS].sort()).toEqual(sources.sort());
    const alone = run([]);
    expect(alone.code).toBe(0);
    expect(alone.stderr).toBe('');
    for (const cmd of COMMANDS) expect(alone.stdout).toMatch(new RegExp(`^  ${cmd} `, 'm'));
    expect(alone.stdout).toContain('Quick start');
    expect(alone.stdout).toContain('cshare join <code> [dir]');
    expect(alone.stdout).toMatch(/Documentation: \/.*README\.md/);
    expect(alone.stdout.split('\n').length).toBeLessThan(35);
    for (const args of [['help'], ['-h'], ['--help'], ['help', 'help']]) {
      const r = run(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(alone.stdout);
    }
  });

  it('help <command>, <command> -h and <command> --help print that command\'s help', () => {
    const viaHelp = run(['help', 'log']);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toContain('$ cshare log');
    expect(viaHelp.stdout).toContain('--max-count');
    expect(run(['log', '-h']).stdout).toBe(viaHelp.stdout);
    expect(run(['log', '--help']).stdout).toBe(viaHelp.stdout);
    const unknown = run(['help', 'lgo']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('error: "lgo" is not a cshare command; did you mean log?\n');
  });

  it('-v, --version and version print the version', () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['-v', '--version', 'version']) {
      const r = run([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^cshare version ${version.replace(/\./g, '\\.')} \\(node v\\d+`));
    }
    expect(cshareJson(tempDir(), ['--version']).json).toMatchObject({ ok: true, version });
  });
});

describe('a typo, wrong arguments: one error line that says what is wrong, exit 2', () => {
  it('a typo\'d command suggests the nearest command, on stderr in the error format, or as the one JSON error', () => {
    const r = run(['statsu']);
    expect(r).toMatchObject({ code: 2, stdout: '', stderr: 'error: "statsu" is not a cshare command; did you mean status?\n' });
    const j = cshareJson(tempDir(), ['statsu']);
    expect(j.code).toBe(2);
    expect(j.json).toMatchObject({ ok: false, code: 'USAGE', message: '"statsu" is not a cshare command; did you mean status?', data: { suggestions: ['status'] } });
    expect(j.stderr).toBe('');
    expect(run(['clone']).stderr).toContain('did you mean join?');
    expect(run(['frobnicate']).stderr).toBe('error: "frobnicate" is not a cshare command; cshare help lists the commands\n');
    expect(suggestCommands('unshrae')).toEqual(['unshare']);
    expect(suggestCommands('lgo')).toEqual(['log']);
    expect(suggestCommands('zzzzzz')).toEqual([]);
  });

  it('oclif\'s messages are whole: a missing code, a bad -n, an extra argument, an unknown flag', () => {
    const cases: [string[], RegExp][] = [
      [['join'], /^error: missing <CODE>, the join code printed by cshare share: .*see cshare join --help\n$/],
      [['log', '-n', 'abc'], /^error: --max-count \(-n\): expected an integer but received: abc; see cshare log --help\n$/],
      [['log', '-n', '0'], /^error: --max-count \(-n\): expected an integer greater than or equal to 1 but received: 0; see cshare log --help\n$/],
      [['files', 'extra-arg'], /^error: unexpected argument extra-arg for cshare files \(it takes no arguments\); see cshare files --help\n$/],
      [['restore'], /^error: missing <PATH> \(the deleted file\): cshare restore <PATH>; see cshare restore --help\n$/],
      [['status', '--bogus'], /^error: unknown flag --bogus for cshare status; see cshare status --help\n$/],
      [['-x', 'status'], /^error: unknown option -x before the command; the options that go before it are -C <dir> and --json/],
    ];
    for (const [args, expected] of cases) {
      const r = run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr, args.join(' ')).toMatch(expected);
      const j = cshareJson(tempDir(), args);
      expect(j.json, args.join(' ')).toMatchObject({ ok: false, code: 'USAGE' });
      expect(`error: ${j.json.message}\n`).toMatch(expected);
    }
  });
});

describe('-C <dir> and the current folder', () => {
  it('-C works before the command as in git, and after it; relative paths are taken from the -C folder', () => {
    const base = tempDir();
    const root = join(base, 'wt');
    writeTree(root, { 'a.txt': 'a\n', 'sub/b.txt': 'b\n' });
    expect(cshare(root, ['scan']).code).toBe(0);
    const before = cshare(base, ['-C', 'wt', 'status', '--json']);
    const after = cshare(base, ['status', '--json', '-C', 'wt']);
    expect(before.code).toBe(0);
    expect(JSON.parse(before.stdout)).toMatchObject({ ok: true, root, files: 2 });
    expect(before.stdout).toBe(after.stdout);
    // git's -C composes: -C wt -C sub is wt/sub; the worktree is found above it.
    expect(JSON.parse(cshare(base, ['-C', 'wt', '-C', 'sub', 'status', '--json']).stdout).root).toBe(root);
    expect(JSON.parse(cshare(base, [`-C${root}`, 'files', '--json']).stdout).files).toHaveLength(2);
    expect(cshare(base, ['--json', '-C', 'wt', 'log']).code).toBe(0);
    const missing = cshare(base, ['-C', 'nope', 'status']);
    expect(missing).toMatchObject({ code: 3, stderr: 'error: cannot change to nope: it does not exist\n' });
  });

  it('a current folder deleted under the shell: exit 3 and what to do, before anything else', () => {
    const dir = join(tempDir(), 'gone');
    mkdirSync(dir);
    for (const args of [['status'], ['files'], ['log'], ['share']]) {
      const r = spawnSync('sh', ['-c', 'cd "$1" && rmdir "$1" && shift && exec "$@"', 'sh', dir, process.execPath, BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
      expect(r.status, args[0]).toBe(3);
      expect(r.stderr, args[0]).toBe('error: the current folder no longer exists (it was deleted or moved away): cd to an existing folder, or name one with cshare -C <dir>\n');
      mkdirSync(dir);
    }
    writeFileSync(join(dir, 'x.txt'), 'x');
    const r = spawnSync('sh', ['-c', 'mkdir "$1/gone" && cd "$1/gone" && rmdir "$1/gone" && shift && exec "$@"', 'sh', dir, process.execPath, BIN, '-C', dir, 'files', '--json'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout).files).toHaveLength(1);
  });
});
