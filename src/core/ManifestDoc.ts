import * as Y from 'yjs';
import { createHash } from 'node:crypto';
import { isLocalPolicyFile, LOCAL_POLICY_FILE, unsafeRelPathReason } from './paths.js';

/** Client id reserved for integrating updates; never a replica's (see `Replica.open`). */
export const APPLY_CLIENT_ID = 0xfffffffe;

/** Kinds of shared file. */
export type EntryKind = 'text' | 'binary' | 'symlink';

/**
 * One file in the manifest. Keyed by `fileId`, so a rename changes `path` and keeps the
 * history; a delete keeps the entry as a tombstone (`deleted`), so a later re-create of the
 * same content at the same path revives the same history.
 */
export interface ManifestEntry {
  path: string;
  kind: EntryKind;
  /** Git mode: 0o100644, 0o100755 or 0o120000. */
  mode: number;
  /**
   * Git blob id of the content, for binaries and symlinks. For a text file it is the digest
   * the entry was last written with (its base, or its content at a kind change): the text
   * itself lives in the file's doc, and text edits never touch the manifest, so a concurrent
   * rename or mode change elsewhere is never overwritten by an edit (entries are
   * last-writer-wins as a whole).
   */
  digest: string;
  /** Size in bytes that goes with `digest`. */
  size: number;
  /** Digest of the content the file was created with: the base of its text doc. */
  base: string;
  /** Lamport timestamp of the last change to this entry (last writer wins for blobs). */
  lamport: number;
  /** Replica id of the last writer. */
  by: string;
  /**
   * Lamport timestamp of when the entry took its path (its create, its last rename): what
   * ranks two live entries that claim one path ({@link ManifestDoc.live}). Set by
   * {@link ManifestDoc.change}; a mode change, a binary edit or a revival of the same path
   * keeps it, so a file that lost its path to a concurrent create and comes back (an edit
   * that its delete did not see) loses again, instead of winning and making the other lose
   * in turn, for ever. Absent on entries written before it existed: their lamport ranks them.
   */
  claim?: number;
  deleted?: boolean;
  /**
   * On a deleted text file: the state vector (base64) of its doc as the deleter saw it. An edit
   * the deleter had not seen was concurrent with the delete, and wins over it: its author puts
   * the file back (see `keepLastWriter` in `lastWriter.ts`).
   */
  seen?: string;
  /**
   * On a text file deleted because it was created at once with another at its path and its
   * text went into that one (`createConflicts.ts`): that file. Such a delete is never undone
   * by a concurrent edit (the edit's author adds what the merge missed to that file instead).
   */
  mergedInto?: string;
}

/**
 * The fileId of a file first seen at `path` with content `digest`. Deterministic, so two
 * replicas that record the same initial tree give every file the same id and the same text
 * base, and their histories merge without doubling any file.
 */
export function deriveFileId(path: string, digest: string): string {
  return createHash('sha1').update(`cshare-file\0${path}\0${digest}`).digest('hex').slice(0, 24);
}

/**
 * The manifest: a Yjs doc holding a map fileId -> {@link ManifestEntry}. Concurrent creates,
 * deletes and renames on different replicas converge because the map is a CRDT. Two live
 * entries may claim one path after concurrent creates; {@link ManifestDoc.live} resolves that
 * deterministically (latest claim, then fileId) so every replica shows the same file.
 */
export class ManifestDoc {
  readonly doc: Y.Doc;
  private readonly files: Y.Map<ManifestEntry>;
  private liveCache: Map<string, { fileId: string; entry: ManifestEntry }> | null = null;
  private refusedCache: RefusedEntry[] = [];
  private shadowedCache: { fileId: string; entry: ManifestEntry }[] = [];
  private conflictedCache = new Map<string, string>();
  private byContentCache: Map<string, string[]> | null = null;
  private formerCache = new Map<string, string[]>();

  private constructor(clientId: number) {
    this.doc = new Y.Doc({ gc: true });
    this.doc.clientID = clientId;
    this.files = this.doc.getMap<ManifestEntry>('files');
    this.files.observe(() => {
      this.liveCache = null;
      this.byContentCache = null;
    });
  }

  /** An empty manifest edited as `clientId`. */
  static create(clientId: number): ManifestDoc {
    return new ManifestDoc(clientId);
  }

  /**
   * Rebuilds from an optional snapshot and the updates logged after it. Once an update has
   * to wait for others (a store whose pieces are out of order), Yjs merges what waits with
   * every later update: the rest are then merged first and applied at once (a 100,000-file
   * manifest stored in six interleaved parts loaded in 4 s piece by piece, 1.5 s so).
   */
  static load(clientId: number, snapshot: Uint8Array | undefined, updates: Iterable<Uint8Array>): ManifestDoc {
    const m = new ManifestDoc(clientId);
    const pieces = [...(snapshot ? [snapshot] : []), ...updates];
    m.integrate(() => {
      for (let i = 0; i < pieces.length; i++) {
        const store = m.doc.store;
        if (i > 0 && i < pieces.length - 1 && (store.pendingStructs || store.pendingDs)) {
          Y.applyUpdate(m.doc, Y.mergeUpdates(pieces.slice(i)));
          break;
        }
        Y.applyUpdate(m.doc, pieces[i]!);
      }
    });
    return m;
  }

  /**
   * The entry for `fileId`, tombstones included. An entry a peer set with an unsafe path or a
   * malformed shape is never returned: it is treated as absent (see {@link refused}).
   */
  get(fileId: string): ManifestEntry | undefined {
    const entry = this.files.get(fileId);
    return entryProblem(entry) === undefined ? entry : undefined;
  }

  /** Every entry, tombstones included (refused ones left out). */
  *all(): IterableIterator<[string, ManifestEntry]> {
    for (const [fileId, entry] of this.files.entries()) if (entryProblem(entry) === undefined) yield [fileId, entry];
  }

  /**
   * Entries left out of {@link get}, {@link all} and {@link live} because a peer set them with
   * an unsafe path (`../x`, `.git/config`, ...) or a malformed shape: the safety rules say such
   * a path never reaches the disk, and one bad entry must not stop the others from applying.
   */
  refused(): readonly RefusedEntry[] {
    this.live();
    return this.refusedCache;
  }

  /**
   * Live entries left out of {@link live} because a file and a folder of the same name
   * (`a` and `a/b`) cannot both be on a disk: fileId -> path. Also in {@link refused}.
   */
  conflicted(): ReadonlyMap<string, string> {
    this.live();
    return this.conflictedCache;
  }

  /**
   * Live files by path; one winner per path, and no path that is also a folder of another:
   * of a file and an entry below it, the later write (highest lamport, then fileId) stays and
   * the other is left out ({@link conflicted}), the same on every replica. Two peers can set
   * `a` and `a/b` in separate updates; written as they come, the second failed on every disk,
   * at every retry.
   */
  live(): Map<string, { fileId: string; entry: ManifestEntry }> {
    if (this.liveCache) return this.liveCache;
    const out = new Map<string, { fileId: string; entry: ManifestEntry }>();
    const refused: RefusedEntry[] = [];
    const shadowed: { fileId: string; entry: ManifestEntry }[] = [];
    const former = new Map<string, string[]>();
    const noteFormer = (path: string, fileId: string) => {
      const ids = former.get(path);
      if (ids) ids.push(fileId);
      else former.set(path, [fileId]);
    };
    for (const [fileId, entry] of this.files.entries()) {
      const problem = entryProblem(entry);
      if (problem !== undefined) {
        refused.push({ fileId, path: typeof entry?.path === 'string' ? entry.path.slice(0, 200) : String(entry?.path), reason: problem });
        continue;
      }
      if (entry.deleted) {
        if (entry.mergedInto !== undefined) noteFormer(entry.path, fileId);
        continue;
      }
      const prev = out.get(entry.path);
      if (!prev || claimOf(entry) > claimOf(prev.entry) || (claimOf(entry) === claimOf(prev.entry) && fileId > prev.fileId)) {
        out.set(entry.path, { fileId, entry });
        if (prev) shadowed.push(prev);
      } else shadowed.push({ fileId, entry });
    }
    this.conflictedCache = dropFolderConflicts(out, refused);
    this.liveCache = out;
    this.refusedCache = refused;
    this.shadowedCache = shadowed;
    for (const s of shadowed) noteFormer(s.entry.path, s.fileId);
    this.formerCache = former;
    return out;
  }

  /**
   * Files that claimed `path` and do not show there: ones that lost it to a file created at
   * once elsewhere (shadowed) or were merged into another (`mergedInto`). An editor may still
   * hold one of their texts, loaded from this path before it changed hands.
   */
  formerAt(path: string): readonly string[] {
    this.live();
    return this.formerCache.get(path) ?? [];
  }

  /**
   * Live entries that lost their path to another live entry (concurrent creates of one path):
   * not shown on disk. Their author merges them into the winner (see `createConflicts.ts`).
   */
  shadowed(): readonly { fileId: string; entry: ManifestEntry }[] {
    this.live();
    return this.shadowedCache;
  }

  /**
   * Live paths by the digest of their content (a text file's base, a blob's digest): which
   * files a blob that just arrived completes, without a pass over every live file per batch.
   */
  liveByContent(): Map<string, string[]> {
    if (this.byContentCache) return this.byContentCache;
    const out = new Map<string, string[]>();
    for (const [path, { entry }] of this.live()) {
      const digest = entry.kind === 'text' ? entry.base : entry.digest;
      const paths = out.get(digest);
      if (paths) paths.push(path);
      else out.set(digest, [path]);
    }
    this.byContentCache = out;
    return out;
  }

  /** Highest lamport timestamp in the manifest. */
  maxLamport(): number {
    let max = 0;
    for (const [, e] of this.all()) if (e.lamport > max) max = e.lamport;
    return max;
  }

  /**
   * Applies `fn`'s `set` calls in one transaction and returns the resulting update, or null
   * if nothing changed.
   */
  change(fn: (set: (fileId: string, entry: ManifestEntry) => void) => void): Uint8Array | null {
    let update: Uint8Array | null = null;
    const onUpdate = (u: Uint8Array, origin: unknown) => {
      if (origin === 'local') update = update ? Y.mergeUpdates([update, u]) : u;
    };
    this.doc.on('update', onUpdate);
    try {
      Y.transact(this.doc, () => fn((fileId, entry) => this.files.set(fileId, withClaim(this.get(fileId), entry))), 'local');
    } finally {
      this.doc.off('update', onUpdate);
    }
    return update;
  }

  /**
   * Applies an update from elsewhere; returns the entries it changed, each with its value
   * before (undefined if it did not exist).
   */
  applyUpdate(update: Uint8Array): Map<string, ManifestEntry | undefined> {
    const changed = new Map<string, ManifestEntry | undefined>();
    const observer = (event: Y.YMapEvent<ManifestEntry>) => {
      for (const [key, change] of event.changes.keys) {
        const old = change.oldValue as ManifestEntry | undefined;
        if (!changed.has(key)) changed.set(key, change.action === 'add' || entryProblem(old) !== undefined ? undefined : old);
      }
    };
    this.files.observe(observer);
    try {
      this.integrate(() => Y.applyUpdate(this.doc, update, 'remote'));
    } finally {
      this.files.unobserve(observer);
    }
    return changed;
  }

  /**
   * The paths an update from elsewhere may change on disk: of each entry it sets, the path
   * the entry has now and the path it is given. Read from the update without applying it;
   * undefined when that cannot be told (an update that does not decode, or sets an entry
   * this doc cannot place).
   */
  pathsTouchedBy(update: Uint8Array): Set<string> | undefined {
    let structs: (Y.Item | Y.GC | Y.Skip)[];
    try {
      structs = Y.decodeUpdate(update).structs;
    } catch {
      return undefined;
    }
    const paths = new Set<string>();
    const add = (path: unknown) => {
      if (typeof path === 'string' && unsafeRelPathReason(path) === undefined) paths.add(path);
    };
    // An entry set again carries no key: it names the item it follows (in this doc, or
    // earlier in the same update), whose key it shares.
    const keys = new Map<string, string>();
    for (const s of structs) {
      if (!(s instanceof Y.Item)) continue; // gaps and collected items set nothing
      let key = typeof s.parentSub === 'string' ? s.parentSub : undefined;
      const origin = s.origin ?? s.rightOrigin;
      if (key === undefined && origin) key = keys.get(`${origin.client}:${origin.clock}`) ?? this.keyOfItem(origin);
      if (key === undefined) return undefined;
      keys.set(`${s.id.client}:${s.id.clock}`, key);
      add(this.files.get(key)?.path);
      for (const value of s.content.getContent()) add((value as { path?: unknown } | null)?.path);
    }
    return paths;
  }

  /** The map key of an item of this doc, if it has the item. */
  private keyOfItem(id: Y.ID): string | undefined {
    try {
      const item = Y.getItem(this.doc.store, id);
      return item instanceof Y.Item && typeof item.parentSub === 'string' ? item.parentSub : undefined;
    } catch {
      return undefined; // not in this doc (yet)
    }
  }

  /**
   * Applies stored or remote updates under a reserved client id. Yjs treats a non-local
   * transaction that adds structs of the doc's own client id as a sign that another client
   * uses the id and silently picks a new random one; loading this replica's own history
   * would trigger that and break the stable id its clocks rely on.
   */
  private integrate(apply: () => void): void {
    const own = this.doc.clientID;
    this.doc.clientID = APPLY_CLIENT_ID;
    try {
      Y.transact(this.doc, apply, 'load');
    } finally {
      this.doc.clientID = own;
    }
  }

  /** Full state, for compaction. */
  snapshot(): Uint8Array {
    return Y.encodeStateAsUpdate(this.doc);
  }

  stateVector(): Uint8Array {
    return Y.encodeStateVector(this.doc);
  }

  destroy(): void {
    this.doc.destroy();
  }
}

/** A manifest entry that is not used (see {@link ManifestDoc.refused}). */
export interface RefusedEntry {
  fileId: string;
  path: string;
  reason: string;
}

const KINDS: ReadonlySet<unknown> = new Set(['text', 'binary', 'symlink']);

type Live = Map<string, { fileId: string; entry: ManifestEntry }>;

/**
 * Removes from `live` every entry that is a file where another needs a folder, or below such
 * a file, and lost to it (see {@link ManifestDoc.live}); each goes to `refused`. Returns the
 * losers, fileId -> path. Each folder's nearest live ancestor-or-self is looked up once, so
 * this costs about one map lookup per path.
 */
function dropFolderConflicts(live: Live, refused: RefusedEntry[]): Map<string, string> {
  const nearest = new Map<string, string>();
  const fileAtOrAbove = (dir: string): string => {
    let found = nearest.get(dir);
    if (found !== undefined) return found;
    const slash = dir.lastIndexOf('/');
    found = live.has(dir) ? dir : slash === -1 ? '' : fileAtOrAbove(dir.slice(0, slash));
    nearest.set(dir, found);
    return found;
  };
  const losers = new Map<string, string>(); // path -> the path it lost to
  for (const [path, cur] of live) {
    const slash = path.lastIndexOf('/');
    if (slash === -1) continue;
    for (let anc = fileAtOrAbove(path.slice(0, slash)); anc !== ''; ) {
      const file = live.get(anc)!;
      const fileWins = file.entry.lamport > cur.entry.lamport || (file.entry.lamport === cur.entry.lamport && file.fileId > cur.fileId);
      if (fileWins) losers.set(path, anc);
      else losers.set(anc, path);
      const up = anc.lastIndexOf('/');
      anc = up === -1 ? '' : fileAtOrAbove(anc.slice(0, up));
    }
  }
  const out = new Map<string, string>();
  for (const [path, other] of losers) {
    const { fileId } = live.get(path)!;
    live.delete(path);
    out.set(fileId, path);
    refused.push({ fileId, path: path.slice(0, 200), reason: `a file and a folder of one name: ${JSON.stringify(other.slice(0, 200))} was written later and stays` });
  }
  return out;
}

/** What ranks a live entry against another of its path (see {@link ManifestEntry.claim}). */
function claimOf(entry: ManifestEntry): number {
  return typeof entry.claim === 'number' && Number.isFinite(entry.claim) ? entry.claim : entry.lamport;
}

/**
 * `next` with its claim on its path: taken now (its lamport) by a create or a rename; kept by
 * any other change, a revival of the same path included (undo of a delete, an edit that wins
 * over a delete).
 */
function withClaim(prev: ManifestEntry | undefined, next: ManifestEntry): ManifestEntry {
  if (next.deleted) return next;
  const samePath = prev !== undefined && prev.path === next.path;
  let claim: number;
  if (!samePath) claim = next.lamport;
  else if (prev.deleted) claim = typeof next.claim === 'number' ? next.claim : next.lamport;
  else claim = typeof next.claim === 'number' ? next.claim : claimOf(prev);
  return next.claim === claim ? next : { ...next, claim };
}

/** Why an entry from the doc cannot be used, or undefined if it can. */
function entryProblem(entry: unknown): string | undefined {
  if (typeof entry !== 'object' || entry === null || entry instanceof Y.AbstractType) return 'not a manifest entry';
  const e = entry as Partial<Record<keyof ManifestEntry, unknown>>;
  if (typeof e.path !== 'string') return 'no path';
  const unsafe = unsafeRelPathReason(e.path);
  if (unsafe !== undefined) return unsafe;
  // Written where the user has none, a peer's copy would decide what this machine uploads
  // (a `*` in it sends every secret): it is never taken from a peer, as it is never sent.
  if (isLocalPolicyFile(e.path)) return `${LOCAL_POLICY_FILE} is a local policy file: each machine keeps its own, none is taken from a peer`;
  if (!KINDS.has(e.kind) || typeof e.mode !== 'number' || typeof e.digest !== 'string' || typeof e.base !== 'string' || typeof e.lamport !== 'number') return 'malformed entry';
  return undefined;
}
