import { Flags } from '@oclif/core';
import { BaseCommand } from '../BaseCommand.js';
import type { ExcludedFile, ScannedFile } from '../core/Scanner.js';
import { openWorktree } from '../store/openWorktree.js';
import { shown, shownText } from '../core/display.js';

/** `cshare files`: what would be shared (like `git ls-files -co --exclude-standard`). */
export default class Files extends BaseCommand {
  static override summary = 'List the files that would be shared, with kind, mode, size and digest';
  static override examples = ['<%= config.bin %> files', '<%= config.bin %> files --excluded', '<%= config.bin %> files --json'];
  static override flags = {
    excluded: Flags.boolean({ description: 'also list what is held back, and why (ignored / secret)' }),
  };

  async run(): Promise<{ root: string; files: ScannedFileJson[]; excluded?: ExcludedFile[]; errors: { path: string; message: string }[] }> {
    const { flags } = await this.parse(Files);
    const wt = await openWorktree({ cwd: flags.cwd ?? process.cwd() });
    try {
      const result = await wt.replica.files({ includeExcluded: flags.excluded, signal: this.abort.signal });
      const files = result.files.map(toJson);
      if (!this.jsonEnabled()) {
        const out: string[] = [];
        for (const f of files) out.push(`${f.mode} ${f.kind.padEnd(7)} ${String(f.size).padStart(10)} ${this.color.dim(f.digest)}  ${shown(f.path)}`);
        if (flags.excluded) for (const e of result.excluded) out.push(`${this.color.yellow(`excluded (${e.reason})`)}  ${shown(e.path)}`);
        for (const e of result.errors) out.push(`${this.color.red('error')}  ${shown(e.path)}: ${shownText(e.message)}`);
        if (out.length) process.stdout.write(`${out.join('\n')}\n`);
      }
      return { root: wt.replica.root, files, ...(flags.excluded ? { excluded: result.excluded } : {}), errors: result.errors };
    } finally {
      await wt.close();
    }
  }
}

/** A file as `--json` shows it: mode in octal like git. */
export interface ScannedFileJson {
  path: string;
  kind: ScannedFile['kind'];
  mode: string;
  size: number;
  digest: string;
}

function toJson(f: ScannedFile): ScannedFileJson {
  return { path: f.path, kind: f.kind, mode: f.mode.toString(8).padStart(6, '0'), size: f.size, digest: f.digest };
}
