import { Args, Flags } from '@oclif/core';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BaseCommand } from '../cli/BaseCommand.js';
import type { OpEntry } from '../core/history.js';
import { CshareError } from '../core/errors.js';
import { findWorktreeRoot } from '../store/layout.js';
import { viaRunning, worktreePath } from '../cli/viaRunning.js';
import { gitDate, gitQuoted, shown } from '../core/display.js';
import type { ManifestEntry } from '../core/ManifestDoc.js';

/** A change as `cshare log --json` shows it. */
export interface LogEntryJson {
  id: number;
  kind: OpEntry['kind'];
  author: string;
  replica: string;
  time: string;
  path: string;
  from?: string;
  inserted: number;
  deleted: number;
  reverts?: number;
  /** A save merged from the version it was made from: that version's change id and time, and why. */
  merge?: { base: number; baseTime: string; reason: NonNullable<OpEntry['merge']>['reason'] };
  patch?: OpEntry['patch'];
  /** A mode change: both git modes (`100644`, `100755`), when known (this replica's own changes). */
  mode?: { before: string; after: string };
  /** A binary file's size in bytes before and after the change (0: none), when known. */
  size?: { before: number; after: number };
}

/** `cshare log`: the local history, newest first, like `git log`. */
export default class Log extends BaseCommand {
  static override summary = 'Show who changed what and when, newest first';
  static override examples = ['<%= config.bin %> log', '<%= config.bin %> log src/app.ts -n 5 --patch', '<%= config.bin %> log --json'];
  static override args = { path: Args.string({ description: 'only changes to this file (following renames)' }) };
  static override flags = {
    'max-count': Flags.integer({ char: 'n', description: 'show at most N changes', min: 1 }),
    patch: Flags.boolean({ char: 'p', description: 'show the text diff of each change' }),
  };

  async run(): Promise<{ changes: LogEntryJson[] }> {
    const { args, flags } = await this.parse(Log);
    const cwd = flags.cwd ?? process.cwd();
    const path = worktreePath(cwd, args.path);
    const query = { path, limit: flags['max-count'], patches: flags.patch };
    const { changes: ops } = await viaRunning({ cwd, cmd: 'log', args: query, local: async (r) => ({ changes: await r.log(query) }) });
    if (path !== undefined && ops.length === 0) throw noHistory(cwd, path);
    const changes = ops.map((op) => toJson(op, flags.patch));
    if (!this.jsonEnabled()) process.stdout.write(ops.map((op) => this.format(op, flags.patch)).join('\n'));
    return { changes };
  }

  /**
   * What a change did, as `git log --stat --summary` says it: characters inserted and
   * deleted for text, both modes for a mode change, the sizes for a binary file.
   */
  private stat(op: OpEntry): string {
    const c = this.color;
    const modes = modeChange(op);
    if (modes) return `mode ${modes.before} -> ${modes.after}`;
    const size = binarySize(op);
    if (size) return `Bin ${size.before} -> ${size.after} bytes`;
    return `${c.green(`+${op.inserted}`)} ${c.red(`-${op.deleted}`)}`;
  }

  private format(op: OpEntry, patch: boolean): string {
    const c = this.color;
    const lines = [
      `${c.yellow(`change ${op.seq}`)} ${c.bold(op.kind)}${op.reverts ? ` (reverts ${op.reverts})` : ''}${op.merge ? ` (merge: a save made from change ${op.merge.baseSeq}, merged with what changed since)` : ''}`,
      `Author: ${shown(op.author)} (${shown(op.replica)})`,
      `Date:   ${gitDate(op.time)}`,
      `    ${op.from ? `${gitQuoted(op.from)} -> ` : ''}${gitQuoted(op.path)}  ${this.stat(op)}`,
    ];
    if (patch) {
      if (op.patch) {
        for (const p of op.patch) {
          lines.push(c.cyan(`@@ ${p.pos} @@`));
          if (p.del) lines.push(...p.del.split('\n').map((l) => c.red(`-${l}`)));
          if (p.ins) lines.push(...p.ins.split('\n').map((l) => c.green(`+${l}`)));
        }
      } else if (op.patchTruncated) lines.push(c.dim('(patch too large to keep)'));
    }
    return `${lines.join('\n')}\n`;
  }
}

function toJson(op: OpEntry, patch: boolean): LogEntryJson {
  const out: LogEntryJson = {
    id: op.seq, kind: op.kind, author: op.author, replica: op.replica, time: new Date(op.time).toISOString(),
    path: op.path, inserted: op.inserted, deleted: op.deleted,
  };
  if (op.from) out.from = op.from;
  if (op.reverts) out.reverts = op.reverts;
  if (op.merge) out.merge = { base: op.merge.baseSeq, baseTime: new Date(op.merge.baseTime).toISOString(), reason: op.merge.reason };
  if (patch && op.patch) out.patch = op.patch;
  const modes = modeChange(op);
  if (modes) out.mode = modes;
  const size = binarySize(op);
  if (size) out.size = size;
  return out;
}

/** A git mode as git prints it (`100644`). */
const octal = (mode: number) => mode.toString(8).padStart(6, '0');

/**
 * Both modes of a mode change. Known for this replica's own changes (their undo records hold
 * the entries before and after); a peer's carried log entry does not say.
 */
function modeChange(op: OpEntry): { before: string; after: string } | undefined {
  const { before, after } = op.inverse ?? {};
  if (op.kind !== 'mode' || !before || !after) return undefined;
  return { before: octal(before.mode), after: octal(after.mode) };
}

/** The sizes before and after a create, edit or delete of a binary file (0 where there was none), as git's `Bin 0 -> 4 bytes`. */
function binarySize(op: OpEntry): { before: number; after: number } | undefined {
  if (op.kind !== 'create' && op.kind !== 'edit' && op.kind !== 'delete') return undefined;
  const { before, after } = op.inverse ?? {};
  const bytes = (e: ManifestEntry | null | undefined) => (e && !e.deleted && e.kind === 'binary' ? e.size : 0);
  const binary = (e: ManifestEntry | null | undefined) => e?.kind === 'binary' && !e.deleted;
  if (!binary(before) && !binary(after)) return undefined;
  return { before: op.kind === 'create' ? 0 : bytes(before), after: op.kind === 'delete' ? 0 : bytes(after) };
}

/** `log <path>` of a path with no history: never shared here, or not recorded yet. */
function noHistory(cwd: string, path: string): CshareError {
  const root = findWorktreeRoot(cwd);
  const why = existsSync(join(root, path))
    ? 'is on disk but not recorded yet: run `cshare scan` (a running share or join records it when it is saved)'
    : 'has no history here: it was never shared in this worktree (cshare files lists what is shared, cshare log all changes)';
  return new CshareError('NOT_FOUND', `${path} ${why}`, { path });
}
