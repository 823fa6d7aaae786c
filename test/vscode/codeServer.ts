import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort, Proc, until } from '../helpers/procs.js';
import { tempDir } from '../helpers/tmp.js';

/** The code-server release the VS Code tests run: VS Code 1.100.3, the last one for Node 20. */
export const CODE_SERVER_VERSION = '4.100.3';
/** Debian's Chromium; playwright-core never downloads a browser. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Where `scripts/setup-vscode-test.sh` installed code-server (the same rule: the variable, else
 * the user's cache). It lives outside the checkout so that every clone reuses one install
 * (~300 MB of native builds) instead of building it again.
 */
export function codeServerDir(): string {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return process.env.CSHARE_CODE_SERVER_DIR || join(cache, 'cshare-test', `code-server-${CODE_SERVER_VERSION}`);
}

/** code-server's entry script, or a thrown error telling how to install it (tests never skip). */
export function codeServerEntry(): string {
  const entry = join(codeServerDir(), 'node_modules', 'code-server', 'out', 'node', 'entry.js');
  if (!existsSync(entry) || !existsSync(CHROMIUM)) {
    throw new Error(`code-server ${CODE_SERVER_VERSION} or Chromium is missing (${entry}, ${CHROMIUM}): run scripts/setup-vscode-test.sh (.ci/run does)`);
  }
  return entry;
}

/** A running code-server whose data, extensions and XDG folders are all in a temp dir. */
export interface CodeServer {
  readonly url: string;
  readonly proc: Proc;
  readonly dataDir: string;
  readonly extensionsDir: string;
  stop(): Promise<void>;
}

/** The user settings a test workbench starts with: nothing that waits for a click or the network. */
const SETTINGS = {
  'security.workspace.trust.enabled': false,
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'update.mode': 'none',
  'editor.accessibilitySupport': 'off',
  'files.autoSave': 'off',
  'git.enabled': false,
  'chat.disableAIFeatures': true,
};

/**
 * The environment of a code-server child: its own HOME and XDG folders under `base`, so that
 * nothing of the machine's user leaks in and nothing is left behind.
 */
function isolatedEnv(base: string, env: Record<string, string>): Record<string, string> {
  const xdg = (name: string) => {
    const dir = join(base, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  return {
    ...(process.env as Record<string, string>),
    HOME: xdg('home'),
    XDG_CONFIG_HOME: xdg('xdg-config'),
    XDG_DATA_HOME: xdg('xdg-data'),
    XDG_CACHE_HOME: xdg('xdg-cache'),
    XDG_STATE_HOME: xdg('xdg-state'),
    ...env,
  };
}

/**
 * Runs `code-server` with `args` to completion (for `--install-extension`), in the folders of
 * a server made by {@link startCodeServer}'s layout under `base`.
 */
export async function codeServerCli(base: string, args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [codeServerEntry(), '--user-data-dir', join(base, 'data'), '--extensions-dir', join(base, 'extensions'), ...args], {
    env: isolatedEnv(base, {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, out };
}

/**
 * Starts code-server on 127.0.0.1 with no auth. `base` holds its folders (a fresh temp dir
 * when omitted); `env` reaches the extension host (which inherits code-server's environment).
 */
export async function startCodeServer(opts: { base?: string; env?: Record<string, string> } = {}): Promise<CodeServer> {
  const entry = codeServerEntry();
  const base = opts.base ?? tempDir('cshare-vscode-');
  const port = await freePort();
  const dataDir = join(base, 'data');
  const extensionsDir = join(base, 'extensions');
  mkdirSync(join(dataDir, 'User'), { recursive: true });
  mkdirSync(extensionsDir, { recursive: true });
  writeFileSync(join(dataDir, 'User', 'settings.json'), JSON.stringify(SETTINGS, null, 2));
  const config = join(base, 'config.yaml');
  writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const args = [entry, '--config', config, '--user-data-dir', dataDir, '--extensions-dir', extensionsDir, '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override'];
  const child = spawn(process.execPath, args, { env: isolatedEnv(base, opts.env ?? {}), stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = new Proc(child, 'code-server');
  const url = `http://127.0.0.1:${port}`;
  await until(() => /HTTP server listening/.test(proc.stderr + JSON.stringify(proc.lines)), 60_000, () => `code-server did not start: ${proc.stderr}`);
  return { url, proc, dataDir, extensionsDir, stop: () => proc.stop() };
}

/** A headless Chromium page on code-server's workbench for `folder`, once the workbench is up. */
export async function openWorkbench(server: CodeServer, folder: string): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${server.url}/?folder=${encodeURIComponent(folder)}`);
  await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  return { browser, page };
}

/** Opens `rel` (a file of the workbench's folder) with Quick Open, as a user would, and waits for its tab. */
export async function openFile(page: Page, rel: string): Promise<void> {
  const name = rel.split('/').pop()!;
  await page.locator('.monaco-workbench .part.editor').first().waitFor({ timeout: 60_000 });
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 30_000 });
  await input.fill(rel);
  // The row of that file (recently opened files may be listed first), clicked as a user would.
  const row = page.locator(`.quick-input-list .monaco-list-row[aria-label*="${name}"]`).first();
  await row.waitFor({ timeout: 30_000 });
  await row.click();
  await page.locator(`.tabs-container .tab[aria-label^="${name}"]`).first().waitFor({ timeout: 30_000 });
  await page.locator('.editor-instance .monaco-editor .view-lines').first().waitFor({ timeout: 30_000 });
}
