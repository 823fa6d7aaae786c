/**
 * Running the cshare CLI from the extension, with no `vscode` import: a long-lived `share` or
 * `join` started with `--json`, whose lines are read, and the CLI's own message when it fails
 * (its `{ok: false, code, message}` line, else the last line of its stderr).
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** A cshare process started by {@link startCli}. */
export interface CliProcess {
  readonly child: ChildProcess;
  /** Resolves when it ends, with the CLI's message if it failed. */
  readonly ended: Promise<{ code: number | null; message?: string }>;
  stop(): void;
}

/** The CLI's message for a failed run: its JSON error line, else its stderr's last line. */
export function failureMessage(lines: readonly Record<string, unknown>[], stderr: string, code: number | null): string {
  const err = lines.find((l) => l.ok === false && typeof l.message === 'string');
  if (err) return String(err.message);
  const last = stderr.trim().split('\n').pop();
  return last ? last.replace(/^error:\s*/, '') : `cshare exited with code ${code}`;
}

/**
 * Starts `cshare args --json` in `cwd` and resolves once a line satisfies `ready` (with that
 * line), or rejects with the CLI's message if it ends first. `onLine` sees every later line
 * (the non-fatal `{event: 'error'}` ones, say). `detached` keeps it running when the extension
 * host ends (a `join` whose folder the window then opens).
 */
export function startCli(opts: {
  command: string;
  args: readonly string[];
  cwd: string;
  ready: (line: Record<string, unknown>) => boolean;
  onLine?: (line: Record<string, unknown>) => void;
  detached?: boolean;
}): Promise<{ proc: CliProcess; line: Record<string, unknown> }> {
  const child = spawn(opts.command, [...opts.args, '--json'], {
    cwd: opts.cwd,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  let buf = '';
  let readyLine: ((l: Record<string, unknown>) => void) | undefined;
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8192)));
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { raw: text };
      }
      lines.push(line);
      if (lines.length > 200) lines.splice(0, lines.length - 200);
      if (readyLine && opts.ready(line)) {
        readyLine(line);
        readyLine = undefined;
      } else {
        opts.onLine?.(line);
      }
    }
  });
  const ended = new Promise<{ code: number | null; message?: string }>((resolve) => {
    child.on('error', (e) => resolve({ code: null, message: `cannot run ${opts.command}: ${e.message}` }));
    child.on('exit', (code, signal) => resolve(code === 0 || signal ? { code } : { code, message: failureMessage(lines, stderr, code) }));
  });
  if (opts.detached) child.unref();
  const proc: CliProcess = { child, ended, stop: () => void child.kill('SIGTERM') };
  return new Promise((resolve, reject) => {
    readyLine = (line) => resolve({ proc, line });
    void ended.then((r) => {
      if (readyLine) reject(new Error(r.message ?? `cshare ${opts.args[0]} stopped`));
    });
  });
}

/** Runs `cshare args --json` in `cwd` to its end: its exit code and, if it failed, the CLI's message. */
export function runCli(opts: { command: string; args: readonly string[]; cwd: string }): Promise<{ code: number | null; message?: string }> {
  return new Promise((resolve) => {
    const child = spawn(opts.command, [...opts.args, '--json'], { cwd: opts.cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => resolve({ code: null, message: `cannot run ${opts.command}: ${e.message}` }));
    child.on('exit', (code) => {
      if (code === 0) return resolve({ code });
      const lines = stdout.split('\n').flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
      resolve({ code, message: failureMessage(lines, stderr, code) });
    });
  });
}
