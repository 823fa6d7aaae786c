import { CshareError } from '../../core/errors.js';

/** A Node error's `code` (`ENOENT`, ...), if it has one. */
export function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** Wraps a node error as `IO` with the path in the message and the data. */
export function ioError(what: string, path: string, err: unknown): CshareError {
  const code = errCode(err);
  const detail = err instanceof Error ? err.message : String(err);
  return new CshareError('IO', `Cannot ${what} ${path}: ${detail}`, { path, ...(code ? { errno: code } : {}) }, { cause: err });
}
