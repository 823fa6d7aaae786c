/**
 * One document an editor has open: its {@link DocSync} tied to the replica's `LiveDoc` and to
 * the editor's connection. The editor's edits are recorded through `LiveDoc.edit` (one plan
 * at a time, which takes every edit not recorded yet), the document's changes go to the buffer
 * as `applyEdit` (one unanswered at a time, sent again after a refusal).
 */
import type { TextOp } from '../core/hunkDiff.js';
import { logger } from '../core/log.js';
import { diffToOps } from '../core/textDiff.js';
import { DocSync, EditorInputError } from './docSync.js';
import type { Position, PositionEncoding } from './positions.js';
import type { LiveDoc, LiveListener } from './ports.js';

const log = logger('editor');

/** The longest wait before an `applyEdit` the editor refused is sent again without news from it. */
const MAX_RETRY_MS = 2000;

/** What an open document needs of its connection. */
export interface DocChannel {
  request(method: string, params: unknown): Promise<unknown>;
  notify(method: string, params: unknown): void;
}

/** Options of {@link OpenDoc}. */
export interface OpenDocOptions {
  path: string;
  enc: PositionEncoding;
  readOnly: boolean;
  channel: DocChannel;
  /** The document was renamed by a peer (the session re-files it) or deleted (it forgets it). */
  onRenamed(doc: OpenDoc, to: string): void;
  onDeleted(doc: OpenDoc): void;
}

/** One open document (see the module comment). */
export class OpenDoc {
  path: string;
  private live: LiveDoc | undefined;
  private sync: DocSync | undefined;
  /**
   * What a document change told now is relative to: `early`, before the live doc was attached
   * (the text at open: kept for then); `reconciling`, before a reconcile's lock section ended
   * (already in its ops: dropped); `merged`, after it but before its ops are here (the merged
   * text: kept for then); `live`, the sync's document.
   */
  private phase: 'early' | 'reconciling' | 'merged' | 'live' = 'early';
  private held: TextOp[][] = [];
  /** A reconcile after the file arrived: the editor's messages wait for it. */
  private ready: Promise<void> = Promise.resolve();
  private planQueued = false;
  private retryMs = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private ended = false;
  /**
   * The buffer while the path is waiting (no document to sync with yet), and its text when it
   * was opened: a buffer nobody changed since takes the file as it arrives.
   */
  private waiting: { text: string; version: number; opened: string } | undefined;

  /** Told to the replica: changes of the document not made through this editor. */
  readonly listener: LiveListener = {
    changed: (ops) => {
      if (this.phase === 'early' || this.phase === 'merged') this.held.push([...ops]);
      else if (this.phase === 'live' && this.sync) {
        this.sync.docChanged(ops);
        this.pump();
      }
    },
    arrived: (text) => {
      if (!this.waiting || !this.live) return;
      // Told from now on: on the text it arrived with (a reconcile, if one is needed, drops them).
      this.phase = 'early';
      this.held = [];
      this.ready = this.ready
        .then(() => {
          const w = this.waiting!;
          // Untouched since it was opened (a joiner's empty buffer of a file not received
          // yet): it takes the file's text. Typed into: that is recorded and merged.
          return this.attach(w.text, w.version, text, w.text === w.opened);
        })
        .catch((err: unknown) => log('reconciling %s after it arrived failed: %s', this.path, (err as Error)?.message ?? err));
    },
    renamed: (to) => {
      const from = this.path;
      this.path = to;
      this.opts.channel.notify('fileRenamed', { from, to });
      this.opts.onRenamed(this, to);
    },
    deleted: () => {
      this.end();
      this.opts.channel.notify('fileDeleted', { path: this.path });
      this.opts.onDeleted(this);
    },
  };

  constructor(private readonly opts: OpenDocOptions) {
    this.path = opts.path;
  }

  /** `live` or `waiting`, once attached. */
  get state(): 'live' | 'waiting' {
    return this.sync ? 'live' : 'waiting';
  }

  /** The editor's version the daemon knows. */
  get version(): number {
    return this.sync?.editorVersion ?? this.waiting?.version ?? 0;
  }

  /**
   * Ties the document to the replica's live doc with the buffer's `text` at `version`. A buffer
   * that differs from the document is reconciled (recorded as a save of it, then brought to the
   * merged text by `applyEdit`); a read-only replica records nothing and brings it back.
   */
  async open(live: LiveDoc, text: string, version: number): Promise<void> {
    this.live = live;
    if (live.state === 'waiting') {
      this.waiting = { text, version, opened: text };
      this.phase = 'reconciling';
      this.held = [];
      return;
    }
    await this.attach(text, version, live.text);
  }

  /** The editor sent its whole text again (`didOpen` of an open document: a resync). */
  async reopen(text: string, version: number): Promise<void> {
    await this.settled();
    if (!this.live || this.ended) return;
    if (this.sync) await this.attach(text, version, this.sync.docText);
    else this.waiting = { text, version, opened: text };
  }

  private async attach(text: string, version: number, docText: string, adopt = false): Promise<void> {
    this.waiting = undefined;
    if (adopt || this.opts.readOnly || text === docText) {
      const sync = new DocSync({ text, version, doc: docText, pending: diffToOps(text, docText) });
      if (this.phase === 'early') for (const ops of this.held) sync.docChanged(ops);
      this.live$(sync);
      return;
    }
    // The replica's lock is first-come first-served: the empty edit's plan runs right after
    // the reconcile's section, before anything else is told (see `phase`).
    this.phase = 'reconciling';
    this.sync = undefined;
    const live = this.live!;
    const reconciled = live.reconcile(text);
    const marker = live.edit(() => {
      this.phase = 'merged';
      this.held = [];
      return [];
    });
    let ops: readonly TextOp[];
    try {
      ops = await reconciled;
    } finally {
      await marker.catch((err: unknown) => log('%s: the edit after a reconcile failed: %s', this.path, (err as Error)?.message ?? err));
    }
    const sync = new DocSync({ text, version, doc: applyOpsTo(text, ops), pending: ops });
    for (const held of this.held) sync.docChanged(held);
    this.live$(sync);
  }

  /** From now on, changes go to `sync`. */
  private live$(sync: DocSync): void {
    this.held = [];
    this.phase = 'live';
    this.sync = sync;
    this.pump();
  }

  /** Waits for a reconcile that runs (one may start while waiting for another). */
  private async settled(): Promise<void> {
    let r: Promise<void>;
    do {
      r = this.ready;
      await r;
    } while (r !== this.ready);
  }

  /** A `didChange`. Throws `EditorInputError`. */
  async changed(version: unknown, changes: unknown): Promise<void> {
    await this.settled();
    if (this.waiting) {
      // Nothing to sync with yet: the buffer's text is followed, for when the file arrives.
      const probe = new DocSync({ text: this.waiting.text, version: this.waiting.version, doc: this.waiting.text });
      probe.editorChanged(version, changes, this.opts.enc);
      this.waiting = { ...this.waiting, text: probe.shadowText, version: probe.editorVersion };
      return;
    }
    if (!this.sync) throw new EditorInputError(`${this.path} is not open`, true);
    this.sync.editorChanged(version, changes, this.opts.enc);
    this.retryMs = 0;
    this.pump();
  }

  /** A `didSave` at `version`: the disk has the buffer's text at it, which is no new edit. */
  saved(version: unknown): void {
    if (!this.sync || !this.live) return;
    if (version !== this.sync.editorVersion) throw new EditorInputError(`saved version ${String(version)} is not ${this.sync.editorVersion}, the buffer's last known one`, true);
    this.live.saved(this.sync.shadowText);
  }

  /** UTF-16 offsets in the document of positions of the buffer (for presence); undefined when one is not a position. */
  docOffsets(positions: readonly Position[]): number[] | undefined {
    if (!this.sync) return undefined;
    const lines = this.sync.shadowLines;
    const out: number[] = [];
    for (const p of positions) {
      const at = lines.offsetOf(p, this.opts.enc);
      if (at === undefined) return undefined;
      out.push(this.sync.shadowToDoc(at));
    }
    return out;
  }

  /** The buffer's position of a document offset (for a peer's cursor). */
  bufferPosition(docOffset: number): Position | undefined {
    if (!this.sync) return undefined;
    const at = Math.min(this.sync.docToShadow(docOffset), this.sync.shadowText.length);
    return this.sync.shadowLines.positionOf(at, this.opts.enc);
  }

  /** The live doc, once attached (for presence's relative positions). */
  get liveDoc(): LiveDoc | undefined {
    return this.live;
  }

  /** The editor closed it, or went away: the disk gets the merged text. */
  async close(): Promise<void> {
    if (this.ended) return;
    this.end();
    await this.live?.close();
  }

  private end(): void {
    this.ended = true;
    clearTimeout(this.retryTimer);
  }

  /** Records what the editor typed, and sends the buffer what it lacks. */
  private pump(): void {
    const sync = this.sync;
    if (!sync || this.ended || !this.live) return;
    if (sync.hasUnrecorded && !this.planQueued && !this.opts.readOnly) {
      this.planQueued = true;
      const live = this.live;
      live
        .edit(() => {
          this.planQueued = false;
          return this.sync === sync ? sync.takeUnrecorded() : [];
        })
        .catch((err: unknown) => {
          this.planQueued = false;
          log('recording an edit of %s failed: %s', this.path, (err as Error)?.message ?? err);
        });
    }
    const e = sync.nextEdit(this.opts.enc);
    if (!e) return;
    this.opts.channel.request('applyEdit', { path: this.path, version: e.version, changes: e.changes }).then(
      (res) => {
        const r = (res ?? {}) as { applied?: unknown; version?: unknown };
        if (sync.editAnswered(r.applied === true, r.version)) {
          this.retryMs = 0;
          this.pump();
        } else if (sync.editorVersion !== e.version) {
          // Refused because the editor's own changes crossed it: those are here now, so the
          // edit goes again at once, transformed over them (no wait while someone types).
          this.pump();
        } else this.retryLater(sync);
      },
      (err: unknown) => {
        sync.editAnswered(false, undefined);
        log('applyEdit of %s: %s', this.path, (err as Error)?.message ?? err);
        this.retryLater(sync);
      },
    );
  }

  /**
   * A refused `applyEdit` whose version the editor has not left (its changes have not come, or
   * it refuses for reasons of its own) goes again after a wait that grows, or at its next change.
   */
  private retryLater(sync: DocSync): void {
    if (this.ended || this.sync !== sync) return;
    this.retryMs = Math.min(MAX_RETRY_MS, Math.max(20, this.retryMs * 2));
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.pump(), this.retryMs);
    this.retryTimer.unref?.();
  }
}

function applyOpsTo(text: string, ops: readonly TextOp[]): string {
  for (const o of ops) text = text.slice(0, o.pos) + o.ins + text.slice(o.pos + o.del.length);
  return text;
}
