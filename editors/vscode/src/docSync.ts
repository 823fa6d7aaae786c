/**
 * One open document's side of EDITOR-API.md "Versions", with no `vscode` import (unit-tested
 * without an editor): which of the buffer's changes are still to be sent, the version the
 * daemon knows, whether an `applyEdit` may be applied, and which change event is the echo of
 * an edit this extension applied (never sent back).
 *
 * The versions this extension sends are its own counter, not `document.version`: VS Code
 * normalises the line breaks of inserted text to the document's (a `\n` a peer typed into a
 * `\r\n` file arrives as `\r\n`), so an applied edit can leave the buffer slightly different
 * from what the daemon computed; that difference is then sent as this buffer's own change,
 * which needs a version after the one `applyEdit` answered, while the document itself is
 * still at the same `document.version`.
 */
import { applyOffsetEdits, diffEdit, planEdits, positionAt, sequentialChanges, type Change, type OffsetEdit, type Range } from './text.js';

/** A VS Code change event, reduced to what this module needs. */
export interface ChangeEvent {
  /** `document.version` after the event. */
  docVersion: number;
  changes: readonly { range: Range; rangeOffset: number; rangeLength: number; text: string }[];
  /**
   * The document's text after the event (`document.getText()` in the listener), when known:
   * the truth when VS Code's report of the changes does not lead to it.
   */
  after?: string;
}

/** An edit being applied: what the buffer was, what it should become, which version its event has. */
interface Applying {
  before: string;
  expected: string;
  /** `document.version` the edit's own change event carries. */
  ownDocVersion: number;
}

/** Why an `applyEdit` is refused (for debug logs and tests). */
export type Refusal = 'version' | 'unsent' | 'busy' | 'range';

/** The state of one document shared with the daemon. */
export class DocSync {
  /** The version of this extension's counter the daemon last knew the buffer at. */
  private known: number;
  /** Changes the buffer made that the daemon has not been sent, in order. */
  private unsent: Change[] = [];
  /** Events that arrived while an edit was being applied (sorted out when it ends). */
  private held: ChangeEvent[] = [];
  private applying: Applying | undefined;
  /** The `document.version` of an applied edit whose change event has not arrived yet. */
  private lateEcho: { docVersion: number; before: string; expected: string } | undefined;
  /** The buffer's text after the last change event handled (the events' "before" text). */
  private text: string;

  /** `version` and `text` are what `didOpen` was sent with. */
  constructor(
    readonly path: string,
    version: number,
    text: string,
  ) {
    this.known = version;
    this.text = text;
  }

  /** The version the daemon knows (after the last change sent or edit applied). */
  get version(): number {
    return this.known;
  }

  /** Whether changes wait to be sent. */
  get hasUnsent(): boolean {
    return this.unsent.length > 0;
  }

  /** Whether an `applyEdit` is being applied. */
  get isApplying(): boolean {
    return this.applying !== undefined;
  }

  /**
   * A change event of the document. Returns true when it is the buffer's own change (to be
   * sent: call {@link takeUnsent}); false for the echo of an applied edit or while one is
   * applied (held until {@link endApply}).
   */
  changed(e: ChangeEvent): boolean {
    if (this.applying) {
      this.held.push(e);
      return false;
    }
    const before = this.text;
    this.text = afterOf(e, before);
    if (this.lateEcho && e.docVersion === this.lateEcho.docVersion) {
      const echo = this.lateEcho;
      this.lateEcho = undefined;
      this.fixUp(echo.expected, this.text);
      return this.unsent.length > 0;
    }
    if (e.changes.length === 0) return false;
    this.unsent.push(...safeChanges(e, before, this.text));
    return true;
  }

  /** The `didChange` to send now (the next version, every unsent change), or undefined. */
  takeUnsent(): { version: number; changes: Change[] } | undefined {
    if (this.unsent.length === 0 || this.applying) return undefined;
    const changes = this.unsent;
    this.unsent = [];
    this.known++;
    return { version: this.known, changes };
  }

  /**
   * An `applyEdit {version, changes}` for a buffer now holding `text` at `document.version`
   * `docVersion`: what to apply (offset edits on `text`, all relative to it), or why not.
   * The edit is applied only if the buffer is at exactly `version` with nothing unsent (the
   * daemon then sends it again on the newer version). After a plan, call {@link endApply}.
   */
  beginApply(version: number, changes: readonly Change[], text: string, docVersion: number): { edits: OffsetEdit[] } | { refused: Refusal } {
    if (this.applying) return { refused: 'busy' };
    if (version !== this.known) return { refused: 'version' };
    if (this.unsent.length > 0 || this.lateEcho) return { refused: 'unsent' };
    const plan = planEdits(text, changes);
    if (!plan) return { refused: 'range' };
    this.applying = { before: text, expected: plan.result, ownDocVersion: docVersion + 1 };
    return { edits: plan.edits };
  }

  /**
   * The edit of {@link beginApply} was applied (`ok`) or VS Code refused it (the document
   * changed meanwhile). Returns the answer to the daemon; the held events then become unsent
   * changes (call {@link takeUnsent} after answering). An edit that changed nothing has no
   * change event: `nothingChanged` says so.
   */
  endApply(ok: boolean, nothingChanged = false): { applied: true; version: number } | { applied: false } {
    const a = this.applying;
    if (!a) throw new Error('endApply without beginApply');
    this.applying = undefined;
    const held = this.held;
    this.held = [];
    if (!ok) {
      for (const e of held) this.changed(e);
      return { applied: false };
    }
    this.known++;
    const answer = { applied: true as const, version: this.known };
    const own = held.findIndex((e) => e.docVersion === a.ownDocVersion);
    if (own >= 0) {
      const [echo] = held.splice(own, 1);
      this.text = afterOf(echo!, a.before);
      this.fixUp(a.expected, this.text);
    } else if (!nothingChanged) {
      // VS Code tells the document's change before the edit's promise resolves; should it ever
      // not, the echo is recognised by its version when it comes.
      this.lateEcho = { docVersion: a.ownDocVersion, before: a.before, expected: a.expected };
    }
    for (const e of held) this.changed(e);
    return answer;
  }

  /** The last applied edit that left the buffer different from what the daemon expects (for the log). */
  lastFixUp: { expected: string; actual: string } | undefined;

  /** The buffer became `actual` where the daemon expects `expected`: the difference is the buffer's own change. */
  private fixUp(expected: string, actual: string): void {
    const d = diffEdit(expected, actual);
    if (!d) return;
    this.lastFixUp = { expected, actual };
    this.unsent.unshift({ range: { start: positionAt(expected, d.from), end: positionAt(expected, d.to) }, text: d.text });
  }
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;
/** Whether offset `i` of `t` falls between the two halves of a surrogate pair. */
const inPair = (t: string, i: number) => i > 0 && i < t.length && isHigh(t.charCodeAt(i - 1)) && isLow(t.charCodeAt(i));

/**
 * An event's changes to send: VS Code's own report, unless it cannot be sent as it is. Seen in
 * the end-to-end fuzz: the event of an applied edit reported as several changes, one of them
 * inserting "low half of one emoji, high half of the next" (the same text results, but such a
 * change alone is no text: the daemon refuses a change inserting half a pair). A report with a
 * half pair at either end of its text or range, or one that does not lead to the text VS Code
 * has after the event, is sent as the one smallest change from `before` to `after` (which
 * never splits a pair).
 */
function safeChanges(e: ChangeEvent, before: string, after: string): Change[] {
  const splits = applyOffsetEdits(before, offsetEdits(e)) !== after || e.changes.some((c) => {
    const t = c.text;
    const lone = t.length > 0 && (isLow(t.charCodeAt(0)) || isHigh(t.charCodeAt(t.length - 1)));
    return lone || inPair(before, c.rangeOffset) || inPair(before, c.rangeOffset + c.rangeLength);
  });
  if (!splits) return sequentialChanges(e.changes);
  const d = diffEdit(before, after);
  return d ? [{ range: { start: positionAt(before, d.from), end: positionAt(before, d.to) }, text: d.text }] : [];
}

/** The text after `e`: what VS Code says it is, else `before` with the event's changes. */
function afterOf(e: ChangeEvent, before: string): string {
  return e.after ?? applyOffsetEdits(before, offsetEdits(e));
}

/** An event's changes as offset edits on the text before it. */
function offsetEdits(e: ChangeEvent): OffsetEdit[] {
  return e.changes.map((c) => ({ from: c.rangeOffset, to: c.rangeOffset + c.rangeLength, text: c.text }));
}
