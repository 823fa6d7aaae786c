import { Args, Flags } from '@oclif/core';
import type { ChalkInstance } from 'chalk';
import { BaseCommand } from '../BaseCommand.js';
import type { JoinEvent } from '../sync/join.js';
import { readJoinCode } from '../readJoinCode.js';
import { shown, shownText } from '../core/display.js';

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
    dir: Args.string({ description: 'where to put the worktree (default: a new folder named after it)' }),
  };
  static override flags = {
    once: Flags.boolean({ description: 'fetch the current state, write it and exit' }),
    'dry-run': Flags.boolean({ description: 'list what joining would create or replace, change nothing' }),
    force: Flags.boolean({ description: 'replace local files that differ (each local version stays in cshare log)' }),
    'code-file': Flags.string({ description: 'read the join code from this file (or pipe); the one argument is then DIR' }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(Join);
    const { code, dir } = await readJoinCode({ code: args.code, dir: args.dir, codeFile: flags['code-file'] });
    const json = this.jsonEnabled();
    const live = !flags.once && !flags['dry-run'];
    // Loaded on use: libp2p is most of cshare's start-up time (see share).
    const { join } = await import('../sync/join.js');
    const result = await join({
      code,
      dir,
      cwd: flags.cwd ?? process.cwd(),
      once: flags.once,
      dryRun: flags['dry-run'],
      force: flags.force,
      signal: this.abort.signal,
      onEvent: (e: JoinEvent) => {
        if (json) {
          if (live) process.stdout.write(`${JSON.stringify({ event: e.type, ...e, type: undefined })}\n`);
          return;
        }
        if (e.type === 'joined') {
          process.stdout.write(`Joined ${shown(e.root)}: ${e.files} files (${e.access === 'rw' ? 'read-write' : 'read-only'}).${live ? ' Syncing; press Ctrl-C to stop.' : ''}\n`);
        } else process.stdout.write(formatEvent(e, this.color));
      },
    });
    if (flags['dry-run'] && !json) {
      const lines = (result.changes ?? []).map((c) => `${c.change === 'overwrite' ? this.color.yellow('replace') : this.color.green('create ')} ${shown(c.path)}`);
      lines.push(`${result.changes?.length ?? 0} file(s) would change in ${shown(result.root)}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return live ? undefined : result;
  }
}

/** One line for a sync event, for humans. */
export function formatEvent(e: Exclude<JoinEvent, { type: 'joined' }>, c: ChalkInstance): string {
  switch (e.type) {
    case 'applied':
      return e.changes.map((ch) => `${c.cyan('<-')} ${ch.kind} ${ch.from ? `${shown(ch.from)} -> ` : ''}${shown(ch.path)}\n`).join('');
    case 'progress':
      return process.stdout.isTTY ? `\r${c.dim(`uploading ${e.done}/${e.total} (${(e.bytes / 1e6).toFixed(1)} MB)`)}${e.done === e.total ? '\n' : ''}` : '';
    case 'uploaded':
      return `${c.green('->')} uploaded ${e.changes} change(s), ${e.bytes} bytes\n`;
    case 'peer-joined':
      return `${c.bold(shown(e.name))} joined\n`;
    case 'peer-left':
      return `${c.bold(shown(e.name ?? e.replicaId))} left\n`;
    case 'error':
      return `${c.red('error')}: ${shownText(e.message)}\n`;
  }
}
