/**
 * Helpers for the network benchmarks: run `bin/cshare` as real processes on loopback, read
 * their JSON lines, wait for an event with a deadline, and stop every process on the way out
 * (SIGTERM, then SIGKILL after a deadline) even when the benchmark fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The real executable (runs the built `dist/`). */
export const BIN = fileURLToPath(new URL('../bin/cshare', import.meta.url));

/** One JSON line a process printed, with the time (ms, `performance.now()`) it was read. */
export interface Line {
  at: number;
  json: any;
}

/** A running `cshare` process. */
export class CshareProcess {
  readonly lines: Line[] = [];
  stderr = '';
  exit: Promise<number | null>;
  exited = false;
  private waiters: (() => void)[] = [];
  private buf = '';

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const text = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (!text) continue;
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = { event: 'non-json', text };
        }
        this.lines.push({ at: performance.now(), json });
      }
      this.wake();
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      // Keep the tail only: enough to explain a failure.
      this.stderr = (this.stderr + chunk).slice(-20_000);
    });
    this.exit = new Promise((resolve) =>
      child.on('exit', (code) => {
        this.exited = true;
        this.wake();
        resolve(code);
      }),
    );
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** The first line (from index `from`) that matches, waiting up to `timeoutMs`. */
  async waitFor(pred: (json: any) => boolean, timeoutMs: number, from = 0): Promise<Line> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.slice(from).find((l) => pred(l.json));
      if (hit) return hit;
      if (this.exited) throw new Error(`${this.name} exited before the expected line; stdout:\n${this.lines.map((l) => JSON.stringify(l.json)).join('\n')}\nstderr:\n${this.stderr}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`${this.name}: no expected line within ${timeoutMs} ms; stdout:\n${this.lines.map((l) => JSON.stringify(l.json)).join('\n').slice(-4000)}\nstderr:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The first line with `"event": event`. */
  waitEvent(event: string, timeoutMs: number, from = 0): Promise<Line> {
    return this.waitFor((j) => j?.event === event, timeoutMs, from);
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Resolves on exit. */
  async stop(graceMs = 5000): Promise<number | null> {
    if (this.exited) return this.exit;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => {
      if (!this.exited) this.child.kill('SIGKILL');
    }, graceMs);
    try {
      return await this.exit;
    } finally {
      clearTimeout(t);
    }
  }
}

/**
 * Starts and tracks cshare processes for one benchmark; `stopAll()` (in a `finally`) ends
 * every one still running.
 */
export class Processes {
  private readonly all: CshareProcess[] = [];

  /** `nodeArgs` go before the script (`--cpu-prof`, which NODE_OPTIONS may not carry). */
  constructor(
    readonly env: NodeJS.ProcessEnv,
    readonly nodeArgs: string[] = [],
  ) {}

  /** Spawns `node bin/cshare ...args` in `cwd` (another build's `bin/cshare` with `bin`). */
  start(name: string, args: string[], cwd: string, bin = BIN): CshareProcess {
    const child = spawn(process.execPath, [...this.nodeArgs, bin, ...args], { cwd, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const p = new CshareProcess(name, child);
    this.all.push(p);
    return p;
  }

  /** Starts a relay on a free loopback port and returns it with its first address. */
  async relay(dataDir: string, cwd: string): Promise<{ proc: CshareProcess; addr: string }> {
    const proc = this.start('relay', ['relay', '--data', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--json'], cwd);
    const line = await proc.waitEvent('listening', 30_000);
    const addr = (line.json.addresses as string[]).find((a) => a.startsWith('/ip4/127.0.0.1/'));
    if (!addr) throw new Error(`relay has no loopback address: ${JSON.stringify(line.json)}`);
    return { proc, addr };
  }

  /** Stops every process still running (in parallel), SIGKILL after `graceMs`. */
  async stopAll(graceMs = 5000): Promise<void> {
    await Promise.all(this.all.map((p) => p.stop(graceMs)));
  }
}

/** A clean environment: a private HOME (no user git config), fixed user name, no colours. */
export function benchEnv(home: string): NodeJS.ProcessEnv {
  fs.mkdirSync(home, { recursive: true });
  return {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    GIT_CONFIG_NOSYSTEM: '1',
    USER: 'bench',
    NO_COLOR: '1',
  };
}

/** Percentile (nearest rank) of `xs`, `p` in [0, 100]. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))]!;
}

/** The median of `xs` (of an even count, the upper of the two middle values). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Total size in bytes of the regular files under `dir`. */
export function dirBytes(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += dirBytes(p);
    else if (e.isFile()) n += fs.statSync(p).size;
  }
  return n;
}

/** Prints one line on stdout. */
export function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** What {@link runToEnd} measured. */
export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Peak RSS in MB from GNU time, when `/usr/bin/time` exists. */
  rssMb?: number;
}

/**
 * Runs a command to its end (asynchronously, so other processes' pipes keep draining) and
 * times it; under GNU time when available, for the peak RSS.
 */
export async function runToEnd(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Finished> {
  const gnuTime = fs.existsSync('/usr/bin/time');
  const file = gnuTime ? '/usr/bin/time' : cmd;
  const argv = gnuTime ? ['-f', 'RSSKB=%M', cmd, ...args] : args;
  const t0 = performance.now();
  const child = spawn(file, argv, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-50_000)));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(timer);
  const ms = performance.now() - t0;
  const m = /RSSKB=(\d+)\s*$/.exec(stderr);
  return { code, stdout, stderr, ms, rssMb: m ? Number(m[1]) / 1024 : undefined };
}

/** Peak RSS (VmHWM) in MB of a running process, from /proc; undefined if unreadable. */
export function peakRssMb(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const m = /VmHWM:\s*(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The file every propagation save edits: ~80 lines, ~3 KB. */
export function initialText(): string[] {
  return Array.from({ length: 80 }, (_, i) => `line ${i}: the quick brown fox jumps over the lazy dog ${i % 7}`);
}

/** Edit number `i`: rewrites one line (a different one each time), a small CRDT update. */
export function edit(lines: string[], i: number): string {
  const at = (i * 37) % lines.length;
  lines[at] = `line ${at}: edited by save ${i} (the quick brown fox)`;
  return `${lines.join('\n')}\n`;
}
