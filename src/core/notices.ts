/**
 * Things a replica did that its user should hear about but that are not errors: a local file
 * kept where a peer's file would have replaced it, a save merged from an older version. The
 * replica collects them; a running `share`/`join` drains and reports them after each step.
 */
export interface ReplicaNotice {
  /**
   * `kept`: a file here that was never shared from this machine (ignored, a secret, or created
   * meanwhile) stays, and the peer's file of that path is not written;
   * `merged`: a save was merged from the version it was made from (see `saveBase.ts`).
   */
  kind: 'kept' | 'merged';
  path: string;
  message: string;
  /** For `merged`: the change that recorded the save, and the one its base came from. */
  seq?: number;
  baseSeq?: number;
}

/** Bounded: a burst of thousands is summarised by its first ones (the rest are counted). */
const MAX_HELD = 1000;

/** Collects notices until they are drained. */
export class Notices {
  private held: ReplicaNotice[] = [];
  private dropped = 0;

  add(notice: ReplicaNotice): void {
    if (this.held.length < MAX_HELD) this.held.push(notice);
    else this.dropped++;
  }

  /** The notices so far (and how many more there were), emptying the list. */
  drain(): { notices: ReplicaNotice[]; dropped: number } {
    const out = { notices: this.held, dropped: this.dropped };
    this.held = [];
    this.dropped = 0;
    return out;
  }
}
