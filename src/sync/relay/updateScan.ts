import { CshareError } from '../../core/errors.js';
import { Pacer } from './pace.js';

/**
 * A structural scan of a Yjs (v1) update, in place of `Y.decodeUpdate` at the relay (issue
 * 15, item 13). Decoding materialises every struct, and an update's bytes say little about
 * how many there are: one 13 MiB update of tiny structs cost the relay 718 MiB and 2.8 s of
 * one uninterrupted step, and every replica more. The scan reads the same format (the order
 * of fields as Yjs 13's `UpdateDecoderV1` and lib0's `readAny` read them) without building
 * structs, counts what decoding it would build, refuses it past a bound, and gives way to
 * other work as it goes ({@link Pacer}). It also yields what the relay needs from an update:
 * the clock range of each client (as `Y.parseUpdateMeta`), and for manifest updates the JSON
 * and `Any` values of its items with their ids, and its delete set.
 *
 * It accepts no more than Yjs would decode, and is stricter in a few places Yjs is lenient
 * (bytes after the delete set, a missing byte where lib0 reads `undefined` as 0, `Any`
 * values nested over 64 deep, where lib0 recurses until the stack ends).
 */

/** Most structs, delete ranges and content values one update may decode to, by default. */
export const MAX_UPDATE_UNITS = 200_000;

/** Options of {@link scanUpdate}. */
export interface ScanOptions {
  /** What the update is, for errors ("a file update"). */
  what: string;
  /** Most structs, delete set ranges and content values (nested ones too); more is `TOO_LARGE`. */
  maxUnits?: number;
  /** Collect the values of JSON and `Any` contents, and the delete set (for manifest checks). */
  values?: boolean;
  pacer?: Pacer;
}

/** One value of an item's JSON or `Any` content, with the id of the item element it is. */
export interface ScannedValue {
  client: number;
  clock: number;
  value: unknown;
}

/** What {@link scanUpdate} found. */
export interface UpdateScan {
  /** Structs, delete ranges and content values: what decoding would build. */
  units: number;
  /** Per client, the first and the end clock the update's structs cover (as `Y.parseUpdateMeta`). */
  from: Map<number, number>;
  to: Map<number, number>;
  /** With `values`: the JSON and `Any` values of its items. */
  values: ScannedValue[];
  /** With `values`: deleted ranges per client, `[clock, len]`, sorted by clock. */
  deletes: Map<number, [number, number][]>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const MAX_ANY_DEPTH = 64;
/** Checked this often (in units) whether the pacer wants to give way. */
const PACE_EVERY = 256;

class Invalid extends Error {}

/** Reads lib0's encodings, throwing {@link Invalid} where lib0 would fail (or read garbage). */
class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  u8(): number {
    if (this.pos >= this.buf.length) throw new Invalid('unexpected end of the update');
    return this.buf[this.pos++]!;
  }

  varUint(): number {
    let num = 0;
    let mult = 1;
    for (;;) {
      const r = this.u8();
      num += (r & 0x7f) * mult;
      mult *= 128;
      if (r < 0x80) return num;
      if (num > Number.MAX_SAFE_INTEGER) throw new Invalid('integer out of range');
    }
  }

  varInt(): number {
    let r = this.u8();
    const sign = r & 0x40 ? -1 : 1;
    let num = r & 0x3f;
    let mult = 64;
    while (r >= 0x80) {
      r = this.u8();
      num += (r & 0x7f) * mult;
      mult *= 128;
      if (num > Number.MAX_SAFE_INTEGER) throw new Invalid('integer out of range');
    }
    return sign * num;
  }

  /** The next `n` bytes as a big-endian view. */
  view(n: number): DataView {
    this.skip(n);
    return new DataView(this.buf.buffer, this.buf.byteOffset + this.pos - n, n);
  }

  skip(n: number): void {
    if (n > this.buf.length - this.pos) throw new Invalid('unexpected end of the update');
    this.pos += n;
  }

  bytes(): void {
    this.skip(this.varUint());
  }

  string(): string {
    const n = this.varUint();
    if (n > this.buf.length - this.pos) throw new Invalid('unexpected end of the update');
    const s = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    try {
      return utf8.decode(s);
    } catch {
      throw new Invalid('a string is not valid UTF-8');
    }
  }
}

/**
 * Scans `update` (see the file comment). Throws `PROTOCOL` if Yjs could not decode it and
 * `TOO_LARGE` if decoding it would build more than `maxUnits` structs and values.
 */
export async function scanUpdate(update: Uint8Array, opts: ScanOptions): Promise<UpdateScan> {
  const scan = new Scan(update, opts);
  try {
    await scan.run();
  } catch (err) {
    if (err instanceof Invalid) throw new CshareError('PROTOCOL', `${opts.what} is not a valid Yjs update: ${err.message}`);
    throw err;
  }
  return scan.result;
}

class Scan {
  readonly result: UpdateScan = { units: 0, from: new Map(), to: new Map(), values: [], deletes: new Map() };
  private readonly r: Reader;
  private readonly maxUnits: number;
  private readonly pacer: Pacer;
  private nextPace = PACE_EVERY;

  constructor(
    update: Uint8Array,
    private readonly opts: ScanOptions,
  ) {
    this.r = new Reader(update);
    this.maxUnits = opts.maxUnits ?? MAX_UPDATE_UNITS;
    this.pacer = opts.pacer ?? new Pacer();
  }

  /** Counts `n` units, refusing the update past the bound, and gives way when it is time. */
  private count(n: number): void {
    this.result.units += n;
    if (this.result.units > this.maxUnits) {
      throw new CshareError('TOO_LARGE', `${this.opts.what} decodes to more than ${this.maxUnits} structs and values; split it into smaller updates`, {
        max: this.maxUnits,
      });
    }
  }

  private async pace(): Promise<void> {
    if (this.result.units < this.nextPace) return;
    this.nextPace = this.result.units + PACE_EVERY;
    if (this.pacer.due()) await this.pacer.step();
  }

  async run(): Promise<void> {
    const { r, result } = this;
    let currClient: number | undefined;
    let currClock = 0;
    const groups = r.varUint();
    for (let g = 0; g < groups; g++) {
      const structs = r.varUint();
      const client = r.varUint();
      let clock = r.varUint();
      for (let i = 0; i < structs; i++) {
        this.count(1);
        const len = this.struct(client, clock);
        if (currClient === undefined) {
          currClient = client;
          result.from.set(client, clock);
        } else if (client !== currClient) {
          result.to.set(currClient, currClock);
          result.from.set(client, clock);
          currClient = client;
        }
        clock += len;
        if (clock > Number.MAX_SAFE_INTEGER) throw new Invalid('clock out of range');
        currClock = clock;
        await this.pace();
      }
    }
    if (currClient !== undefined) result.to.set(currClient, currClock);
    await this.deleteSet();
    if (!r.done) throw new Invalid(`${r.buf.length - r.pos === 1 ? '1 byte' : `${r.buf.length - r.pos} bytes`} after the delete set`);
  }

  /** Reads one struct starting at `clock`; returns its length. */
  private struct(client: number, clock: number): number {
    const r = this.r;
    const info = r.u8();
    if (info === 10) return r.varUint(); // Skip
    const ref = info & 0x1f;
    if (ref === 0) return r.varUint(); // GC
    if (info & 0x80) (r.varUint(), r.varUint()); // origin
    if (info & 0x40) (r.varUint(), r.varUint()); // right origin
    if ((info & 0xc0) === 0) {
      // Parent: a root type's key, or the id of the item holding the type; then parentSub.
      if (r.varUint() === 1) r.string();
      else (r.varUint(), r.varUint());
      if (info & 0x20) r.string();
    }
    switch (ref) {
      case 1: // ContentDeleted
        return r.varUint();
      case 2: {
        // ContentJSON
        const n = r.varUint();
        for (let i = 0; i < n; i++) {
          this.count(1);
          const s = r.string();
          const value = s === 'undefined' ? undefined : parseJson(s);
          if (this.opts.values) this.result.values.push({ client, clock: clock + i, value });
        }
        return n;
      }
      case 3: // ContentBinary
        r.bytes();
        return 1;
      case 4: // ContentString: its length is in UTF-16 units, as the decoded string's
        return r.string().length;
      case 5: // ContentEmbed
        parseJson(r.string());
        return 1;
      case 6: // ContentFormat
        r.string();
        parseJson(r.string());
        return 1;
      case 7: {
        // ContentType: YArray, YMap, YText, YXmlElement (+ name), YXmlFragment, YXmlHook (+ name), YXmlText
        const type = r.varUint();
        if (type > 6) throw new Invalid(`unknown type ${type}`);
        if (type === 3 || type === 5) r.string();
        return 1;
      }
      case 8: {
        // ContentAny
        const n = r.varUint();
        for (let i = 0; i < n; i++) {
          const value = this.any(0);
          if (this.opts.values) this.result.values.push({ client, clock: clock + i, value });
        }
        return n;
      }
      case 9: {
        // ContentDoc: a guid and options (which Yjs reads properties of)
        r.string();
        const opts = this.any(0);
        if (opts === null || opts === undefined) throw new Invalid('a subdocument without options');
        return 1;
      }
      default:
        throw new Invalid(`unknown content ${ref}`);
    }
  }

  /** One lib0 `Any` value (built only when values are collected). */
  private any(depth: number): unknown {
    if (depth > MAX_ANY_DEPTH) throw new Invalid(`values nested more than ${MAX_ANY_DEPTH} deep`);
    this.count(1);
    const r = this.r;
    const keep = this.opts.values === true;
    switch (r.u8()) {
      case 127:
        return undefined;
      case 126:
        return null;
      case 125:
        return r.varInt();
      case 124:
        return r.view(4).getFloat32(0);
      case 123:
        return r.view(8).getFloat64(0);
      case 122:
        return r.view(8).getBigInt64(0);
      case 121:
        return false;
      case 120:
        return true;
      case 119:
        return r.string();
      case 118: {
        const n = r.varUint();
        const obj: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const key = r.string();
          const v = this.any(depth + 1);
          if (keep) obj[key] = v;
        }
        return obj;
      }
      case 117: {
        const n = r.varUint();
        const arr: unknown[] = [];
        for (let i = 0; i < n; i++) {
          const v = this.any(depth + 1);
          if (keep) arr.push(v);
        }
        return arr;
      }
      case 116:
        r.bytes();
        return new Uint8Array(0);
      default:
        throw new Invalid('unknown value type');
    }
  }

  private async deleteSet(): Promise<void> {
    const r = this.r;
    const clients = r.varUint();
    for (let c = 0; c < clients; c++) {
      const client = r.varUint();
      const n = r.varUint();
      let ranges: [number, number][] | undefined;
      let sorted = true;
      let last = -1;
      for (let i = 0; i < n; i++) {
        this.count(1);
        const clock = r.varUint();
        const len = r.varUint();
        if (this.opts.values) {
          ranges ??= this.result.deletes.get(client) ?? [];
          if (clock < last) sorted = false;
          last = clock;
          ranges.push([clock, len]);
        }
        await this.pace();
      }
      if (ranges) {
        // Yjs writes them sorted and disjoint; a hand-made set is sorted and merged here, so
        // that one binary search answers isDeleted.
        if (!sorted || this.result.deletes.has(client)) ranges.sort((a, b) => a[0] - b[0]);
        this.result.deletes.set(client, mergeRanges(ranges));
      }
    }
  }
}

function mergeRanges(ranges: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const [clock, len] of ranges) {
    const last = out[out.length - 1];
    if (last && clock <= last[0] + last[1]) last[1] = Math.max(last[1], clock + len - last[0]);
    else out.push([clock, len]);
  }
  return out;
}

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    throw new Invalid('a JSON content does not parse');
  }
}

/** Whether the item element `client:clock` is in a delete set of {@link UpdateScan.deletes}. */
export function isDeleted(deletes: Map<number, [number, number][]>, client: number, clock: number): boolean {
  const ranges = deletes.get(client);
  if (!ranges) return false;
  // The last range starting at or before `clock` (ranges are sorted and disjoint).
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [start, len] = ranges[mid]!;
    if (clock < start) hi = mid - 1;
    else if (clock >= start + len) lo = mid + 1;
    else return true;
  }
  return false;
}
