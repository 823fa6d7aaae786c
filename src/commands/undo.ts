import { Args } from '@oclif/core';
import { BaseCommand } from '../cli/BaseCommand.js';
import type { UndoResult } from '../core/undoRedo.js';
import { viaRunning, worktreePath } from '../cli/viaRunning.js';
import { shown } from '../core/display.js';

/** `cshare undo`: revert this replica's last change, selectively. */
export default class Undo extends BaseCommand {
  static override summary = "Revert this replica's most recent change (to PATH), keeping everyone else's edits";
  static override examples = ['<%= config.bin %> undo', '<%= config.bin %> undo src/app.ts --json'];
  static override args = { path: Args.string({ description: 'only the last change to this file' }) };

  async run(): Promise<UndoResult> {
    const { args, flags } = await this.parse(Undo);
    return runUndoRedo(this, { which: 'undo', path: args.path, cwd: flags.cwd, signal: this.abort.signal });
  }
}

/**
 * Shared by `undo` and `redo`: open, revert, print one line. `signal` (Ctrl-C) stops the scan
 * that comes first (the whole tree) or the revert before it is made.
 */
export async function runUndoRedo(cmd: BaseCommand, opts: { which: 'undo' | 'redo'; path: string | undefined; cwd: string | undefined; signal: AbortSignal }): Promise<UndoResult> {
  const { which, path, cwd, signal } = opts;
  const from = cwd ?? process.cwd();
  const rel = worktreePath(from, path);
  const result = await viaRunning({ cwd: from, cmd: which, args: { path: rel }, local: (r) => (which === 'undo' ? r.undo({ path: rel, signal }) : r.redo({ path: rel, signal })) });
  if (!cmd.jsonEnabled()) {
    process.stdout.write(`${which === 'undo' ? 'Undid' : 'Redid'} change ${result.reverts} on ${result.from ? `${shown(result.from)} -> ` : ''}${shown(result.path)} (+${result.inserted} -${result.deleted}), recorded as change ${result.seq}\n`);
  }
  return result;
}
