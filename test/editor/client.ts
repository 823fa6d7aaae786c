/**
 * A scripted editor for the editor API's tests: LSP framing over any byte stream (a Unix socket,
 * or the stdio of `cshare editor`), requests with their answers, and a buffer per document that
 * applies `applyEdit` exactly as EDITOR-API.md "Versions" says a plugin does (only at its version
 * and with nothing unsent; `refuse` makes it refuse anyway).
 */
import { connect } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { FrameReader, frame } from '../../src/editor/framing.js';
import { LineIndex, type PositionEncoding } from '../../src/editor/positions.js';
import type { EditorChange } from '../../src/editor/docSync.js';

export interface RpcReply {
  id: unknown;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: { code?: string; resync?: boolean } };
}

/** A buffer of the scripted editor. */
export interface Buffer_ {
  text: string;
  version: number;
}

export class EditorClient {
  readonly notifications: { method: string; params: Record<string, unknown> }[] = [];
  readonly replies = new Map<unknown, RpcReply>();
  readonly buffers = new Map<string, Buffer_>();
  enc: PositionEncoding = 'utf-16';
  /** Refuse every applyEdit (a busy editor). */
  refuse = false;
  closed = false;
  private nextId = 1;
  private readonly reader = new FrameReader();
  private readonly waiters = new Map<unknown, (r: RpcReply) => void>();
  private readonly watchers = new Set<() => void>();

  constructor(private readonly out: Writable, input: Readable) {
    input.on('data', (chunk: Buffer) => {
      for (const body of this.reader.push(chunk)) this.received(JSON.parse(body.toString('utf8')) as Record<string, unknown>);
    });
    // A connection that ends answers what still waits with an error (a test fails, not hangs).
    const ended = () => {
      this.closed = true;
      for (const [id, w] of this.waiters) w({ id, error: { code: 0, message: 'the connection closed' } });
      this.waiters.clear();
    };
    input.on('close', ended);
    input.on('end', ended);
    out.on('error', () => (this.closed = true));
  }

  /** A client on the editor socket at `path`. */
  static async connect(path: string): Promise<EditorClient> {
    const s = connect(path);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    return new EditorClient(s, s);
  }

  /** Writes raw bytes (for malformed input). */
  raw(bytes: Buffer | string): void {
    this.out.write(bytes);
  }

  /** Sends a request without waiting; returns its id. */
  send(method: string, params: unknown): number {
    const id = this.nextId++;
    this.out.write(frame({ jsonrpc: '2.0', id, method, params }));
    return id;
  }

  /** Sends a request and waits for its answer. */
  request(method: string, params: unknown): Promise<RpcReply> {
    const id = this.send(method, params);
    return this.reply(id);
  }

  reply(id: unknown): Promise<RpcReply> {
    const r = this.replies.get(id);
    if (r) return Promise.resolve(r);
    return new Promise((resolve) => this.waiters.set(id, resolve));
  }

  /** Resolves as soon as `pred` holds for the buffer of `path` (checked at once and after each applied edit). */
  whenText(path: string, pred: (text: string) => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        const b = this.buffers.get(path);
        if (!b || !pred(b.text)) return;
        this.watchers.delete(check);
        resolve();
      };
      this.watchers.add(check);
      check();
    });
  }

  notify(method: string, params: unknown): void {
    this.out.write(frame({ jsonrpc: '2.0', method, params }));
  }

  async initialize(encodings: PositionEncoding[] = ['utf-16']): Promise<Record<string, unknown>> {
    const r = await this.request('initialize', { clientName: 'test', positionEncodings: encodings });
    if (!r.result) throw new Error(`initialize failed: ${JSON.stringify(r.error)}`);
    this.enc = r.result.positionEncoding as PositionEncoding;
    return r.result;
  }

  async open(path: string, text: string, version = 1): Promise<RpcReply> {
    this.buffers.set(path, { text, version });
    return this.request('didOpen', { path, version, text });
  }

  /** Types: replaces UTF-16 offsets [from, to) of the buffer with `text`, and sends it. */
  type(path: string, from: number, to: number, text: string): number {
    const b = this.buffers.get(path)!;
    const lines = new LineIndex(b.text);
    const change: EditorChange = { range: { start: lines.positionOf(from, this.enc), end: lines.positionOf(to, this.enc) }, text };
    b.text = b.text.slice(0, from) + text + b.text.slice(to);
    b.version++;
    return this.send('didChange', { path, version: b.version, changes: [change] });
  }

  private received(m: Record<string, unknown>): void {
    if (m.method === 'applyEdit' && m.id !== undefined) {
      const p = m.params as { path: string; version: number; changes: EditorChange[] };
      const b = this.buffers.get(p.path);
      let result: Record<string, unknown> = { applied: false };
      if (b && !this.refuse && b.version === p.version) {
        for (const c of p.changes) {
          const lines = new LineIndex(b.text);
          const from = lines.offsetOf(c.range.start, this.enc)!;
          const to = lines.offsetOf(c.range.end, this.enc)!;
          b.text = b.text.slice(0, from) + c.text + b.text.slice(to);
        }
        b.version++;
        result = { applied: true, version: b.version };
      }
      this.out.write(frame({ jsonrpc: '2.0', id: m.id, result }));
      for (const w of [...this.watchers]) w();
      return;
    }
    if (m.method !== undefined) {
      this.notifications.push({ method: m.method as string, params: m.params as Record<string, unknown> });
      return;
    }
    const r = m as unknown as RpcReply;
    this.replies.set(r.id, r);
    this.waiters.get(r.id)?.(r);
    this.waiters.delete(r.id);
  }

  end(): void {
    this.out.end();
  }
}
