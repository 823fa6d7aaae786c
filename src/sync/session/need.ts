import { CshareError } from '../../core/errors.js';
import { logger } from '../../core/log.js';
import type { WorktreeEvent } from '../schema.js';
import type { SessionContext } from './context.js';

const log = logger('session');

/** `need` events answered at once (each uploads one blob). */
const NEEDS_AT_ONCE = 16;

/** A `need` event: someone waits for this blob, or this file's doc updates. */
export type NeedEvent = Extract<WorktreeEvent, { type: 'need' }>;

/**
 * Answers the relay's `need` events (ARCHITECTURE.md "Upload priority": a joiner waits for a
 * file this replica has not uploaded yet), a few at once, the rest waiting their turn.
 */
export class NeedAnswers {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly ctx: SessionContext,
    /** The session's push (a doc goes with the next one). */
    private readonly push: () => Promise<number>,
  ) {}

  /**
   * A joiner waits for this. A blob is sent at once, beside any upload in progress (uploads
   * are idempotent); a doc goes with the next push. A failure is reported, never thrown: the
   * joiner asks again.
   */
  async answer(event: NeedEvent): Promise<void> {
    // A slot passes straight to the next in line.
    if (this.running < NEEDS_AT_ONCE) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      await this.send(event);
    } catch (err) {
      if (this.ctx.signal?.aborted) return;
      const e = err instanceof CshareError ? err : new CshareError('INTERNAL', String((err as Error)?.message ?? err));
      log('need %s failed: %s', event.digest ?? event.fileId, e.message);
      this.ctx.emit({ type: 'error', code: e.code, message: `could not send a file a peer asked for: ${e.message}` });
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  private async send(event: NeedEvent): Promise<void> {
    if (!event.digest) {
      await this.push();
      return;
    }
    const bytes = await this.ctx.replica.blob(event.digest);
    if (bytes) await this.ctx.client.uploadBlob({ digest: event.digest, bytes, fileId: event.fileId });
  }
}
