import { Command, Flags } from '@oclif/core';
import chalk, { Chalk } from 'chalk';
import { CshareError, toCshareError } from './core/errors.js';
import { currentStep } from './sync/step.js';
import { shownText } from './core/display.js';
import { usageMessage } from './usageMessage.js';

/**
 * Shared behaviour of every command: `--json`, one error format, exit codes from one table,
 * colour only on a TTY and never with `NO_COLOR`, and an AbortSignal tied to SIGINT/SIGTERM.
 */
export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    cwd: Flags.directory({ char: 'C', description: 'run as if started in this directory (also before the command: cshare -C <dir> status)', helpGroup: 'GLOBAL', helpValue: '<dir>' }),
  };

  protected readonly abort = new AbortController();
  protected color = new Chalk({ level: 0 });

  override async init(): Promise<void> {
    await super.init();
    const useColor = process.stdout.isTTY && !process.env.NO_COLOR && !this.argv.includes('--json');
    this.color = useColor ? chalk : new Chalk({ level: 0 });
    const stop = () => this.abort.abort(new CshareError('INTERNAL', 'interrupted'));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // Node ends a process whose event loop emptied while the top-level await was pending with
    // exit code 13, but emits 'exit' with code 0 first: what tells is that the command never
    // reached `finally`.
    process.once('exit', () => {
      if (!this.finished) process.stderr.write(`cshare: exited with a wait that nothing would settle (last step: ${currentStep()})\n`);
    });
  }

  private finished = false;

  protected override async finally(err: Error | undefined): Promise<unknown> {
    this.finished = true;
    return super.finally(err);
  }

  /** Errors as `{ ok: false, code, message }` with `--json`, else a one-line message; exit code from the table. */
  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<void> {
    // oclif's own exits (help, version) and flag parse errors.
    if (err.oclif?.exit !== undefined && !(err instanceof CshareError)) {
      if (err.oclif.exit === 0) return;
      // Said here; oclif would add a warning for developers (NODE_ENV=development) that the command never parsed.
      this.parsed = true;
      const flags: Record<string, { char?: string }> = { ...this.ctor.baseFlags, ...this.ctor.flags };
      const chars = Object.fromEntries(Object.entries(flags).map(([name, f]) => [name, f.char]));
      return this.fail(new CshareError('USAGE', usageMessage(err.message, { id: this.id ?? 'help', args: this.ctor.args ?? {}, chars })));
    }
    return this.fail(toCshareError(err));
  }

  private fail(err: CshareError): void {
    if (this.jsonEnabled()) {
      process.stdout.write(`${JSON.stringify(err.toJSON())}\n`);
    } else {
      process.stderr.write(`${this.color.red('error')}: ${shownText(err.message)}\n`);
      if (err.code === 'INTERNAL' && err.cause instanceof Error && process.env.DEBUG) process.stderr.write(`${err.cause.stack}\n`);
    }
    process.exitCode = err.exitCode;
  }

  /** One plain JSON object on stdout (oclif's default colourises it token by token: slow on big listings). */
  protected override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json)}\n`);
  }

  /** Wraps successful JSON output as `{ ok: true, ... }`. */
  protected override toSuccessJson<T>(result: T): T {
    return { ok: true, ...(result as object) } as T;
  }
}
