/**
 * JSON-RPC 2.0 with LSP's `Content-Length` framing over a byte stream (the stdio of
 * `cshare editor`), with no `vscode` import. Requests get promises; requests and notifications
 * from the daemon go to handlers.
 */
import type { Readable, Writable } from 'node:stream';

/** The largest body either side sends (EDITOR-API.md "Connecting"). */
const MAX_BODY = 16 * 1024 * 1024;

/** Splits a byte stream into LSP-framed bodies. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  /** The complete bodies in what has arrived so far (throws on a malformed header). */
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.buf.length > 4096) throw new Error('malformed header: no end');
        return out;
      }
      const header = this.buf.subarray(0, end).toString('ascii');
      const m = /(?:^|\r\n)content-length:\s*(\d+)\s*(?:\r\n|$)/i.exec(header);
      if (!m) throw new Error(`malformed header: ${header.slice(0, 100)}`);
      const len = Number(m[1]);
      if (len > MAX_BODY) throw new Error(`body of ${len} bytes is too large`);
      if (this.buf.length < end + 4 + len) return out;
      out.push(this.buf.subarray(end + 4, end + 4 + len));
      this.buf = this.buf.subarray(end + 4 + len);
    }
  }
}

/** One framed message. */
export function frame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]);
}

/** A JSON-RPC error answer, as an exception (its `code` and `data` kept). */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: { code?: string; resync?: boolean },
  ) {
    super(message);
  }
}

type RequestHandler = (method: string, params: any) => Promise<unknown>;
type NotificationHandler = (method: string, params: any) => void;

/** A JSON-RPC connection. */
export class RpcConnection {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private readonly reader = new FrameReader();
  private closedWith: Error | undefined;

  constructor(
    private readonly out: Writable,
    input: Readable,
    private readonly handlers: { request: RequestHandler; notification: NotificationHandler; closed: (why: Error) => void },
  ) {
    input.on('data', (chunk: Buffer) => {
      let bodies: Buffer[];
      try {
        bodies = this.reader.push(chunk);
      } catch (e) {
        this.close(e as Error);
        return;
      }
      for (const body of bodies) this.received(body);
    });
    input.on('end', () => this.close(new Error('the connection to cshare ended')));
    input.on('close', () => this.close(new Error('the connection to cshare closed')));
    out.on('error', (e: Error) => this.close(e));
  }

  /** Sends a request and resolves with its result (rejects with {@link RpcError}). */
  request<T = any>(method: string, params: unknown): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.out.write(frame({ jsonrpc: '2.0', id, method, params }));
    });
  }

  /** Sends a notification. */
  notify(method: string, params: unknown): void {
    if (this.closedWith) return;
    this.out.write(frame({ jsonrpc: '2.0', method, params }));
  }

  /** Whether the connection is closed. */
  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  private received(body: Buffer): void {
    let m: { id?: number | string; method?: string; params?: unknown; result?: unknown; error?: { code: number; message: string; data?: any } };
    try {
      m = JSON.parse(body.toString('utf8'));
    } catch (e) {
      this.close(new Error(`unparsable message from cshare: ${(e as Error).message}`));
      return;
    }
    if (m.method !== undefined && m.id !== undefined) {
      const id = m.id;
      this.handlers.request(m.method, m.params).then(
        (result) => this.write({ jsonrpc: '2.0', id, result: result ?? {} }),
        (e: Error) => this.write({ jsonrpc: '2.0', id, error: { code: e instanceof RpcError ? e.code : -32603, message: e.message } }),
      );
      return;
    }
    if (m.method !== undefined) {
      this.handlers.notification(m.method, m.params);
      return;
    }
    const p = this.pending.get(m.id as number);
    if (!p) return;
    this.pending.delete(m.id as number);
    if (m.error) p.reject(new RpcError(m.error.code, m.error.message, m.error.data));
    else p.resolve(m.result);
  }

  private write(message: unknown): void {
    if (!this.closedWith) this.out.write(frame(message));
  }

  /** Closes: every waiting request rejects with `why`. */
  close(why: Error = new Error('closed')): void {
    if (this.closedWith) return;
    this.closedWith = why;
    for (const p of this.pending.values()) p.reject(why);
    this.pending.clear();
    this.handlers.closed(why);
  }
}
