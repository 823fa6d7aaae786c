/**
 * JSON-RPC 2.0 over the LSP framing of `framing.ts`, for one editor connection. Every message
 * (request, notification, response to the server's own requests) is handled in arrival order,
 * one at a time: a `didChange` after a `didOpen` finds the document open, and the answer to an
 * `applyEdit` is read before a `didChange` the editor sent after it. The queue is bounded: past
 * it, requests are answered `-32010` at once and notifications dropped, and a connection that
 * keeps flooding is closed; other connections are not affected.
 */
import type { Socket } from 'node:net';
import type { ErrorCode } from '../core/errors.js';
import { logger } from '../core/log.js';
import { FrameReader, FramingError, frame } from './framing.js';

const log = logger('editor');

/** JSON-RPC and cshare error codes of EDITOR-API.md "Connecting". */
export const RPC = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL: -32603,
  NOT_INITIALIZED: -32002,
  OVERLOADED: -32010,
  READ_ONLY: -32011,
} as const;

/** An error answered to the editor: `{code, message, data: {code: <cshare code>, resync?}}`. */
export class RpcError extends Error {
  constructor(
    readonly rpcCode: number,
    message: string,
    readonly data: { code: ErrorCode; resync?: true } & Record<string, unknown>,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

/** What a connection does with the editor's messages. */
export interface RpcHandler {
  /** A request: its result, or throws {@link RpcError}. */
  request(method: string, params: unknown): Promise<unknown> | unknown;
  /** A notification (nothing is answered; a failure is only logged). */
  notification(method: string, params: unknown): Promise<void> | void;
}

/** Limits of one connection. */
export interface RpcLimits {
  /** Messages waiting to be handled before the connection counts as flooding. */
  maxQueue: number;
  /** Messages refused for flooding before the connection is closed. */
  maxRefused: number;
  maxBody?: number;
}

type Incoming = { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: unknown };

const decoder = new TextDecoder('utf-8', { fatal: true });

/** One editor's JSON-RPC connection over `socket`. */
export class RpcConnection {
  private readonly reader: FrameReader;
  private readonly queue: Incoming[] = [];
  private draining = false;
  private refused = 0;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private closedFlag = false;
  /** The editor half-closed its side: the connection ends once its messages are answered. */
  private inputEnded = false;
  /** A frame could not be read: what follows is ignored until the socket is gone. */
  private broken = false;
  private readonly closeListeners: (() => void)[] = [];

  constructor(
    private readonly socket: Socket,
    private readonly handler: RpcHandler,
    private readonly limits: RpcLimits,
  ) {
    this.reader = new FrameReader(limits.maxBody);
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('error', (err) => log('editor connection error: %s', err.message));
    socket.on('close', () => this.closed());
    // The editor is done sending (stdin of `cshare editor` closed): answer what it sent, then end.
    socket.on('end', () => {
      this.inputEnded = true;
      if (!this.draining) this.close();
    });
  }

  /** Has the connection ended? */
  get isClosed(): boolean {
    return this.closedFlag;
  }

  /** Called once when the connection ends. */
  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  /** Sends a request; resolves with its result (rejects with the error, or when the connection ends). */
  request(method: string, params: unknown): Promise<unknown> {
    if (this.closedFlag) return Promise.reject(new Error('the editor connection is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.write({ jsonrpc: '2.0', id, method, params });
    });
  }

  /** Sends a notification. */
  notify(method: string, params: unknown): void {
    this.write({ jsonrpc: '2.0', method, params });
  }

  /** Ends the connection once what was written is flushed. */
  close(): void {
    if (this.closedFlag) return;
    this.socket.end();
    // An editor that does not end its side is not waited for.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private write(message: unknown): void {
    if (this.closedFlag || this.socket.destroyed) return;
    this.socket.write(frame(message));
  }

  private received(chunk: Buffer): void {
    if (this.broken) return;
    let bodies: Buffer[];
    try {
      bodies = this.reader.push(chunk);
    } catch (err) {
      if (!(err instanceof FramingError)) throw err;
      // Said, then closed: no later byte can be trusted to start a frame.
      log('closing an editor connection: %s', err.message);
      this.broken = true;
      this.answerError(null, new RpcError(RPC.PARSE_ERROR, `${err.message}; closing the connection`, { code: err.code }));
      this.socket.end(() => this.socket.destroy());
      return;
    }
    for (const body of bodies) this.parsed(body);
  }

  private parsed(body: Buffer): void {
    let msg: unknown;
    try {
      msg = JSON.parse(decoder.decode(body));
    } catch (err) {
      const what = err instanceof SyntaxError ? 'the body is not JSON' : 'the body is not valid UTF-8';
      this.answerError(null, new RpcError(RPC.PARSE_ERROR, what, { code: 'PROTOCOL' }));
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg) || (msg as { jsonrpc?: unknown }).jsonrpc !== '2.0') {
      // Batches are not part of LSP, and not of this API.
      this.answerError(null, new RpcError(RPC.INVALID_REQUEST, 'a message is one JSON-RPC 2.0 object', { code: 'PROTOCOL' }));
      return;
    }
    const m = msg as Incoming;
    if (this.queue.length >= this.limits.maxQueue) {
      this.refused++;
      if (typeof m.method === 'string' && m.id !== undefined) {
        this.answerError(m.id, new RpcError(RPC.OVERLOADED, `more than ${this.limits.maxQueue} messages are waiting: slow down`, { code: 'OVERLOADED', resync: true }));
      }
      if (this.refused >= this.limits.maxRefused) {
        log('closing a flooding editor connection (%d messages refused)', this.refused);
        this.socket.destroy();
      }
      return;
    }
    this.queue.push(m);
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0 && !this.closedFlag) await this.handle(this.queue.shift()!);
    } finally {
      this.draining = false;
    }
    if (this.inputEnded) this.close();
  }

  private async handle(m: Incoming): Promise<void> {
    if (typeof m.method !== 'string') {
      this.answered(m);
      return;
    }
    const isRequest = m.id !== undefined;
    if (isRequest && !(typeof m.id === 'number' || typeof m.id === 'string' || m.id === null)) {
      this.answerError(null, new RpcError(RPC.INVALID_REQUEST, 'id must be a number or a string', { code: 'PROTOCOL' }));
      return;
    }
    try {
      if (!isRequest) {
        await this.handler.notification(m.method, m.params);
        return;
      }
      const result = await this.handler.request(m.method, m.params);
      this.write({ jsonrpc: '2.0', id: m.id, result: result ?? null });
    } catch (err) {
      if (!isRequest) {
        log('notification %s failed: %s', m.method, (err as Error)?.message ?? err);
        return;
      }
      this.answerError(m.id, err instanceof RpcError ? err : internal(err));
    }
  }

  /** A response to one of the server's requests. */
  private answered(m: Incoming): void {
    const w = typeof m.id === 'number' ? this.waiting.get(m.id) : undefined;
    if (!w) {
      log('a response to no request (id %j)', m.id);
      return;
    }
    this.waiting.delete(m.id as number);
    if (m.error !== undefined) w.reject(new Error(`the editor answered an error: ${JSON.stringify(m.error).slice(0, 200)}`));
    else w.resolve(m.result);
  }

  private answerError(id: unknown, err: RpcError): void {
    this.write({ jsonrpc: '2.0', id: id ?? null, error: { code: err.rpcCode, message: err.message, data: err.data } });
  }

  private closed(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.queue.length = 0;
    for (const w of this.waiting.values()) w.reject(new Error('the editor connection closed'));
    this.waiting.clear();
    for (const l of this.closeListeners) l();
  }
}

function internal(err: unknown): RpcError {
  log('internal error answering an editor: %s', (err as Error)?.stack ?? err);
  return new RpcError(RPC.INTERNAL, (err as Error)?.message ?? String(err), { code: 'INTERNAL' });
}
