import { CshareError } from '../../core/errors.js';
import { presenceState, type PresenceState } from '../schema.js';
import type { PeerInfo } from './PresenceHub.js';

/**
 * Presence in JSON, for what crosses the control socket: the peers `cshare status` lists, and
 * the state the `presence` control command publishes (a test and debugging hook).
 */

/** A peer as `cshare status --json` lists it: who, which role and colour, and where (file, 1-based line and column). */
export interface StatusPeer {
  id: string;
  name: string;
  role: 'sharer' | 'joiner';
  /** It joined with the read-only code. */
  readOnly?: true;
  color: string;
  path?: string;
  line?: number;
  column?: number;
}

/** The peers of a hub as `status` lists them (the relative positions stay out: bytes nobody reads there). */
export function statusPeers(peers: readonly PeerInfo[]): StatusPeer[] {
  return peers.map((p) => ({
    id: p.replicaId,
    name: p.name,
    role: p.role,
    ...(p.readOnly ? { readOnly: true as const } : {}),
    color: p.color,
    ...(p.presence ? { path: p.presence.path, line: p.presence.line, ...(p.presence.column !== undefined ? { column: p.presence.column } : {}) } : {}),
  }));
}

/**
 * A state from JSON (`{path, line, column?, selections: [{anchor, head}]}`, positions in
 * base64), checked as the relay checks it; null or undefined: in no file. `USAGE` if malformed.
 */
export function presenceFromJson(json: unknown): PresenceState | null {
  if (json === null || json === undefined) return null;
  const bad = () => new CshareError('USAGE', 'a presence state is {path, line, column?, selections: [{anchor, head}]} with base64 positions');
  if (typeof json !== 'object' || Array.isArray(json)) throw bad();
  const { selections, ...rest } = json as Record<string, unknown>;
  if (!Array.isArray(selections)) throw bad();
  const decoded = selections.map((s: unknown) => {
    const { anchor, head } = (s ?? {}) as Record<string, unknown>;
    if (typeof anchor !== 'string' || typeof head !== 'string') throw bad();
    return { anchor: new Uint8Array(Buffer.from(anchor, 'base64')), head: new Uint8Array(Buffer.from(head, 'base64')) };
  });
  const state: unknown = { ...rest, selections: decoded };
  if (!presenceState(state)) throw bad();
  return state;
}
