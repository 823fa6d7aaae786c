/**
 * VS Code benchmark (`npm run bench -- vscode`; bench/editor.ts may call `main` to print it
 * beside the Neovim figures): how fast a keystroke typed in a real VS Code (code-server in
 * Chromium, the extension installed from its .vsix, keys sent by Playwright) reaches the other
 * side's editor buffer, and back, through `cshare relay` on loopback with real processes: a
 * relay, a live `share` (VS Code's worktree) and a live `join`, whose editor is a scripted
 * editor-API client through the real `cshare editor` bridge (it applies each `applyEdit` the
 * moment it arrives: no editor of its own in the figure).
 *
 *   to peer:  KEYS keystrokes typed in VS Code, 30 ms apart, each timed from the key press
 *             until the joiner's buffer has it (includes the browser, the extension host, the
 *             bridge, both daemons and the relay);
 *   back:     KEYS keystrokes of the joiner, each timed until VS Code's document has it (read
 *             through the extension's test socket, polled every ~2 ms: adds up to ~2 ms).
 *   stages:   each VS Code keystroke split at the page's keydown and input events, the
 *             extension's change event and its didChange (wall clocks of the page and the
 *             extension host, `Session.timings`); beside it, in
 *             the same loop, a keystroke of a scripted editor on the sharer's editor socket
 *             (the daemon-to-peer path alone) and one through a `cshare editor` bridge there.
 *
 * Target (issue 19): p50 < 30 ms including the browser. CSHARE_BENCH_VSCODE_KEYS changes KEYS.
 * Needs scripts/setup-vscode-test.sh (as the VS Code tests do).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readAnnouncement } from '../src/store/announce.js';
import { EditorClient } from '../test/editor/client.js';
import { openFile } from '../test/vscode/codeServer.js';
import { buildVsix, untilState, vscodeOn, type VsCode } from '../test/vscode/harness.js';
import { BIN, benchEnv, out, percentile, Processes, sleep } from './processes.js';

const KEYS = Number(process.env.CSHARE_BENCH_VSCODE_KEYS ?? 100);
const TARGET_P50 = 30;
const FILE = 'notes.txt';
/** The files the scripted editors on the sharer type in (direct socket, bridge). */
const DIRECT = 'direct.txt';
const BRIDGED = 'bridged.txt';

/** Wall-clock ms with sub-ms resolution (comparable with the extension host's). */
const wall = () => performance.timeOrigin + performance.now();

/** Types one key in `from`'s `path`; resolves with the ms until `to`'s buffer has it (null: not in 5 s). */
async function keyAcross(from: EditorClient, to: EditorClient, path: string, ch: string): Promise<number | null> {
  const want = from.buffers.get(path)!.text + ch;
  const t0 = performance.now();
  const len = from.buffers.get(path)!.text.length;
  from.type(path, len, len, ch);
  return within(to.whenText(path, (t) => t === want).then(() => performance.now() - t0));
}

/** `p`, or null after 5 s. */
async function within<T>(p: Promise<T>): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 5_000)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with the ms from `t0` until `cond` holds (polled every ~1 ms), or null after 5 s. */
async function when(cond: () => boolean | Promise<boolean>, t0: number): Promise<number | null> {
  for (;;) {
    if (await cond()) return performance.now() - t0;
    if (performance.now() - t0 > 5_000) return null;
    await sleep(1);
  }
}

/** p50/p99/max of `xs` (ms) as one line. */
function summary(xs: number[]): string {
  return `p50 ${percentile(xs, 50).toFixed(1)} ms, p99 ${percentile(xs, 99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms (n=${xs.length})`;
}

/** Runs the benchmark; returns the figures (ms) for a caller that prints them beside others. */
export async function main(): Promise<{ toPeer: number[]; back: number[]; lost: number }> {
  const base = fs.mkdtempSync(join(tmpdir(), 'cshare-bench-vscode-'));
  const procs = new Processes(benchEnv(join(base, 'home')));
  let vscode: VsCode | undefined;
  let bridge: ChildProcess | undefined;
  let aliceBridge: ChildProcess | undefined;
  const ends: (() => void)[] = [];
  try {
    buildVsix();
    const relay = await procs.relay(join(base, 'relay-data'), base);
    const alice = join(base, 'alice');
    fs.mkdirSync(alice);
    fs.writeFileSync(join(alice, FILE), 'start\n');
    fs.writeFileSync(join(alice, DIRECT), 'direct\n');
    fs.writeFileSync(join(alice, BRIDGED), 'bridged\n');
    const sharer = procs.start('alice', ['share', '--relay', relay.addr, '--json'], alice);
    const codes = (await sharer.waitEvent('sharing', 30_000)).json.codes as { readWrite: string };
    const bob = join(base, 'bob');
    const joiner = procs.start('bob', ['join', codes.readWrite, bob, '--json'], base);
    await joiner.waitEvent('joined', 60_000);

    vscode = await vscodeOn(join(base, 'cs'), alice);
    const v = vscode;
    await untilState(v.hook, (s) => s.sessions[0]?.connected === true, 60_000);
    bridge = spawn(process.execPath, [BIN, 'editor'], { cwd: bob, stdio: ['pipe', 'pipe', 'pipe'], env: procs.env });
    const b = new EditorClient(bridge.stdin!, bridge.stdout!);
    await b.initialize(['utf-16']);
    await b.open(FILE, fs.readFileSync(join(bob, FILE), 'utf8'));
    for (const f of [DIRECT, BRIDGED]) await b.open(f, fs.readFileSync(join(bob, f), 'utf8'));
    // The sharer's scripted editors: one on the editor socket, one through `cshare editor`.
    const direct = await EditorClient.connect(readAnnouncement(alice)!.editor!);
    ends.push(() => direct.end());
    await direct.initialize(['utf-16']);
    await direct.open(DIRECT, fs.readFileSync(join(alice, DIRECT), 'utf8'));
    aliceBridge = spawn(process.execPath, [BIN, 'editor'], { cwd: alice, stdio: ['pipe', 'pipe', 'pipe'], env: procs.env });
    const bridged = new EditorClient(aliceBridge.stdin!, aliceBridge.stdout!);
    await bridged.initialize(['utf-16']);
    await bridged.open(BRIDGED, fs.readFileSync(join(alice, BRIDGED), 'utf8'));
    await openFile(v.page, FILE);
    await untilState(v.hook, (s) => s.sessions[0]?.docs.some((d) => d.path === FILE && d.version !== null) === true);
    await v.page.locator('.editor-instance .monaco-editor .view-lines').first().click();
    await v.page.keyboard.press('Control+End');

    // In the page: when the key's keydown was created (the browser had the input) and when the
    // editor's textarea handled the input event (the renderer typed it into its model).
    await v.page.evaluate(() => {
      const w = window as unknown as { cshareKeyAt: number; cshareInputAt: number };
      addEventListener('keydown', (e) => (w.cshareKeyAt = performance.timeOrigin + e.timeStamp), true);
      addEventListener('input', () => (w.cshareInputAt = performance.timeOrigin + performance.now()), true);
    });
    let lost = 0;
    const toPeer: number[] = [];
    const toKeydown: number[] = [];
    const toInput: number[] = [];
    const toExtension: number[] = [];
    const inExtension: number[] = [];
    const fromExtension: number[] = [];
    const directMs: number[] = [];
    const bridgedMs: number[] = [];
    for (let i = 0; i < KEYS; i++) {
      const ch = 'abcdefghijklmnopqrstuvwxyz'[i % 26]!;
      const want = b.buffers.get(FILE)!.text + ch;
      const arrived = b.whenText(FILE, (t) => t === want).then(wall);
      const t0 = wall();
      await v.page.keyboard.press(ch);
      const tPeer = await within(arrived);
      if (tPeer === null) lost++;
      else {
        toPeer.push(tPeer - t0);
        const t = await v.hook.call<{ changeAt: number; sentAt: number }>('timings');
        const [keyAt, inputAt] = await v.page.evaluate(() => {
          const w = window as unknown as { cshareKeyAt: number; cshareInputAt: number };
          return [w.cshareKeyAt, w.cshareInputAt] as const;
        });
        toKeydown.push(keyAt - t0);
        toInput.push(inputAt - keyAt);
        toExtension.push(t.changeAt - inputAt);
        inExtension.push(t.sentAt - t.changeAt);
        fromExtension.push(tPeer - t.sentAt);
      }
      await sleep(30);
      // The same path without VS Code, alternated with it (same load).
      for (const [c, f, xs] of [[direct, DIRECT, directMs], [bridged, BRIDGED, bridgedMs]] as const) {
        const ms = await keyAcross(c, b, f, ch);
        if (ms === null) lost++;
        else xs.push(ms);
        await sleep(30);
      }
    }
    const back: number[] = [];
    for (let i = 0; i < KEYS; i++) {
      const t = b.buffers.get(FILE)!.text;
      const want = `${t.slice(0, 0)}${'ABCDEFGHIJKLMNOPQRSTUVWXYZ'[i % 26]}${t}`;
      const t0 = performance.now();
      b.type(FILE, 0, 0, want[0]!);
      const ms = await when(async () => (await v.hook.call<string>('text', { path: FILE })) === want, t0);
      if (ms === null) lost++;
      else back.push(ms);
      await sleep(30);
    }
    out(`vscode keystroke -> peer buffer: ${summary(toPeer)} (target p50 < ${TARGET_P50} ms)`);
    out(`  key press (Playwright) -> keydown in the page: ${summary(toKeydown)}`);
    out(`  keydown -> input event handled in the page: ${summary(toInput)}`);
    out(`  input event -> extension change event (code-server, extension host): ${summary(toExtension)}`);
    out(`  change event -> didChange written: ${summary(inExtension)}`);
    out(`  didChange written -> peer buffer: ${summary(fromExtension)}`);
    out(`scripted editor on the sharer's socket -> peer buffer: ${summary(directMs)}`);
    out(`scripted editor through cshare editor -> peer buffer: ${summary(bridgedMs)}`);
    out(`peer keystroke -> vscode buffer: ${summary(back)}`);
    out(`lost (not there within 5 s): ${lost}`);
    out(`RESULT vscode keystroke p50 ${percentile(toPeer, 50).toFixed(1)} ms ${percentile(toPeer, 50) < TARGET_P50 ? 'meets' : 'misses'} the ${TARGET_P50} ms target`);
    return { toPeer, back, lost };
  } finally {
    bridge?.kill('SIGKILL');
    aliceBridge?.kill('SIGKILL');
    for (const end of ends) end();
    await vscode?.stop();
    await procs.stopAll();
    fs.rmSync(base, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
