/**
 * A stranger flooding a relay, in a process of its own (`node --import tsx flooder.ts
 * <relay> <seconds>`), for the relay resource test: for that long it registers worktrees
 * (new peer ids as it goes), offers missing blobs from several connections, subscribes and
 * unsubscribes, sends offers of deep paths, and starts blob uploads it abandons (it sends
 * 2 MiB of an 8 MiB blob and closes the connection). Prints one JSON summary line at the end.
 */
import '../../src/cli/polyfills.js';
import { createHash, randomBytes } from 'node:crypto';
import { gitBlobId } from '../../src/core/digest.js';
import { hashSecret, newShareSecrets, worktreeIdToString } from '../../src/sync/joinCode.js';
import { createCshareNode, type CshareNode } from '../../src/sync/libp2p/Libp2pNode.js';
import { PROTOCOL_VERSION } from '../../src/sync/schema.js';
import { cshareConnection, type CshareConnection } from '../../src/sync/connection.js';

const [addr, secondsArg] = process.argv.slice(2) as [string, string];
const deadline = Date.now() + Number(secondsArg) * 1000;
const counts: Record<string, number> = {};
const count = (what: string, n = 1) => void (counts[what] = (counts[what] ?? 0) + n);
const outcome = (what: string, err: unknown) => count(`${what}:${(err as { code?: string }).code ?? 'error'}`);

const nodes: CshareNode[] = [];
async function node(): Promise<CshareNode> {
  const n = await createCshareNode({ listen: [], relayClient: false });
  nodes.push(n);
  return n;
}

/** A new connection, dialling again while libp2p turns it away (5 new connections a second from one host). */
async function connect(n: CshareNode): Promise<CshareConnection> {
  for (let attempt = 0; ; attempt++) {
    try {
      return cshareConnection(await n.dial(addr), { peer: 'relay', requestTimeoutMs: 120_000 });
    } catch (err) {
      count('dial-refused');
      if (attempt >= 100) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

interface Wt {
  worktreeId: string;
  readWrite: Uint8Array;
  readOnlyHash: Uint8Array;
}

async function register(conn: CshareConnection, replicaId: string): Promise<Wt> {
  const s = newShareSecrets();
  const wt = { worktreeId: worktreeIdToString(s.worktreeId), readWrite: s.readWrite, readOnlyHash: hashSecret(s.readOnly) };
  await conn.request('hello', {
    protocol: PROTOCOL_VERSION,
    worktreeId: wt.worktreeId,
    secretProof: wt.readWrite,
    replicaId,
    name: replicaId,
    role: 'sharer',
    register: { readOnlyHash: wt.readOnlyHash, name: 'flood' },
  });
  return wt;
}

async function hello(conn: CshareConnection, wt: Wt, replicaId: string): Promise<void> {
  await conn.request('hello', { protocol: PROTOCOL_VERSION, worktreeId: wt.worktreeId, secretProof: wt.readWrite, replicaId, name: replicaId, role: 'joiner' });
}

let seq = 0;
const live = () => Date.now() < deadline;

/** Registrations that end before the relay refused one (it allows a few per peer id and per minute). */
const MAX_REGISTRATIONS = 300;

/**
 * Registrations, from a new peer id every 5 attempts, until the deadline and at least until the
 * relay has refused one: a flooder starved of CPU (a peer id costs a key pair) by other suites
 * on this machine once ended its 15 s without reaching the relay's allowance.
 */
async function registrations(): Promise<void> {
  let n: CshareNode | undefined;
  const refused = () => (counts['register:OVERLOADED'] ?? 0) > 0;
  for (let i = 0; live() || (!refused() && i < MAX_REGISTRATIONS); i++) {
    if (i % 5 === 0) n = await node();
    const conn = await connect(n!);
    await register(conn, `reg${i}`).then(() => count('registered'), (err: unknown) => outcome('register', err));
    conn.close();
  }
}

/** Offers of 4096 missing blobs each, from 4 connections of one worktree. */
async function offers(n: CshareNode, wt: Wt, tag: string): Promise<void> {
  await Promise.all(
    [0, 1, 2, 3].map(async (c) => {
      const conn = await connect(n);
      await hello(conn, wt, `${tag}o${c}`);
      while (live()) {
        const entries = Array.from({ length: 4096 }, () => {
          const k = String(seq++);
          return { path: `o/${k}`, fileId: `f${k}`, digest: createHash('sha1').update(k).digest('hex') };
        });
        await conn.request('manifest/offer', { worktreeId: wt.worktreeId, entries }).then(() => count('offered', 4096), (err: unknown) => outcome('offer', err));
      }
      conn.close();
    }),
  );
}

/** Offers of 3,800 paths of 2,040 segments (the offer that froze the relay for 29 s). */
async function deepOffers(n: CshareNode, wt: Wt, tag: string): Promise<void> {
  const conn = await connect(n);
  await hello(conn, wt, `${tag}deep`);
  const deep = 'a/'.repeat(2040);
  const digest = gitBlobId(new Uint8Array(0));
  while (live()) {
    const entries = Array.from({ length: 3800 }, (_, i) => ({ path: `${deep}f${seq++}`.slice(-4096), fileId: `d${i}`, digest }));
    await conn.request('manifest/offer', { worktreeId: wt.worktreeId, entries }).then(() => count('deep-offers'), (err: unknown) => outcome('deep-offer', err));
  }
  conn.close();
}

/** Subscriptions taken and dropped, 8 at a time. */
async function subscriptions(n: CshareNode, wt: Wt, tag: string): Promise<void> {
  const conn = await connect(n);
  await hello(conn, wt, `${tag}s`);
  while (live()) {
    const subs = Array.from({ length: 8 }, () => conn.subscribe(`/worktrees/${wt.worktreeId}`));
    await Promise.allSettled(subs.map((s) => s.ready));
    count('subscribed', 8);
    for (const s of subs) s.unsubscribe();
  }
  conn.close();
}

/** Blob uploads left after 2 MiB of 8, by closing the connection. */
async function abandoned(n: CshareNode, wt: Wt, tag: string): Promise<void> {
  for (let i = 0; live(); i++) {
    const conn = await connect(n);
    try {
      await hello(conn, wt, `${tag}u${i}`);
      const blob = randomBytes(8 * 1024 * 1024);
      const digest = gitBlobId(blob);
      for (let off = 0; off < 2 * 1024 * 1024; off += 1024 * 1024) {
        await conn.request('blob/upload', { worktreeId: wt.worktreeId, digest, size: blob.length, offset: off, data: blob.subarray(off, off + 1024 * 1024) });
      }
      count('abandoned-bytes', 2 * 1024 * 1024);
    } catch (err) {
      outcome('upload', err);
    } finally {
      conn.close();
    }
  }
}

// The worktrees the flood works in: registered first (within the relay's rate limits).
const base = await node();
const first = await connect(base);
const wts = [await register(first, 'w0')];
const second = await node();
wts.push(await register(await connect(second), 'w1'));
await Promise.all([
  registrations(),
  offers(base, wts[0]!, 'a'),
  offers(second, wts[1]!, 'b'),
  deepOffers(await node(), wts[0]!, 'c'),
  subscriptions(await node(), wts[1]!, 'd'),
  abandoned(await node(), wts[0]!, 'e'),
  abandoned(await node(), wts[1]!, 'f'),
]);
process.stdout.write(`${JSON.stringify(counts)}\n`);
await Promise.all(nodes.map((n) => n.stop()));
process.exit(0);
