import { Args } from '@oclif/core';
import { BaseCommand } from '../cli/BaseCommand.js';
import type { UndoResult } from '../core/undoRedo.js';
import { runUndoRedo } from './undo.js';

/** `cshare redo`: re-apply the change the last undo reverted. */
export default class Redo extends BaseCommand {
  static override summary = 'Re-apply what the last undo (to PATH) reverted';
  static override examples = ['<%= config.bin %> redo', '<%= config.bin %> redo src/app.ts --json'];
  static override args = { path: Args.string({ description: 'only the last undo of this file' }) };

  async run(): Promise<UndoResult> {
    const { args, flags } = await this.parse(Redo);
    return runUndoRedo(this, { which: 'redo', path: args.path, cwd: flags.cwd, signal: this.abort.signal });
  }
}
