import { BaseCommand } from '../cli/BaseCommand.js';
import type { RecordedChange } from '../core/history.js';
import { viaRunning } from '../cli/viaRunning.js';
import { counted, shown, shownText } from '../core/display.js';

/** What `cshare scan` answers. */
interface ScanJson {
  recorded: RecordedChange[];
  files: number;
  errors: { path: string; message: string }[];
}

/**
 * `cshare scan`: record every change since the last scan into the local history; while a
 * share or join runs, it records (and uploads) them.
 */
export default class Scan extends BaseCommand {
  static override summary = 'Record every change since the last scan into the local history (.cshare/)';
  static override examples = ['<%= config.bin %> scan', '<%= config.bin %> scan --json'];

  async run(): Promise<ScanJson> {
    const { flags } = await this.parse(Scan);
    const report = await viaRunning<ScanJson>({ cwd: flags.cwd ?? process.cwd(), cmd: 'scan', args: {}, create: true, local: async (replica) => {
      const { recorded, files, errors } = await replica.scan({
        signal: this.abort.signal,
        // CSHARE_REPORT_BATCHES: one line per committed batch on stderr, for the crash tests.
        onRecorded: process.env.CSHARE_REPORT_BATCHES
          ? (changes) => process.stderr.write(`recorded ${changes.map((c) => c.seq).join(',')}\n`)
          : undefined,
      });
      return { recorded, files, errors };
    } });
    if (!this.jsonEnabled()) {
      const lines = report.recorded.map((c) => `${c.kind.padEnd(6)} ${c.from ? `${shown(c.from)} -> ` : ''}${shown(c.path)}${c.inserted || c.deleted ? this.color.dim(` +${c.inserted} -${c.deleted}`) : ''}`);
      const many = lines.length > 50 ? [...lines.slice(0, 50), `... and ${lines.length - 50} more`] : lines;
      for (const e of report.errors) many.push(`${this.color.red('error')}  ${shown(e.path)}: ${shownText(e.message)}`);
      many.push(`${counted(report.recorded.length, 'change')} recorded, ${counted(report.files, 'file')} tracked`);
      process.stdout.write(`${many.join('\n')}\n`);
    }
    return report;
  }
}
