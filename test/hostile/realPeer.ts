import '../../src/cli/polyfills.js';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gitBlobId } from '../../src/core/digest.js';
import { FileDoc } from '../../src/core/FileDoc.js';
import { deriveFileId, ManifestDoc, type ManifestEntry } from '../../src/core/ManifestDoc.js';
import { decodeJoinCode, worktreeIdToString } from '../../src/sync/joinCode.js';
import { createCshareNode, type CshareNode } from '../../src/sync/libp2p/Libp2pNode.js';
import { cshareSchema, PROTOCOL_VERSION } from '../../src/sync/schema.js';
import { start, until, type Proc } from '../helpers/procs.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { loggedItems } from '../sync/relay/harness.js';
import { cshareConnection } from '../../src/sync/connection.js';

/**
 * A hostile read-write peer against real processes: it says hello to a real `cshare relay`
 * with a join code, as a joiner would, and then uploads hand-made manifest entries and blobs
 * built with the project's own codec and Yjs, exactly as an attacker holding the code could.
 */
export interface HostilePeer {
  /** Uploads the entries' blobs, then one manifest update setting them; resolves with the relay's answer. */
  put(entries: Record<string, HostileEntry>): Promise<{ ok: true } | { ok: false; code: string; message: string }>;
  /**
   * Edits a text file the sharer shared at `path` with content `baseText` (and nobody edited
   * since): its file id and its doc's base are derived from both, as every replica derives
   * them, so the edit is a plain doc update of that file (`file/upload`).
   */
  edit(path: string, baseText: string, next: string): Promise<void>;
  /** What the relay holds: every manifest entry's path (tombstones too) and every blob's digest. */
  relayState(): Promise<{ paths: Set<string>; live: Set<string>; blobs: Set<string> }>;
  close(): Promise<void>;
}

/** One manifest entry to set: its path, content (a symlink's target) and kind. */
export interface HostileEntry {
  path: string;
  content: string | Uint8Array;
  kind?: ManifestEntry['kind'];
  /** Git mode (0o100755 for an executable); from the kind by default. */
  mode?: number;
}

const enc = new TextEncoder();

/** Connects a {@link HostilePeer} with `code` (a read-write join code), saying hello as `name`. */
export async function hostilePeer(code: string, name = 'mallory'): Promise<HostilePeer> {
  const jc = decodeJoinCode(code);
  const worktreeId = worktreeIdToString(jc.worktreeId);
  const node: CshareNode = await createCshareNode({ listen: [], relayClient: false });
  // `CSHARE_PROTOCOL` speaks an older build's protocol version, for runs against it with
  // `CSHARE_BIN` (the messages this client sends did not change, only the number).
  const protocol = Number(process.env.CSHARE_PROTOCOL ?? PROTOCOL_VERSION);
  const conn = cshareConnection(await node.dial(jc.relay[0]!), { peer: 'relay', schema: { ...cshareSchema, version: protocol } });
  const replicaId = randomBytes(8).toString('hex');
  await conn.request('hello', { protocol, worktreeId, secretProof: jc.secret, replicaId, name, role: 'joiner' });
  // One doc for every update, so later updates build on earlier ones (a rename, a second entry);
  // rebuilt from the accepted ones after a refusal, or every later update would wait forever
  // for the refused one on every replica.
  const clientId = randomInt(1, 0xfffffff0);
  const accepted: Uint8Array[] = [];
  let doc = ManifestDoc.create(clientId);
  let lamport = 1_000_000;
  const docs = new Map<string, FileDoc>();
  return {
    async put(entries) {
      try {
        const sets: [string, ManifestEntry][] = [];
        for (const [fileId, e] of Object.entries(entries)) {
          const bytes = typeof e.content === 'string' ? enc.encode(e.content) : e.content;
          const digest = gitBlobId(bytes);
          const kind = e.kind ?? 'text';
          await conn.request('file/upload', { worktreeId, fileId, blob: bytes });
          sets.push([fileId, { path: e.path, kind, mode: e.mode ?? (kind === 'symlink' ? 0o120000 : 0o100644), digest, size: bytes.length, base: digest, lamport: ++lamport, by: replicaId }]);
        }
        const update = doc.change((set) => {
          for (const [fileId, entry] of sets) set(fileId, entry);
        });
        try {
          await conn.request('manifest/upload', { worktreeId, updates: [update!] });
        } catch (err) {
          doc = ManifestDoc.load(clientId, undefined, accepted);
          throw err;
        }
        accepted.push(update!);
        return { ok: true };
      } catch (err) {
        const e = err as { code?: string; message?: string };
        return { ok: false, code: e.code ?? 'INTERNAL', message: e.message ?? String(err) };
      }
    },
    async edit(path, baseText, next) {
      const fileId = deriveFileId(path, gitBlobId(enc.encode(baseText)));
      // The doc of a file edited before, so a second edit follows the first.
      let doc = docs.get(fileId);
      const updates: Uint8Array[] = [];
      if (!doc) {
        const created = FileDoc.create({ fileId, clientId, baseText });
        doc = created.doc;
        docs.set(fileId, doc);
        if (created.baseUpdate) updates.push(created.baseUpdate);
      }
      const change = doc.setText(next);
      if (change) updates.push(change.update);
      await conn.request('file/upload', { worktreeId, fileId, updates });
    },
    async relayState() {
      const m = ManifestDoc.create(randomInt(1, 0xfffffff0));
      const blobs = new Set<string>();
      for await (const item of loggedItems(conn, { worktreeId, after: 0 })) {
        if (item.type === 'manifest') m.applyUpdate(item.update);
        else if (item.type === 'blob') blobs.add(item.digest);
      }
      const paths = new Set([...m.all()].map(([, e]) => e.path));
      const live = new Set(m.live().keys());
      m.destroy();
      return { paths, live, blobs };
    },
    async close() {
      for (const d of docs.values()) d.destroy();
      conn.close();
      await node.stop();
    },
  };
}

/**
 * A stage for an attack on real processes: a base folder with a precious file beside the
 * worktrees (nothing may ever change outside them), a relay, a sharer of `files`, and a
 * read-only viewer that joined it.
 */
export interface Stage {
  base: string;
  relay: Proc;
  sharer: Proc;
  viewer: Proc;
  alice: string;
  carol: string;
  codes: { readWrite: string; readOnly: string };
  /** Every path under `base` outside the worktrees, and under `/tmp/cshare-escape-*` (self-contained: not a path read). */
  outside(): string[];
}

/** Lists `dir` recursively (without following links), skipping `skip`. */
export function listTree(dir: string, skip: (rel: string) => boolean = () => false, rel = ''): string[] {
  const out: string[] = [];
  const abs = rel === '' ? dir : join(dir, rel);
  if (!existsSync(abs)) return out;
  for (const name of readdirSync(abs)) {
    const r = rel === '' ? name : `${rel}/${name}`;
    if (skip(r)) continue;
    out.push(r);
    if (lstatSync(join(dir, r)).isDirectory()) out.push(...listTree(dir, skip, r));
  }
  return out.sort();
}

/**
 * Starts a relay, a sharer of `files` and a read-only viewer, all on 127.0.0.1; `prepare`
 * runs in the sharer's folder before it shares (a `git init`).
 */
export async function stage(files: Record<string, string>, opts: { prepare?: (alice: string) => void } = {}): Promise<Stage> {
  const base = tempDir('cshare-attack-');
  writeTree(base, { 'precious.txt': 'precious\n' });
  const relay = start('relay', base, ['relay', '--data', join(base, 'relay-data')]);
  const listening = await relay.line((x) => x.event === 'listening');
  const addr = (listening.addresses as string[])[0]!;
  const alice = join(base, 'alice');
  writeTree(alice, files);
  opts.prepare?.(alice);
  const sharer = start('alice', alice, ['share', '--relay', addr, '--yes']);
  const codes = (await sharer.line((x) => x.event === 'sharing')).codes as Stage['codes'];
  const carol = join(base, 'carol');
  const viewer = start('carol', base, ['join', codes.readOnly, carol]);
  await viewer.line((x) => x.event === 'joined');
  const inside = new Set(['alice', 'carol', 'relay-data', 'dave', '.no-home']);
  const outside = () => listTree(base, (r) => inside.has(r.split('/')[0]!));
  return { base, relay, sharer, viewer, alice, carol, codes, outside };
}

/** Waits until the sharer's honest edit of `file` reached the viewer: both are still live. */
export async function stillSyncing(s: Stage, file: string, text: string): Promise<void> {
  writeTree(s.alice, { [file]: text });
  const { readFileSync } = await import('node:fs');
  await until(
    () => existsSync(join(s.carol, file)) && readFileSync(join(s.carol, file), 'utf8') === text,
    30_000,
    () => `the viewer never got ${file}; sharer: ${s.sharer.stderr} ${JSON.stringify(s.sharer.lines.slice(-5))}; viewer: ${s.viewer.stderr} ${JSON.stringify(s.viewer.lines.slice(-5))}`,
  );
}
