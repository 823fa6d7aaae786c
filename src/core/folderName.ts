/**
 * The folder a `join` without a folder argument makes, named after the shared worktree as
 * `git clone` names its folder after the repository. The name comes from the sharer (through
 * the relay), so it is a hostile peer's to choose: it is used only if it is one plain name
 * that stays in the current folder and shows as it is; anything else falls back to a name of
 * cshare's own.
 */

/** Longest name taken (the sharer sends at most 100 characters); a longer one is not cshare's. */
export const MAX_FOLDER_NAME = 100;

/**
 * Characters that never go into a folder name from a peer: C0 and C1 controls, DEL, and the
 * Unicode controls that reorder or hide what is shown (bidirectional overrides and isolates,
 * zero-width characters, line and paragraph separators, the byte-order mark).
 */
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

/**
 * `name` if it is safe as the name of a new folder in the current one, else undefined: not
 * empty, at most {@link MAX_FOLDER_NAME} characters and 255 bytes, one path segment (no `/`
 * or `\`), no control or invisible character, and not starting with `.` (which covers `.`,
 * `..`, `.git`, `.cshare` and hidden folders), `-` (read as an option by the next command
 * typed) or `~`, nor starting or ending with white space.
 */
export function safeFolderName(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_FOLDER_NAME) return undefined;
  if (new TextEncoder().encode(name).byteLength > 255) return undefined;
  if (/[/\\]/.test(name) || UNSAFE.test(name)) return undefined;
  if (/^[.\-~]/.test(name) || name.trim() !== name) return undefined;
  return name;
}

/** The name a join falls back to: the worktree id's first 8 characters, as before. */
export function fallbackFolderName(worktreeId: string): string {
  return `cshare-${worktreeId.slice(0, 8)}`;
}

/**
 * The first of `base`, `base-2`, `base-3`... for which `taken` is false (as `git clone` would
 * refuse a taken folder, a join takes the next free name instead); up to `base-999`.
 */
export function freeFolderName(base: string, taken: (name: string) => boolean): string | undefined {
  for (let n = 1; n < 1000; n++) {
    const name = n === 1 ? base : `${base}-${n}`;
    if (!taken(name)) return name;
  }
  return undefined;
}
