import { CshareError } from '../../core/errors.js';
import { uploadHistory } from '../historyUpload.js';
import { pooled } from '../pooled.js';
import { slices } from '../slices.js';
import {
  BLOB_CHUNK_BYTES,
  MAX_BINARY_BYTES,
  MAX_ENTRIES_PER_MESSAGE,
  MAX_UPDATES_PER_MESSAGE,
  PROTOCOL_VERSION,
  messageSlices,
  worktreeResource,
  type HelloResponse,
  type HistoryEntry,
  type ManifestEntry,
  type PresenceState,
  type SyncItem,
} from '../schema.js';
import type { BlobUpload, BlobWanted, ClientHello, LiveEvents, OfferAnswer, RelayClient } from './RelayClient.js';
import { type CshareConnection } from '../connection.js';

/** Entries per `manifest/offer`: the most one message may hold. */
const OFFER_PAGE = MAX_ENTRIES_PER_MESSAGE;
/** Blobs asked for in one `blobs/fetch` stream, their chunks, and such streams in flight. */
const FETCH_PER_STREAM = 64;
const FETCH_CHUNKS_PER_STREAM = 96;
const FETCH_STREAMS = 4;
/** How long one chunk of a big blob may take to be stored (a slow disk, a busy relay). */
const CHUNK_TIMEOUT_MS = 120_000;
/**
 * Chunked blob uploads in flight at once: a relay refuses more than 8 per connection
 * (`OVERLOADED`), and a first upload's window and the answers to joiners' `need` events
 * (16 at once) both send them: a joiner that came during a big first upload saw "could not
 * send a file a peer asked for".
 */
const CHUNKED_AT_ONCE = 8;

/** Options of {@link RpcRelayClient}. */
export interface RpcRelayClientOptions {
  conn: CshareConnection;
  worktreeId: string;
  /** Cancels every call made through this client (the session's stop). */
  signal?: AbortSignal;
}

/**
 * The {@link RelayClient} over an RPC connection (PROTOCOL.md): each method becomes the
 * requests, streams or subscription that carry it, split to fit the protocol's message limits.
 */
export class RpcRelayClient implements RelayClient {
  readonly worktreeId: string;
  stored = 0;
  private readonly conn: CshareConnection;
  private readonly signal: AbortSignal | undefined;
  /** Chunked uploads running, and those waiting for a turn (see {@link CHUNKED_AT_ONCE}). */
  private chunked = 0;
  private readonly chunkedWaiting: (() => void)[] = [];

  constructor(opts: RpcRelayClientOptions) {
    this.conn = opts.conn;
    this.worktreeId = opts.worktreeId;
    this.signal = opts.signal;
  }

  hello(req: ClientHello): Promise<HelloResponse> {
    const { role, secret, replicaId, name, register } = req;
    return this.conn.request(
      'hello',
      { protocol: PROTOCOL_VERSION, worktreeId: this.worktreeId, secretProof: secret, replicaId, name, role, ...(register ? { register } : {}) },
      { signal: this.signal },
    );
  }

  async worktreeName(secret: Uint8Array): Promise<string> {
    return (await this.conn.request('worktree/info', { worktreeId: this.worktreeId, secretProof: secret }, { signal: this.signal })).name;
  }

  async *offer(entries: readonly ManifestEntry[]): AsyncIterable<OfferAnswer> {
    for (const page of messageSlices(entries, OFFER_PAGE, (e) => 3 * e.path.length + e.fileId.length + e.digest.length + 16)) {
      const { need } = await this.conn.request('manifest/offer', { worktreeId: this.worktreeId, entries: page }, { signal: this.signal });
      yield { entries: page, need };
    }
  }

  async uploadManifest(updates: readonly Uint8Array[]): Promise<void> {
    // A first share of a big tree logs a manifest update per 2000 files: 100,000 files were
    // 17 MB of updates, over the frame limit in one message.
    for (const part of messageSlices(updates, MAX_UPDATES_PER_MESSAGE, (u) => u.byteLength)) {
      this.storedAt((await this.conn.request('manifest/upload', { worktreeId: this.worktreeId, updates: part }, { signal: this.signal })).seq);
    }
  }

  async uploadFileUpdates(fileId: string, updates: readonly Uint8Array[]): Promise<void> {
    for (const part of messageSlices(updates, MAX_UPDATES_PER_MESSAGE, (u) => u.byteLength)) {
      this.storedAt((await this.conn.request('file/upload', { worktreeId: this.worktreeId, fileId, updates: part }, { signal: this.signal })).seq);
    }
  }

  async uploadBlob(blob: BlobUpload): Promise<void> {
    const { digest, bytes, fileId } = blob;
    const { worktreeId, signal } = this;
    // A file's small content goes in one message; the rest in chunks, each acknowledged.
    if (bytes.byteLength <= MAX_BINARY_BYTES / 2 && fileId) {
      this.storedAt((await this.conn.request('file/upload', { worktreeId, fileId, blob: bytes }, { signal })).seq);
      return;
    }
    // A turn passes straight to the next in line.
    if (this.chunked < CHUNKED_AT_ONCE) this.chunked++;
    else await new Promise<void>((resolve) => this.chunkedWaiting.push(resolve));
    try {
      for (let offset = 0; offset < bytes.byteLength || offset === 0; offset += BLOB_CHUNK_BYTES) {
        const data = bytes.subarray(offset, offset + BLOB_CHUNK_BYTES);
        this.storedAt((await this.conn.request('blob/upload', { worktreeId, digest, size: bytes.byteLength, offset, data }, { signal, timeoutMs: CHUNK_TIMEOUT_MS })).seq);
        if (bytes.byteLength === 0) break;
      }
    } finally {
      const next = this.chunkedWaiting.shift();
      if (next) next();
      else this.chunked--;
    }
  }

  uploadHistory(entries: AsyncIterable<HistoryEntry> | Iterable<HistoryEntry>): Promise<number> {
    return uploadHistory({
      entries,
      send: async (batch) => {
        this.storedAt((await this.conn.request('history/upload', { worktreeId: this.worktreeId, entries: batch }, { signal: this.signal })).seq);
      },
    });
  }

  private storedAt(seq: number | undefined): void {
    if (seq !== undefined && seq > this.stored) this.stored = seq;
  }

  async *catchUp(after: number): AsyncIterable<SyncItem> {
    for await (const page of this.conn.requestStream('worktree/sync-pages', { worktreeId: this.worktreeId, after }, { signal: this.signal })) yield* page.items;
  }

  async fetchBlob(digest: string): Promise<Uint8Array> {
    let out: Uint8Array | undefined;
    for await (const chunk of this.conn.requestStream('blob/fetch', { worktreeId: this.worktreeId, digest }, { signal: this.signal })) {
      if (!out) out = new Uint8Array(chunk.size);
      if (chunk.offset + chunk.data.byteLength > out.byteLength) throw new CshareError('PROTOCOL', `blob ${digest}: chunk past its size`);
      out.set(chunk.data, chunk.offset);
    }
    return out ?? new Uint8Array();
  }

  /**
   * With a few `blobs/fetch` streams at once. A stream carries few enough chunks that its
   * items never overflow the connection's stream queue.
   */
  async fetchBlobs(blobs: readonly BlobWanted[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    const parts = slices(blobs, FETCH_PER_STREAM, FETCH_CHUNKS_PER_STREAM, (b) => Math.max(1, Math.ceil(b.size / BLOB_CHUNK_BYTES)));
    await pooled({ items: parts, limit: FETCH_STREAMS, run: (part) => this.fetchStream(part.map((b) => b.digest), out) });
    return out;
  }

  subscribe(opts: { queueSize?: number } = {}): LiveEvents {
    return this.conn.subscribe(worktreeResource(this.worktreeId), { signal: this.signal, queueSize: opts.queueSize });
  }

  sendPresence(state: PresenceState | null): Promise<void> {
    return this.conn.send('presence', { worktreeId: this.worktreeId, ...(state ? { state } : {}) }, { signal: this.signal });
  }

  close(reason?: Error): void {
    this.conn.close(reason);
  }

  /** One `blobs/fetch` stream: each blob whole (its chunks in order) into `out`. */
  private async fetchStream(digests: string[], out: Map<string, Uint8Array>): Promise<void> {
    let cur: { digest: string; bytes: Uint8Array; filled: number } | undefined;
    const finish = () => {
      if (cur && cur.filled === cur.bytes.byteLength) out.set(cur.digest, cur.bytes);
      cur = undefined;
    };
    for await (const chunk of this.conn.requestStream('blobs/fetch', { worktreeId: this.worktreeId, digests }, { signal: this.signal })) {
      if (!cur || cur.digest !== chunk.digest) {
        finish();
        if (chunk.offset === 0 && chunk.data.byteLength === chunk.size) {
          // A blob in one chunk (most are) is that chunk's bytes, not a copy of them.
          out.set(chunk.digest, chunk.data);
          continue;
        }
        cur = { digest: chunk.digest, bytes: new Uint8Array(chunk.size), filled: 0 };
      }
      if (chunk.offset !== cur.filled || chunk.size !== cur.bytes.byteLength) throw new CshareError('PROTOCOL', `blob ${chunk.digest}: chunks out of order`);
      cur.bytes.set(chunk.data, chunk.offset);
      cur.filled += chunk.data.byteLength;
    }
    finish();
  }
}
