/**
 * One editor connected to the running `share`/`join`: the methods of EDITOR-API.md "Editor to
 * cshare", the documents it has open, and the `peers` and `status` it is told. Every bad input
 * is answered with a JSON-RPC error and leaves every document as it was.
 */
import { CshareError } from '../core/errors.js';
import { logger } from '../core/log.js';
import { MAX_ORIGIN_CHARS } from '../core/textEdits.js';
import { EditorInputError } from './docSync.js';
import { OpenDoc } from './openDoc.js';
import { POSITION_ENCODINGS, isPosition, type PositionEncoding } from './positions.js';
import type { EditorHost, PeerInfo } from './ports.js';
import { RPC, RpcError, type RpcConnection, type RpcHandler } from './rpc.js';

const log = logger('editor');

/** The version of EDITOR-API.md this server speaks. */
export const EDITOR_PROTOCOL_VERSION = 1;

/** Most selections of one `cursor` (as presence carries them). */
const MAX_SELECTIONS = 64;

/** One editor's session (see the module comment). */
export class EditorSession implements RpcHandler {
  private enc: PositionEncoding | undefined;
  private clientName = 'editor';
  private readonly docs = new Map<string, OpenDoc>();
  private readonly unlisten: (() => void)[] = [];
  private conn: RpcConnection | undefined;

  constructor(
    private readonly host: EditorHost,
    /** Tells this session apart from the others in the history (`origin`). */
    private readonly id: number,
  ) {}

  /** Ties the session to its connection (once it exists). */
  attach(conn: RpcConnection): void {
    this.conn = conn;
    conn.onClose(() => void this.closeAll());
  }

  async request(method: string, params: unknown): Promise<unknown> {
    if (method === 'initialize') return this.initialize(params);
    if (!this.enc) {
      if (!REQUESTS.has(method)) throw new RpcError(RPC.METHOD_NOT_FOUND, `unknown method ${method}`, { code: 'UNKNOWN_MESSAGE' });
      throw new RpcError(RPC.NOT_INITIALIZED, `${method} before initialize`, { code: 'PROTOCOL' });
    }
    const p = objectParams(params);
    try {
      switch (method) {
        case 'didOpen':
          return await this.didOpen(p);
        case 'didChange':
          return await this.didChange(p);
        case 'didSave':
          this.openDoc(p).saved(p.version);
          return {};
        case 'didClose': {
          const doc = this.openDoc(p);
          this.docs.delete(doc.path);
          await doc.close();
          return {};
        }
        case 'undo':
        case 'redo':
          return await this.undoRedo(method, p);
        case 'shutdown':
          await this.closeAll();
          return {};
        default:
          throw new RpcError(RPC.METHOD_NOT_FOUND, `unknown method ${method}`, { code: 'UNKNOWN_MESSAGE' });
      }
    } catch (err) {
      throw asRpcError(err);
    }
  }

  async notification(method: string, params: unknown): Promise<void> {
    if (!this.enc) return;
    if (method === 'cursor') this.cursor(objectParams(params));
    else if (method !== 'exit') log('unknown notification %s', method);
  }

  private initialize(params: unknown): unknown {
    if (this.enc) throw new RpcError(RPC.INVALID_REQUEST, 'initialize was already called', { code: 'PROTOCOL' });
    const p = objectParams(params);
    if (typeof p.clientName === 'string') this.clientName = p.clientName.slice(0, 64);
    const asked = Array.isArray(p.positionEncodings) ? p.positionEncodings : [];
    // LSP 3.17: the first the client prefers that the server speaks; UTF-16 when none.
    this.enc = (asked.find((e): e is PositionEncoding => POSITION_ENCODINGS.includes(e as PositionEncoding)) ?? 'utf-16');
    const h = this.host;
    const hub = h.presence;
    if (hub) this.unlisten.push(hub.onChange((peers) => this.sendPeers(peers)));
    this.unlisten.push(h.onConnection(() => this.sendStatus()));
    setImmediate(() => this.sendStatus());
    return {
      protocolVersion: EDITOR_PROTOCOL_VERSION, positionEncoding: this.enc, root: h.root, replicaId: h.replicaId, name: h.name,
      role: h.role, readOnly: h.readOnly, peers: this.peersFor(hub?.peers() ?? []),
    };
  }

  private async didOpen(p: Record<string, unknown>): Promise<unknown> {
    const path = checkPath(p.path);
    const version = p.version;
    if (!Number.isSafeInteger(version)) throw new RpcError(RPC.INVALID_PARAMS, 'version must be an integer', { code: 'USAGE' });
    if (typeof p.text !== 'string') throw new RpcError(RPC.INVALID_PARAMS, 'text must be a string', { code: 'USAGE' });
    const open = this.docs.get(path);
    if (open) {
      await open.reopen(p.text, version as number);
      return { state: open.state, version: open.version };
    }
    const doc = new OpenDoc({
      path, enc: this.enc!, readOnly: this.host.readOnly, channel: this.channel(),
      onRenamed: (d, to) => {
        for (const [k, v] of this.docs) if (v === d) this.docs.delete(k);
        this.docs.set(to, d);
      },
      onDeleted: (d) => {
        if (this.docs.get(d.path) === d) this.docs.delete(d.path);
      },
    });
    let live;
    try {
      live = await this.host.openLive({ path, origin: this.origin(), listener: doc.listener });
    } catch (err) {
      if (err instanceof CshareError && err.code !== 'INTERNAL' && err.code !== 'IO') return { state: 'unshared', version };
      throw err;
    }
    this.docs.set(path, doc);
    try {
      await doc.open(live, p.text, version as number);
    } catch (err) {
      this.docs.delete(path);
      await doc.close();
      throw err;
    }
    // Peers already in this file: their cursors can be shown now that it is open.
    const peers = this.host.presence?.peers() ?? [];
    if (peers.some((peer) => peer.presence?.path === path)) setImmediate(() => this.sendPeers(this.host.presence!.peers()));
    return { state: doc.state, version };
  }

  private async didChange(p: Record<string, unknown>): Promise<unknown> {
    const doc = this.openDoc(p);
    if (this.host.readOnly) {
      throw new RpcError(RPC.READ_ONLY, 'this replica joined with a read-only code: edits are not taken (send didOpen again to get the shared text back)', { code: 'FORBIDDEN', resync: true });
    }
    await doc.changed(p.version, p.changes);
    return {};
  }

  private async undoRedo(which: 'undo' | 'redo', p: Record<string, unknown>): Promise<unknown> {
    if (this.host.readOnly) throw new RpcError(RPC.READ_ONLY, `a read-only replica has nothing to ${which}`, { code: 'FORBIDDEN' });
    const path = p.path === undefined ? undefined : checkPath(p.path);
    return this.host[which](path);
  }

  /** A `cursor`: published as relative positions of the document (so it stays right while others type). */
  private cursor(p: Record<string, unknown>): void {
    const hub = this.host.presence;
    if (!hub) return;
    if (p.path === null || p.path === undefined) {
      hub.publish(null);
      return;
    }
    const doc = this.docs.get(checkPath(p.path));
    const live = doc?.liveDoc;
    if (!doc || !live || !Array.isArray(p.selections) || p.selections.length === 0) return;
    const sels = (p.selections as unknown[]).slice(0, MAX_SELECTIONS);
    const positions = sels.flatMap((s) => {
      const o = s as { anchor?: unknown; head?: unknown };
      return typeof s === 'object' && s !== null && isPosition(o.anchor) && isPosition(o.head) ? [o.anchor, o.head] : [];
    });
    if (positions.length !== sels.length * 2) return;
    const offsets = doc.docOffsets(positions);
    if (!offsets) return;
    const head = positions[1]!;
    const selections = sels.map((_, i) => ({ anchor: live.relativePosition(offsets[2 * i]!), head: live.relativePosition(offsets[2 * i + 1]!) }));
    hub.publish({ path: doc.path, selections, line: head.line + 1, column: head.character + 1 });
  }

  private sendPeers(peers: readonly PeerInfo[]): void {
    this.conn?.notify('peers', { peers: this.peersFor(peers) });
  }

  private sendStatus(): void {
    const h = this.host;
    this.conn?.notify('status', { connection: h.connection(), role: h.role, readOnly: h.readOnly, peers: h.presence?.peers().length ?? 0 });
  }

  /** The last `status` before the process ends: offline. */
  farewell(): void {
    const h = this.host;
    this.conn?.notify('status', { connection: 'offline', role: h.role, readOnly: h.readOnly, peers: 0 });
  }

  /** Peers as this editor sees them: selections in its encoding, in its buffer's text. */
  private peersFor(peers: readonly PeerInfo[]): unknown[] {
    return peers.map((peer) => {
      const out: Record<string, unknown> = { id: peer.replicaId, name: peer.name, color: peer.color, role: peer.role, ...(peer.readOnly ? { readOnly: true } : {}) };
      const pr = peer.presence;
      if (!pr) return out;
      out.path = pr.path;
      const doc = this.docs.get(pr.path);
      const live = doc?.liveDoc;
      if (!doc || !live || doc.state !== 'live') return out;
      const at = (rel: Uint8Array) => {
        const o = live.absolutePosition(rel);
        return o === undefined ? undefined : doc.bufferPosition(o);
      };
      const sels = pr.selections.flatMap((s) => {
        const anchor = at(s.anchor);
        const head = at(s.head);
        return anchor && head ? [{ anchor, head }] : [];
      });
      if (sels.length > 0) out.selections = sels;
      return out;
    });
  }

  private openDoc(p: Record<string, unknown>): OpenDoc {
    const path = checkPath(p.path);
    const doc = this.docs.get(path);
    if (!doc) throw new RpcError(RPC.INVALID_PARAMS, `${path} is not open (send didOpen first)`, { code: 'NOT_FOUND', resync: true });
    return doc;
  }

  private channel() {
    return {
      request: (method: string, params: unknown) => this.conn?.request(method, params) ?? Promise.reject(new Error('no connection')),
      notify: (method: string, params: unknown) => this.conn?.notify(method, params),
    };
  }

  private origin(): string {
    return `editor:${this.clientName}:${this.id}`.slice(0, MAX_ORIGIN_CHARS);
  }

  /** Closes every document (the disk gets the merged text) and stops listening. */
  async closeAll(): Promise<void> {
    for (const u of this.unlisten.splice(0)) u();
    const docs = [...this.docs.values()];
    this.docs.clear();
    for (const d of docs) {
      await d.close().catch((err: unknown) => log('closing %s failed: %s', d.path, (err as Error)?.message ?? err));
    }
  }
}

const REQUESTS = new Set(['didOpen', 'didChange', 'didSave', 'didClose', 'undo', 'redo', 'shutdown']);

function objectParams(params: unknown): Record<string, unknown> {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new RpcError(RPC.INVALID_PARAMS, 'params must be an object', { code: 'USAGE' });
  return params as Record<string, unknown>;
}

/** A worktree path as the API names it: relative, `/`-separated, never leaving the root. */
export function checkPath(p: unknown): string {
  if (typeof p !== 'string') throw new RpcError(RPC.INVALID_PARAMS, 'path must be a string', { code: 'BAD_PATH' });
  const parts = p.split('/');
  if (p === '' || p.length > 4096 || p.includes('\\') || p.includes('\0') || parts.some((s) => s === '' || s === '.' || s === '..')) {
    throw new RpcError(RPC.INVALID_PARAMS, `${JSON.stringify(p.slice(0, 200))} is not a path inside the worktree (relative to the root, with / separators)`, { code: 'BAD_PATH' });
  }
  return p;
}

function asRpcError(err: unknown): unknown {
  if (err instanceof RpcError) return err;
  if (err instanceof EditorInputError) return new RpcError(RPC.INVALID_PARAMS, err.message, { code: 'USAGE', ...(err.resync ? { resync: true as const } : {}) });
  if (err instanceof CshareError) return new RpcError(RPC.INVALID_PARAMS, err.message, { code: err.code });
  return err;
}
