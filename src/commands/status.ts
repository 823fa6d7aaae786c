import { BaseCommand } from '../cli/BaseCommand.js';
import { statusOffline } from '../status/statusOffline.js';
import { formatStatus, type StatusJson } from '../cli/statusText.js';
import { viaRunning } from '../cli/viaRunning.js';

/** `cshare status`: the worktree, this replica, and what changed since the last scan. */
export default class Status extends BaseCommand {
  static override summary = 'Show the worktree, this replica, tracked files, unrecorded changes and sharing state';
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json'];

  async run(): Promise<StatusJson> {
    const { flags } = await this.parse(Status);
    const s = await viaRunning<StatusJson>({ cwd: flags.cwd ?? process.cwd(), cmd: 'status', args: {}, local: (r) => r.status({ signal: this.abort.signal }), offline: (root) => statusOffline(root) });
    if (!this.jsonEnabled()) process.stdout.write(formatStatus(s, this.color));
    return s;
  }
}
