/**
 * Peers of the `peers` notification as what an editor draws, with no `vscode` import: per
 * document, each peer's cursors (the selections' heads) and non-empty selections, with its
 * name and colour.
 */
import type { Position, Range } from './text.js';

/** A peer as the editor API sends it (EDITOR-API.md "cshare to editor"). */
export interface Peer {
  id: string;
  name: string;
  color: string;
  role?: string;
  path?: string;
  selections?: { anchor: Position; head: Position }[];
}

/** What one peer shows in one document. */
export interface PeerMarks {
  id: string;
  name: string;
  color: string;
  cursors: Position[];
  selections: Range[];
}

const before = (a: Position, b: Position) => a.line < b.line || (a.line === b.line && a.character < b.character);

/** The marks of every peer that is in the document `path`. Malformed colours fall back to grey. */
export function marksIn(peers: readonly Peer[], path: string): PeerMarks[] {
  const out: PeerMarks[] = [];
  for (const p of peers) {
    if (p.path !== path || !p.selections) continue;
    const cursors: Position[] = [];
    const selections: Range[] = [];
    for (const s of p.selections) {
      cursors.push(s.head);
      if (s.anchor.line !== s.head.line || s.anchor.character !== s.head.character) {
        selections.push(before(s.anchor, s.head) ? { start: s.anchor, end: s.head } : { start: s.head, end: s.anchor });
      }
    }
    out.push({ id: p.id, name: p.name, color: /^#[0-9a-fA-F]{6}$/.test(p.color) ? p.color : '#888888', cursors, selections });
  }
  return out;
}

/** The status bar's text for a connection state. */
export function statusText(s: { connection?: string; role?: string; peers: number; readOnly?: boolean } | undefined): string {
  if (!s) return '$(circle-slash) cshare';
  const icon = s.connection === 'online' ? '$(broadcast)' : s.connection === 'reconnecting' ? '$(sync~spin)' : '$(debug-disconnect)';
  const role = s.role === 'sharer' ? 'sharing' : 'joined';
  const peers = `${s.peers} peer${s.peers === 1 ? '' : 's'}`;
  return `${icon} cshare: ${role}${s.readOnly ? ' (read-only)' : ''} · ${peers}${s.connection === 'online' ? '' : ` · ${s.connection ?? 'offline'}`}`;
}
