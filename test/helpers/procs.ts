import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { BIN } from './cli.js';

/** A running cshare process whose stdout JSON lines are collected. */
export class Proc {
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private buf = '';

  constructor(readonly child: ChildProcess, readonly name: string) {
    child.stdout!.on('data', (d: Buffer) => {
      this.buf += d.toString();
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.lines.push({ raw: line });
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** The first JSON line matching `pred` (waiting for it). */
  async line(pred: (l: Record<string, unknown>) => boolean, ms = 30_000): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await until(() => (found = this.lines.find(pred)) !== undefined, ms, () => `${this.name}: no matching line; stdout ${JSON.stringify(this.lines)}; stderr ${this.stderr}`);
    return found!;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exit;
    clearTimeout(t);
  }
}

const running = new Set<Proc>();

/** Starts `cshare args --json` in `cwd`. */
export function start(name: string, cwd: string, args: string[], env: Record<string, string> = {}): Proc {
  return startText(name, cwd, [...args, '--json'], env);
}

/** Starts `cshare args` in `cwd` as a user would (text output: its lines are `{ raw }`). */
export function startText(name: string, cwd: string, args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: '1', USER: name, HOME: `${cwd}/.no-home`, GIT_CONFIG_NOSYSTEM: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p = new Proc(child, name);
  running.add(p);
  void p.exit.then(() => running.delete(p));
  return p;
}

/** Stops every process started by {@link start} (for afterEach). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop('SIGKILL')));
}

/** Polls `cond` until it holds, failing with `why()` after `ms`. */
export async function until(cond: () => boolean, ms = 30_000, why: () => string = () => 'condition not met'): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    let ok = false;
    try {
      ok = cond();
    } catch {
      ok = false;
    }
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`timed out: ${why()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
