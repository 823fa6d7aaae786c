import { counted, gitQuoted, shown, shownText } from '../core/display.js';
import { nestedRepoLine } from '../core/filesList.js';
import type { ReplicaStatus } from '../core/Replica.js';

/** Status as printed: the offline fields, plus what a running share/join adds. */
export type StatusJson = Omit<ReplicaStatus, 'sharing'> & {
  sharing: 'off' | 'on' | 'joined';
  codes?: { readWrite: string; readOnly: string };
  relay?: string[];
  /** Connected peers; `role`, `color` and where they are (`path`, 1-based `line`, `column`) from protocol 4 on. */
  peers?: { id: string; name: string; role?: string; readOnly?: boolean; color?: string; path?: string; line?: number; column?: number }[];
  connected?: boolean;
  unacknowledged?: number;
  uploading?: number;
  /** A join with a read-only code: its own changes stay here (see `kept`). */
  readOnly?: boolean;
  /** Read-only join: how many of this replica's changes are kept here, never uploaded. */
  kept?: number;
};

/** What the human form of `status` needs to colour; chalk, or plain text. */
export interface StatusColors {
  bold(s: string): string;
  yellow(s: string): string;
}

/** How each source of a refused path is named in the list. */
const SOURCES = { local: 'refused', relay: 'relay', peer: 'from peer' } as const;

/** `cshare status` for people: the worktree, the replica, sharing, and the changes. */
export function formatStatus(s: StatusJson, c: StatusColors): string {
  const access = s.readOnly ? ' (read-only)' : '';
  const lines = [
    `Worktree: ${shown(s.root)}`,
    `Replica:  ${shown(s.replica.name)} (${shown(s.replica.id)})`,
    `Sharing:  ${s.sharing}${access}${s.relay ? ` via ${s.relay[0]}` : ''}${s.connected === false ? ' (reconnecting)' : ''}`,
    ...(s.codes ? [`Join:     cshare join ${s.codes.readWrite}`, `          cshare join ${s.codes.readOnly} (read-only)`] : []),
    ...(s.peers ? peerLines(s.peers) : []),
    ...pendingLines(s),
    `Files:    ${counted(s.files, 'file')} tracked, store ${(s.storeBytes / 1024).toFixed(0)} KiB`,
  ];
  if (s.changed.length === 0) lines.push('No changes since the last scan.');
  else {
    lines.push(`Changes not yet recorded (run ${c.bold('cshare scan')}):`);
    for (const ch of s.changed) lines.push(`  ${c.yellow(ch.change.padEnd(9))} ${ch.from ? `${gitQuoted(ch.from)} -> ` : ''}${gitQuoted(ch.path)}`);
  }
  // Older running processes answer without the list.
  const refused = s.refused ?? [];
  if (refused.length > 0) {
    lines.push(`Not shared (${refused.length}):`);
    for (const r of refused) lines.push(`  ${c.yellow(SOURCES[r.source].padEnd(9))} ${gitQuoted(r.path)}: ${r.reason}`);
  }
  // Older running processes answer without the list; only those not shared whole are news here.
  const nested = (s.nested ?? []).filter((n) => n.state !== 'shared');
  if (nested.length > 0) {
    lines.push(`Repositories inside (${nested.length}):`);
    for (const n of nested) lines.push(`  ${shownText(nestedRepoLine(n))}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * What is not on the relay yet. A read-only joiner's own changes never will be (the relay
 * refuses them): they are said to be kept here, not pending, which they would be for ever.
 */
function pendingLines(s: StatusJson): string[] {
  if (s.readOnly && s.kept !== undefined) {
    return [s.kept > 0 ? `Kept here (read-only): ${counted(s.kept, 'local change')}, not shared (this join code cannot write)` : 'Kept here (read-only): no local changes'];
  }
  if (s.unacknowledged === undefined) return [];
  return [`Pending:  ${counted(s.unacknowledged, 'local change')} not yet acknowledged by the relay${s.uploading ? `, ${counted(s.uploading, 'item')} still uploading` : ''}`];
}

/**
 * One line per connected peer: its label, its role, and the file and line it is in
 * (`Peers:    alice, sharer, in src/app.ts:12`, the next ones indented below).
 */
function peerLines(peers: NonNullable<StatusJson['peers']>): string[] {
  if (peers.length === 0) return ['Peers:    none'];
  const labels = peerLabels(peers);
  return peers.map((p, i) => {
    const where = p.path !== undefined ? `, in ${gitQuoted(p.path)}${p.line !== undefined ? `:${p.line}` : ''}` : '';
    return `${i === 0 ? 'Peers:' : ''}`.padEnd(10) + `${labels[i]}${p.role ? `, ${p.role}` : ''}${p.readOnly ? ' (read-only)' : ''}${where}`;
  });
}

/**
 * Peers as people tell them apart: by name; by short replica id when a peer has no name;
 * with the short id after the name when two peers share one (`alice (3f2a9c1b)`).
 */
export function peerLabels(peers: readonly { id: string; name: string }[]): string[] {
  const uses = new Map<string, number>();
  for (const p of peers) uses.set(p.name, (uses.get(p.name) ?? 0) + 1);
  return peers.map((p) => {
    const short = shown(p.id.slice(0, 8));
    // 'unknown' is what cshare sends for a replica with no git user.name and no $USER.
    if (p.name.trim() === '' || p.name === 'unknown') return short;
    return (uses.get(p.name) ?? 0) > 1 ? `${shown(p.name)} (${short})` : shown(p.name);
  });
}
