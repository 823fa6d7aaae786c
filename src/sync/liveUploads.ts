/**
 * Uploads of what editors type (`Replica.openLive`, `core/liveDocs.ts`): each live edit goes to
 * the relay as soon as it is committed, through the session in place, beside whatever the
 * session is doing (a `file/upload` of its updates, pipelined: the next edit does not wait for
 * the answer to this one), not after the watcher's wait and a scan. The regular upload then
 * leaves those updates out (`Replica.liveUploaded`) and carries the rest: the typing burst's
 * history entry when the burst ends (`Replica.onPushDue`), or anything a failed send left.
 */
import { CshareError } from '../core/errors.js';
import type { LiveUpload } from '../core/liveDocs.js';
import { logger } from '../core/log.js';
import type { Replica } from '../core/Replica.js';
import type { SyncSession } from './SyncSession.js';

const log = logger('live');

/** Errors that mean the connection is going: the next connection's upload sends the edit. */
const GOING = new Set(['CONNECTION_CLOSED', 'TIMEOUT']);

/** What {@link uploadLiveEdits} needs of the running share/join. */
export interface LiveUploadsOptions {
  replica: Replica;
  /** The session in place, if connected (null while offline: the reconnect's upload sends everything). */
  session: () => SyncSession | null;
  /** Reports an upload that failed for another reason than the connection going. */
  report: (err: unknown) => void;
  signal: AbortSignal;
}

/** Has `opts.replica`'s live edits uploaded as they are recorded (see the file comment). */
export function uploadLiveEdits(opts: LiveUploadsOptions): void {
  const { replica, signal } = opts;
  replica.onLiveUpload = (upload: LiveUpload) => {
    const session = opts.session();
    if (!session || signal.aborted) return;
    session.uploadLive(upload).catch((err: unknown) => {
      if (signal.aborted || (err instanceof CshareError && GOING.has(err.code))) log('live edit %d of %s not sent (%s): the next upload sends it', upload.seq, upload.fileId, (err as Error).message);
      else opts.report(err);
    });
  };
  let queued = false;
  replica.onPushDue = () => {
    if (queued || signal.aborted) return;
    queued = true;
    // Several reasons at once (bursts of two editors ending together) make one push.
    setImmediate(() => {
      queued = false;
      const session = opts.session();
      if (!session || signal.aborted) return;
      session.push({ scan: false }).catch((err: unknown) => {
        if (!signal.aborted) opts.report(err);
      });
    });
  };
}
