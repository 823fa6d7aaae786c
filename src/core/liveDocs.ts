/**
 * Text files open in an editor: the port between the replica and the editor server
 * (`src/editor/`, EDITOR-API.md). While a file is open (`Replica.openLive`), the editor's buffer
 * is this replica's live copy of it:
 *
 * - edits typed there are recorded as they come (`LiveDoc.edit`, grouped into typing bursts:
 *   `typingBursts.ts`) and handed to the running share/join to upload (`LiveHost.uploaded`);
 * - every other change of the doc (a peer's, an undo, a save recorded by a scan, another editor
 *   of the same file) is told to the editor as text ops (`LiveListener.changed`), from the Yjs
 *   text's own deltas, in the order they happened;
 * - cshare does not write the file on disk (`applyPlan.ts`, `textSave.ts`, `undoRedo.ts` ask
 *   {@link LiveDocs.isLive}); what the disk holds then (what it held when the file opened, or
 *   a text the editor saved) is no edit (`recordScan.ts` asks {@link LiveDocs.diskChange}). When
 *   the last editor closes the file the disk gets the merged text by the usual guarded write;
 *   a process that stops first leaves an `lv:<fileId>` note, and the next one writes it
 *   ({@link LiveDocs.recover}).
 *
 * Everything here runs under the replica's lock (`Replica.exclusive`), which {@link LiveDocs.settle}
 * ends: renames, deletes and arrivals are told there.
 */
import { ChangeBatch } from './ChangeBatch.js';
import { gitBlobId } from './digest.js';
import { CshareError } from './errors.js';
import type { FileDoc, TextDelta, TextOp } from './FileDoc.js';
import { logger } from './log.js';
import type { LiveFilesView, ReplicaContext } from './ReplicaContext.js';
import { diffToOps } from './textDiff.js';
import { LiveSession, type LiveListener } from './liveSession.js';

export type { LiveDoc, LiveListener } from './liveSession.js';

const log = logger('live');

/** Texts remembered per open file as no edit when found on disk (the last ones its editors saved). */
const ACCEPTED_KEPT = 16;

/**
 * How long a disk change of an open file waits for its editor to say it saved that text
 * (`LiveDoc.saved`) before it is recorded as an edit: the watcher can see the save first.
 */
export const SAVE_TOLD_MS = 500;

/** What `Replica.openLive` takes. */
export interface OpenLiveOptions {
  /** A path relative to the worktree root, `/`-separated. */
  path: string;
  /** Who edits (an editor connection, say `nvim:1234`): kept in the op entries of its edits. */
  origin: string;
  listener: LiveListener;
}

/** A live edit recorded and committed: what the running share/join uploads at once. */
export interface LiveUpload {
  fileId: string;
  seq: number;
  /** The Yjs updates logged under `seq`, in order. */
  updates: Uint8Array[];
}

/** What {@link LiveDocs} needs of its replica. */
export interface LiveHost {
  /** The replica's state now (a new one after a reload). */
  ctx(): ReplicaContext;
  /** Runs `fn` under the replica's lock (then {@link LiveDocs.settle}). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** Rebuilds the replica's state from the store (after a change that did not commit). */
  reload(): Promise<void>;
  /** Brings the disk at `paths` to the recorded text (guarded; `expect`: what the disk holds where the stat cache does not say it). */
  writeBack(paths: string[], expect: ReadonlyMap<string, string>): Promise<void>;
  /** Told each live edit once committed (the running share/join uploads it). */
  uploaded(upload: LiveUpload): void;
  /** Told when something recorded here waits to go up (a typing burst's history entry). */
  pushDue(): void;
  /** Scans `paths` again in `ms` (and has what it records uploaded). */
  rescan(paths: string[], ms: number): void;
  textLimit?: number;
}

/** One text file open in one or more editors. */
export interface LiveFile {
  fileId: string;
  path: string;
  doc: FileDoc;
  /** The doc's text as every open session of the file has it (after each change told). */
  text: string;
  sessions: Set<LiveSession>;
  /** Digests of texts on disk that are no edit (see {@link LiveDocs.diskChange}), newest last. */
  accepted: string[];
  /** Disk texts found that no editor said it saved (yet), by digest: when first found. */
  unsaid: Map<string, number>;
  unobserve: () => void;
}

/** The files open in editors here, and what the core asks of them (see the file comment). */
export class LiveDocs implements LiveFilesView {
  readonly files = new Map<string, LiveFile>();
  readonly waiting = new Set<LiveSession>();
  /** The session whose own edit is being applied: that change is not told back to it. */
  editing: LiveSession | undefined;
  /** Files a process before left open (see {@link recover}): uploaded first by the next share. */
  readonly recovered = new Set<string>();
  /** Files whose `lv:` note must be written (open) or dropped (closed) at the next settle. */
  private readonly notesDue = new Set<string>();

  constructor(readonly host: LiveHost) {}

  isLive(fileId: string): boolean {
    return this.files.has(fileId);
  }

  /** Is the file at `path` open in an editor? */
  isOpenAt(path: string): boolean {
    for (const file of this.files.values()) if (file.path === path) return true;
    return false;
  }

  /** Is a disk text with `digest` no edit of the open file `fileId` (see {@link diskChange}, which also decides the rest)? */
  accepts(fileId: string, digest: string): boolean {
    return this.files.get(fileId)?.accepted.includes(digest) ?? false;
  }

  diskChange(fileId: string, path: string, digest: string): 'accept' | 'wait' | 'record' {
    const file = this.files.get(fileId);
    if (!file || file.accepted.includes(digest)) return file ? 'accept' : 'record';
    const seen = file.unsaid.get(digest);
    const now = Date.now();
    if (seen === undefined || now - seen < SAVE_TOLD_MS) {
      if (seen === undefined) file.unsaid.set(digest, now);
      this.host.rescan([path], SAVE_TOLD_MS);
      return 'wait';
    }
    // Not a save its editor made: an edit, recorded now; found again, it is no new one.
    file.unsaid.delete(digest);
    this.accept(file, digest);
    return 'record';
  }

  /** A text with `digest` on the disk of `file` is no edit from now on. */
  accept(file: LiveFile, digest: string): void {
    if (file.accepted.includes(digest)) return;
    file.accepted.push(digest);
    if (file.accepted.length > ACCEPTED_KEPT) file.accepted.shift();
    this.notesDue.add(file.fileId);
  }

  /** The ids of the files open now and of those a process before left open: they go up first. */
  priorityFileIds(): Set<string> {
    return new Set([...this.files.keys(), ...this.recovered]);
  }

  /** The seqs of the op entries of typing bursts still open: not uploaded as history yet. */
  openBursts(): Set<number> {
    const out = new Set<number>();
    for (const file of this.files.values()) for (const s of file.sessions) if (s.burst) out.add(s.burst.op.seq);
    return out;
  }

  /** Opens `opts.path` for an editor (under the lock): live if it is a shared text file here, else waiting. */
  async open(opts: OpenLiveOptions): Promise<LiveSession> {
    const session = new LiveSession(this, opts);
    const found = await this.textFileAt(opts.path);
    if (found) await this.attach(session, found.fileId);
    else this.waiting.add(session);
    log('opened %s for %s: %s', opts.path, opts.origin, session.state);
    return session;
  }

  /** The shared text file at `path` whose content is here, if any; `USAGE` for a binary file or a symlink. */
  private async textFileAt(path: string): Promise<{ fileId: string } | undefined> {
    const ctx = this.host.ctx();
    const live = ctx.manifest.live().get(path);
    if (!live || !(await ctx.hasContent(live.fileId, live.entry))) return undefined;
    if (live.entry.kind !== 'text') throw new CshareError('USAGE', `${path} is a ${live.entry.kind === 'binary' ? 'binary file' : 'symlink'}: only a text file can be edited live`, { path, kind: live.entry.kind });
    return { fileId: live.fileId };
  }

  /** Makes `session` a live editor of the file `fileId`, following its doc from now on. */
  private async attach(session: LiveSession, fileId: string): Promise<void> {
    let file = this.files.get(fileId);
    if (!file) {
      const ctx = this.host.ctx();
      const entry = ctx.manifest.get(fileId)!;
      const { doc } = await ctx.doc(fileId, entry, new ChangeBatch(), ctx.seq);
      const onDisk = (await ctx.store.statsAt([entry.path])).get(entry.path)?.digest;
      file = { fileId, path: entry.path, doc, text: doc.text, sessions: new Set(), accepted: [ctx.contentDigest(fileId, entry), ...(onDisk ? [onDisk] : [])], unsaid: new Map(), unobserve: () => undefined };
      this.observe(file);
      this.files.set(fileId, file);
      this.notesDue.add(fileId);
    }
    file.sessions.add(session);
    session.attach(file);
  }

  private observe(file: LiveFile): void {
    file.unobserve = file.doc.observeText((delta, textNow) => this.changed(file, delta, textNow));
  }

  /** A transaction changed the file's text: every session but the one that made it is told. */
  private changed(file: LiveFile, delta: readonly TextDelta[], textNow: () => string): void {
    const applied = deltaOps(file.text, delta);
    let ops = applied?.ops;
    let next = applied?.text;
    const now = textNow();
    if (ops === undefined || next !== now) {
      // Never expected (a peer's embed or format in the text, which no file holds): the
      // editors still get the text, as a diff.
      log('the delta of %s does not give its text; told as a diff', file.path);
      ops = diffToOps(file.text, now);
      next = now;
    }
    file.text = next;
    if (ops.length === 0) return;
    for (const s of file.sessions) if (s !== this.editing) s.tell(ops);
  }

  /**
   * After every operation under the lock: open files renamed or deleted (a peer's change, a
   * scan) are told so, waiting paths that became shared text files arrive, and the `lv:` notes
   * follow what is open.
   */
  async settle(): Promise<void> {
    if (this.files.size === 0 && this.waiting.size === 0 && this.notesDue.size === 0) return;
    const ctx = this.host.ctx();
    for (const file of [...this.files.values()]) {
      const entry = ctx.manifest.get(file.fileId);
      const winner = entry && !entry.deleted ? ctx.manifest.live().get(entry.path) : undefined;
      if (!entry || winner?.fileId !== file.fileId || entry.kind !== 'text') {
        this.forget(file);
        for (const s of file.sessions) s.gone();
        continue;
      }
      if (entry.path !== file.path) {
        file.path = entry.path;
        for (const s of file.sessions) s.renamed(entry.path);
      }
    }
    for (const session of [...this.waiting]) {
      const found = await this.textFileAt(session.path).catch((err: unknown) => {
        log('%s stays waiting: %s', session.path, (err as Error).message);
        return undefined;
      });
      if (!found) continue;
      this.waiting.delete(session);
      await this.attach(session, found.fileId);
      session.arrived();
    }
    await this.writeNotes(ctx);
  }

  /** Stops following a file (its last editor closed it, or it is gone). */
  private forget(file: LiveFile): void {
    file.unobserve();
    this.files.delete(file.fileId);
    this.notesDue.add(file.fileId);
  }

  /** Writes the `lv:` notes that changed (an editor saved a text). */
  async writeNotes(ctx: ReplicaContext = this.host.ctx()): Promise<void> {
    if (this.notesDue.size === 0) return;
    const batch = new ChangeBatch();
    for (const fileId of this.notesDue) {
      const file = this.files.get(fileId);
      if (file) batch.putLiveNote(fileId, { accepted: file.accepted });
      else batch.dropLiveNote(fileId);
    }
    this.notesDue.clear();
    await ctx.commit(batch);
  }

  /**
   * A session closed (under the lock): when it was the file's last, the disk gets the merged
   * text, expecting what it holds if that is a text an editor saved (a save just before the
   * close, which no scan has seen yet, is no edit to merge).
   */
  async closed(session: LiveSession, file: LiveFile | undefined): Promise<void> {
    this.waiting.delete(session);
    if (!file || !file.sessions.delete(session) || file.sessions.size > 0 || this.files.get(file.fileId) !== file) return;
    this.forget(file);
    const ctx = this.host.ctx();
    const onDisk = diskDigest(ctx, file.path);
    const expect = new Map<string, string>();
    if (onDisk !== undefined && file.accepted.includes(onDisk)) expect.set(file.path, onDisk);
    await this.host.writeBack([file.path], expect);
    await this.writeNotes(ctx);
  }

  /**
   * At open, before anything scans: the files a process before left open in an editor get the
   * merged text on disk (their notes say which disk texts are no edit), then the notes go.
   */
  async recover(): Promise<void> {
    const ctx = this.host.ctx();
    const notes = await ctx.store.liveNotes();
    if (notes.size === 0) return;
    const live = ctx.manifest.live();
    const paths: string[] = [];
    const expect = new Map<string, string>();
    for (const [fileId, accepted] of notes) {
      this.recovered.add(fileId);
      this.notesDue.add(fileId);
      const entry = ctx.manifest.get(fileId);
      if (!entry || entry.deleted || entry.kind !== 'text' || live.get(entry.path)?.fileId !== fileId) continue;
      paths.push(entry.path);
      const onDisk = diskDigest(ctx, entry.path);
      if (onDisk !== undefined && accepted.includes(onDisk)) expect.set(entry.path, onDisk);
    }
    log('a process before left %d files open in an editor: writing their merged text', paths.length);
    if (paths.length > 0) await this.host.writeBack(paths, expect);
    await this.writeNotes(ctx);
  }

  /** After a reload: each open file follows its new doc, and its editors get what the reload changed. */
  async rebind(): Promise<void> {
    const ctx = this.host.ctx();
    for (const file of [...this.files.values()]) {
      file.unobserve();
      const entry = ctx.manifest.get(file.fileId);
      if (!entry || entry.deleted || entry.kind !== 'text') continue; // told at the settle
      file.doc = (await ctx.doc(file.fileId, entry, new ChangeBatch(), ctx.seq)).doc;
      const ops = diffToOps(file.text, file.doc.text);
      file.text = file.doc.text;
      this.observe(file);
      if (ops.length > 0) for (const s of file.sessions) s.tell(ops);
    }
  }

  /** Ends every typing burst now (under the lock): before an undo, which takes a burst as one change. */
  async sealAll(): Promise<void> {
    for (const file of [...this.files.values()]) for (const s of file.sessions) await s.sealNow();
  }

  /** The replica closes: typing bursts stop waiting to end (their entries stay as they are). */
  dispose(): void {
    for (const file of this.files.values()) for (const s of file.sessions) s.stopTimer();
  }
}

/** The git blob id of what the disk holds at `path` (undefined: no regular file there). */
function diskDigest(ctx: ReplicaContext, path: string): string | undefined {
  if (ctx.fs.lstat(path)?.kind !== 'file') return undefined;
  const bytes = ctx.fs.readFile(path);
  return bytes && gitBlobId(bytes);
}

/**
 * A Yjs text delta as ops applied one after the other to `text`, and the text they leave;
 * undefined if the delta holds anything but text or does not fit `text`.
 */
export function deltaOps(text: string, delta: readonly TextDelta[]): { ops: TextOp[]; text: string } | undefined {
  const ops: TextOp[] = [];
  let pos = 0;
  let current = text;
  for (const d of delta) {
    if (d.attributes !== undefined) return undefined;
    if (d.retain !== undefined) pos += d.retain;
    else if (d.delete !== undefined) {
      const del = current.slice(pos, pos + d.delete);
      if (del.length !== d.delete) return undefined;
      ops.push({ pos, del, ins: '' });
      current = current.slice(0, pos) + current.slice(pos + d.delete);
    } else if (typeof d.insert === 'string') {
      ops.push({ pos, del: '', ins: d.insert });
      current = current.slice(0, pos) + d.insert + current.slice(pos);
      pos += d.insert.length;
    } else return undefined;
    if (pos > current.length) return undefined;
  }
  return { ops, text: current };
}
