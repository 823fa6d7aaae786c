import ignore, { type Ignore } from 'ignore';

/**
 * Files that are never shared, even when git tracks them, because they usually hold
 * credentials. A user opts one back in with a root `.cshareinclude` (gitignore syntax).
 * All of them are basename patterns, so they apply at any depth.
 */
export const SECRET_PATTERNS: readonly string[] = [
  '.env',
  '.env.*',
  '*.pem',
  '*.key',
  '*.p12',
  'id_rsa*',
  'id_ed25519*',
  '.npmrc',
  '.netrc',
  '.pypirc',
  'credentials.json',
];

const EXACT = new Set(['.env', '.npmrc', '.netrc', '.pypirc', 'credentials.json']);

/**
 * Does a file named `name` match {@link SECRET_PATTERNS}? Hand-written rather than run
 * through `ignore`, because it is asked for every file of every scan and a few string
 * tests cost nanoseconds. The test suite checks it against the patterns.
 */
export function isSecretName(name: string): boolean {
  // Every pattern starts with '.', 'i' or 'c', or ends with 'm', 'y' or '2': most names
  // are turned away by two character tests.
  const first = name.charCodeAt(0);
  const last = name.charCodeAt(name.length - 1);
  if (first !== 46 /* . */ && first !== 105 /* i */ && first !== 99 /* c */ && last !== 109 /* m */ && last !== 121 /* y */ && last !== 50 /* 2 */) return false;
  if (EXACT.has(name)) return true;
  if (name.startsWith('.env.') || name.startsWith('id_rsa') || name.startsWith('id_ed25519')) return true;
  return name.endsWith('.pem') || name.endsWith('.key') || name.endsWith('.p12');
}

/** The secret deny-list, with the worktree's `.cshareinclude` exceptions. */
export class SecretFilter {
  private readonly include: Ignore | undefined;

  /** `includeText` is the content of the root `.cshareinclude`, if any. */
  constructor(includeText?: string) {
    const lines = includeText?.replace(/^\uFEFF/, '').split(/\r?\n/) ?? [];
    this.include = lines.some((l) => l.trim() !== '' && !l.startsWith('#')) ? ignore({ ignorecase: false }).add(lines) : undefined;
  }

  /**
   * Is the file at `path` (whose last segment is `name`) a secret that must not be shared?
   * `.cshareinclude` is matched with parent directories, so `config/` there re-admits
   * `config/.env`.
   */
  isSecret(path: string, name: string): boolean {
    if (!isSecretName(name)) return false;
    return !this.includes(path);
  }

  /** Does `.cshareinclude` re-admit `path` (a secret, or an editor's scratch file)? */
  includes(path: string): boolean {
    return this.include !== undefined && this.include.ignores(path);
  }
}
