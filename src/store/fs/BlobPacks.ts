/**
 * Blob bytes in append-only pack files beside the LevelDB store (`.cshare/packs/pack-<n>`),
 * the {@link BlobPackStore} of a worktree on disk.
 *
 * A reference is 16 bytes: the pack number (u32), the offset (f64) and the length (u32).
 * `append` writes the blobs at the end of the current pack (a new pack once it passes
 * {@link PACK_BYTES}) and fsyncs before it resolves; only then does the caller commit the
 * references in its store batch. A process killed in between leaves bytes no reference points
 * at, which are never read. A worktree's packs are never rewritten: blobs are kept for ever
 * (history). A relay reclaims the bytes nothing refers to (uploads never finished) by
 * compaction: {@link seal} starts a new pack, live blobs of old packs are appended again and
 * their references moved, then {@link remove} deletes the old pack (`relay/compaction.ts`).
 */
import * as nfs from 'node:fs';
import { join } from 'node:path';
import { CshareError } from '../../core/errors.js';
import type { BlobPackStore } from '../../core/ports.js';
import { storeDirBytes } from '../layout.js';
import { errCode, ioError } from './ioError.js';

/** A pack grows to about this size before the next one starts. */
export const PACK_BYTES = 256 * 1024 * 1024;
const REF_BYTES = 16;
const PACK_NAME = /^pack-(\d{6})$/;

function packName(n: number): string {
  return `pack-${String(n).padStart(6, '0')}`;
}

/** Encodes a reference (see the header). */
export function encodePackRef(pack: number, offset: number, length: number): Uint8Array {
  const ref = new Uint8Array(REF_BYTES);
  const v = new DataView(ref.buffer);
  v.setUint32(0, pack);
  v.setFloat64(4, offset);
  v.setUint32(12, length);
  return ref;
}

/** Decodes a reference; a damaged one is `STORE_CORRUPT`. */
export function decodePackRef(ref: Uint8Array): { pack: number; offset: number; length: number } {
  if (ref.byteLength !== REF_BYTES) throw new CshareError('STORE_CORRUPT', `a blob reference in the store is ${ref.byteLength} bytes, not ${REF_BYTES}`);
  const v = new DataView(ref.buffer, ref.byteOffset, REF_BYTES);
  const out = { pack: v.getUint32(0), offset: v.getFloat64(4), length: v.getUint32(12) };
  if (!Number.isSafeInteger(out.offset) || out.offset < 0) throw new CshareError('STORE_CORRUPT', 'a blob reference in the store has a bad offset');
  return out;
}

export class BlobPacks implements BlobPackStore {
  /** The pack appended to, its descriptor and its length (where the next blob goes). */
  private pack: number;
  private fd: number | undefined;
  private end = 0;
  private readonly fds = new Map<number, { fd: number; writable: boolean }>();
  private closed = false;
  /**
   * Group commit: appends are numbered; an fsync covers every append numbered up to where it
   * started, and appends that come while one runs share the next (a relay storing many small
   * uploads at once would otherwise fsync once for each).
   */
  private appended = 0;
  private synced = 0;
  private syncing: Promise<void> | undefined;
  private readonly dirty = new Set<number>();

  private constructor(
    readonly dir: string,
    last: number,
    private readonly packBytes: number,
  ) {
    this.pack = last;
  }

  /**
   * Opens (creating) the pack directory; the next blob goes at the end of the newest pack.
   * `packBytes` is for tests.
   */
  static open(dir: string, packBytes = PACK_BYTES): BlobPacks {
    let last = 1;
    try {
      nfs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      for (const name of nfs.readdirSync(dir)) {
        const m = PACK_NAME.exec(name);
        if (m) last = Math.max(last, Number(m[1]));
      }
    } catch (err) {
      throw ioError('open the blob packs in', dir, err);
    }
    return new BlobPacks(dir, last, packBytes);
  }

  async append(blobs: readonly Uint8Array[]): Promise<Uint8Array[]> {
    if (this.closed) throw new CshareError('IO', 'the blob packs are closed');
    const refs: Uint8Array[] = [];
    for (const bytes of blobs) {
      this.writable();
      if (this.end > 0 && this.end + bytes.byteLength > this.packBytes) {
        // The full pack stays open: it is flushed with the others below.
        this.pack++;
        this.fd = undefined;
      }
      const fd = this.writable();
      const path = join(this.dir, packName(this.pack));
      try {
        let off = 0;
        while (off < bytes.byteLength) off += nfs.writeSync(fd, bytes, off, bytes.byteLength - off, this.end + off);
      } catch (err) {
        throw ioError('write', path, err);
      }
      this.dirty.add(this.pack);
      refs.push(encodePackRef(this.pack, this.end, bytes.byteLength));
      this.end += bytes.byteLength;
    }
    // Durable before any reference to them is committed.
    await this.durable(++this.appended);
    return refs;
  }

  /** Resolves once append number `n` is on disk (see {@link appended}). */
  private async durable(n: number): Promise<void> {
    while (this.synced < n) {
      if (!this.syncing) {
        const upTo = this.appended;
        const packs = [...this.dirty];
        this.dirty.clear();
        this.syncing = Promise.all(packs.map((p) => this.fsync(p)))
          .then(
            () => void (this.synced = Math.max(this.synced, upTo)),
            (err: unknown) => {
              // Flushed again by the next append; these callers fail (nothing refers to the bytes).
              for (const p of packs) this.dirty.add(p);
              throw err;
            },
          )
          .finally(() => (this.syncing = undefined));
      }
      await this.syncing;
    }
  }

  private fsync(pack: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const path = join(this.dir, packName(pack));
      nfs.fsync(this.readFd(pack, 'r+'), (err) => (err ? reject(ioError('flush', path, err)) : resolve()));
    });
  }

  async read(ref: Uint8Array): Promise<Uint8Array> {
    const { pack, offset, length } = decodePackRef(ref);
    const path = join(this.dir, packName(pack));
    const out = Buffer.allocUnsafe(length);
    let got = 0;
    try {
      const fd = this.readFd(pack, 'r');
      while (got < length) {
        const n = nfs.readSync(fd, out, got, length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
    } catch (err) {
      if (err instanceof CshareError) throw err;
      throw ioError('read', path, err);
    }
    if (got !== length) throw new CshareError('STORE_CORRUPT', `${path} ends before a blob the store refers to (${offset}+${length}); move .cshare aside to rebuild`, { path });
    return out;
  }

  /** Bytes of the pack directory, counted as `status` counts it without opening anything. */
  size(): number {
    return storeDirBytes(this.dir);
  }

  /** The pack appends go to now; every lower-numbered pack is sealed (never appended to). */
  get current(): number {
    return this.pack;
  }

  /**
   * Starts a new pack for the next appends (if the current one holds anything) and returns
   * the current pack's number: every pack below it is sealed from now on.
   */
  seal(): number {
    this.writable();
    if (this.end > 0) {
      this.pack++;
      this.fd = undefined;
      this.end = 0;
      this.writable();
    }
    return this.pack;
  }

  /** The packs on disk (numbers and sizes in bytes), in number order. */
  list(): { pack: number; bytes: number }[] {
    const out: { pack: number; bytes: number }[] = [];
    try {
      for (const name of nfs.readdirSync(this.dir)) {
        const m = PACK_NAME.exec(name);
        if (m) out.push({ pack: Number(m[1]), bytes: nfs.statSync(join(this.dir, name)).size });
      }
    } catch (err) {
      throw ioError('list the blob packs in', this.dir, err);
    }
    return out.sort((a, b) => a.pack - b.pack);
  }

  /**
   * Deletes sealed pack `n`, which nothing may refer to any more. A reader that looked its
   * reference up just before keeps reading it: the file stays open (unlinked) for `graceMs`.
   */
  remove(n: number, graceMs = 60_000): void {
    if (n >= this.pack) throw new CshareError('INTERNAL', `pack ${n} is not sealed`);
    const path = join(this.dir, packName(n));
    let fd: number | undefined;
    try {
      fd = this.readFd(n, 'r');
    } catch (err) {
      if (!(err instanceof CshareError && err.code === 'STORE_CORRUPT')) throw err;
      return; // already gone (a compaction killed after deleting it)
    }
    try {
      nfs.unlinkSync(path);
    } catch (err) {
      throw ioError('delete', path, err);
    }
    const timer = setTimeout(() => {
      if (this.fds.get(n)?.fd !== fd) return;
      this.fds.delete(n);
      nfs.closeSync(fd);
    }, graceMs);
    timer.unref();
  }

  close(): void {
    this.closed = true;
    for (const { fd } of this.fds.values()) nfs.closeSync(fd);
    this.fds.clear();
    this.fd = undefined;
  }

  /** The descriptor the current pack is appended through, its length read on first use. */
  private writable(): number {
    if (this.fd === undefined) {
      this.fd = this.readFd(this.pack, 'r+');
      this.end = nfs.fstatSync(this.fd).size;
    }
    return this.fd;
  }

  /**
   * A descriptor of pack `n`, kept open: read-write for the current pack (created if need be),
   * read-only for others. A pack the store refers to but that is missing is `STORE_CORRUPT`.
   */
  private readFd(n: number, mode: 'r' | 'r+'): number {
    const open = this.fds.get(n);
    if (open && (open.writable || mode === 'r')) return open.fd;
    const path = join(this.dir, packName(n));
    let fd: number;
    try {
      fd = mode === 'r+' ? nfs.openSync(path, nfs.constants.O_RDWR | nfs.constants.O_CREAT, 0o600) : nfs.openSync(path, 'r');
    } catch (err) {
      if (errCode(err) === 'ENOENT') throw new CshareError('STORE_CORRUPT', `the blob pack ${path} is missing; move .cshare aside to rebuild`, { path });
      throw ioError('open', path, err);
    }
    if (open) nfs.closeSync(open.fd);
    this.fds.set(n, { fd, writable: mode === 'r+' });
    return fd;
  }
}
