/**
 * One editor's open document (`LiveDoc`, the port EDITOR-API.md's daemon codes against): its
 * edits recorded as typed, its buffer told every other change. The registry of open files and
 * the rules that keep the disk out of the way are in `liveDocs.ts`.
 */
import { ChangeBatch } from './ChangeBatch.js';
import { isText } from './classify.js';
import { CshareError } from './errors.js';
import type { TextOp } from './FileDoc.js';
import { patchFor, type OpEntry } from './history.js';
import { logger } from './log.js';
import { unsafeRelPathReason } from './paths.js';
import { diffToOps } from './textDiff.js';
import { MAX_ORIGIN_CHARS, planTextEdit, type TextEdit } from './textEdits.js';
import { recordTextSave } from './textSave.js';
import { BURST_GAP_MS, recordBurstEdit, sealBurst, type Burst } from './typingBursts.js';
import type { LiveDocs, LiveFile, LiveUpload, OpenLiveOptions } from './liveDocs.js';
import { gitBlobId } from './digest.js';

const log = logger('live');
const utf8 = new TextEncoder();

/** The git blob id of a text as the disk would hold it. */
export function textDigest(text: string): string {
  return gitBlobId(utf8.encode(text));
}

/** What an editor's document is told of changes it did not make (see `Replica.openLive`). */
export interface LiveListener {
  /**
   * Changes of the doc not made through this LiveDoc (remote updates, a disk save recorded by
   * a scan, cshare undo/redo, another editor's LiveDoc of the same file): ops applied one after
   * another, in UTF-16 positions of the text the listener last had. Called synchronously while
   * the replica's operation lock is held, in order, never for this LiveDoc's own edits.
   */
  changed(ops: readonly TextOp[]): void;
  /** The waiting path became a shared text file (arrived from a peer, or a save of it was recorded). */
  arrived(text: string): void;
  /** The file was renamed (by a peer, or on disk). */
  renamed(to: string): void;
  /** The file was deleted (by a peer, or on disk): the LiveDoc is closed. */
  deleted(): void;
}

/** An editor's open document (see the file comment and EDITOR-API.md). */
export interface LiveDoc {
  readonly state: 'live' | 'waiting';
  /** The doc's text when opened ('' when waiting); after `arrived`, the text it arrived with. */
  readonly text: string;
  /** The path now (it follows renames). */
  readonly path: string;
  /**
   * Records edits under the replica's lock. `plan` runs synchronously inside the lock, after
   * every changed() that precedes it was delivered, and returns the edits in the doc's current
   * positions (all in the current text, as `Replica.recordTextEdit` takes them). Grouped in
   * history into a typing burst (`typingBursts.ts`). Resolves once committed to the store; the
   * upload is triggered at once. Rejects (`USAGE`) when closed or waiting, and as
   * `planTextEdit` does for edits the text cannot take (then nothing is recorded).
   */
  edit(plan: () => readonly TextEdit[]): Promise<void>;
  /**
   * The editor's buffer text differs from the doc at open: records it as a save of that buffer
   * (merged like a save, `saveBase.ts`), and resolves with the ops that take `text` to the
   * merged doc text.
   */
  reconcile(text: string): Promise<readonly TextOp[]>;
  /** The buffer was written to disk with this text: a scan does not record it as a new edit. */
  saved(text: string): void;
  /** Y.RelativePosition encodings for presence (anchor/head) ... */
  relativePosition(offset: number): Uint8Array;
  /** ... and back (undefined: not a position in this doc). */
  absolutePosition(rel: Uint8Array): number | undefined;
  /** The editor closed the buffer (or disconnected): the disk gets the merged text now. */
  close(): Promise<void>;
}

/** One editor's open document: what {@link LiveDoc} promises, on {@link LiveDocs}. */
export class LiveSession implements LiveDoc {
  readonly origin: string;
  path: string;
  file: LiveFile | undefined;
  /** The typing burst this document's edits are growing (see `typingBursts.ts`). */
  burst: Burst | undefined;
  private textNow = '';
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly listener: LiveListener;

  constructor(
    private readonly docs: LiveDocs,
    opts: OpenLiveOptions,
  ) {
    const bad = unsafeRelPathReason(opts.path);
    if (bad !== undefined) throw new CshareError('BAD_PATH', `cannot edit ${JSON.stringify(opts.path)} live: ${bad}`, { path: opts.path });
    if (typeof opts.origin !== 'string' || opts.origin === '' || opts.origin.length > MAX_ORIGIN_CHARS) throw new CshareError('USAGE', `the origin of an editor must be a name of 1 to ${MAX_ORIGIN_CHARS} characters`, { path: opts.path });
    this.path = opts.path;
    this.origin = opts.origin;
    this.listener = opts.listener;
  }

  get state(): 'live' | 'waiting' {
    return this.file ? 'live' : 'waiting';
  }

  get text(): string {
    return this.textNow;
  }

  /** Now an editor of `file` (at open, or when its waiting path arrived). */
  attach(file: LiveFile): void {
    this.file = file;
    this.path = file.path;
    this.textNow = file.text;
  }

  /** Tells the listener a change it did not make (see {@link LiveListener.changed}). */
  tell(ops: readonly TextOp[]): void {
    if (!this.closed) this.call('changed', () => this.listener.changed(ops));
  }

  renamed(to: string): void {
    this.path = to;
    if (!this.closed) this.call('renamed', () => this.listener.renamed(to));
  }

  /** The file is gone: the document ends. */
  gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopTimer();
    this.burst = undefined;
    this.call('deleted', () => this.listener.deleted());
  }

  arrived(): void {
    if (!this.closed) this.call('arrived', () => this.listener.arrived(this.textNow));
  }

  /** A listener that throws must not stop the replica's operation that told it. */
  private call(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      log('the listener of %s threw on %s: %s', this.path, what, err instanceof Error ? err.message : String(err));
    }
  }

  /** The open file, or `USAGE` when the document is closed or still waiting. */
  private liveFile(): LiveFile {
    if (this.closed) throw new CshareError('USAGE', `${this.path} is closed`, { path: this.path });
    if (!this.file) throw new CshareError('USAGE', `${this.path} is not a shared text file here yet`, { path: this.path });
    return this.file;
  }

  edit(plan: () => readonly TextEdit[]): Promise<void> {
    const { host } = this.docs;
    return host.exclusive(async () => {
      const file = this.liveFile();
      const ctx = host.ctx();
      const planned = await planTextEdit(ctx, { path: file.path, edits: plan(), origin: this.origin }, { textLimit: host.textLimit });
      const done = await this.recording(() => recordBurstEdit(ctx, planned, this.burst));
      if (!done) return;
      this.burst = done.burst;
      this.armTimer();
      host.uploaded({ fileId: done.fileId, seq: done.seq, updates: done.updates });
    });
  }

  reconcile(text: string): Promise<readonly TextOp[]> {
    const { host } = this.docs;
    return host.exclusive(async () => {
      const file = this.liveFile();
      const bytes = utf8.encode(text);
      if (!isText(bytes, host.textLimit)) throw new CshareError('USAGE', `the buffer of ${file.path} is not text cshare can merge (a NUL, or over the size limit)`, { path: file.path });
      if (text !== file.text) {
        const upload = await this.recording(() => this.recordBuffer(file, text));
        if (upload) host.uploaded(upload);
      }
      return diffToOps(text, file.text);
    });
  }

  /** Records `text`, the editor's buffer, as a save of it (see {@link reconcile}). */
  private async recordBuffer(file: LiveFile, text: string): Promise<LiveUpload | undefined> {
    const ctx = this.docs.host.ctx();
    const batch = new ChangeBatch();
    const seq = ctx.nextSeq();
    const base = ctx.pendingBase(file.fileId);
    const save = await recordTextSave(ctx, batch, seq, { fileId: file.fileId, path: file.path, doc: file.doc, saved: text, savedDigest: textDigest(text), currentDigest: textDigest(file.doc.text) });
    ctx.setTextDigest(batch, file.fileId, save.textDigest);
    const { change } = save;
    if (change) {
      ctx.logFileUpdate(batch, file.fileId, seq, change.update);
      const op: OpEntry = {
        seq, kind: 'edit', time: ctx.now(), author: ctx.author, replica: ctx.identity.replicaId, fileId: file.fileId, path: file.path,
        inserted: change.inserted, deleted: change.deleted, ...patchFor(change.ops), inverse: { text: change.record }, origin: this.origin, ...(save.merge ? { merge: save.merge } : {}),
      };
      batch.putOp(op);
      for await (const undone of ctx.store.stack('re')) batch.dropFromStack('re', undone);
      batch.markUndoable(seq);
    }
    await ctx.commit(batch);
    return change ? { fileId: file.fileId, seq, updates: base ? [base, change.update] : [change.update] } : undefined;
  }

  /**
   * Runs a recording of this document's own change: not told back to it, and, if it fails
   * before its commit (disk full), the replica reloads and every editor gets the doc back.
   */
  private async recording<T>(record: () => Promise<T>): Promise<T> {
    this.docs.editing = this;
    try {
      return await record();
    } catch (err) {
      this.docs.editing = undefined;
      await this.docs.host.reload();
      throw err;
    } finally {
      this.docs.editing = undefined;
    }
  }

  saved(text: string): void {
    const file = this.file;
    if (this.closed || !file || typeof text !== 'string') return;
    this.docs.accept(file, textDigest(text));
    this.docs.host.exclusive(() => this.docs.writeNotes()).catch((err: unknown) => log('could not note the save of %s: %s', this.path, (err as Error).message));
  }

  relativePosition(offset: number): Uint8Array {
    return this.file ? this.file.doc.relativePosition(offset) : new Uint8Array(0);
  }

  absolutePosition(rel: Uint8Array): number | undefined {
    return this.file && rel.byteLength > 0 ? this.file.doc.absolutePosition(rel) : undefined;
  }

  close(): Promise<void> {
    const { host } = this.docs;
    return host.exclusive(async () => {
      if (this.closed) return;
      this.closed = true;
      await this.sealNow();
      await this.docs.closed(this, this.file);
    });
  }

  /** Ends the typing burst now (under the lock): its entry moves to a fresh seq, to go up. */
  async sealNow(): Promise<void> {
    this.stopTimer();
    const burst = this.burst;
    if (!burst) return;
    this.burst = undefined;
    await sealBurst(this.docs.host.ctx(), burst);
    this.docs.host.pushDue();
  }

  /** The burst ends {@link BURST_GAP_MS} after the last edit unless another comes. */
  private armTimer(): void {
    if (this.timer) {
      this.timer.refresh();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.docs.host.exclusive(() => this.sealNow()).catch((err: unknown) => log('could not end the typing burst of %s: %s', this.path, (err as Error).message));
    }, BURST_GAP_MS + 10);
    this.timer.unref();
  }

  stopTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
