import { CshareError, toCshareError } from '../core/errors.js';
import type { CshareNode } from './libp2p/Libp2pNode.js';
import { multiaddr } from './libp2p/vendor.js';

/** What a relay address looks like, for messages (`cshare relay` prints the real one). */
export const RELAY_ADDRESS_EXAMPLE = '/ip4/203.0.113.7/tcp/4001/p2p/12D3KooW...';

/**
 * Checks a relay address given on the command line (`share --relay`) before anything runs: a
 * multiaddr that ends in the relay's peer id, as `cshare relay` prints it. `localhost:4001`
 * or a URL would otherwise fail at every connection attempt, for ever.
 */
export function checkRelayAddress(text: string): void {
  const hostPort = /^(?:[a-z]+:\/\/)?([^/:\s]+):(\d+)\/?$/i.exec(text.trim());
  const like = hostPort ? `/${/^\d+\.\d+\.\d+\.\d+$/.test(hostPort[1]!) ? 'ip4' : 'dns4'}/${hostPort[1]}/tcp/${hostPort[2]}/p2p/<relay peer id>` : RELAY_ADDRESS_EXAMPLE;
  const usage = (why: string) =>
    new CshareError('USAGE', `--relay ${JSON.stringify(text)} ${why}: give the address cshare relay printed, such as ${like} (cshare relay prints it with its peer id)`, { relay: text });
  if (!text.startsWith('/')) throw usage('is not a relay address (a multiaddr)');
  let parts: { name?: string }[];
  try {
    parts = multiaddr(text).getComponents();
  } catch (err) {
    throw usage(`is not a valid multiaddr (${(err as Error).message})`);
  }
  if (parts.at(-1)?.name !== 'p2p') throw usage("does not end in the relay's peer id (/p2p/12D3KooW...)");
  if (!parts.some((p) => p.name === 'tcp')) throw usage('names no TCP port');
}

/** Default of {@link connectTimeoutMs}, in seconds. */
export const CONNECT_TIMEOUT_S = 30;

/**
 * How long a `share` or `join` tries to make its first connection before it gives up with
 * exit code 12: {@link CONNECT_TIMEOUT_S}, or `CSHARE_CONNECT_TIMEOUT` (seconds).
 */
export function connectTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const s = Number(env.CSHARE_CONNECT_TIMEOUT);
  return (env.CSHARE_CONNECT_TIMEOUT !== undefined && Number.isFinite(s) && s >= 0 ? s : CONNECT_TIMEOUT_S) * 1000;
}

/**
 * Why a dial failed, without the address (the message names it once): the system's reason in
 * words when it is a known one, else libp2p's message with the address taken out.
 */
export function dialReason(err: unknown, addr: string): string {
  const cause = (err as { cause?: unknown })?.cause ?? err;
  const text = cause instanceof Error ? cause.message : String(cause);
  const errno = /\b(ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|ECONNRESET)\b/.exec(text)?.[1];
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused, nothing listens there',
    ETIMEDOUT: 'no answer, timed out',
    EHOSTUNREACH: 'the host is unreachable',
    ENETUNREACH: 'the network is unreachable',
    ENOTFOUND: 'the host name is unknown',
    EAI_AGAIN: 'the host name could not be looked up',
    ECONNRESET: 'the connection was reset',
  };
  if (errno) return words[errno]!;
  let out = text;
  for (const form of addressForms(addr)) out = out.split(form).join('').replace(/\s+:/g, ':');
  return out.replace(/^((cannot connect to|connection error)\s*:?\s*)+/i, '').replace(/^[:\s]+/, '') || 'no connection';
}

/** The ways an address shows up in libp2p's messages: whole, and as host:port. */
function addressForms(addr: string): string[] {
  const m = /^\/(?:ip4|ip6|dns4|dns6|dns)\/([^/]+)\/tcp\/(\d+)/.exec(addr);
  return m ? [addr, `${m[1]}:${m[2]}`] : [addr];
}

/** Dials the first relay address that answers; each address is named once in the error. */
export async function dialAny(node: CshareNode, addrs: string[], signal: AbortSignal) {
  const failures: string[] = [];
  let last: unknown;
  for (const addr of addrs) {
    try {
      return await node.dial(addr, { signal });
    } catch (err) {
      // A malformed address is the user's to fix, not an outage to wait out.
      if (toCshareError(err).code === 'USAGE') throw err;
      last = err;
      failures.push(dialReason(err, addr));
    }
  }
  const where = addrs.length === 1 ? `${addrs[0]}: ${failures[0]}` : addrs.map((a, i) => `${a} (${failures[i]})`).join(' or ') || 'no address';
  throw new CshareError('CONNECTION_CLOSED', `cannot reach the relay at ${where}`, { relay: addrs }, { cause: last });
}
