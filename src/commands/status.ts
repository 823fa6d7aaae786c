import { BaseCommand } from '../BaseCommand.js';
import type { ReplicaStatus } from '../core/Replica.js';
import { openWorktree } from '../store/openWorktree.js';

/** `cshare status`: the worktree, this replica, and what changed since the last scan. */
export default class Status extends BaseCommand {
  static override summary = 'Show the worktree, this replica, tracked files, unrecorded changes and sharing state';
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json'];

  async run(): Promise<ReplicaStatus> {
    const { flags } = await this.parse(Status);
    const wt = await openWorktree({ cwd: flags.cwd ?? process.cwd() });
    try {
      const s = await wt.replica.status();
      if (!this.jsonEnabled()) {
        const c = this.color;
        const lines = [
          `Worktree: ${s.root}`,
          `Replica:  ${s.replica.name} (${s.replica.id})`,
          `Sharing:  ${s.sharing}`,
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
    } finally {
      await wt.close();
    }
  }
}
