/** Hand-made Yjs updates for tests of what the relay accepts. */

/**
 * A Yjs update of `n` one-character items of client 7, each its own struct (no origins, a
 * root type `t` as parent): 6 bytes a struct.
 */
export function tinyStructs(n: number): Uint8Array {
  const out: number[] = [];
  const varUint = (v: number) => {
    while (v >= 0x80) {
      out.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(v);
  };
  varUint(1);
  varUint(n);
  varUint(7);
  varUint(0);
  const struct = [4, 1, 1, 0x74, 1, 0x78];
  const head = Uint8Array.from(out);
  const body = new Uint8Array(n * struct.length);
  for (let i = 0; i < n; i++) body.set(struct, i * struct.length);
  const result = new Uint8Array(head.length + body.length + 1);
  result.set(head);
  result.set(body, head.length);
  // An empty delete set.
  result[result.length - 1] = 0;
  return result;
}
