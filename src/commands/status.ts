import { BaseCommand } from '../BaseCommand.js';
import type { ReplicaStatus } from '../core/Replica.js';
import { statusOffline } from '../statusOffline.js';
import { formatStatus } from '../statusText.js';
import { viaRunning } from '../viaRunning.js';

/** Status as printed: the offline fields, plus what a running share/join adds. */
export type StatusJson = Omit<ReplicaStatus, 'sharing'> & {
  sharing: 'off' | 'on' | 'joined';
  codes?: { readWrite: string; readOnly: string };
  relay?: string[];
  peers?: { id: string; name: string }[];
  connected?: boolean;
  unacknowledged?: number;
  uploading?: number;
  /** A join with a read-only code: its own changes stay here (see `kept`). */
  readOnly?: boolean;
  /** Read-only join: how many of this replica's changes are kept here, never uploaded. */
  kept?: number;
};

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
