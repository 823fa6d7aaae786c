/**
 * Peers' colours: each replica's is picked from a fixed palette by a hash of its replica id,
 * so every replica (and every editor connected to one) shows a peer in the same colour without
 * agreeing on anything. Two peers may draw the same colour; their names tell them apart.
 */

/**
 * Ten colours far apart in hue and readable as text or a cursor on a light and on a dark
 * background (from Sasha Trubetskoy's "20 distinct colours", without the very light and very
 * dark ones).
 */
export const PEER_COLORS: readonly string[] = Object.freeze(['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#469990', '#9a6324', '#808000']);

/** The colour of replica `replicaId`: `#rrggbb`, the same on every replica. */
export function colorOf(replicaId: string): string {
  // FNV-1a over the UTF-16 units: stable across processes and versions, unlike a salted hash.
  let h = 0x811c9dc5;
  for (let i = 0; i < replicaId.length; i++) {
    h ^= replicaId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return PEER_COLORS[h % PEER_COLORS.length]!;
}
