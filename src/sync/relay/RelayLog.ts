/**
 * What a relay tells its operator: one line per event on stderr (issue 15, "the relay logs
 * nothing itself"): peers refused and why, worktrees registered, quotas and the disk filling
 * up, slow subscribers dropped, pack compactions. Text for people, or with `--json` one JSON
 * object per line for machines: `{"time":"...","event":"refused","peer":"12D3...",...}`.
 *
 * A peer that keeps getting refused would fill the log: each kind of event for one subject
 * (a peer, a worktree) is written at most once per {@link REPEAT_MS}; the next line written
 * for it says how many were left out meanwhile (`repeated`). And since peer ids cost nothing,
 * each kind is written at most {@link PER_SECOND} times a second in all; the next line of
 * that kind says how many others were left out (`suppressed`).
 */

/** The events a relay logs, with their fields. */
export type RelayEvent =
  | { event: 'refused'; peer: string; code: string; reason: string; worktree?: string }
  | { event: 'registered'; peer: string; worktree: string }
  | { event: 'quota'; peer: string; worktree: string; used: number; max: number }
  | { event: 'disk-full'; free: number; min: number }
  | { event: 'dropped-subscriber'; peer: string; worktree: string; reason: string }
  | { event: 'compacting'; packs: number; garbage: number }
  | { event: 'compacted'; packs: number; reclaimed: number; moved: number; ms: number }
  | { event: 'error'; what: string; message: string };

/** One event of a kind and subject is logged at most this often. */
export const REPEAT_MS = 10_000;
/** Subjects whose last line is remembered (older ones are forgotten: at worst logged again). */
const MAX_REMEMBERED = 10_000;
/** Lines of one kind written per second at most. */
export const PER_SECOND = 20;

/** Writes {@link RelayEvent}s as lines (see the file comment). */
export class RelayLog {
  private readonly last = new Map<string, { at: number; left: number }>();
  /** Per kind: the second being counted, lines written in it, lines left out since the last one written. */
  private readonly kinds = new Map<string, { second: number; lines: number; suppressed: number }>();
  /** Lines written (for tests). */
  written = 0;

  constructor(
    private readonly opts: {
      json: boolean;
      write?: (line: string) => void;
      now?: () => number;
    },
  ) {}

  /** A log that writes nothing (a relay inside `share`, tests). */
  static silent(): RelayLog {
    return new RelayLog({ json: false, write: () => undefined });
  }

  log(e: RelayEvent): void {
    const now = (this.opts.now ?? Date.now)();
    const subject = `${e.event}:${'peer' in e ? e.peer : ''}:${'worktree' in e ? (e.worktree ?? '') : ''}`;
    const seen = this.last.get(subject);
    if (seen && now - seen.at < REPEAT_MS) {
      seen.left++;
      return;
    }
    const second = Math.floor(now / 1000);
    let kind = this.kinds.get(e.event);
    if (!kind || kind.second !== second) this.kinds.set(e.event, (kind = { second, lines: 0, suppressed: kind?.suppressed ?? 0 }));
    if (kind.lines >= PER_SECOND) {
      kind.suppressed++;
      return;
    }
    kind.lines++;
    if (this.last.size >= MAX_REMEMBERED) this.last.clear();
    this.last.set(subject, { at: now, left: 0 });
    const fields: Record<string, unknown> = { ...e };
    if (seen?.left) fields.repeated = seen.left;
    if (kind.suppressed) fields.suppressed = kind.suppressed;
    kind.suppressed = 0;
    const time = new Date(now).toISOString();
    const line = this.opts.json ? JSON.stringify({ time, ...fields }) : `${time} ${e.event}${Object.entries(fields).filter(([k]) => k !== 'event').map(([k, v]) => ` ${k}=${text(v)}`).join('')}`;
    this.written++;
    (this.opts.write ?? ((l: string) => process.stderr.write(`${l}\n`)))(line);
  }
}

/** A field's value in a text line: quoted (JSON) when it has spaces, quotes or control characters. */
function text(v: unknown): string {
  const s = String(v);
  return /^[\x21-\x7e]*$/.test(s) && !s.includes('"') ? s : JSON.stringify(s);
}
