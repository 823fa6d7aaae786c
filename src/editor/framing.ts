/**
 * LSP's base protocol framing: `Content-Length: <bytes>\r\n` (other headers allowed and
 * ignored), an empty line, then the body. Bounded: a header block over {@link MAX_HEADER}
 * bytes, a header without a valid `Content-Length`, or a body over the limit is a
 * {@link FramingError}, after which the connection is closed (nothing after it can be trusted
 * to be a frame boundary).
 */

/** Largest body accepted (EDITOR-API.md "Connecting"). */
export const MAX_BODY = 16 * 1024 * 1024;

/** Largest header block: a few short headers. */
export const MAX_HEADER = 1024;

/** A frame that cannot be read: the connection ends. */
export class FramingError extends Error {
  constructor(
    message: string,
    /** `FRAME_TOO_LARGE` for a body over the limit, else `PROTOCOL`. */
    readonly code: 'PROTOCOL' | 'FRAME_TOO_LARGE' = 'PROTOCOL',
  ) {
    super(message);
    this.name = 'FramingError';
  }
}

const SEPARATOR = Buffer.from('\r\n\r\n');

/** Splits a byte stream into frame bodies (as raw bytes: decoding them is the caller's). */
export class FrameReader {
  private chunks: Buffer[] = [];
  private size = 0;
  /** The body length being waited for, once its header was read. */
  private want: number | undefined;

  constructor(private readonly maxBody = MAX_BODY) {}

  /** Adds bytes; returns the bodies they complete. Throws {@link FramingError}. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.size += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.want === undefined) {
        const buf = this.joined();
        const end = buf.indexOf(SEPARATOR);
        if (end < 0) {
          if (buf.length > MAX_HEADER) throw new FramingError(`no end of header within ${MAX_HEADER} bytes`);
          return out;
        }
        if (end > MAX_HEADER) throw new FramingError(`a header over ${MAX_HEADER} bytes`);
        this.want = contentLength(buf.subarray(0, end).toString('latin1'), this.maxBody);
        this.take(end + SEPARATOR.length);
      }
      if (this.size < this.want) return out;
      const buf = this.joined();
      out.push(Buffer.from(buf.subarray(0, this.want)));
      this.take(this.want);
      this.want = undefined;
    }
  }

  private joined(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private take(n: number): void {
    const rest = this.joined().subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.size = rest.length;
  }
}

function contentLength(header: string, maxBody: number): number {
  let length: number | undefined;
  for (const line of header.split('\r\n')) {
    const m = /^([A-Za-z-]+):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (!m) throw new FramingError(`malformed header line ${JSON.stringify(line.slice(0, 80))}`);
    if (m[1]!.toLowerCase() !== 'content-length') continue;
    if (!/^\d{1,10}$/.test(m[2]!)) throw new FramingError(`malformed Content-Length ${JSON.stringify(m[2]!.slice(0, 20))}`);
    length = Number(m[2]);
  }
  if (length === undefined) throw new FramingError('a header without Content-Length');
  if (length > maxBody) throw new FramingError(`a body of ${length} bytes, over the limit of ${maxBody}`, 'FRAME_TOO_LARGE');
  return length;
}

/** One frame of `message` (as JSON, UTF-8). */
export function frame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]);
}
