/**
 * The connection of one workspace folder to the `cshare share`/`join` that serves it (the
 * editor socket it announces, else `cshare editor`, the stdio bridge, spawned in the folder):
 * speaks the editor API over it and keeps
 * each open document of the folder in sync (EDITOR-API.md). The logic that decides anything
 * (versions, echoes, positions) is in docSync.ts and text.ts; this file moves VS Code's events
 * there and the answers back.
 */
import { relative, sep } from 'node:path';
import * as vscode from 'vscode';
import { DocSync, type ChangeEvent } from './docSync.js';
import { bridgeLink, socketLink, type Link } from './link.js';
import type { Peer } from './peers.js';
import { RpcConnection, RpcError } from './rpc.js';
import type { Change } from './text.js';

/** What `initialize` answered. */
export interface SessionInfo {
  root: string;
  replicaId: string;
  name: string;
  role: 'sharer' | 'joiner';
  readOnly: boolean;
}

/** The `status` notification. */
export interface SessionStatus {
  connection: 'online' | 'offline' | 'reconnecting';
  role: string;
  readOnly: boolean;
  peers: number;
}

/** What a session tells the rest of the extension. */
export interface SessionEvents {
  changed(session: Session): void;
  error(message: string): void;
  log(message: string): void;
}

/** An open document this session shares. */
interface OpenDoc {
  doc: vscode.TextDocument;
  path: string;
  /** Undefined until didOpen is answered. */
  sync: DocSync | undefined;
  /** Change events of the document while didOpen is answered (fed to `sync` when it exists). */
  pending: ChangeEvent[];
  flushTimer: NodeJS.Immediate | undefined;
}

/** The editor API connection of one folder. */
export class Session implements vscode.Disposable {
  info: SessionInfo | undefined;
  status: SessionStatus | undefined;
  peers: Peer[] = [];
  /** Open documents by their path relative to the root. */
  readonly docs = new Map<string, OpenDoc>();
  private rpc: RpcConnection | undefined;
  private link: Link | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];
  private cursorTimer: NodeJS.Timeout | undefined;
  private disposed = false;
  private toldReadOnly = false;
  private connecting: Promise<boolean> | undefined;
  /**
   * Wall-clock ms (sub-ms, comparable across processes) of the last change event of a shared
   * document and of the last didChange written: the stages of bench/vscode.ts.
   */
  readonly timings = { changeAt: 0, sentAt: 0 };
  private open_ = 0;

  constructor(
    readonly folder: vscode.Uri,
    private readonly command: () => string,
    private readonly events: SessionEvents,
  ) {}

  /** Whether the connection is up and initialized. */
  get connected(): boolean {
    return this.info !== undefined && this.rpc !== undefined && !this.rpc.closed;
  }

  /**
   * Connects to the daemon serving the folder (its announced socket, else `cshare editor` in
   * the folder) and initializes. Resolves false when nothing serves the folder (the bridge
   * exits 18, NOT_SHARING) or it failed (the CLI's message is told).
   */
  async connect(): Promise<boolean> {
    if (this.connected || this.disposed) return this.connected;
    // One attempt at a time: a share starting in the folder creates several files in .cshare/
    // and the extension's watcher calls this for each. Every call used to spawn its own bridge,
    // each an editor session of the daemon; the `peers` of the sessions without the document
    // open (no selections: they resolve positions only in their own documents) overwrote
    // those of the one that had it, so a peer's cursor came and went (issue 19, "the commands").
    this.connecting ??= this.attempt().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /** Connections to the daemon open now (the test hook reports it: one per connected folder). */
  get connectionsOpen(): number {
    return this.open_;
  }

  /** How the connection reaches the daemon (undefined: not connected). */
  get via(): 'socket' | 'bridge' | undefined {
    return this.connected ? this.link?.via : undefined;
  }

  private async attempt(): Promise<boolean> {
    // The socket the running process announces, when there is one: a message then goes
    // straight to the daemon, not through one more process (the `cshare editor` bridge) each
    // way, which costs a wake-up of that process per keystroke on a loaded machine. The
    // bridge stays the way in otherwise (a folder inside the worktree, an older cshare): it
    // finds the worktree like every command and says why when nothing serves it.
    const link = (await socketLink(this.folder.fsPath, (m) => this.events.log(m))) ?? bridgeLink(this.command(), this.folder.fsPath, (m) => this.events.log(m));
    this.open_++;
    void link.ended.then(() => this.open_--);
    const rpc = new RpcConnection(link.out, link.input, {
      request: (method, params) => this.request(method, params),
      notification: (method, params) => this.notification(method, params),
      closed: (why) => this.closed(rpc, why),
    });
    this.rpc = rpc;
    this.link = link;
    const cfg = vscode.workspace.getConfiguration('cshare');
    const init = rpc.request<SessionInfo & { peers: Peer[] }>('initialize', {
      clientName: 'vscode',
      clientVersion: vscode.version,
      positionEncodings: ['utf-16'],
      ...(cfg.get<string>('name') ? { name: cfg.get<string>('name') } : {}),
    });
    const first = await Promise.race([init.then((r) => ({ r })), link.ended.then((code) => ({ code }))]).catch((e: Error) => ({ error: e }));
    if (!('r' in first)) {
      rpc.close(new Error('no cshare here'));
      this.rpc = undefined;
      this.link = undefined;
      link.kill();
      const code = 'code' in first ? first.code : await link.ended;
      // 18: nothing serves this folder (yet); anything else is the CLI's own failure to tell.
      if (code !== 18) this.events.error(link.why() || `cshare editor exited with code ${code}`);
      else this.events.log('nothing serves this folder yet');
      return false;
    }
    this.info = first.r;
    this.peers = first.r.peers ?? [];
    this.status = { connection: 'online', role: first.r.role, readOnly: first.r.readOnly, peers: this.peers.length };
    this.events.log(`connected to ${first.r.role} of ${first.r.root} as ${first.r.name}`);
    this.subscriptions.push(
      vscode.workspace.onDidOpenTextDocument((d) => void this.open(d)),
      vscode.workspace.onDidCloseTextDocument((d) => void this.close(d)),
      vscode.workspace.onDidChangeTextDocument((e) => this.changed(e)),
      vscode.workspace.onDidSaveTextDocument((d) => void this.saved(d)),
      vscode.window.onDidChangeTextEditorSelection((e) => this.selectionChanged(e.textEditor)),
    );
    for (const d of vscode.workspace.textDocuments) void this.open(d);
    this.events.changed(this);
    return true;
  }

  /** The path of `doc` relative to the root (with `/`), or undefined if it is not a file of the folder. */
  pathOf(doc: vscode.TextDocument): string | undefined {
    if (doc.uri.scheme !== 'file' || !this.info) return undefined;
    const rel = relative(this.info.root, doc.uri.fsPath);
    if (!rel || rel.startsWith('..') || rel.startsWith(`.cshare${sep}`) || rel.startsWith(`.git${sep}`)) return undefined;
    return rel.split(sep).join('/');
  }

  private async open(doc: vscode.TextDocument): Promise<void> {
    const path = this.pathOf(doc);
    if (!path || !this.rpc || this.docs.has(path)) return;
    const d: OpenDoc = { doc, path, sync: undefined, pending: [], flushTimer: undefined };
    this.docs.set(path, d);
    // Changes made while didOpen is answered are not lost: the sync starts at the text sent,
    // and the events of the meantime are queued on it as soon as it exists.
    const text = doc.getText();
    const sync = new DocSync(path, 1, text);
    try {
      const r = await this.rpc.request<{ state: string }>('didOpen', { path, version: 1, text });
      if (r.state === 'unshared') {
        this.docs.delete(path);
        return;
      }
      d.sync = sync;
      for (const e of d.pending.splice(0)) this.feed(d, e);
      this.events.log(`${path}: ${r.state}`);
    } catch (e) {
      this.docs.delete(path);
      this.events.log(`didOpen ${path}: ${(e as Error).message}`);
    }
  }

  private async close(doc: vscode.TextDocument): Promise<void> {
    const path = this.pathOf(doc);
    const d = path ? this.docs.get(path) : undefined;
    if (!d || d.doc !== doc || !this.rpc) return;
    this.flush(d);
    this.docs.delete(d.path);
    await this.rpc.request('didClose', { path: d.path }).catch((e: Error) => this.events.log(`didClose ${d.path}: ${e.message}`));
  }

  private changed(e: vscode.TextDocumentChangeEvent): void {
    const path = this.pathOf(e.document);
    const d = path ? this.docs.get(path) : undefined;
    if (!d || d.doc !== e.document) return;
    this.timings.changeAt = wallClock();
    if (e.contentChanges.some((c) => /^[\udc00-\udfff]|[\ud800-\udbff]$/.test(c.text))) {
      this.events.log(`${d.path}: a change of half a surrogate pair (${JSON.stringify(e.contentChanges.map((c) => [c.rangeOffset, c.rangeLength, c.text]))})`);
    }
    // The text after the event is read now: the document moves on with the next event.
    const event: ChangeEvent = {
      docVersion: e.document.version,
      after: e.document.getText(),
      changes: e.contentChanges.map((c) => ({ range: toApi(c.range), rangeOffset: c.rangeOffset, rangeLength: c.rangeLength, text: c.text })),
    };
    if (!d.sync) d.pending.push(event);
    else this.feed(d, event);
  }

  private feed(d: OpenDoc, e: ChangeEvent): void {
    if (d.sync!.changed(e)) this.scheduleFlush(d);
  }

  /**
   * Keystrokes go out at once: the events VS Code delivered in one message in one didChange.
   * setImmediate, not setTimeout(0): a timer waits at least 1 ms, and longer on a loaded
   * machine, for nothing (each change event comes in its own message from the renderer).
   */
  private scheduleFlush(d: OpenDoc): void {
    if (d.flushTimer) return;
    d.flushTimer = setImmediate(() => {
      d.flushTimer = undefined;
      this.flush(d);
    });
  }

  private flush(d: OpenDoc): void {
    const batch = d.sync?.takeUnsent();
    if (!batch || !this.rpc) return;
    this.rpc.request('didChange', { path: d.path, version: batch.version, changes: batch.changes }).catch((e: Error) => {
      this.events.log(`didChange ${d.path}@${batch.version} ${JSON.stringify(batch.changes).slice(0, 2000)}`);
      this.refused(d, e);
    });
    this.timings.sentAt = wallClock();
  }

  /** The daemon refused a change (a stale version, a bad range): open the document again from the buffer. */
  private refused(d: OpenDoc, e: Error): void {
    this.events.log(`didChange ${d.path} refused: ${e.message}`);
    if (e instanceof RpcError && e.code === -32011 && !this.toldReadOnly) {
      // A read-only join: said once; the re-open below brings the buffer back to the shared text.
      this.toldReadOnly = true;
      this.events.error(`cshare: ${e.message}`);
    }
    if (!this.rpc || this.rpc.closed || this.docs.get(d.path) !== d) return;
    this.docs.delete(d.path);
    void this.rpc.request('didClose', { path: d.path }).then(
      () => this.open(d.doc),
      (err: Error) => this.events.log(`didClose ${d.path}: ${err.message}`),
    );
  }

  private async saved(doc: vscode.TextDocument): Promise<void> {
    const path = this.pathOf(doc);
    const d = path ? this.docs.get(path) : undefined;
    if (!d?.sync || !this.rpc) return;
    this.flush(d);
    await this.rpc.request('didSave', { path: d.path, version: d.sync.version }).catch((e: Error) => this.events.log(`didSave ${d.path}: ${e.message}`));
  }

  private selectionChanged(editor: vscode.TextEditor): void {
    if (this.cursorTimer) clearTimeout(this.cursorTimer);
    // Throttled: the daemon throttles presence too; a burst of moves sends the last one.
    this.cursorTimer = setTimeout(() => {
      this.cursorTimer = undefined;
      const path = this.pathOf(editor.document);
      const d = path ? this.docs.get(path) : undefined;
      if (!d?.sync || !this.rpc || d.sync.isApplying) return;
      this.flush(d);
      const selections = editor.selections.map((s) => ({ anchor: { line: s.anchor.line, character: s.anchor.character }, head: { line: s.active.line, character: s.active.character } }));
      this.rpc.notify('cursor', { path: d.path, selections });
    }, 20);
  }

  private async request(method: string, params: any): Promise<unknown> {
    if (method !== 'applyEdit') throw new RpcError(-32601, `unknown method ${method}`);
    return this.applyEdit(params as { path: string; version: number; changes: Change[] });
  }

  /** EDITOR-API.md "Versions": applied only at exactly that version with nothing unsent, and never echoed. */
  private async applyEdit(p: { path: string; version: number; changes: Change[] }): Promise<unknown> {
    const d = this.docs.get(p.path);
    if (!d?.sync) return { applied: false };
    const doc = d.doc;
    const plan = d.sync.beginApply(p.version, p.changes, doc.getText(), doc.version);
    if ('refused' in plan) {
      this.events.log(`applyEdit ${p.path}@${p.version} refused: ${plan.refused} (at ${d.sync.version})`);
      return { applied: false };
    }
    let ok = true;
    if (plan.edits.length > 0) {
      const range = (e: { from: number; to: number }) => new vscode.Range(doc.positionAt(e.from), doc.positionAt(e.to));
      const editor = vscode.window.visibleTextEditors.find((x) => x.document === doc);
      if (editor) {
        // TextEditor.edit carries the document's version and the editor applies the edits only
        // if its model is still at it, in the same step (a keystroke that got in first makes
        // it answer false, and the daemon sends the edit again over that keystroke). A
        // WorkspaceEdit does not: measured in the e2e fuzz, it applied over a keystroke that
        // had reached the document first, at positions meant for the text before it.
        ok = await editor.edit((b) => plan.edits.forEach((e) => b.replace(range(e), e.text))).then(
          (r) => r,
          (e: Error) => {
            this.events.log(`applyEdit ${p.path}: ${e.message}`);
            return false;
          },
        );
      } else {
        // Not in a visible editor: nobody types there, so nothing can get in between.
        const edit = new vscode.WorkspaceEdit();
        for (const e of plan.edits) edit.replace(doc.uri, range(e), e.text);
        ok = await vscode.workspace.applyEdit(edit).then(
          (r) => r,
          (e: Error) => {
            this.events.log(`applyEdit ${p.path}: ${e.message}`);
            return false;
          },
        );
      }
    }
    const answer = d.sync.endApply(ok, plan.edits.length === 0);
    const fix = d.sync.lastFixUp;
    if (fix) {
      d.sync.lastFixUp = undefined;
      this.events.log(`applyEdit ${p.path}: VS Code made ${JSON.stringify(fix.actual)} of ${JSON.stringify(fix.expected)} (changes ${JSON.stringify(p.changes)}, edits ${JSON.stringify(plan.edits)}); the difference is sent back`);
    }
    // After the answer is written: the changes typed meanwhile follow it.
    setTimeout(() => this.flush(d), 0);
    return answer;
  }

  private notification(method: string, params: any): void {
    if (method === 'peers') {
      this.peers = (params as { peers: Peer[] }).peers;
    } else if (method === 'status') {
      this.status = params as SessionStatus;
    } else if (method === 'fileRenamed' || method === 'fileDeleted') {
      const path = (params as { from?: string; path?: string }).from ?? (params as { path: string }).path;
      const d = this.docs.get(path);
      if (d) {
        this.docs.delete(path);
        const to = (params as { to?: string }).to;
        void vscode.window.showInformationMessage(to ? `cshare: a peer renamed ${path} to ${to}` : `cshare: a peer deleted ${path}`);
      }
    }
    this.events.changed(this);
  }

  private closed(rpc: RpcConnection, why: Error): void {
    if (this.rpc !== rpc) return;
    this.events.log(`disconnected: ${why.message}`);
    this.rpc = undefined;
    this.info = undefined;
    this.status = undefined;
    this.peers = [];
    for (const d of this.docs.values()) if (d.flushTimer) clearImmediate(d.flushTimer);
    this.docs.clear();
    for (const s of this.subscriptions.splice(0)) s.dispose();
    this.link?.kill();
    this.link = undefined;
    this.events.changed(this);
  }

  /** Ends the connection (the share/join keeps running). */
  disconnect(): void {
    this.rpc?.close(new Error('disconnected'));
  }

  dispose(): void {
    this.disposed = true;
    this.disconnect();
  }
}

/** Now, in ms since the epoch with performance.now()'s resolution. */
function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

/** A VS Code range as the API's. */
function toApi(r: vscode.Range): Change['range'] {
  return { start: { line: r.start.line, character: r.start.character }, end: { line: r.end.line, character: r.end.character } };
}
