import '../../cli/polyfills.js';
import { CshareError } from '../../core/errors.js';
import { logger } from '../../core/log.js';
import type { FrameChannel } from '../rpc/transport.js';
import { Libp2pChannel } from './Libp2pChannel.js';
import type { Libp2pConnection, PrivateKey } from './types.js';
import { circuitRelayTransport, createLibp2p, identify, multiaddr, noise, tcp, webSockets, yamux, type Libp2p, type Libp2pOptions, type Multiaddr } from './vendor.js';

const log = logger('libp2p');

/** The libp2p protocol id of cshare's RPC stream (one stream per RPC connection). */
export const CSHARE_PROTOCOL = '/cshare/rpc/1.0.0';

/** Options of {@link createCshareNode}. */
export interface CshareNodeOptions {
  /** Multiaddrs to listen on (`['/ip4/127.0.0.1/tcp/0']`; one ending in `/ws` takes WebSockets). */
  listen?: string[];
  /** The node's key (see `loadOrCreateIdentity`); a fresh Ed25519 key, so a new peer id, if absent. */
  privateKey?: PrivateKey;
  /** Load the circuit relay transport, to dial `/p2p-circuit/` addresses and to `reserveOn` a relay (true). */
  relayClient?: boolean;
  /** Largest frame of a channel; see `Libp2pChannelOptions.maxFrameBytes`. */
  maxFrameBytes?: number;
  /** Aborting stops the node; an already aborted signal makes creation fail. */
  signal?: AbortSignal;
}

/** Who opened an incoming channel. */
export interface RemotePeer {
  peerId: string;
  /** True if the connection is limited (a relay that imposes data or time limits). */
  limited: boolean;
}

/** A running libp2p node that speaks cshare's RPC protocol. */
export interface CshareNode {
  /** This node's peer id (`12D3KooW...`). */
  readonly peerId: string;
  /** The underlying libp2p node, for diagnostics and tests; cshare code uses the methods below. */
  readonly libp2p: Libp2p;
  /** The addresses peers can dial, each ending in `/p2p/<peerId>` (circuit ones once `reserveOn` succeeded). */
  addresses(): string[];
  /**
   * Accepts cshare streams: `handler` gets one {@link FrameChannel} per stream a peer opens
   * (wrap it in an `RpcConnection`). Streams over limited relayed connections are accepted too.
   * Call once.
   */
  listen(handler: (channel: FrameChannel, remote: RemotePeer) => void): Promise<void>;
  /** Opens a cshare stream to `addr` (direct, or `<relay>/p2p-circuit/p2p/<id>`). */
  dial(addr: string, opts?: { signal?: AbortSignal }): Promise<FrameChannel>;
  /**
   * Makes this node reachable through the relay at `relayAddr` (which must end in
   * `/p2p/<relayId>`): reserves a slot and listens on `<relayAddr>/p2p-circuit`. Resolves with
   * this node's circuit addresses through that relay.
   */
  reserveOn(relayAddr: string, opts?: { signal?: AbortSignal }): Promise<string[]>;
  /** Closes every connection and stops listening. Idempotent. */
  stop(): Promise<void>;
}

/**
 * How long stopping libp2p may take. Its stop was seen (chaos run, a joiner on SIGTERM) to wait
 * forever with nothing left that could wake it: Node then ended the process with exit code 13
 * after everything of cshare's own was already closed.
 */
export const STOP_TIMEOUT_MS = 5000;

/**
 * New inbound connections a node accepts a second from one host. libp2p's default, 5, reset
 * the connections of a few joins made at once from one machine (each join, or dry run, makes
 * two: the folder's name, then the join), as a classroom or a CI runner behind one address
 * would. What one host can do is bounded by cshare's own limits instead: connections per peer,
 * connections that have not said hello, new shares per peer and in all (see `sessions.ts`,
 * `admission.ts`).
 */
export const INBOUND_PER_HOST_PER_SECOND = 50;

/**
 * Resolves when `work` settles (rejecting as it does), or after `ms` (calling `onLate`) if it
 * has not: the timer keeps the process alive meanwhile, and is cleared when `work` settles.
 */
export function settleWithin(work: Promise<void>, ms: number, onLate: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onLate();
      resolve();
    }, ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** What the `cshareInternals` service exposes of libp2p's components (not on the public API). */
interface Internals {
  listen(addrs: Multiaddr[]): Promise<void>;
}

/**
 * Creates and starts a libp2p node for cshare: TCP, Noise, Yamux, identify, and (with
 * `relayClient`) the circuit relay v2 transport, to dial and listen through someone else's relay.
 *
 * Listens and dials over TCP and WebSockets (`/ws` addresses, for networks that pass only
 * HTTP ports). Dialing a WebSocket needs a global `WebSocket`: Node 22 has one; on Node 20 the
 * `ws` package's client stands in for it.
 */
export async function createCshareNode(opts: CshareNodeOptions = {}): Promise<CshareNode> {
  opts.signal?.throwIfAborted();
  const listen = opts.listen ?? ['/ip4/127.0.0.1/tcp/0'];
  const relayClient = opts.relayClient ?? true;
  for (const a of listen) parseAddress(a, 'listen address');
  const node = await startLibp2p({ privateKey: opts.privateKey, listen, relayClient });
  return new RunningNode(node, { relayClient, maxFrameBytes: opts.maxFrameBytes, signal: opts.signal });
}

/** Starts libp2p with cshare's transports and services on `listen`. */
async function startLibp2p(opts: { privateKey?: PrivateKey; listen: string[]; relayClient: boolean }): Promise<Libp2p> {
  const { listen, relayClient } = opts;
  const services: Libp2pOptions['services'] = {
    identify: identify(),
    // libp2p keeps the transport manager off its public API; reserveOn needs its `listen`.
    cshareInternals: (components: { transportManager: Internals }): Internals => ({
      listen: (addrs) => components.transportManager.listen(addrs),
    }),
  };
  // No circuit relay server: cshare's relay is an RPC service that peers talk to, never a hop
  // between two peers, and a libp2p circuit relay it also ran let any two strangers push
  // unlimited traffic through it (issue 15, item 9).

  await ensureWebSocket();
  const started = Date.now();
  let node: Libp2p;
  try {
    node = await createLibp2p({
      privateKey: opts.privateKey,
      addresses: { listen },
      transports: relayClient ? [tcp(), webSockets(), circuitRelayTransport()] : [tcp(), webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: { inboundConnectionThreshold: INBOUND_PER_HOST_PER_SECOND },
      services,
    });
  } catch (err) {
    throw new CshareError('IO', `cannot start the libp2p node on ${listen.join(', ')}: ${(err as Error).message}`, { listen }, { cause: err });
  }
  log('started %s in %d ms on %o', node.peerId.toString(), Date.now() - started, node.getMultiaddrs().map(String));
  return node;
}

/** A started node: cshare's streams in and out, reservations on relays, and its stop. */
class RunningNode implements CshareNode {
  readonly peerId: string;
  private stopping: Promise<void> | undefined;
  private readonly onAbort: () => void;

  constructor(
    readonly libp2p: Libp2p,
    private readonly opts: { relayClient: boolean; maxFrameBytes?: number; signal?: AbortSignal },
  ) {
    this.peerId = libp2p.peerId.toString();
    this.onAbort = () => void this.stopOnce().catch((err: unknown) => log('stopping %s failed: %s', this.peerId, (err as Error).message));
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  addresses(): string[] {
    return this.libp2p.getMultiaddrs().map(String);
  }

  async listen(handler: (channel: FrameChannel, remote: RemotePeer) => void): Promise<void> {
    await this.libp2p.handle(
      CSHARE_PROTOCOL,
      (stream, connection) => {
        const remote = remotePeer(connection);
        log('%s: incoming stream from %s%s', this.peerId, remote.peerId, remote.limited ? ' (limited)' : '');
        const channel = new Libp2pChannel(stream, this.channelOpts(remote.peerId));
        try {
          handler(channel, remote);
        } catch (err) {
          // A throwing handler is a bug in the caller; the peer sees the stream close.
          log('%s: handler for a stream from %s threw: %O', this.peerId, remote.peerId, err);
          channel.close(err instanceof Error ? err : new Error(String(err)));
        }
      },
      { runOnLimitedConnection: true },
    );
  }

  async dial(addr: string, dialOpts: { signal?: AbortSignal } = {}): Promise<FrameChannel> {
    dialOpts.signal?.throwIfAborted();
    const ma = parseAddress(addr, 'address');
    const t0 = Date.now();
    try {
      const stream = await this.libp2p.dialProtocol(ma, CSHARE_PROTOCOL, { signal: dialOpts.signal, runOnLimitedConnection: true });
      const remote = lastPeerId(ma) ?? 'peer';
      log('%s: dialled %s in %d ms', this.peerId, addr, Date.now() - t0);
      return new Libp2pChannel(stream, this.channelOpts(remote));
    } catch (err) {
      if (dialOpts.signal?.aborted) throw dialOpts.signal.reason;
      throw new CshareError('CONNECTION_CLOSED', `cannot connect to ${addr}: ${(err as Error).message}`, { address: addr }, { cause: err });
    }
  }

  async reserveOn(relayAddr: string, reserveOpts: { signal?: AbortSignal } = {}): Promise<string[]> {
    reserveOpts.signal?.throwIfAborted();
    const relay = parseAddress(relayAddr, 'relay address');
    const relayId = lastPeerId(relay);
    if (!relayId) throw new CshareError('USAGE', `relay address ${relayAddr} must end in /p2p/<relay peer id>`, { address: relayAddr });
    if (!this.opts.relayClient) throw new CshareError('USAGE', 'reserveOn needs a node created with relayClient: true');
    const t0 = Date.now();
    try {
      // The listener dials the relay, makes the reservation and adds the circuit addresses
      // before `listen` resolves. It has its own timeout (10 s); the signal cannot cut it short.
      const internals = this.libp2p.services.cshareInternals as Internals;
      await abortable(internals.listen([relay.encapsulate('/p2p-circuit')]), reserveOpts.signal);
    } catch (err) {
      if (reserveOpts.signal?.aborted) throw reserveOpts.signal.reason;
      throw new CshareError('CONNECTION_CLOSED', `cannot reserve a slot on relay ${relayAddr}: ${(err as Error).message}`, { address: relayAddr }, { cause: err });
    }
    const circuit = this.addresses().filter((a) => a.includes(`/p2p/${relayId}/p2p-circuit/`));
    if (circuit.length === 0) throw new CshareError('INTERNAL', `reserved a slot on ${relayAddr} but got no circuit address`, { address: relayAddr });
    log('%s: reserved on %s in %d ms: %o', this.peerId, relayAddr, Date.now() - t0, circuit);
    return circuit;
  }

  async stop(): Promise<void> {
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    await this.stopOnce();
  }

  /** Stops libp2p once, giving up waiting after {@link STOP_TIMEOUT_MS}. */
  private stopOnce(): Promise<void> {
    this.stopping ??= settleWithin(
      Promise.resolve(this.libp2p.stop()).then(() => log('stopped %s', this.peerId)),
      STOP_TIMEOUT_MS,
      () => log('stopping %s took over %d ms; going on without it', this.peerId, STOP_TIMEOUT_MS),
    );
    return this.stopping;
  }

  private channelOpts(remote: string): { peer: string; maxFrameBytes?: number } {
    return { peer: remote, maxFrameBytes: this.opts.maxFrameBytes };
  }
}

/** `addr` as a multiaddr, or `USAGE` naming it as `what`. */
function parseAddress(addr: string, what: string): Multiaddr {
  try {
    return multiaddr(addr);
  } catch (err) {
    throw new CshareError('USAGE', `invalid ${what} ${JSON.stringify(addr)}: ${(err as Error).message}`, { address: addr }, { cause: err });
  }
}

/** The last `/p2p/<id>` of an address: the peer it reaches (after a circuit, the target, not the relay). */
function lastPeerId(ma: Multiaddr): string | undefined {
  return ma
    .getComponents()
    .filter((c) => c.name === 'p2p')
    .at(-1)?.value;
}

function remotePeer(connection: Libp2pConnection): RemotePeer {
  return { peerId: connection.remotePeer.toString(), limited: connection.limits != null };
}

/** Rejects with the signal's reason when it aborts (the work itself goes on in the background). */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Gives the runtime a global `WebSocket` if it has none (Node 20), for dialing `/ws` addresses. */
async function ensureWebSocket(): Promise<void> {
  const g = globalThis as { WebSocket?: unknown };
  if (typeof g.WebSocket === 'function') return;
  const { WebSocket } = await import('ws');
  g.WebSocket = WebSocket;
}
