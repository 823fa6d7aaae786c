import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeJoinCode, encodeJoinCode } from '../../src/sync/joinCode.js';
import { cshare, cshareJson } from '../helpers/cli.js';
import { freePort, start, stopAll } from '../helpers/procs.js';
import { git, tempDir, writeTree } from '../helpers/tmp.js';

afterEach(stopAll);

describe('what the user did wrong gets its documented code and says what to do', () => {
  it('reading commands in a folder that is no worktree say so and create no .cshare/; files lists what would be shared', () => {
    const plain = tempDir();
    writeTree(plain, { 'a.txt': 'a\n' });
    const repo = tempDir();
    git(repo, ['init', '-q']);
    writeTree(repo, { 'sub/b.txt': 'b\n' });
    for (const [cwd, root] of [[plain, plain], [join(repo, 'sub'), repo]] as const) {
      for (const args of [['status'], ['log'], ['log', '-p'], ['undo'], ['redo'], ['restore', 'a.txt']]) {
        const r = cshare(cwd, args);
        expect(r.code, args.join(' ')).toBe(3);
        expect(r.stderr, args.join(' ')).toBe(`error: not a cshare worktree: ${root} has no .cshare/ (nor any folder above it); run \`cshare scan\` or \`cshare share\` here\n`);
        expect(cshareJson(cwd, args).json).toMatchObject({ ok: false, code: 'NOT_A_WORKTREE', data: { root } });
      }
      const files = cshareJson(cwd, ['files']);
      expect(files.code).toBe(0);
      expect(files.json.files).toHaveLength(1);
      expect(existsSync(join(root, '.cshare')), root).toBe(false);
    }
    // scan is the command that makes one.
    expect(cshare(plain, ['scan']).code).toBe(0);
    expect(existsSync(join(plain, '.cshare'))).toBe(true);
    expect(cshareJson(plain, ['status']).json).toMatchObject({ ok: true, files: 1 });
  });

  it('undo ../x is BAD_PATH (exit 10), log nope.txt NOT_FOUND (exit 4); paths are taken from the current folder, as git takes them', () => {
    const root = tempDir();
    writeTree(root, { 'a.txt': 'a\n', 'sub/b.txt': 'b\n' });
    expect(cshare(root, ['scan']).code).toBe(0);
    const outside = cshare(root, ['undo', '../x']);
    expect(outside).toMatchObject({ code: 10, stdout: '', stderr: `error: ../x is outside the worktree ${root}; name a file inside it\n` });
    expect(cshareJson(root, ['log', '../x']).json).toMatchObject({ ok: false, code: 'BAD_PATH' });
    expect(cshareJson(root, ['restore', '/etc/passwd']).json).toMatchObject({ ok: false, code: 'BAD_PATH' });
    const none = cshare(root, ['log', 'nope.txt']);
    expect(none).toMatchObject({ code: 4, stdout: '' });
    expect(none.stderr).toBe('error: nope.txt has no history here: it was never shared in this worktree (cshare files lists what is shared, cshare log all changes)\n');
    writeTree(root, { 'new.txt': 'n\n' });
    expect(cshare(root, ['log', 'new.txt']).stderr).toBe('error: new.txt is on disk but not recorded yet: run `cshare scan` (a running share or join records it when it is saved)\n');
    // From sub/, b.txt is sub/b.txt and ../a.txt is a.txt.
    const sub = join(root, 'sub');
    expect(cshareJson(sub, ['log', 'b.txt']).json.changes).toMatchObject([{ kind: 'create', path: 'sub/b.txt' }]);
    expect(cshareJson(sub, ['log', '../a.txt']).json.changes).toMatchObject([{ kind: 'create', path: 'a.txt' }]);
    expect(cshareJson(sub, ['undo', '../../x']).json).toMatchObject({ ok: false, code: 'BAD_PATH' });
  });
});

describe('a join that is refused or fails leaves nothing it made', () => {
  it('a file as the join folder, a wrong secret, differing files, an unreachable relay, a dry run: no folder, no .cshare/ left', async () => {
    const base = tempDir('cshare-e2e-');
    const port = await freePort();
    const relay = start('relay', base, ['relay', '--data', join(base, 'data'), '--listen', `/ip4/127.0.0.1/tcp/${port}`]);
    const addr = ((await relay.line((x) => x.event === 'listening')).addresses as string[])[0]!;
    const src = join(base, 'src');
    writeTree(src, { 'a.txt': 'shared\n' });
    const shared = cshareJson(src, ['share', '--relay', addr, '--once']);
    expect(shared.code).toBe(0);
    const code: string = shared.json.codes.readWrite;
    const before = readdirSync(base).sort();

    writeFileSync(join(base, 'afile'), 'x');
    const onFile = cshare(base, ['join', code, 'afile']);
    expect(onFile).toMatchObject({ code: 3, stderr: `error: ${join(base, 'afile')} is a file, not a folder: name a folder to join into (a new one, or one whose files are to be kept in sync)\n` });

    const forged = encodeJoinCode({ ...decodeJoinCode(code), secret: new Uint8Array(16).fill(7) });
    expect(cshareJson(base, ['join', forged, 'new/deeper', '--once']).json).toMatchObject({ ok: false, code: 'UNAUTHORIZED' });
    expect(cshareJson(base, ['join', forged, 'live']).json).toMatchObject({ ok: false, code: 'UNAUTHORIZED' });
    expect(existsSync(join(base, 'new'))).toBe(false);
    expect(existsSync(join(base, 'live'))).toBe(false);

    const dry = cshareJson(base, ['join', code, 'dry', '--dry-run']);
    expect(dry.json).toMatchObject({ ok: true, changes: [{ path: 'a.txt', change: 'create' }] });
    expect(existsSync(join(base, 'dry'))).toBe(false);

    const mine = join(base, 'mine');
    mkdirSync(mine);
    writeFileSync(join(mine, 'a.txt'), 'my own\n');
    expect(cshareJson(base, ['join', code, mine, '--once']).json).toMatchObject({ ok: false, code: 'WOULD_OVERWRITE' });
    expect(cshareJson(base, ['join', code, mine, '--once', '--force']).code).toBe(0);
    expect(readdirSync(mine).sort()).toEqual(['.cshare', 'a.txt']);
    const other = join(base, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'a.txt'), 'other\n');
    expect(cshareJson(base, ['join', code, other]).json).toMatchObject({ ok: false, code: 'WOULD_OVERWRITE' });
    expect(readdirSync(other)).toEqual(['a.txt']);

    await relay.stop();
    // A live join prints its events as JSON lines, the last one the failure.
    const gone = cshare(base, ['join', code, 'unreachable', '--json'], { CSHARE_CONNECT_TIMEOUT: '1' });
    expect(gone.code).toBe(12);
    expect(JSON.parse(gone.stdout.trim().split('\n').at(-1)!)).toMatchObject({ ok: false, code: 'CONNECTION_CLOSED' });
    expect(readdirSync(base).sort()).toEqual([...before, 'afile', 'mine', 'other'].sort());
  }, 120_000);
});
