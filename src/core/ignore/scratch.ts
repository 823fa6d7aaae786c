/**
 * Editor and operating-system scratch files: swap files, backups, lock files and folder
 * metadata that editors and file managers write beside the files a user edits. They are never
 * shared by default (vim on the other side shows E325 for a swap file of a process on another
 * machine, and each would be stored forever); a root `.cshareinclude` re-admits one, and a
 * file git tracks or that a peer shares is shared whatever its name (as with any ignore rule).
 */

/** The default list, in gitignore syntax (documented in the README). */
export const SCRATCH_PATTERNS: readonly string[] = [
  '*.swp', // vim swap files (.name.swp, and name.swp with 'directory' set elsewhere)
  '*.swo',
  '*.swn',
  '*~', // vim and emacs backups
  '4913', // vim's probe that it may write in a directory
  '.#*', // emacs lock files
  '\\#*#', // emacs auto-save files (the backslash: a line starting with # is a comment)
  '*.kate-swp',
  '.*.un~', // vim undo files
  '*___jb_tmp___', // JetBrains safe-write temp files
  '*___jb_old___',
  '.DS_Store',
  '._*', // macOS resource forks on foreign file systems
  'Thumbs.db',
  'desktop.ini',
];

const EXACT = new Set(['4913', '.DS_Store', 'Thumbs.db', 'desktop.ini']);

/**
 * Does a file named `name` match {@link SCRATCH_PATTERNS}? Hand-written like `isSecretName`,
 * since it is asked for every untracked file of every scan; the tests check it against the
 * patterns through the `ignore` package.
 */
export function isScratchName(name: string): boolean {
  const n = name.length;
  if (n === 0) return false;
  const first = name.charCodeAt(0);
  const last = name.charCodeAt(n - 1);
  if (last === 126 /* ~ */) return true;
  if (first === 35 /* # */ && last === 35 && n > 1) return true;
  if (first === 46 /* . */ && (name.startsWith('.#') || name.startsWith('._'))) return true;
  if (EXACT.has(name)) return true;
  if (last === 112 /* p */ || last === 111 /* o */ || last === 110 /* n */) {
    if (name.endsWith('.swp') || name.endsWith('.swo') || name.endsWith('.swn') || name.endsWith('.kate-swp')) return true;
  }
  if (last === 95 /* _ */ && (name.endsWith('___jb_tmp___') || name.endsWith('___jb_old___'))) return true;
  return false;
}
