import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/BaseCommand.js';
import { listFiles, type FilesList } from '../core/filesList.js';
import { viaRunning } from '../cli/viaRunning.js';
import { listFilesWithoutStore } from '../cli/filesWithoutStore.js';
import { formatFiles } from '../cli/filesText.js';

/**
 * `cshare files`: what would be shared (like `git ls-files -co --exclude-standard`); while a
 * share or join runs, answered by it.
 */
export default class Files extends BaseCommand {
  static override summary = 'List the files that would be shared, with kind, mode, size and digest';
  static override examples = ['<%= config.bin %> files', '<%= config.bin %> files --excluded', '<%= config.bin %> files --json'];
  static override flags = {
    excluded: Flags.boolean({ description: 'also list what is held back, and why (ignored / secret)' }),
  };

  async run(): Promise<FilesList> {
    const { flags } = await this.parse(Files);
    const excluded = flags.excluded;
    const result = await viaRunning<FilesList>({
      cwd: flags.cwd ?? process.cwd(),
      cmd: 'files',
      args: { excluded },
      local: (replica) => listFiles(replica, { excluded, signal: this.abort.signal }),
      // Listing what would be shared comes before sharing: without a store, one in memory.
      withoutStore: (root) => listFilesWithoutStore(root, { excluded, signal: this.abort.signal }),
    });
    if (!this.jsonEnabled()) process.stdout.write(formatFiles(excluded ? result : { ...result, excluded: undefined }, this.color));
    return result;
  }
}
