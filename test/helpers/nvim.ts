import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attach, type NeovimClient } from 'neovim';
import { until } from './procs.js';
import { tempDir } from './tmp.js';

/** The plugin's folder (what a user adds to 'runtimepath'). */
export const PLUGIN_DIR = fileURLToPath(new URL('../../editors/nvim', import.meta.url));

/** What `require('cshare').setup()` gets in a test. */
export interface NvimSetup {
  /** The bridge to spawn (the real `cshare editor`, or a stand-in). */
  cmd: string[];
  name?: string;
  cursor_throttle_ms?: number;
  /** Compare the whole buffer with the plugin's copy after every change. */
  verify?: boolean;
  /** Keep timestamps of the live edit path (require('cshare.trace').stages; bench/editor.ts). */
  trace_stages?: boolean;
}

const running = new Set<Nvim>();

/**
 * A real headless Neovim (`nvim --embed`) with the plugin on its runtimepath and set up, driven
 * through the npm `neovim` client. Its XDG folders are in a temp dir; `vim.notify` is recorded
 * in `_G.cshare_notes` so that a test can see what the user would have been told.
 */
export class Nvim {
  private constructor(
    readonly client: NeovimClient,
    readonly proc: ChildProcess,
    readonly name: string,
  ) {}

  /** Starts Neovim in `cwd` with the plugin set up with `setup` (`home`: its HOME and XDG dirs, a temp dir by default). */
  static async start(opts: { name: string; cwd: string; setup: NvimSetup; home?: string; env?: NodeJS.ProcessEnv }): Promise<Nvim> {
    const home = opts.home ?? tempDir('cshare-nvim-');
    mkdirSync(home, { recursive: true });
    const init = join(home, 'init.lua');
    writeFileSync(
      init,
      [
        `vim.opt.rtp:prepend(${JSON.stringify(PLUGIN_DIR)})`,
        'vim.o.swapfile = false',
        'vim.o.shortmess = vim.o.shortmess .. "AIF"',
        '_G.cshare_notes = {}',
        'vim.notify = function(msg, level) table.insert(_G.cshare_notes, {msg = msg, level = level}) end',
        `require('cshare').setup(vim.json.decode(${JSON.stringify(JSON.stringify(opts.setup))}))`,
      ].join('\n'),
    );
    const proc = spawn('nvim', ['--clean', '-u', init, '--embed', '--headless'], {
      cwd: opts.cwd,
      env: { ...(opts.env ?? process.env), XDG_DATA_HOME: join(home, 'data'), XDG_STATE_HOME: join(home, 'state'), XDG_CACHE_HOME: join(home, 'cache'), XDG_CONFIG_HOME: join(home, 'config'), HOME: home },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // Quitting closes Neovim's end first: a late write of the client is not a test failure.
    proc.stdin.on('error', (e) => process.stderr.write(`${opts.name}: nvim's stdin: ${e.message}\n`));
    const client = attach({ proc });
    const n = new Nvim(client, proc, opts.name);
    running.add(n);
    // The first request also waits for init.lua to have run.
    await client.lua('return 1');
    return n;
  }

  /** Runs Lua in Neovim (`...` holds `args`) and returns its result. */
  lua<T = unknown>(code: string, args: unknown[] = []): Promise<T> {
    return this.client.lua(code, args as never) as Promise<T>;
  }

  /** Runs an Ex command. */
  command(cmd: string): Promise<unknown> {
    return this.client.command(cmd);
  }

  /** Feeds keys as if typed (nvim_input: processed asynchronously, in order). */
  input(keys: string): Promise<number> {
    return this.client.input(keys);
  }

  /** The current buffer as document text: every line followed by "\n", but the last one when 'eol' is off. */
  text(): Promise<string> {
    return this.lua<string>("return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n') .. (vim.bo.eol and '\\n' or '')");
  }

  /** The buffer's b:changedtick. */
  tick(): Promise<number> {
    return this.lua<number>('return vim.api.nvim_buf_get_changedtick(0)');
  }

  /** What vim.notify was given so far. */
  notes(): Promise<{ msg: string; level: number }[]> {
    return this.lua('return _G.cshare_notes');
  }

  /** Waits until `check` (async) holds, polling. */
  async until(check: () => Promise<boolean>, ms = 20_000, why: () => string | Promise<string> = () => `${this.name}: condition not met`): Promise<void> {
    let ok = false;
    const deadline = Date.now() + ms;
    while (!(ok = await check().catch(() => false)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (!ok) {
      const reason = await why();
      await until(() => false, 0, () => reason);
    }
  }

  /**
   * Reports every change of the current buffer as it happens: `listener(first, lines)` gets the
   * changed lines' new text (from an on_lines hook in Neovim, pushed with rpcnotify), so that a
   * benchmark times an arrival without polling.
   */
  async watchLines(listener: (first: number, lines: string[]) => void): Promise<void> {
    this.client.on('notification', (method: string, args: unknown[]) => {
      if (method === 'cshare_lines') listener(args[0] as number, args[1] as string[]);
    });
    // Sent to this client's channel: Neovim 0.7 broadcasts (channel 0) only to subscribers.
    const channel = await this.client.channelId;
    await this.lua(
      `
      local chan = ...
      local buf = vim.api.nvim_get_current_buf()
      vim.api.nvim_buf_attach(buf, false, { on_lines = function(_, b, _, first, _, last_new)
        vim.rpcnotify(chan, 'cshare_lines', first, vim.api.nvim_buf_get_lines(b, first, last_new, false))
      end })`,
      [channel],
    );
  }

  /** Quits Neovim (and the bridge it spawned, which ends with it). */
  async stop(): Promise<void> {
    running.delete(this);
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.client.quit();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(t);
  }
}

/** Stops every Neovim started by {@link Nvim.start} (for afterEach). */
export async function stopAllNvims(): Promise<void> {
  await Promise.all([...running].map((n) => n.stop()));
}
