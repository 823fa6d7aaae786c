import { Args, Flags } from '@oclif/core';
import { createInterface } from 'node:readline/promises';
import { BaseCommand } from '../cli/BaseCommand.js';
import type { JoinEvent } from '../sync/join.js';
import { readJoinCode } from '../cli/readJoinCode.js';
import { counted, gitQuoted, shown } from '../core/display.js';
import { EventPrinter } from '../cli/eventPrinter.js';

/** `cshare join`: materialise a shared worktree and keep it in sync both ways. */
export default class Join extends BaseCommand {
  static override summary = 'Join a shared worktree into DIR and keep it in sync both ways';
  static override examples = [
    '<%= config.bin %> join cs1.7Q4kM... ~/src/app-alice',
    '<%= config.bin %> join cs1.7Q4kM... --once --json',
    '<%= config.bin %> join cs1.7Q4kM... existing-dir --dry-run',
    'pass show app-code | <%= config.bin %> join - ~/src/app-alice',
    '<%= config.bin %> join --code-file ~/.app-code ~/src/app-alice',
  ];
  static override args = {
    code: Args.string({ description: 'join code printed by cshare share, or - to read it from stdin (the command line shows in ps)' }),
    dir: Args.string({ description: 'where to put the worktree (default: a new folder named after the shared one, as git clone names it)' }),
  };
  static override flags = {
    once: Flags.boolean({ description: 'fetch the current state, write it and exit' }),
    'dry-run': Flags.boolean({ description: 'list what joining would create or replace, change nothing' }),
    force: Flags.boolean({ description: 'replace local files that differ (each local version stays in cshare log)' }),
    yes: Flags.boolean({ char: 'y', description: 'upload local files the share does not have (or that changed while not joined) without asking' }),
    retry: Flags.boolean({ description: 'keep trying to reach the relay however long it takes (default: give up after 30 s with exit code 12)' }),
    verbose: Flags.boolean({ description: 'list every file written or uploaded (by default a big transfer is a progress line and a summary)' }),
    'code-file': Flags.string({ description: 'read the join code from this file (or pipe); the one argument is then DIR' }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(Join);
    const { code, dir } = await readJoinCode({ code: args.code, dir: args.dir, codeFile: flags['code-file'] });
    const json = this.jsonEnabled();
    const live = !flags.once && !flags['dry-run'];
    // Loaded on use: libp2p is most of cshare's start-up time (see share).
    const { join } = await import('../sync/join.js');
    const { startEditorServer } = await import('../sync/editorHost.js');
    const printer = (this.printer = new EventPrinter({ color: this.color, verbose: flags.verbose, tty: Boolean(process.stdout.isTTY) }));
    const result = await join({
      code,
      dir,
      cwd: flags.cwd ?? process.cwd(),
      once: flags.once,
      dryRun: flags['dry-run'],
      force: flags.force,
      retry: flags.retry,
      yes: flags.yes,
      confirm: process.stdin.isTTY && process.stdout.isTTY && !json ? (files) => this.confirm(files) : undefined,
      signal: this.abort.signal,
      // Editors connect to it (EDITOR-API.md; `cshare editor`).
      live: (host) => startEditorServer(host),
      onStop: (standing) => (this.standing = standing),
      onEvent: (e: JoinEvent) => {
        if (this.stopSaid) return; // the stopped line ends the output (a stop's late errors say nothing new)
        if (json) {
          if (live) process.stdout.write(`${JSON.stringify({ event: e.type, ...e, type: undefined })}\n`);
          return;
        }
        if (e.type === 'joined') {
          printer.line(`Joined ${shown(e.root)}: ${counted(e.files, 'file')} (${e.access === 'rw' ? 'read-write' : 'read-only'}).${live ? ' Syncing; press Ctrl-C to stop.' : ''}\n`);
          printer.synced();
        } else printer.write(e);
      },
    });
    if (this.interrupted) {
      this.sayStopped();
      return undefined;
    }
    if (flags['dry-run'] && !json) {
      const word = { overwrite: this.color.yellow('replace'), create: this.color.green('create '), upload: this.color.cyan('upload '), keep: this.color.dim('keep   ') };
      const changes = result.changes ?? [];
      // Quoted as git quotes paths (core.quotePath), so the list compares with git's.
      const lines = changes.map((c) => `${word[c.change]} ${gitQuoted(c.path)}`);
      lines.push(`${counted(result.files, 'file')} would change in ${shown(result.root)}`);
      const kept = changes.length - result.files;
      // Shared paths where this folder has a file it does not share (a secret, an ignored file).
      if (kept > 0) lines.push(`${counted(kept, 'local file')} not shared from here would be kept as ${kept === 1 ? 'it is' : 'they are'}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return live ? undefined : result;
  }

  protected override stopsOnInterrupt = true;

  /** Prints the running join's events. */
  private printer: EventPrinter | undefined;
  /** Where the join stood when Ctrl-C stopped it. */
  private standing: { notUploaded: number; inSync: boolean; root: string } | undefined;

  protected override stoppedMessage(): { text: string; json: Record<string, unknown> } | undefined {
    const s = this.standing;
    // Stopped before the join had a folder (reading the code, connecting): nothing to say.
    if (!s) return undefined;
    // A progress line on screen ends before the message.
    this.printer?.line('');
    const n = s.notUploaded;
    const text =
      n > 0
        ? `Stopped syncing ${shown(s.root)}; ${n} ${n === 1 ? 'file' : 'files'} not uploaded yet, they go out when cshare join runs there again`
        : s.inSync
          ? `Stopped syncing ${shown(s.root)}`
          : `Stopped joining before ${shown(s.root)} was complete; run the same cshare join again to finish it`;
    return { text, json: { command: 'join', root: s.root, notUploaded: n, inSync: s.inSync } };
  }

  private async confirm(files: { path: string; change: string }[]): Promise<boolean> {
    process.stdout.write(`These local files would be uploaded to everyone in the share:\n${files.map((f) => `  ${f.change} ${f.path}`).join('\n')}\n`);
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    try {
      return /^y(es)?$/i.test((await rl.question('Upload them? [y/N] ')).trim());
    } finally {
      rl.close();
    }
  }
}
