import createDebug from 'debug';

/**
 * The one scoped debug logger: `DEBUG=cshare:*` turns it on. Nothing in cshare logs through
 * `console`; user-facing output is the commands' job.
 */
export function logger(scope: string): createDebug.Debugger {
  return createDebug(`cshare:${scope}`);
}
