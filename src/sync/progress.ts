import type { ChangeSet } from '../core/exchange.js';
import type { SessionEvent } from './session/context.js';

/**
 * The `download` progress of a catch-up: the files of its change groups (text updates, each
 * file once) and the blobs it fetches, with their bytes; reported as each batch is written.
 */
export class DownloadProgress {
  private readonly total: number;
  private readonly totalBytes: number;
  private done = 0;
  private bytes = 0;
  private last = 0;

  constructor(
    groups: readonly { changes: ChangeSet }[],
    lacking: readonly string[],
    private readonly sizeOf: (digest: string) => number,
    private readonly report: (e: Extract<SessionEvent, { type: 'progress' }>) => void,
  ) {
    let files = 0;
    let bytes = 0;
    for (const g of groups) {
      files += new Set(g.changes.files.map((f) => f.fileId)).size;
      for (const f of g.changes.files) for (const u of f.updates) bytes += u.byteLength;
    }
    for (const d of lacking) bytes += sizeOf(d);
    this.total = files + lacking.length;
    this.totalBytes = bytes;
  }

  /** `changes` were written (`blobs`: the digests of a fetched batch, for their sizes). */
  applied(changes: ChangeSet, blobs?: readonly string[]): void {
    this.done += new Set(changes.files.map((f) => f.fileId)).size + (blobs?.length ?? 0);
    for (const f of changes.files) for (const u of f.updates) this.bytes += u.byteLength;
    for (const d of blobs ?? []) this.bytes += this.sizeOf(d);
    if (this.total < 20 || (this.done < this.total && Date.now() - this.last < 250)) return;
    this.last = Date.now();
    this.report({ type: 'progress', phase: 'download', done: Math.min(this.done, this.total), total: this.total, bytes: this.bytes, totalBytes: this.totalBytes });
  }
}

