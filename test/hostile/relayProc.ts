import '../../src/cli/polyfills.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJoinCode, hashSecret, newShareSecrets, worktreeIdToString, type ShareSecrets } from '../../src/sync/joinCode.js';
import { createCshareNode, type CshareNode } from '../../src/sync/libp2p/Libp2pNode.js';
import { PROTOCOL_VERSION, type HelloResponse, type Role } from '../../src/sync/schema.js';
import { start, until, type Proc } from '../helpers/procs.js';
import { tempDir } from '../helpers/tmp.js';
import { cshareConnection, type CshareConnection } from '../../src/sync/connection.js';

/**
 * Real-process helpers for attacks on a relay: a `cshare relay` process, and hostile clients
 * that dial it over libp2p (each its own peer id) and speak the project's own RPC codec, with
 * whatever payloads they like (the RPC layer validates what it receives, not what it sends).
 */

/** A running `cshare relay --json` process. */
export interface RelayProc {
  proc: Proc;
  /** Its first (TCP) address, ending in `/p2p/<peer id>`. */
  addr: string;
  peerId: string;
  dataDir: string;
  /** Resident memory now, in MiB (from /proc). */
  rssMiB(): number;
  /** Peak resident memory so far, in MiB. */
  peakMiB(): number;
  /** The JSON log lines the relay wrote on stderr so far. */
  events(): Record<string, unknown>[];
}

/** Starts a relay on a free loopback TCP port. */
export async function startRelayProc(opts: { base?: string; args?: string[]; env?: Record<string, string>; dataDir?: string; port?: number } = {}): Promise<RelayProc> {
  const base = opts.base ?? tempDir('cshare-hostile-relay-');
  const dataDir = opts.dataDir ?? join(base, 'data');
  const proc = start('relay', base, ['relay', '--data', dataDir, '--listen', `/ip4/127.0.0.1/tcp/${opts.port ?? 0}`, ...(opts.args ?? [])], opts.env);
  const l = await proc.line((x) => x.event === 'listening');
  const addr = (l.addresses as string[])[0]!;
  const status = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${proc.child.pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  };
  return {
    proc,
    addr,
    peerId: String(l.peerId),
    dataDir,
    rssMiB: () => status('VmRSS'),
    peakMiB: () => status('VmHWM'),
    events: () => relayEvents(proc),
  };
}

/** The JSON lines a relay started with `--json` logged on stderr. */
export function relayEvents(proc: Proc): Record<string, unknown>[] {
  // Whole lines only: the last piece may still be being written.
  const lines = proc.stderr.split('\n').slice(0, -1);
  return lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A client with its own libp2p identity (peer id). */
export interface Hostile {
  node: CshareNode;
  peerId: string;
  /** A new RPC connection (a new stream) to the relay. */
  connect(opts?: { requestTimeoutMs?: number }): Promise<CshareConnection>;
  stop(): Promise<void>;
}

const nodes = new Set<CshareNode>();

/** A new client node; stopped by {@link stopHostiles}. */
export async function hostile(addr: string): Promise<Hostile> {
  const node = await createCshareNode({ listen: [], relayClient: false });
  nodes.add(node);
  return {
    node,
    peerId: node.peerId,
    connect: async (o = {}) => cshareConnection(await dialRetrying(node, addr), { peer: 'relay', requestTimeoutMs: o.requestTimeoutMs ?? 60_000 }),
    stop: async () => {
      nodes.delete(node);
      await node.stop();
    },
  };
}

/**
 * Dials, trying again for a while when refused: libp2p admits 5 new connections per second
 * from one host, and every client of these tests is on 127.0.0.1.
 */
async function dialRetrying(node: CshareNode, addr: string) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await node.dial(addr);
    } catch (err) {
      if (attempt >= 40) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** A worktree a test knows the secrets of, from a join code (hex id and the code's secret). */
export function fromCode(code: string): { worktreeId: string; secret: Uint8Array; readOnly: boolean } {
  const c = decodeJoinCode(code);
  return { worktreeId: worktreeIdToString(c.worktreeId), secret: c.secret, readOnly: c.readOnly };
}

/** Stops every client node (for afterEach). */
export async function stopHostiles(): Promise<void> {
  stopPingers();
  await Promise.all([...nodes].map((n) => n.stop()));
  nodes.clear();
}

/** A worktree a test registers itself: its id and secrets. */
export interface TestWorktree {
  worktreeId: string;
  secrets: ShareSecrets;
}

/** Fresh worktree secrets. */
export function newWorktree(): TestWorktree {
  const secrets = newShareSecrets();
  return { worktreeId: worktreeIdToString(secrets.worktreeId), secrets };
}

/** Registers (or resumes) `wt` as its sharer on `conn`. */
export function registerAs(conn: CshareConnection, wt: TestWorktree, replicaId = 'mallory', extra: Record<string, unknown> = {}): Promise<HelloResponse> {
  return conn.request('hello', {
    protocol: PROTOCOL_VERSION,
    worktreeId: wt.worktreeId,
    secretProof: wt.secrets.readWrite,
    replicaId,
    name: replicaId,
    role: 'sharer',
    register: { readOnlyHash: hashSecret(wt.secrets.readOnly), name: 'evil', ...extra },
  });
}

/** Says hello to worktree `worktreeId` with `secret` as a joiner (or as `role`). */
export function helloAs(conn: CshareConnection, worktreeId: string, secret: Uint8Array, replicaId: string, role: Role = 'joiner'): Promise<HelloResponse> {
  return conn.request('hello', { protocol: PROTOCOL_VERSION, worktreeId, secretProof: secret, replicaId, name: replicaId, role });
}

/** An honest peer pinging the relay from a process of its own (see `pinger.ts`). */
export interface Pinger {
  /** Pings answered so far. */
  count(): number;
  /** The slowest answer among pings from number `from` on (all by default), in ms. */
  max(from?: number): number;
  stop(): Promise<void>;
}

/**
 * Starts a {@link Pinger}: the slowest answer it sees while an attack runs is the longest the
 * relay's event loop was kept from serving an honest peer. Resolves after its first answer.
 */
export async function startPinger(addr: string): Promise<Pinger> {
  const child = spawn(process.execPath, ['--import', 'tsx', PINGER, addr], { stdio: ['pipe', 'pipe', 'pipe'] });
  const rtts: number[] = [];
  let buf = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      rtts.push((JSON.parse(buf.slice(0, nl)) as { rtt: number }).rtt);
      buf = buf.slice(nl + 1);
    }
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  pingers.add(child);
  await until(() => rtts.length > 0 || child.exitCode !== null, 30_000, () => `the pinger did not answer: ${stderr}`);
  if (rtts.length === 0) throw new Error(`the pinger exited: ${stderr}`);
  return {
    count: () => rtts.length,
    max: (from = 0) => Math.max(0, ...rtts.slice(from)),
    stop: async () => {
      child.stdin!.end();
      await exited;
      pingers.delete(child);
    },
  };
}

const PINGER = fileURLToPath(new URL('./pinger.ts', import.meta.url));
const pingers = new Set<ChildProcess>();

/** Kills every pinger left (for afterEach). */
export function stopPingers(): void {
  for (const c of pingers) c.kill('SIGKILL');
  pingers.clear();
}

/** The error a promise rejects with (fails if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected a rejection');
}

/** Bytes of the files under `dir` (0 if it does not exist). */
export function dirBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += dirBytes(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}
