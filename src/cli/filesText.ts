import { nestedRepoLine, type FilesList } from '../core/filesList.js';
import { shown, shownText } from '../core/display.js';

/** The colours `files` uses for people. */
export interface FilesColors {
  dim: (s: string) => string;
  yellow: (s: string) => string;
  red: (s: string) => string;
  cyan: (s: string) => string;
}

/**
 * `cshare files` for people: one line per file (mode, kind, size, digest, path), then what is
 * held back (with `--excluded`), the git repositories inside the tree (always: a whole
 * repository shared or left out is news) and what could not be read. Shared by the command and its
 * early answer (`status/filesFast.ts`), which must print the same.
 */
export function formatFiles(list: FilesList, color: FilesColors): string {
  const out: string[] = [];
  for (const f of list.files) out.push(`${f.mode} ${f.kind.padEnd(7)} ${String(f.size).padStart(10)} ${color.dim(f.digest)}  ${shown(f.path)}`);
  for (const e of list.excluded ?? []) out.push(`${color.yellow(`excluded (${e.reason})`)}  ${shown(e.path)}`);
  for (const n of list.nested ?? []) out.push(`${color.cyan('note')}  ${shownText(nestedRepoLine(n))}`);
  for (const e of list.errors) out.push(`${color.red('error')}  ${shown(e.path)}: ${shownText(e.message)}`);
  return out.length ? `${out.join('\n')}\n` : '';
}
