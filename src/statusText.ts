import type { StatusJson } from './commands/status.js';
import { shown } from './core/display.js';

/** What the human form of `status` needs to colour; chalk, or plain text. */
export interface StatusColors {
  bold(s: string): string;
  yellow(s: string): string;
}

/** How each source of a refused path is named in the list. */
const SOURCES = { local: 'refused', relay: 'relay', peer: 'from peer' } as const;

/** `cshare status` for people: the worktree, the replica, sharing, and the changes. */
export function formatStatus(s: StatusJson, c: StatusColors): string {
  const lines = [
    `Worktree: ${shown(s.root)}`,
    `Replica:  ${shown(s.replica.name)} (${shown(s.replica.id)})`,
    `Sharing:  ${s.sharing}${s.relay ? ` via ${s.relay[0]}` : ''}${s.connected === false ? ' (reconnecting)' : ''}`,
    ...(s.codes ? [`Join:     cshare join ${s.codes.readWrite}`, `          cshare join ${s.codes.readOnly} (read-only)`] : []),
    ...(s.peers ? [`Peers:    ${s.peers.length ? s.peers.map((p) => shown(p.name)).join(', ') : 'none'}`] : []),
    ...(s.unacknowledged !== undefined ? [`Pending:  ${s.unacknowledged} local change(s) not yet acknowledged by the relay${s.uploading ? `, ${s.uploading} item(s) still uploading` : ''}`] : []),
    `Files:    ${s.files} tracked, store ${(s.storeBytes / 1024).toFixed(0)} KiB`,
  ];
  if (s.changed.length === 0) lines.push('No changes since the last scan.');
  else {
    lines.push(`Changes not yet recorded (run ${c.bold('cshare scan')}):`);
    for (const ch of s.changed) lines.push(`  ${c.yellow(ch.change.padEnd(9))} ${ch.from ? `${shown(ch.from)} -> ` : ''}${shown(ch.path)}`);
  }
  // Older running processes answer without the list.
  const refused = s.refused ?? [];
  if (refused.length > 0) {
    lines.push(`Not shared (${refused.length}):`);
    for (const r of refused) lines.push(`  ${c.yellow(SOURCES[r.source].padEnd(9))} ${JSON.stringify(r.path)}: ${r.reason}`);
  }
  return `${lines.join('\n')}\n`;
}
