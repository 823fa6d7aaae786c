import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { CshareError } from '../core/errors.js';
import { logger } from '../core/log.js';

const log = logger('listen');

/** File of a data directory (beside `identity.key`) that holds the addresses listened on first. */
export const LISTEN_FILE = 'listen.json';

/** A stored address that could not be listened on again, and what replaced it. */
export interface MovedAddress {
  /** The address listened on before (in `listen.json`). */
  stored: string;
  /** The address listened on now. */
  now: string;
  /** Why the stored one could not be used (`port 4001 is in use by another program`). */
  reason: string;
}

/** What {@link planListen} decided. */
export interface ListenPlan {
  /** Concrete addresses to listen on: every TCP port chosen (none is 0). */
  listen: string[];
  /** Stored addresses that were taken, each replaced by a free port (a notice for the user). */
  moved: MovedAddress[];
  /**
   * Addresses to write to {@link LISTEN_FILE} once listening succeeded: the first ones chosen
   * (no file yet) or the ones asked for explicitly; undefined when the file stays as it is.
   */
  store?: string[];
}

/** Options of {@link planListen}. */
export interface PlanListenOptions {
  /** The data directory that holds (or will hold) {@link LISTEN_FILE}. */
  dataDir: string;
  /** Addresses asked for explicitly (`--listen`); they replace the stored ones. */
  requested?: string[];
  /** Addresses to start from when nothing was asked for and nothing is stored. */
  defaults: string[];
}

/**
 * Chooses the addresses a relay listens on so that its address, and every join code that
 * holds it, survives restarts: a port of 0 (any free port) is turned into a concrete free port
 * the first time, and those addresses are stored beside the node's identity and listened on
 * again at every later start without `--listen`. A stored port another program took meanwhile
 * is replaced by a free one and reported in `moved` (the file keeps the first one, so the old
 * codes work again once the port is free).
 */
export async function planListen(opts: PlanListenOptions): Promise<ListenPlan> {
  if (opts.requested && opts.requested.length > 0) {
    const listen = await concreteAll(opts.requested);
    return { listen, moved: [], store: listen };
  }
  const stored = await readStored(join(opts.dataDir, LISTEN_FILE));
  if (!stored) {
    const listen = await concreteAll(opts.defaults);
    return { listen, moved: [], store: listen };
  }
  const taken: boolean[] = [];
  for (const addr of stored) {
    const tcp = parseTcp(addr);
    taken.push(tcp !== undefined && tcp.port !== 0 && !(await isFree(tcp.host, tcp.port)));
  }
  const listen = await concreteAll(stored.map((addr, i) => (taken[i] ? withPort(addr, parseTcp(addr)!, 0) : addr)));
  const moved: MovedAddress[] = [];
  stored.forEach((addr, i) => {
    if (!taken[i]) return;
    log('stored address %s is taken; listening on %s', addr, listen[i]);
    moved.push({ stored: addr, now: listen[i]!, reason: `port ${parseTcp(addr)!.port} is in use by another program` });
  });
  return { listen, moved };
}

/** Stores `addresses` in `<dataDir>/listen.json` (a synced temp file renamed into place, mode 0600). */
export async function storeListen(dataDir: string, addresses: string[]): Promise<void> {
  const path = join(dataDir, LISTEN_FILE);
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify({ listen: addresses }, null, 2)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch((e: unknown) => log('could not remove %s: %s', tmp, (e as Error).message));
    throw new CshareError('IO', `cannot write ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
}

/** The stored addresses, or undefined if there is no file. */
async function readStored(path: string): Promise<string[] | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CshareError('IO', `cannot read ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
  let listen: unknown;
  try {
    listen = (JSON.parse(text) as { listen?: unknown }).listen;
  } catch (err) {
    throw new CshareError('STORE_CORRUPT', `${path} is not valid JSON; remove it to listen on new ports (join codes that name the old ones stop working)`, { path }, { cause: err });
  }
  if (!Array.isArray(listen) || listen.length === 0 || !listen.every((a) => typeof a === 'string')) {
    throw new CshareError('STORE_CORRUPT', `${path} does not hold a list of addresses; remove it to listen on new ports`, { path });
  }
  return listen as string[];
}

interface TcpAddr {
  host: string;
  port: number;
  /** Where the port is in the address's `/`-separated parts. */
  portIndex: number;
}

/** Host and TCP port of `/ip4/<host>/tcp/<port>...` or `/ip6/<host>/tcp/<port>...`; undefined for anything else. */
function parseTcp(addr: string): TcpAddr | undefined {
  const parts = addr.split('/');
  if (parts[0] !== '' || (parts[1] !== 'ip4' && parts[1] !== 'ip6') || parts[3] !== 'tcp') return undefined;
  const port = Number(parts[4]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  return { host: parts[2]!, port, portIndex: 4 };
}

function withPort(addr: string, tcp: TcpAddr, port: number): string {
  const parts = addr.split('/');
  parts[tcp.portIndex] = String(port);
  return parts.join('/');
}

/**
 * `addrs` with every port of 0 replaced by a port that is free now; other addresses as they
 * are. The ports are held until all are chosen, so two addresses never get the same one.
 */
async function concreteAll(addrs: readonly string[]): Promise<string[]> {
  const held: Server[] = [];
  try {
    const out: string[] = [];
    for (const addr of addrs) {
      const tcp = parseTcp(addr);
      if (!tcp || tcp.port !== 0) {
        out.push(addr);
        continue;
      }
      const server = await listenOnFreePort(tcp.host);
      held.push(server);
      out.push(withPort(addr, tcp, (server.address() as { port: number }).port));
    }
    return out;
  } finally {
    await Promise.all(held.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/** A server listening on a port the kernel chose on `host` (the caller closes it). */
function listenOnFreePort(host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err) => reject(new CshareError('IO', `cannot listen on ${host}: ${err.message}`, { host }, { cause: err })));
    server.listen(0, host, () => resolve(server));
  });
}

/** Can `host:port` be listened on now? Only "in use" says no; any other failure is left to libp2p to report. */
function isFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      log('probing %s:%d: %s', host, port, err.code);
      resolve(err.code !== 'EADDRINUSE');
    });
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
