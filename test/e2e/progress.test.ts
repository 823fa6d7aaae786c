import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, cshare } from '../helpers/cli.js';
import { freePort, start, stopAll, until } from '../helpers/procs.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { treeOf } from '../helpers/tree.js';

afterEach(stopAll);

const FILES = 1500;

/** A tree big enough that its first upload takes a second or two on loopback (~30 MB). */
function bigTree(root: string): void {
  writeTree(root, Object.fromEntries(Array.from({ length: FILES }, (_, i) => [`d${i % 20}/f${i}.txt`, `file ${i} ${'y'.repeat(60)}\n`.repeat(300)])));
}

/** `cshare args` on a terminal (`script` gives it a pty); what the terminal showed, and the exit code. */
function onTerminal(cwd: string, args: string[]): { proc: ReturnType<typeof spawn>; output: () => string; exit: Promise<number | null> } {
  const cmd = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
  const proc = spawn('script', ['-qefc', cmd, '/dev/null'], { cwd, env: { ...process.env, NO_COLOR: '1', HOME: `${cwd}/.no-home` }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, output: () => out, exit };
}

async function relay(base: string): Promise<string> {
  const r = start('relay', base, ['relay', '--data', join(base, 'data'), '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`]);
  return ((await r.line((l) => l.event === 'listening')).addresses as string[])[0]!;
}

describe('share and join: progress, summaries and Ctrl-C (issue 16)', () => {
  it('Ctrl-C mid-upload stops share at once with exit 130 and says how many files wait; the next share uploads them; join shows one progress line on a terminal and a summary without one', async () => {
    const base = tempDir('cshare-progress-');
    const tree = join(base, 'tree');
    bigTree(tree);
    const addr = await relay(base);

    // On a terminal: a progress line redrawn in place, then Ctrl-C (the pty turns ^C into SIGINT).
    const first = onTerminal(tree, ['share', '--relay', addr]);
    await until(() => /uploading \d+ of 1500 files/.test(first.output()), 60_000, () => first.output());
    const t0 = Date.now();
    first.proc.stdin!.write('\x03');
    const code = await first.exit;
    const stoppedMs = Date.now() - t0;
    expect(code).toBe(130);
    // The issue asks for 200 ms from the key; measured 50–90 ms here. The bound leaves room for a loaded machine.
    expect(stoppedMs).toBeLessThan(600);
    const said = /Stopped sharing; (\d+) files not uploaded yet, they go out on the next share/.exec(first.output());
    expect(said, first.output()).not.toBeNull();
    expect(Number(said![1])).toBeGreaterThan(0);
    expect(Number(said![1])).toBeLessThan(FILES);
    expect(first.output()).toContain('\r');
    expect(first.output()).not.toContain('error:');

    // Without a terminal: no redraws, and the rest goes up.
    const second = cshare(tree, ['share', '--relay', addr, '--once']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).not.toContain('\r');
    const codeLine = /cshare join (\S+) +\(read-only\)/.exec(second.stdout);
    expect(codeLine, second.stdout).not.toBeNull();

    // Nothing was lost: a joiner gets every file. Without a terminal, one summary line and no file list.
    const plain = cshare(base, ['join', codeLine![1]!, join(base, 'plain'), '--once']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(treeOf(join(base, 'plain'))).toEqual(treeOf(tree));
    expect(plain.stdout).not.toContain('\r');
    expect(plain.stdout).toMatch(/^downloaded 1500 files \([\d.]+ MB\) in [\d.]+ s$/m);
    expect(plain.stdout).toMatch(/^Joined .*: 1500 files \(read-only\)\.$/m);
    expect(plain.stdout.split('\n').filter(Boolean).length).toBeLessThanOrEqual(3);

    // On a terminal: the same, drawn in place.
    const tty = onTerminal(base, ['join', codeLine![1]!, join(base, 'tty'), '--once']);
    expect(await tty.exit).toBe(0);
    expect(tty.output()).toMatch(/\rdownloading \d+ of 1500 files, [\d.]+ (MB|kB) of [\d.]+ MB/);
    expect(tty.output()).toMatch(/downloaded 1500 files/);
    expect(tty.output().split('\n').filter((l) => l.trim()).length).toBeLessThanOrEqual(3);

    // --verbose lists every file.
    const verbose = cshare(base, ['join', codeLine![1]!, join(base, 'verbose'), '--once', '--verbose']);
    expect(verbose.code, verbose.stderr).toBe(0);
    expect(verbose.stdout.split('\n').filter((l) => l.startsWith('<- ')).length).toBeGreaterThanOrEqual(FILES);
  }, 300_000);

  it('join --json: progress events say their phase, and Ctrl-C (SIGINT) ends a live join with exit 130 and a stopped event', async () => {
    const base = tempDir('cshare-progress-');
    const tree = join(base, 'tree');
    bigTree(tree);
    const addr = await relay(base);
    const shared = cshare(tree, ['share', '--relay', addr, '--once', '--json']);
    expect(shared.code, shared.stderr).toBe(0);
    const code = JSON.parse(shared.stdout).codes.readWrite as string;
    const joiner = start('bob', base, ['join', code, join(base, 'bob')]);
    await joiner.line((l) => l.event === 'joined', 120_000);
    const progress = joiner.lines.filter((l) => l.event === 'progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((l) => l.phase === 'download' && typeof l.totalBytes === 'number')).toBe(true);
    expect(progress.at(-1)).toMatchObject({ done: FILES, total: FILES });
    const t0 = Date.now();
    joiner.child.kill('SIGINT');
    const exit = await joiner.exit;
    expect(Date.now() - t0).toBeLessThan(600);
    expect(exit.code).toBe(130);
    expect(joiner.lines.at(-1)).toMatchObject({ event: 'stopped', command: 'join', inSync: true, notUploaded: 0 });
  }, 300_000);
});
