import { BaseCommand } from '../cli/BaseCommand.js';
import { CshareError } from '../core/errors.js';
import { findWorktreeRoot } from '../store/openWorktree.js';
import { callControl } from '../sync/control.js';
import { shown } from '../core/display.js';

/** `cshare unshare`: stop the running share (or join) of this worktree. */
export default class Unshare extends BaseCommand {
  static override summary = 'Stop sharing this worktree (stops the running cshare share or join)';
  static override examples = ['<%= config.bin %> unshare', '<%= config.bin %> unshare --json'];

  async run(): Promise<{ stopped: boolean; root: string }> {
    const { flags } = await this.parse(Unshare);
    const root = findWorktreeRoot(flags.cwd ?? process.cwd());
    const reply = await callControl(root, 'unshare');
    if (!reply) throw new CshareError('NOT_SHARING', `no cshare share or join is running in ${root}`, { root });
    if (!this.jsonEnabled()) process.stdout.write(`Stopped sharing ${shown(root)}.\n`);
    return { stopped: true, root };
  }
}
