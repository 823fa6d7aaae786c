/**
 * A relay, a sharer and a joiner as real processes on 127.0.0.1, for the stories in this
 * folder: each story drives the worktrees the way a user would (an editor, git, cp) and looks
 * at the files on disk and at `cshare log`.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cshareJson } from '../../helpers/cli.js';
import { freePort, start, until, type Proc } from '../../helpers/procs.js';
import { tempDir, writeTree } from '../../helpers/tmp.js';

/** The text of `rel` under `root`, or undefined if it is not there. */
export function read(root: string, rel: string): string | undefined {
  try {
    return existsSync(join(root, rel)) ? readFileSync(join(root, rel), 'utf8') : undefined;
  } catch {
    return undefined; // replaced between the check and the read: the caller polls again
  }
}

/** Starts a relay (on a free port, or `port`: the same data and port are the same relay). */
export async function startRelay(base: string, port?: number): Promise<{ proc: Proc; addr: string; port: number }> {
  port ??= await freePort();
  const proc = start('relay', base, ['relay', '--data', join(base, 'relay-data'), '--listen', `/ip4/127.0.0.1/tcp/${port}`]);
  const l = await proc.line((x) => x.event === 'listening');
  return { proc, addr: (l.addresses as string[])[0]!, port };
}

/** What {@link cluster} started. */
export interface Cluster {
  base: string;
  alice: string;
  bob: string;
  relay: { proc: Proc; addr: string; port: number };
  sharer: Proc;
  joiner: Proc;
  codes: { readWrite: string; readOnly: string };
}

/**
 * Alice shares a worktree holding `files` (after `prepare`, e.g. a git init and commit)
 * through a fresh relay; Bob joins it read-write into `bob/`. Resolves once both say so.
 */
export async function cluster(opts: {
  files: Record<string, string | Uint8Array>;
  prepare?: (alice: string) => void;
  /** Prepares Bob's folder before he joins (files of his own, a global excludes file). */
  prepareBob?: (bob: string) => void;
  aliceEnv?: Record<string, string>;
  bobEnv?: Record<string, string>;
  joinArgs?: string[];
}): Promise<Cluster> {
  const base = tempDir('cshare-story-');
  const relay = await startRelay(base);
  const alice = join(base, 'alice');
  const bob = join(base, 'bob');
  mkdirSync(alice, { recursive: true });
  writeTree(alice, opts.files);
  opts.prepare?.(alice);
  const sharer = start('alice', alice, ['share', '--relay', relay.addr], opts.aliceEnv);
  const sharing = await sharer.line((x) => x.event === 'sharing');
  const codes = sharing.codes as Cluster['codes'];
  mkdirSync(bob, { recursive: true });
  opts.prepareBob?.(bob);
  const joiner = start('bob', base, ['join', codes.readWrite, bob, ...(opts.joinArgs ?? [])], opts.bobEnv);
  await joiner.line((x) => x.event === 'joined');
  return { base, alice, bob, relay, sharer, joiner, codes };
}

/**
 * Runs `offline` with the relay down (both sides keep running and recording), then starts it
 * again at the same address: whatever both sides did meanwhile is concurrent.
 */
export async function whileRelayDown(c: Cluster, offline: () => Promise<void> | void): Promise<void> {
  await c.relay.proc.stop('SIGKILL');
  await offline();
  c.relay = await startRelay(c.base, c.relay.port);
}

/** `cshare log --json` of a worktree whose share or join runs (answered by that process). */
export function logOf(root: string, args: string[] = []): { kind: string; path: string; author: string; inserted: number; deleted: number; merge?: unknown }[] {
  const r = cshareJson(root, ['log', ...args]);
  if (r.code !== 0) throw new Error(`cshare log failed (${r.code}): ${JSON.stringify(r.json)} ${r.stderr}`);
  return r.json.changes;
}

/** Waits until `rel` has the same text on both sides and `ok` holds for it. */
export async function converged(a: string, b: string, rel: string, ok: (text: string) => boolean = () => true, ms = 30_000): Promise<string> {
  let last = '';
  await until(() => {
    const x = read(a, rel);
    const y = read(b, rel);
    last = `${a}: ${JSON.stringify(x)}\n${b}: ${JSON.stringify(y)}`;
    return x !== undefined && x === y && ok(x);
  }, ms, () => `not converged on ${rel}:\n${last}`);
  return read(a, rel)!;
}
