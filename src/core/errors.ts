/**
 * Errors with a stable `code`. Every failure that reaches a user goes through
 * {@link CshareError}; `--json` prints `{ ok: false, code, message }` and the process exits
 * with the code from {@link EXIT_CODES}. On the wire an error is `{ code, message }` and any
 * unknown code becomes `INTERNAL`.
 */

/** Stable error codes, each with its process exit code. */
export const EXIT_CODES = {
  INTERNAL: 1,
  USAGE: 2,
  NOT_A_WORKTREE: 3,
  NOT_A_DIRECTORY: 3,
  NOT_FOUND: 4,
  STORE_CORRUPT: 5,
  STORE_LOCKED: 6,
  IO: 7,
  NOTHING_TO_UNDO: 8,
  NOTHING_TO_REDO: 8,
  UNDO_CONFLICT: 9,
  BAD_PATH: 10,
  TOO_LARGE: 11,
  CONFIRM_REQUIRED: 16,
  WOULD_OVERWRITE: 17,
  NOT_SHARING: 18,
  /** The connection to a peer or relay dropped (pending requests reject with this). */
  CONNECTION_CLOSED: 12,
  /** A peer or relay did not answer in time. */
  TIMEOUT: 12,
  /** A peer sent a malformed frame or speaks another protocol version. */
  PROTOCOL: 13,
  /** A frame was over the size limit; the connection is closed. */
  FRAME_TOO_LARGE: 13,
  /**
   * A peer does not know (or does not serve) a message of that name: a bug in one of them, as
   * both speak one protocol version. Its own code so that a caller need not read the text.
   */
  UNKNOWN_MESSAGE: 13,
  /** The join code's secret was missing or wrong. */
  UNAUTHORIZED: 14,
  /** The caller may not do this (for example a write with a read-only code). */
  FORBIDDEN: 14,
  /** A bounded queue or limit was full (too many subscriptions, a consumer too slow). */
  OVERLOADED: 15,
} as const;

/** One of the stable error codes. */
export type ErrorCode = keyof typeof EXIT_CODES;

/** An error a user can act on: a stable code, a message that says what to do, and data. */
export class CshareError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, data: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CshareError';
    this.code = code;
    this.data = data;
  }

  /** The exit code for this error's code. */
  get exitCode(): number {
    return EXIT_CODES[this.code];
  }

  toJSON(): { ok: false; code: ErrorCode; message: string; data?: Record<string, unknown> } {
    const out: { ok: false; code: ErrorCode; message: string; data?: Record<string, unknown> } = {
      ok: false,
      code: this.code,
      message: this.message,
    };
    if (Object.keys(this.data).length > 0) out.data = this.data;
    return out;
  }
}

/** Is `code` one of the known error codes (for errors that arrive from elsewhere)? */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(EXIT_CODES, code);
}

/** Turns anything thrown into a {@link CshareError}; unknown errors become `INTERNAL`. */
export function toCshareError(err: unknown): CshareError {
  if (err instanceof CshareError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new CshareError('INTERNAL', message, {}, { cause: err });
}
