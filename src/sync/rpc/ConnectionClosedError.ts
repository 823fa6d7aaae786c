import { CshareError } from '../../core/errors.js';

/**
 * What every pending request, stream and subscription rejects with when its connection
 * drops. `cause` is the reason the connection closed, when there was one.
 */
export class ConnectionClosedError extends CshareError {
  constructor(peer: string, reason?: Error) {
    super(
      'CONNECTION_CLOSED',
      reason ? `connection to ${peer} closed: ${reason.message}` : `connection to ${peer} closed`,
      reason instanceof CshareError ? { reason: reason.code } : {},
      { cause: reason },
    );
    this.name = 'ConnectionClosedError';
  }
}
