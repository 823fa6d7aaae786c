/**
 * The extension under test in a real VS Code: the .vsix built by `npm run vsix`'s script,
 * installed with `code-server --install-extension`, a workbench in Chromium on a folder, and
 * a client of the extension's test socket (editors/vscode/src/testHook.ts) to read what the
 * extension holds and act through VS Code's API.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { BIN } from '../helpers/cli.js';
import { codeServerCli, openWorkbench, startCodeServer, type CodeServer } from './codeServer.js';

const EXTENSION_DIR = fileURLToPath(new URL('../../editors/vscode/', import.meta.url));
/** The packaged extension (made by {@link buildVsix}). */
export const VSIX = join(EXTENSION_DIR, 'cshare-vscode.vsix');

/** Bundles and packages the extension (what `npm run vsix` does): ~5 s. */
export function buildVsix(): string {
  execFileSync(process.execPath, [join(EXTENSION_DIR, 'build.mjs'), '--vsix'], { stdio: 'pipe' });
  return VSIX;
}

/** A client of the extension's test socket. */
export class Hook {
  private nextId = 1;
  private buf = '';
  private readonly waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();

  private constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf += d.toString();
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const m = JSON.parse(this.buf.slice(0, nl)) as { id: number; result?: unknown; error?: string };
        this.buf = this.buf.slice(nl + 1);
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (m.error !== undefined) w?.reject(new Error(m.error));
        else w?.resolve(m.result);
      }
    });
  }

  /** Connects once the extension has opened its socket (it does on activation). */
  static async connect(path: string, ms = 60_000): Promise<Hook> {
    const deadline = Date.now() + ms;
    for (;;) {
      try {
        const sock = await new Promise<Socket>((resolve, reject) => {
          const s = connect(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        return new Hook(sock);
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`the extension's test socket never opened: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** One request to the extension. */
  call<T = any>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.sock.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  /** What the extension holds (see testHook.ts `state`). */
  state(): Promise<HookState> {
    return this.call<HookState>('state');
  }

  close(): void {
    this.sock.destroy();
  }
}

/** The extension's state as the test socket reports it. */
export interface HookState {
  following: string | null;
  sessions: {
    folder: string;
    connected: boolean;
    /** Connections of the folder to the daemon open now (one when connected). */
    connections: number;
    /** The announced editor socket, or the `cshare editor` bridge (null: not connected). */
    via: 'socket' | 'bridge' | null;
    info: { role: string; name: string; replicaId: string } | null;
    status: { connection: string; peers: number } | null;
    peers: { id: string; name: string; color: string; path?: string; selections?: { anchor: Pos; head: Pos }[] }[];
    docs: { path: string; version: number | null; unsent: boolean | null; applying: boolean | null; docVersion: number; text: string; dirty: boolean }[];
  }[];
  decorations: Record<string, { id: string; name: string; color: string; cursors: Pos[]; selections: { start: Pos; end: Pos }[] }[]>;
  visible: string[];
}
type Pos = { line: number; character: number };

/** Polls the extension's state until `pred` holds (failing with the last state). */
export async function untilState(hook: Hook, pred: (s: HookState) => boolean, ms = 30_000): Promise<HookState> {
  let last: HookState | undefined;
  const deadline = Date.now() + ms;
  for (;;) {
    last = await hook.state();
    if (pred(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out; the extension's state: ${JSON.stringify(last).slice(0, 4000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * No suggestion widget while the tests type: with it, an Enter typed right after a word may
 * accept a suggestion instead of breaking the line, depending on whether the widget opened
 * before the key (under load). Seen twice in e2e's CRLF step: after "three" and Enter, VS
 * Code's document was one version further with the same text and no line break, as a
 * suggestion accepted in place would leave it.
 */
const QUIET_EDITOR = {
  'editor.quickSuggestions': { other: 'off', comments: 'off', strings: 'off' },
  'editor.suggestOnTriggerCharacters': false,
  'editor.wordBasedSuggestions': 'off',
  'editor.acceptSuggestionOnEnter': 'off',
};

/** A code-server with the extension installed, a workbench on `folder` and the test socket. */
export interface VsCode {
  server: CodeServer;
  browser: Browser;
  page: Page;
  hook: Hook;
  stop(): Promise<void>;
}

/**
 * Installs the .vsix into a fresh code-server (as a user would: `--install-extension`), points
 * the `cshare.path` setting at this checkout's `bin/cshare`, and opens `folder` in Chromium.
 */
export async function vscodeOn(base: string, folder: string, settings: Record<string, unknown> = {}): Promise<VsCode> {
  const installed = await codeServerCli(base, ['--install-extension', VSIX]);
  if (installed.code !== 0 || !/successfully installed/i.test(installed.out)) throw new Error(`install failed: ${installed.out}`);
  const socket = join(base, 'hook.sock');
  const server = await startCodeServer({ base, env: { CSHARE_VSCODE_TEST_SOCKET: socket } });
  const settingsFile = join(server.dataDir, 'User', 'settings.json');
  writeFileSync(settingsFile, JSON.stringify({ ...JSON.parse(readFileSync(settingsFile, 'utf8')), 'cshare.path': BIN, ...QUIET_EDITOR, ...settings }, null, 2));
  const { browser, page } = await openWorkbench(server, folder);
  const hook = await Hook.connect(socket);
  return {
    server,
    browser,
    page,
    hook,
    stop: async () => {
      hook.close();
      await browser.close();
      await server.stop();
    },
  };
}
