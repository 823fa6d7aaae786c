import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/BaseCommand.js';
import type { UndoResult } from '../core/undoRedo.js';
import { CshareError } from '../core/errors.js';
import { shown } from '../core/display.js';
import { viaRunning, worktreePath } from '../cli/viaRunning.js';

/** `cshare restore`: bring a deleted file back from history. */
export default class Restore extends BaseCommand {
  static override summary = 'Bring back a deleted file from history, whoever deleted it';
  static override examples = ['<%= config.bin %> restore notes.md', '<%= config.bin %> restore notes.md --change 42 --json'];
  static override args = { path: Args.string({ description: 'the deleted file', required: true }) };
  static override flags = {
    change: Flags.integer({ description: 'the id of the delete to undo (see cshare log PATH); default: the latest', min: 1 }),
  };

  async run(): Promise<UndoResult> {
    const { args, flags } = await this.parse(Restore);
    const cwd = flags.cwd ?? process.cwd();
    const path = worktreePath(cwd, args.path);
    if (path === undefined) throw new CshareError('USAGE', `${args.path} is the worktree itself; name the deleted file to restore`, { path: args.path });
    const result = await viaRunning({ cwd, cmd: 'restore', args: { path, change: flags.change }, local: (r) => r.restore({ path, change: flags.change }) });
    if (!this.jsonEnabled()) process.stdout.write(`Restored ${shown(result.path)} as deleted by change ${result.reverts}, recorded as change ${result.seq}\n`);
    return result;
  }
}
