import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { until } from './procs.js';
import { tempDir } from './tmp.js';

/** A position and a change as EDITOR-API.md has them (here always in UTF-8 bytes). */
export interface Pos {
  line: number;
  character: number;
}
export interface Change {
  range: { start: Pos; end: Pos };
  text: string;
}
/** One JSON-RPC message the plugin sent. */
export interface Msg {
  id?: number;
  method?: string;
  params?: any;
  result?: any;
  error?: any;
}

const BRIDGE = fileURLToPath(new URL('../fixtures/socketBridge.mjs', import.meta.url));

/** The byte offset of `pos` in `text` (lines end at "\n"; "\r" before it is part of the break). */
function offsetOf(text: Buffer, pos: Pos): number {
  let start = 0;
  for (let l = 0; l < pos.line; l++) {
    const nl = text.indexOf(0x0a, start);
    if (nl < 0) throw new Error(`line ${pos.line} is past the end`);
    start = nl + 1;
  }
  let end = text.indexOf(0x0a, start);
  if (end < 0) end = text.length;
  else if (end > start && text[end - 1] === 0x0d) end--;
  if (pos.character > end - start) throw new Error(`character ${pos.character} is past the end of line ${pos.line} (${end - start} bytes)`);
  return start + pos.character;
}

/** Applies `changes` one after the other to `text`, positions in UTF-8 bytes (EDITOR-API.md). */
export function applyUtf8(text: string, changes: Change[]): string {
  let buf = Buffer.from(text, 'utf8');
  for (const c of changes) {
    const a = offsetOf(buf, c.range.start);
    const b = offsetOf(buf, c.range.end);
    if (b < a) throw new Error(`range ends before it starts: ${JSON.stringify(c.range)}`);
    buf = Buffer.concat([buf.subarray(0, a), Buffer.from(c.text, 'utf8'), buf.subarray(b)]);
  }
  return buf.toString('utf8');
}

/**
 * A scripted editor server speaking EDITOR-API.md on a Unix socket, for testing the plugin alone:
 * it answers initialize and every editor-to-cshare request, keeps each document's text by
 * applying the plugin's didOpen/didChange (so a test compares it with the buffer), and lets the
 * test send applyEdit and notifications. `cmd` is what the plugin spawns to reach it.
 */
export class FakeEditorServer {
  readonly received: Msg[] = [];
  readonly docs = new Map<string, { version: number; text: string }>();
  /** Problems found in what the plugin sent (a bad frame, a range outside the text). */
  readonly problems: string[] = [];
  /** Socket errors (a reset when Neovim and its bridge end). */
  readonly resets: string[] = [];
  /** Overrides the answer to a request: return a result, or `{ error }`. */
  answer?: (m: Msg) => { result?: unknown; error?: unknown } | undefined;
  private socket?: Socket;
  private nextId = 1000;
  private waiting = new Map<number, (m: Msg) => void>();

  private constructor(
    readonly server: Server,
    readonly path: string,
    readonly root: string,
  ) {}

  static async start(root: string): Promise<FakeEditorServer> {
    const path = join(tempDir('cshare-sock-'), 'editor.sock');
    const server = createServer();
    const fake = new FakeEditorServer(server, path, root);
    server.on('connection', (s) => fake.connected(s));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return fake;
  }

  /** What `setup({cmd})` spawns: a stdio bridge to this server's socket. */
  get cmd(): string[] {
    return [process.execPath, BRIDGE, this.path];
  }

  private connected(s: Socket): void {
    this.socket = s;
    // The bridge is killed when Neovim quits: a reset then is the end of the test, not a fault.
    s.on('error', (e) => this.resets.push(e.message));
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const m = /^Content-Length: (\d+)$/i.exec(buf.subarray(0, end).toString('latin1'));
        if (!m) {
          this.problems.push(`bad header ${JSON.stringify(buf.subarray(0, end).toString())}`);
          s.destroy();
          return;
        }
        const len = Number(m[1]);
        if (buf.length < end + 4 + len) return;
        const body = buf.subarray(end + 4, end + 4 + len).toString('utf8');
        buf = buf.subarray(end + 4 + len);
        let msg: Msg;
        try {
          msg = JSON.parse(body) as Msg;
        } catch {
          this.problems.push(`unparsable body ${JSON.stringify(body)}`);
          continue;
        }
        this.handle(msg);
      }
    });
  }

  private send(msg: object): void {
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...msg }), 'utf8');
    this.socket!.write(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body]));
  }

  private handle(msg: Msg): void {
    if (msg.method === undefined) {
      this.waiting.get(msg.id!)?.(msg);
      this.waiting.delete(msg.id!);
      return;
    }
    this.received.push(msg);
    const p = msg.params ?? {};
    try {
      if (msg.method === 'didOpen') this.docs.set(p.path, { version: p.version, text: p.text });
      if (msg.method === 'didChange') {
        const doc = this.docs.get(p.path);
        if (!doc) throw new Error(`didChange of ${p.path}, not open`);
        if (!(p.version > doc.version)) throw new Error(`didChange version ${p.version} after ${doc.version}`);
        this.docs.set(p.path, { version: p.version, text: applyUtf8(doc.text, p.changes) });
      }
    } catch (e) {
      this.problems.push(`${msg.method}: ${(e as Error).message}`);
    }
    if (msg.id === undefined) return;
    const custom = this.answer?.(msg);
    if (custom) return this.send({ id: msg.id, ...custom });
    const results: Record<string, unknown> = {
      initialize: { protocolVersion: 1, positionEncoding: 'utf-8', root: this.root, replicaId: 'r-fake', name: 'fake', role: 'sharer', readOnly: false, peers: [] },
      didOpen: { state: 'live', version: p.version },
    };
    this.send({ id: msg.id, result: results[msg.method] ?? {} });
  }

  /** Sends a request to the plugin and resolves with its answer. */
  request(method: string, params: unknown): Promise<Msg> {
    const id = this.nextId++;
    const answered = new Promise<Msg>((resolve) => this.waiting.set(id, resolve));
    this.send({ id, method, params });
    return answered;
  }

  /** Sends an applyEdit and, when applied, applies it to the document kept here too. */
  async applyEdit(path: string, version: number, changes: Change[]): Promise<{ applied: boolean; version?: number }> {
    const answer = await this.request('applyEdit', { path, version, changes });
    const r = answer.result as { applied: boolean; version?: number };
    if (r?.applied) this.docs.set(path, { version: r.version!, text: applyUtf8(this.docs.get(path)!.text, changes) });
    return r;
  }

  notify(method: string, params: unknown): void {
    this.send({ method, params });
  }

  /** The messages of `method` received so far. */
  of(method: string): Msg[] {
    return this.received.filter((m) => m.method === method);
  }

  /** Waits for the `n`th (1-based) message of `method`. */
  async nth(method: string, n = 1, ms = 20_000): Promise<Msg> {
    await until(() => this.of(method).length >= n, ms, () => `no ${n}th ${method}; received ${JSON.stringify(this.received.map((m) => m.method))}; problems ${this.problems.join('; ')}`);
    return this.of(method)[n - 1]!;
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
