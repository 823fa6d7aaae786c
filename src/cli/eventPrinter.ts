import type { ChalkInstance } from 'chalk';
import type { SessionEvent } from '../sync/SyncSession.js';
import { counted, shown, shownText } from '../core/display.js';
import { peerLabels } from './statusText.js';

/** Changes of one apply listed file by file without `--verbose`; more are one summary line. */
const LISTED_CHANGES = 3;
/**
 * A peer typing live sends one change per burst of keystrokes, many a second: the same file's
 * edit again within this time of the last one is not a new line (on a terminal, the line shows
 * how many), or a share would print a line per keystroke of a peer.
 */
const REPEAT_MS = 3000;

type Progress = Extract<SessionEvent, { type: 'progress' }>;

/** Options of {@link EventPrinter}. */
export interface EventPrinterOptions {
  color: ChalkInstance;
  /** `--verbose`: every change applied is listed, the first catch-up's too. */
  verbose: boolean;
  /** Whether stdout is a terminal: only then is a progress line drawn (and redrawn with `\r`). */
  tty: boolean;
  /** Where lines go (tests pass their own). */
  out?: (text: string) => void;
  err?: (text: string) => void;
  /** The clock (tests pass their own). */
  now?: () => number;
}

/**
 * Prints a running `share`'s or `join`'s events for humans. A big transfer is one progress
 * line on a terminal (files and bytes done of the total, rate, time left), redrawn in place,
 * and one summary line when it ends; without a terminal only the summary. What a catch-up
 * applied before the worktree is in sync is not listed file by file (a late joiner of a big
 * share printed a line for every file in its history), and a big apply later is one line;
 * `--verbose` lists every file. Errors and warnings go to stderr, the rest to stdout.
 */
export class EventPrinter {
  private drawn = false;
  private readonly started = new Map<string, number>();
  private inSync = false;
  private readonly out: (text: string) => void;
  private readonly err: (text: string) => void;
  private readonly now: () => number;
  /** The last line on stdout, when it is a single file's edit from a peer. */
  private repeat: { line: string; at: number; count: number } | undefined;

  constructor(private readonly opts: EventPrinterOptions) {
    const out = opts.out ?? ((t) => process.stdout.write(t));
    this.out = (t) => {
      this.repeat = undefined;
      out(t);
    };
    this.err = opts.err ?? ((t) => process.stderr.write(t));
    this.now = opts.now ?? Date.now;
  }

  /** The worktree is in sync (joined, or sharing): applies from now on are peers' live changes. */
  synced(): void {
    this.inSync = true;
  }

  /** Writes `text` (whole lines) to stdout, after the progress line on screen, if any. */
  line(text: string): void {
    this.endLine();
    this.out(text);
  }

  write(e: SessionEvent | { type: 'warning'; message: string }): void {
    const c = this.opts.color;
    if (e.type === 'progress') return this.progress(e);
    if (e.type === 'applied') return this.applied(e.changes);
    this.endLine();
    switch (e.type) {
      case 'warning':
        return this.err(`${c.yellow('warning')}: ${e.message}\n`);
      case 'error':
        return this.err(`${c.red('error')}: ${shownText(e.message)}\n`);
      case 'uploaded':
        return this.out(`${c.green('->')} uploaded ${counted(e.changes, 'change')}, ${counted(e.bytes, 'byte')}\n`);
      case 'peer-joined':
        return this.out(`${c.bold(peerLabels([{ id: e.replicaId, name: e.name }])[0]!)} joined\n`);
      case 'peer-left':
        return this.out(`${c.bold(peerLabels([{ id: e.replicaId, name: e.name ?? '' }])[0]!)} left\n`);
      case 'relay-behind':
        return this.err(`${c.yellow('warning')}: the relay has lost changes (its log ends at ${e.head}, this replica had seen ${e.seen}): reading it again from its start${e.reupload ? ' and uploading everything this replica has again' : ''}\n`);
      case 'reconnected':
        return this.out(`${c.green('reconnected')}\n`);
      case 'merged':
        return this.out(`${c.yellow('merged')} ${shownText(e.message)}\n`);
      case 'kept':
        return this.out(`${c.yellow('kept')} ${shownText(e.message)}\n`);
    }
  }

  private applied(changes: Extract<SessionEvent, { type: 'applied' }>['changes']): void {
    const c = this.opts.color;
    if (!this.opts.verbose && this.inSync && changes.length === 1 && changes[0]!.kind === 'edit') return this.edited(shown(changes[0]!.path));
    if (this.opts.verbose || (this.inSync && changes.length <= LISTED_CHANGES)) {
      this.endLine();
      this.out(changes.map((ch) => `${c.cyan('<-')} ${ch.kind} ${ch.from ? `${shown(ch.from)} -> ` : ''}${shown(ch.path)}\n`).join(''));
      return;
    }
    // Before the worktree is in sync, the progress line and the `Joined` summary say it.
    if (!this.inSync) return;
    this.endLine();
    const kinds = new Map<string, number>();
    for (const ch of changes) kinds.set(ch.kind, (kinds.get(ch.kind) ?? 0) + 1);
    const counts = [...kinds].map(([k, n]) => `${n} ${k}`).join(', ');
    this.out(`${c.cyan('<-')} ${counted(changes.length, 'file')} changed (${counts}); --verbose lists them\n`);
  }

  /** One file edited by a peer: a line, unless it repeats the last one (see {@link REPEAT_MS}). */
  private edited(path: string): void {
    const c = this.opts.color;
    const line = `${c.cyan('<-')} edit ${path}`;
    const now = this.now();
    const last = this.repeat;
    if (last && last.line === line && now - last.at < REPEAT_MS) {
      last.at = now;
      last.count++;
      // On a terminal the line above is redrawn with the count; elsewhere a log gets one line.
      if (this.opts.tty) this.out(`\x1b[1A\r${line} ${c.dim(`(${last.count} times)`)}\x1b[K\n`);
      this.repeat = last;
      return;
    }
    this.endLine();
    this.out(`${line}\n`);
    this.repeat = { line, at: now, count: 1 };
  }

  private progress(e: Progress): void {
    const phase = e.phase ?? 'upload';
    const now = Date.now();
    const t0 = this.started.get(phase) ?? now;
    this.started.set(phase, t0);
    const secs = Math.max((now - t0) / 1000, 0.001);
    const verb = phase === 'upload' ? 'uploaded' : 'downloaded';
    const bytes = `${mb(e.bytes)}${e.totalBytes !== undefined ? ` of ${mb(e.totalBytes)}` : ''}`;
    if (e.done >= e.total) {
      this.started.delete(phase);
      const summary = `${verb} ${e.total} ${e.total === 1 ? 'file' : 'files'} (${mb(e.bytes)}) in ${secs.toFixed(1)} s`;
      if (this.drawn) this.out(`\r${summary}\x1b[K\n`);
      else this.out(`${summary}\n`);
      this.drawn = false;
      return;
    }
    if (!this.opts.tty || e.done === 0) return;
    // Rate and time left once there is a second to judge them by (the first event starts the clock).
    const judged = secs >= 1;
    const rate = judged ? `, ${mb(e.bytes / secs)}/s, ${Math.ceil(((e.total - e.done) * secs) / e.done)} s left` : '';
    const text = `${phase === 'upload' ? 'uploading' : 'downloading'} ${e.done} of ${e.total} files, ${bytes}${rate}`;
    this.out(`\r${this.opts.color.dim(text)}\x1b[K`);
    this.drawn = true;
  }

  /** Ends a progress line on screen, so that the next line starts on its own. */
  private endLine(): void {
    if (!this.drawn) return;
    this.out('\n');
    this.drawn = false;
  }
}

function mb(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(0)} kB`;
}
