/**
 * The layout shared by cshare's column caches (the status view, the status cache): a u32
 * (little-endian) header length, the header as JSON, then sections of bytes, each starting on
 * an 8-byte boundary so float64 columns can be viewed in place. The header lists the
 * sections' lengths; everything else in it belongs to the file's own format.
 */
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

const pad8 = (n: number): number => (n + 7) & ~7;

/** Lays out `header` (plus `sections`: the lengths) and the sections. */
export function encodeSectioned(header: Record<string, unknown>, sections: readonly Uint8Array[]): Uint8Array {
  const head = enc.encode(JSON.stringify({ ...header, sections: sections.map((s) => s.byteLength) }));
  let size = pad8(4 + head.byteLength);
  for (const s of sections) size += pad8(s.byteLength);
  const out = new Uint8Array(size);
  new DataView(out.buffer).setUint32(0, head.byteLength, true);
  out.set(head, 4);
  let off = pad8(4 + head.byteLength);
  for (const s of sections) {
    out.set(s, off);
    off += pad8(s.byteLength);
  }
  return out;
}

/**
 * The header and `count` sections of `bytes` (which must start on an 8-byte boundary of its
 * buffer), or undefined when they do not fit, the header is not JSON or lists another number.
 * Throws nothing: a damaged file is simply not used.
 */
export function decodeSectioned(bytes: Uint8Array, count: number): { header: Record<string, unknown>; sections: Uint8Array[] } | undefined {
  try {
    if (bytes.byteLength < 4 || bytes.byteOffset % 8 !== 0) return undefined;
    const headerLen = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
    if (4 + headerLen > bytes.byteLength) return undefined;
    const header = JSON.parse(dec.decode(bytes.subarray(4, 4 + headerLen))) as unknown;
    if (typeof header !== 'object' || header === null) return undefined;
    const lens = (header as { sections?: unknown }).sections;
    if (!Array.isArray(lens) || lens.length !== count) return undefined;
    let off = pad8(4 + headerLen);
    const sections: Uint8Array[] = [];
    for (const len of lens) {
      if (!Number.isSafeInteger(len) || len < 0 || off + len > bytes.byteLength) return undefined;
      sections.push(bytes.subarray(off, off + len));
      off += pad8(len);
    }
    return { header: header as Record<string, unknown>, sections };
  } catch {
    return undefined; // not UTF-8 or not JSON: a damaged file, not used
  }
}

/** Strings as one `\0`-joined section (none of them may hold a `\0`). */
export function joinedSection(xs: readonly string[]): Uint8Array {
  return enc.encode(xs.join('\0'));
}

/** The `n` strings of a `\0`-joined section, or undefined if it holds another number. */
export function splitSection(s: Uint8Array, n: number): string[] | undefined {
  try {
    const xs = n === 0 ? [] : dec.decode(s).split('\0');
    return xs.length === n ? xs : undefined;
  } catch {
    return undefined; // not UTF-8: a damaged file
  }
}

/** A section's bytes as `n` float64s (viewed in place), or undefined if its length differs. */
export function float64Section(s: Uint8Array, n: number): Float64Array | undefined {
  return s.byteLength === n * 8 ? new Float64Array(s.buffer, s.byteOffset, n) : undefined;
}

/** The bytes of a typed array, as a section. */
export function bytesOf(a: Float64Array | Uint32Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
