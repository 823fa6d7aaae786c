import { BaseCommand } from '../BaseCommand.js';
import type { ReplicaStatus } from '../core/Replica.js';
import { statusOffline } from '../statusOffline.js';
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
};

/** `cshare status`: the worktree, this replica, and what changed since the last scan. */
export default class Status extends BaseCommand {
  static override summary = 'Show the worktree, this replica, tracked files, unrecorded changes and sharing state';
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json'];

  async run(): Promise<StatusJson> {
    const { flags } = await this.parse(Status);
    const s = await viaRunning<StatusJson>(flags.cwd ?? process.cwd(), 'status', {}, (r) => r.status(), (root) => statusOffline(root));
    if (!this.jsonEnabled()) {
      const c = this.color;
      const lines = [
        `Worktree: ${s.root}`,
        `Replica:  ${s.replica.name} (${s.replica.id})`,
        `Sharing:  ${s.sharing}${s.relay ? ` via ${s.relay[0]}` : ''}${s.connected === false ? ' (reconnecting)' : ''}`,
        ...(s.codes ? [`Join:     cshare join ${s.codes.readWrite}`, `          cshare join ${s.codes.readOnly} (read-only)`] : []),
        ...(s.peers ? [`Peers:    ${s.peers.length ? s.peers.map((p) => p.name).join(', ') : 'none'}`] : []),
        ...(s.unacknowledged !== undefined ? [`Pending:  ${s.unacknowledged} local change(s) not yet acknowledged by the relay${s.uploading ? `, ${s.uploading} item(s) still uploading` : ''}`] : []),
        `Files:    ${s.files} tracked, store ${(s.storeBytes / 1024).toFixed(0)} KiB`,
      ];
      if (s.changed.length === 0) lines.push('No changes since the last scan.');
      else {
        lines.push(`Changes not yet recorded (run ${c.bold('cshare scan')}):`);
        for (const ch of s.changed) lines.push(`  ${c.yellow(ch.change.padEnd(9))} ${ch.from ? `${ch.from} -> ` : ''}${ch.path}`);
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return s;
  }
}
