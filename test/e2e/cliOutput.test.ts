import { spawnSync } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeJoinCode, encodeJoinCode } from '../../src/sync/joinCode.js';
import { BIN, cshare, cshareJson } from '../helpers/cli.js';
import { freePort, start, stopAll, until, type Proc } from '../helpers/procs.js';
import { git, tempDir, writeTree } from '../helpers/tmp.js';

afterEach(stopAll);

/** Runs `cshare args...` on a terminal (a pty from util-linux `script`): exit code and what it printed. */
function onTty(cwd: string, args: string[], env: Record<string, string> = {}): { code: number; out: string } {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const r = spawnSync('script', ['-qefc', [process.execPath, BIN, ...args].map(quote).join(' '), '/dev/null'], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', USER: 'cli-user', HOME: `${cwd}/.no-home`, ...env },
    timeout: 60_000,
  });
  return { code: r.status ?? -1, out: r.stdout.replace(/\r\n/g, '\n') };
}

async function relayIn(dir: string): Promise<string> {
  const proc = start('relay', dir, ['relay', '--data', join(dir, 'data'), '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`]);
  const l = await proc.line((x) => x.event === 'listening');
  return (l.addresses as string[])[0]!;
}

async function codesOf(p: Proc): Promise<{ readWrite: string; readOnly: string }> {
  return (await p.line((x) => x.event === 'sharing')).codes as { readWrite: string; readOnly: string };
}

describe('status tells a read-only joiner and its peers apart', () => {
  it('says read-only, shows its own changes as kept here (not pending), names peers by short id when they have no name and tells two of one name apart', async () => {
    const base = tempDir('cshare-out-');
    const relay = await relayIn(base);
    const alice = join(base, 'alice');
    writeTree(alice, { 'a.txt': 'a\n' });
    const sharer = start('alice', alice, ['share', '--relay', relay]);
    const codes = await codesOf(sharer);
    const joiners = [
      start('bob', base, ['join', codes.readWrite, join(base, 'bob1')]),
      start('bob', base, ['join', codes.readWrite, join(base, 'bob2')]),
      // No git user.name, no $USER: cshare sends no name.
      start('carol', base, ['join', codes.readOnly, join(base, 'carol')], { USER: '', LOGNAME: '' }),
    ];
    for (const j of joiners) await j.line((x) => x.event === 'joined');
    const carol = join(base, 'carol');
    writeFileSync(join(carol, 'a.txt'), 'a\nmine\n');
    await joiners[2]!.line((x) => x.event === 'error' && x.code === 'FORBIDDEN');

    const ids = (await Promise.all(joiners.map(async (j) => ((await j.line((x) => x.event === 'joined')) as { root: string }).root))).map(
      (root) => cshareJson(root, ['status']).json.replica.id as string,
    );
    await until(() => (cshareJson(alice, ['status']).json.peers as unknown[]).length === 3);
    const text = cshare(alice, ['status']);
    expect(text.code).toBe(0);
    // One line per peer: `Peers:    <label>, <role>`, the next ones indented below it.
    const out = text.stdout.split('\n');
    const first = out.findIndex((l) => l.startsWith('Peers:'));
    const peerLines = out.slice(first, first + 3);
    expect(peerLines.slice(1).every((l) => l.startsWith(' '.repeat(10)))).toBe(true);
    expect(peerLines.map((l) => l.slice('Peers:'.padEnd(10).length)).sort()).toEqual([`bob (${ids[0]!.slice(0, 8)}), joiner`, `bob (${ids[1]!.slice(0, 8)}), joiner`, `${ids[2]!.slice(0, 8)}, joiner (read-only)`].sort());

    for (const run of [() => cshare(carol, ['status']).stdout, () => onTty(carol, ['status']).out]) {
      const out = run();
      expect(out).toMatch(/^Sharing: {2}joined \(read-only\) via /m);
      expect(out).toContain('Kept here (read-only): 1 local change, not shared');
      expect(out).not.toContain('Pending');
      expect(out).toContain('Files:    1 file tracked');
    }
    expect(cshareJson(carol, ['status']).json).toMatchObject({ ok: true, readOnly: true, unacknowledged: 0, kept: 1 });
    // A read-write joiner's own changes are pending until the relay acknowledges them.
    expect(cshare(join(base, 'bob1'), ['status']).stdout).toMatch(/^Pending: {2}0 local changes not yet acknowledged/m);
  }, 120_000);
});

describe('log speaks git', () => {
  it("dates in git's format with the local offset, both modes of a mode change, binary sizes, paths quoted as git quotes them; status quotes them alike", () => {
    const root = tempDir('cshare-out-');
    git(root, ['init', '-q']);
    const weird = ['a\tb.txt', 'caf\u00e9.txt', 'x\x1b[2K.txt', 'say "hi".txt'];
    writeTree(root, { ...Object.fromEntries(weird.map((p) => [p, `${p}\n`])), 'run.sh': 'echo hi\n', 'logo.bin': new Uint8Array([0, 1, 2, 3]) });
    expect(cshare(root, ['scan']).code).toBe(0);
    git(root, ['add', 'run.sh', 'logo.bin']);
    git(root, ['commit', '-qm', 'before']);
    chmodSync(join(root, 'run.sh'), 0o755);
    writeFileSync(join(root, 'logo.bin'), new Uint8Array([0, 1, 2, 3, 4]));
    expect(cshare(root, ['scan']).code).toBe(0);
    // What git says of the same two changes.
    git(root, ['commit', '-qam', 'after']);
    const gitStat = git(root, ['log', '-1', '--stat', '--summary', '--format=']);
    expect(gitStat).toMatch(/ logo\.bin \| Bin 4 -> 5 bytes\n/);
    expect(gitStat).toContain(' mode change 100644 => 100755 run.sh\n');

    // git's own quoting of the same names, and its dates for the same instant in the same zone.
    const quoted = git(root, ['ls-files', '--others', '--exclude-standard']).split('\n').filter((l) => l.startsWith('"'));
    expect(quoted).toHaveLength(4);
    expect(quoted).toContain('"caf\\303\\251.txt"');
    const changes = cshareJson(root, ['log']).json.changes as { id: number; kind: string; path: string; time: string; mode?: unknown; size?: unknown }[];
    const first = changes.at(-1)!;
    for (const tz of ['Asia/Kolkata', 'America/St_Johns', 'UTC']) {
      const log = cshare(root, ['log'], { TZ: tz });
      expect(log.code).toBe(0);
      const dates = log.stdout.split('\n').filter((l) => l.startsWith('Date:'));
      expect(dates).toHaveLength(changes.length);
      for (const d of dates) expect(d).toMatch(/^Date: {3}(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [1-9]\d? \d\d:\d\d:\d\d \d{4} [+-]\d{4}$/);
      const repo = tempDir('cshare-git-');
      git(repo, ['init', '-q']);
      git(repo, ['commit', '-q', '--allow-empty', '-m', 'at the same instant'], { TZ: tz, GIT_AUTHOR_DATE: `@${Math.floor(Date.parse(first.time) / 1000)}` });
      const gitDateLine = git(repo, ['log', '-1'], { TZ: tz }).split('\n').find((l) => l.startsWith('Date:'))!;
      expect(dates.at(-1)).toBe(gitDateLine);
      for (const q of quoted) expect(log.stdout).toContain(`\n    ${q}  +`);
      expect(log.stdout).not.toContain('\x1b');
      expect(log.stdout).toContain('\n    run.sh  mode 100644 -> 100755\n');
      expect(log.stdout).toContain(`\n    logo.bin  ${/Bin 4 -> 5 bytes/.exec(gitStat)![0]}\n`);
      expect(log.stdout).toContain('\n    logo.bin  Bin 0 -> 4 bytes\n');
    }
    expect(changes.find((c) => c.kind === 'mode')).toMatchObject({ path: 'run.sh', mode: { before: '100644', after: '100755' } });
    expect(changes.find((c) => c.kind === 'edit' && c.path === 'logo.bin')).toMatchObject({ size: { before: 4, after: 5 } });

    // status lists unrecorded changes with the paths git status shows.
    for (const p of weird) writeFileSync(join(root, p), 'changed\n');
    const gitStatus = git(root, ['status', '--porcelain']).split('\n').filter((l) => l.includes('"')).map((l) => l.slice(3));
    expect(gitStatus.sort()).toEqual(quoted.sort());
    const status = cshare(root, ['status']).stdout;
    for (const q of quoted) expect(status).toContain(`  modified  ${q}\n`);
  }, 60_000);
});

describe('join --dry-run lists paths as git does', () => {
  it('quotes control characters and non-ASCII with octal escapes, like git ls-files', async () => {
    const base = tempDir('cshare-out-');
    const relay = await relayIn(base);
    const src = join(base, 'src');
    git(base, ['init', '-q', 'src']);
    writeTree(src, { 'a\tb.txt': 'x\n', 'caf\u00e9.txt': 'y\n', 'x\x1b[2K.txt': 'z\n', 'plain.txt': 'p\n' });
    const shared = cshareJson(src, ['share', '--relay', relay, '--once']);
    expect(shared.code).toBe(0);
    const quoted = git(src, ['ls-files', '--others', '--exclude-standard']).trim().split('\n');
    expect(quoted.filter((q) => q.startsWith('"'))).toHaveLength(3);
    const dry = cshare(base, ['join', shared.json.codes.readOnly, join(base, 'dst'), '--dry-run']);
    expect(dry.code).toBe(0);
    const listed = dry.stdout.split('\n').filter((l) => l.startsWith('create ')).map((l) => l.slice('create  '.length));
    expect(listed.sort()).toEqual(quoted.sort());
    expect(dry.stdout).not.toContain('\x1b');
  }, 60_000);
});

describe('plurals', () => {
  it('counts say 1 file and 2 files, on a terminal and not; no "(s)" is left in any message', async () => {
    const root = tempDir('cshare-out-');
    writeTree(root, { 'a.txt': 'a\n' });
    expect(cshare(root, ['scan']).stdout).toContain('1 change recorded, 1 file tracked\n');
    writeTree(root, { 'b.txt': 'b\n', 'c.txt': 'c\n' });
    const tty = onTty(root, ['scan']);
    expect(tty.code).toBe(0);
    expect(tty.out).toContain('2 changes recorded, 3 files tracked\n');
    expect(cshare(root, ['status']).stdout).toContain('Files:    3 files tracked');

    const base = tempDir('cshare-out-');
    const relay = await relayIn(base);
    const one = join(base, 'one');
    writeTree(one, { 'only.txt': 'x\n' });
    const shared = cshare(one, ['share', '--relay', relay, '--once']);
    expect(shared.code).toBe(0);
    expect(shared.stdout).toContain('(1 file). Join with:');
    const code = /cshare join (\S+) +\(read-only\)/.exec(shared.stdout)![1]!;
    const joined = cshare(base, ['join', code, join(base, 'j'), '--once']);
    expect(joined.stdout).toContain(': 1 file (read-only)');
    writeFileSync(join(one, 'only.txt'), 'changed offline\n');
    const refused = cshare(one, ['share', '--relay', relay, '--once']);
    expect(refused.code).toBe(16);
    expect(refused.stderr).toContain('error: 1 file changed while cshare was not running: only.txt.');

    // No message in the source says "file(s)" (debug logs included); comments may.
    const srcDir = fileURLToPath(new URL('../../src', import.meta.url));
    const hits = (readdirSync(srcDir, { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => readFileSync(join(srcDir, f), 'utf8').split('\n').filter((l) => /\b(file|change|item|blob|path|argument|peer|byte|reference|folder|update|connection|worktree|line|second|minute|group)\(s\)/.test(l) && !/^\s*(\/\/|\/?\*)/.test(l)).map((l) => `${f}: ${l.trim()}`));
    expect(hits).toEqual([]);
  }, 60_000);
});

describe('share without --relay where a relay was used before', () => {
  it('says which relay it resumes with and how to share without it, in text and JSON; --serve does', async () => {
    const base = tempDir('cshare-out-');
    const relayProc = start('relay', base, ['relay', '--data', join(base, 'data'), '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`]);
    const relay = ((await relayProc.line((x) => x.event === 'listening')).addresses as string[])[0]!;
    const root = join(base, 'app');
    writeTree(root, { 'a.txt': 'a\n' });
    // The first share names its relay: nothing to say.
    const first = cshare(root, ['share', '--relay', relay, '--once']);
    expect(first.code).toBe(0);
    expect(first.stdout).not.toContain('Resuming');

    const text = cshare(root, ['share', '--once']);
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n')[0]).toBe(`Resuming the share through the relay it used before: ${relay} (cshare share --serve shares from this process instead, with new join codes; --relay <addr> through another relay)`);
    expect(text.stderr).toBe('');
    const tty = onTty(root, ['share', '--once']);
    expect(tty.code).toBe(0);
    expect(tty.out).toContain(`Resuming the share through the relay it used before: ${relay} (cshare share --serve`);
    const json = cshareJson(root, ['share', '--once']);
    expect(json.json).toMatchObject({ ok: true, relay: [relay], resumed: { relay, without: 'cshare share --serve' } });
    // With --relay named, nothing is resumed implicitly.
    expect(cshareJson(root, ['share', '--once', '--relay', relay]).json.resumed).toBeUndefined();

    // A resumed relay that is gone: the give-up says how to share without it.
    await relayProc.stop();
    for (const args of [['share', '--once'], ['share']]) {
      const gone = cshare(root, args, { CSHARE_CONNECT_TIMEOUT: '1' });
      expect(gone.code).toBe(12);
      expect(gone.stdout).toContain('Resuming the share through the relay it used before');
      expect(gone.stderr).toMatch(/^error: cannot reach the relay .*; check that the relay runs and that this machine can reach it, or run cshare share --serve to share from this process instead/m);
    }

    // --serve: a new share from this process (new codes), and from then on the default.
    expect(cshareJson(root, ['share', '--once', '--serve', '--relay', relay]).json).toMatchObject({ ok: false, code: 'USAGE' });
    expect(cshare(root, ['share', '--serve', '--relay', relay])).toMatchObject({ code: 2, stdout: '', stderr: 'error: --relay and --serve cannot be used together; see cshare share --help\n' });
    const served = cshareJson(root, ['share', '--once', '--serve']);
    expect(served.code).toBe(0);
    expect(served.json.relay).not.toContain(relay);
    expect(served.json.codes.readWrite).not.toBe(json.json.codes.readWrite);
    const again = cshare(root, ['share', '--once']);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toContain('Resuming');
  }, 120_000);
});

describe('the default join folder', () => {
  it("is the shared worktree's folder name, as git clone names it, or name-2, name-3... when taken", async () => {
    const base = tempDir('cshare-out-');
    const relay = await relayIn(base);
    const src = join(base, 'caf\u00e9 app');
    writeTree(src, { 'a.txt': 'a\n' });
    const shared = cshareJson(src, ['share', '--relay', relay, '--once']);
    expect(shared.code).toBe(0);
    const here = join(base, 'elsewhere');
    const deadPort = await freePort();
    writeTree(here, { 'caf\u00e9 app-3': 'a file takes this name\n' });
    const first = cshare(here, ['join', shared.json.codes.readWrite, '--once']);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toContain(`Joined ${join(here, 'caf\u00e9 app')}: 1 file (read-write).`);
    expect(readFileSync(join(here, 'caf\u00e9 app', 'a.txt'), 'utf8')).toBe('a\n');
    // Taken: the next free name (a file counts as taken), in JSON as on a terminal.
    expect(cshareJson(here, ['join', shared.json.codes.readOnly, '--once']).json).toMatchObject({ ok: true, root: join(here, 'caf\u00e9 app-2') });
    const tty = onTty(here, ['join', shared.json.codes.readOnly, '--once']);
    expect(tty.code).toBe(0);
    expect(tty.out).toContain(`Joined ${join(here, 'caf\u00e9 app-4')}: 1 file (read-only).`);
    // A dry run names the folder it would make, and makes none.
    expect(cshareJson(here, ['join', shared.json.codes.readOnly, '--dry-run']).json.root).toBe(join(here, 'caf\u00e9 app-5'));
    expect(readdirSync(here).sort()).toEqual(['caf\u00e9 app', 'caf\u00e9 app-2', 'caf\u00e9 app-3', 'caf\u00e9 app-4']);

    // A relay that cannot be asked: the join gives up as it would (exit 12), and makes no folder.
    const code = decodeJoinCode(shared.json.codes.readOnly);
    const dead = encodeJoinCode({ ...code, relay: code.relay.map((a) => a.replace(/\/tcp\/\d+\//, `/tcp/${deadPort}/`)) });
    const gone = cshare(here, ['join', dead, '--once'], { CSHARE_CONNECT_TIMEOUT: '1' });
    expect(gone.code).toBe(12);
    expect(gone.stderr).toMatch(/^error: cannot reach the relay at .*gave up after \d+ s; if the sharer stopped/);
    expect(readdirSync(here)).toHaveLength(4);
  }, 60_000);
});
