import { Command, Flags } from '@oclif/core';
import chalk, { Chalk } from 'chalk';
import { CshareError, toCshareError } from '../core/errors.js';
import { currentStep } from '../sync/step.js';
import { shownText } from '../core/display.js';
import { usageMessage } from './usageMessage.js';
import { logger } from '../core/log.js';

const log = logger('cli');

/** The exit code after Ctrl-C (128 + SIGINT's number), as shells and git use. */
export const INTERRUPTED_EXIT = 130;

/**
 * How long after Ctrl-C a command may take to close what it holds before it exits anyway
 * (the issue asks for 200 ms from the key to the prompt; Node's own exit takes some of it).
 */
const INTERRUPT_GRACE_MS = 120;

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
    process.once('SIGTERM', stop);
    if (!this.stopsOnInterrupt) {
      process.once('SIGINT', stop);
      return this.watchExit();
    }
    process.on('SIGINT', () => {
      // A second Ctrl-C does not wait for anything.
      if (this.interrupted) process.exit(INTERRUPTED_EXIT);
      this.interrupted = true;
      stop();
      // What is left to close (a libp2p node, the store) gets a moment; what it did not finish
      // is safe as after kill -9 (every store write is one atomic batch), and is said.
      setTimeout(() => this.exitInterrupted(), INTERRUPT_GRACE_MS).unref();
    });
    this.watchExit();
  }

  private watchExit(): void {
    // Node ends a process whose event loop emptied while the top-level await was pending with
    // exit code 13, but emits 'exit' with code 0 first: what tells is that the command never
    // reached `finally`.
    process.once('exit', () => {
      if (!this.finished && !this.interrupted) process.stderr.write(`cshare: exited with a wait that nothing would settle (last step: ${currentStep()})\n`);
    });
  }

  /**
   * Ctrl-C stops this command within {@link INTERRUPT_GRACE_MS}, says what it did and exits
   * with 130 (`share`, `join`: long-running, and what they leave undone is safe and resumed).
   * Other commands end their work on the abort as before.
   */
  protected stopsOnInterrupt = false;

  /** Ctrl-C (SIGINT) was pressed: the command stops, says what it did, and exits with 130. */
  protected interrupted = false;
  private saidStopped = false;

  /**
   * What the command did before Ctrl-C stopped it (`Stopped sharing; 37 files not uploaded
   * yet...`), or undefined to say nothing. Said once, on stderr (a JSON event on stdout with
   * `--json`), by {@link sayStopped}.
   */
  protected stoppedMessage(): { text: string; json: Record<string, unknown> } | undefined {
    return undefined;
  }

  /**
   * After Ctrl-C: says what the command did (once) and sets exit code 130, as shells and git
   * do for a process ended by SIGINT. A command calls it when its work returns; otherwise it
   * happens {@link INTERRUPT_GRACE_MS} after the signal.
   */
  protected sayStopped(): void {
    process.exitCode = INTERRUPTED_EXIT;
    if (this.saidStopped) return;
    this.saidStopped = true;
    const m = this.stoppedMessage();
    if (!m) return;
    if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify({ event: 'stopped', ...m.json })}\n`);
    else process.stderr.write(`${m.text}\n`);
  }

  /** Whether the "stopped" line was said: nothing is printed after it (it ends a `--json` stream). */
  protected get stopSaid(): boolean {
    return this.saidStopped;
  }

  private exitInterrupted(): never {
    this.sayStopped();
    process.exit(INTERRUPTED_EXIT);
  }

  private finished = false;

  protected override async finally(err: Error | undefined): Promise<unknown> {
    this.finished = true;
    return super.finally(err);
  }

  /** Errors as `{ ok: false, code, message }` with `--json`, else a one-line message; exit code from the table. */
  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<void> {
    // Stopped by Ctrl-C: what was cut short is no error of its own (an upload aborted).
    if (this.interrupted && !(err as { oclif?: unknown }).oclif) {
      log('after Ctrl-C: %s', err.message);
      this.sayStopped();
      return;
    }
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
