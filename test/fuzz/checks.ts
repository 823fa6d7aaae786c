/**
 * The convergence fuzzer's final properties (see `convergence.test.ts` for the list), checked
 * once every fault is healed and the world has gone quiet.
 */
import * as Y from 'yjs';
import { ManifestDoc } from '../../src/core/ManifestDoc.js';
import { storeMap, type FuzzNode } from './world.js';

/** What the checks need of the world. */
export interface CheckedWorld {
  readonly nodes: readonly FuzzNode[];
  fail(reason: string): never;
  /**
   * Replicas may ignore what others share (different rules): a replica may then keep a file of
   * its own, never shared, at a shared path, and hold files nobody else has. Otherwise every
   * worktree must be identical.
   */
  readonly rulesDiffer: boolean;
}

/** Worktrees, stores and acknowledged changes agree everywhere (see `convergence.test.ts`). */
export async function checkConvergence(w: CheckedWorld): Promise<void> {
  const { nodes } = w;
  const ref = nodes[0]!;
  // Nothing on any disk is left unrecorded, and every shared file is on every disk.
  for (const node of nodes) {
    const status = await node.proc!.replica!.status();
    if (status.changed.length > 0) w.fail(`${node.name} has unrecorded changes after healing: ${status.changed.slice(0, 5).map((c) => `${c.change} ${c.path}`).join(', ')}`);
  }
  if (!w.rulesDiffer) {
    const refTree = ref.fs.snapshot();
    for (const node of nodes.slice(1)) {
      const tree = node.fs.snapshot();
      if (JSON.stringify(tree) !== JSON.stringify(refTree)) {
        const paths = [...new Set([...Object.keys(tree), ...Object.keys(refTree)])].filter((p) => tree[p] !== refTree[p]).sort();
        w.fail(`worktrees differ between ${ref.name} and ${node.name}: ${paths.map((p) => `${p}: ${show(refTree, p)} vs ${show(tree, p)}`).join('; ')}`);
      }
    }
  }
  const states = nodes.map((n) => storeState(n));
  const refState = states[0]!;
  // Every own change a replica made durable, and so every acknowledged one, is everywhere.
  for (const origin of nodes) {
    for (const { doc, seq, clock } of origin.ledger) {
      if (seq <= origin.privateUpTo) continue;
      states.forEach((s, i) => {
        const have = s.vectors.get(doc)?.get(origin.clientId) ?? 0;
        if (have < clock) {
          const acked = seq <= origin.acked ? 'acknowledged ' : '';
          w.fail(`${acked}change ${seq} of ${origin.name} (${doc === 'm' ? 'manifest' : `file ${doc}`}, clock ${clock}) is missing on ${nodes[i]!.name} (has ${have})`);
        }
      });
    }
  }
  const clients = new Set(nodes.map((n) => n.clientId));
  states.forEach((s, i) => {
    const name = nodes[i]!.name;
    if (s.live !== refState.live) w.fail(`live manifests differ: ${ref.name} ${refState.live} vs ${name} ${s.live}`);
    for (const doc of new Set([...s.vectors.keys(), ...refState.vectors.keys()])) {
      // A file doc's deterministic base insert (`FileDoc.create`) is the base blob itself: a
      // replica that built the doc from it and one that never needed to hold the same file.
      const keep = doc === 'm' ? undefined : clients;
      const a = svString(refState.vectors.get(doc), keep);
      const b = svString(s.vectors.get(doc), keep);
      if (a !== b) w.fail(`state vectors of ${doc === 'm' ? 'the manifest' : `file ${doc} (${s.names.get(doc) ?? refState.names.get(doc)})`} differ: ${ref.name} ${a} vs ${name} ${b}`);
    }
  });
  if (w.rulesDiffer) checkSharedFiles(w, refState.livePaths);
}

/**
 * With different rules: every replica that has a shared file on disk as shared (a stat cache
 * entry: it wrote or recorded it) holds the same content; one without such an entry holds a
 * file of its own there that it never shared (a file its rules ignore, kept when a peer created
 * the path: the status check above has found it ignored, or it would be a pending edit).
 */
function checkSharedFiles(w: CheckedWorld, live: readonly string[]): void {
  const trees = w.nodes.map((n) => n.fs.snapshot());
  for (const path of live) {
    const sharing = w.nodes.flatMap((n, i) => (storeMap(n).has(`s:${path}`) ? [i] : []));
    if (sharing.length === 0) w.fail(`no replica holds the shared ${path} as shared`);
    const first = sharing[0]!;
    for (const i of sharing) {
      if (trees[i]![path] !== trees[first]![path]) {
        w.fail(`shared ${path} differs between ${w.nodes[first]!.name} and ${w.nodes[i]!.name}: ${show(trees[first]!, path)} vs ${show(trees[i]!, path)}`);
      }
    }
    for (let i = 0; i < w.nodes.length; i++) {
      if (!sharing.includes(i) && trees[i]![path] === undefined) w.fail(`shared ${path} is missing on ${w.nodes[i]!.name}`);
    }
  }
}

/** A file of a snapshot in short: its mode and, for text, the text (else the start of its base64). */
function show(t: Record<string, string>, p: string): string {
  const v = t[p];
  if (v === undefined) return 'absent';
  const [mode, data] = [v.slice(0, v.indexOf(':')), v.slice(v.indexOf(':') + 1)];
  if (mode === 'link') return v;
  const bytes = Buffer.from(data, 'base64');
  if (!bytes.includes(0)) return `${mode}:${JSON.stringify(bytes.toString('utf8'))}`;
  return v.length > 40 ? `${v.slice(0, 40)}...` : v;
}

/** A state vector as text; with `clients`, of those clients only. */
function svString(sv: Map<number, number> | undefined, clients?: ReadonlySet<number>): string {
  return JSON.stringify([...(sv ?? new Map<number, number>())].filter(([id, c]) => c > 0 && (!clients || clients.has(id))).sort((a, b) => a[0] - b[0]));
}

/** State vectors of the manifest and every file doc, and the live manifest, from a store. */
function storeState(node: FuzzNode): { vectors: Map<string, Map<number, number>>; live: string; livePaths: string[]; names: Map<string, string> } {
  const docs = new Map<string, Uint8Array[]>();
  for (const [key, value] of storeMap(node)) {
    let doc: string | undefined;
    if (key === 'm:snap' || key.startsWith('m:sp:') || key.startsWith('m:u:')) doc = 'm';
    else if (key.startsWith('f:') && (key.endsWith(':snap') || key.includes(':u:'))) doc = key.slice(2, key.indexOf(':', 2));
    if (doc === undefined) continue;
    const list = docs.get(doc) ?? [];
    list.push(value);
    docs.set(doc, list);
  }
  const vectors = new Map<string, Map<number, number>>();
  for (const [doc, updates] of docs) vectors.set(doc, Y.decodeStateVector(Y.encodeStateVectorFromUpdate(Y.mergeUpdates(updates))));
  const manifest = ManifestDoc.load(1, undefined, docs.get('m') ?? []);
  const entries = [...manifest.live()].sort(([a], [b]) => (a < b ? -1 : 1));
  const live = JSON.stringify(entries.map(([path, { fileId, entry }]) => [path, fileId, entry.kind, entry.mode, entry.kind === 'text' ? entry.base : entry.digest]));
  const names = new Map<string, string>();
  for (const [fileId, e] of manifest.all()) names.set(fileId, `${e.path}${e.deleted ? ' (deleted)' : ''}`);
  manifest.destroy();
  return { vectors, live, livePaths: entries.map(([path]) => path), names };
}

/** The entries a manifest update sets, in short, for the trace. */
export function manifestSets(update: Uint8Array): string {
  const out: string[] = [];
  for (const struct of Y.decodeUpdate(update).structs) {
    const item = struct as Y.Item;
    const entry = (item.content as { arr?: unknown[] })?.arr?.[0] as { path?: string; deleted?: boolean; lamport?: number; by?: string } | undefined;
    // A later set of a key names it only through the item it follows.
    if (entry && typeof entry === 'object') out.push(`${item.parentSub ? `${item.parentSub.slice(0, 8)}=` : ''}${entry.path}${entry.deleted ? ' (deleted)' : ''} L${entry.lamport} ${entry.by?.slice(0, 3)}`);
  }
  return out.join(', ');
}
