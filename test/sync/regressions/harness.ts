import type { KvStore } from '../../../src/core/ports.js';
import { Replica } from '../../../src/core/Replica.js';
import { MemoryStore } from '../../../src/store/memory/MemoryStore.js';
import { helloAsJoiner, helloAsSharer } from '../../../src/sync/hello.js';
import { SyncSession, type SyncState } from '../../../src/sync/SyncSession.js';
import { MemFs } from '../../helpers/MemFs.js';
import type { RelayHarness } from '../relay/harness.js';

/** A replica over an in-memory worktree and store, with a session to the relay harness. */
export interface MemSide {
  fs: MemFs;
  kv: MemoryStore;
  replica: Replica;
  session: SyncSession;
  state: SyncState;
}

/** Opens a replica on `fs`/`kv` and connects it as `share` or `join` would (a first join detaches local files). */
export async function memSide(relay: RelayHarness, role: 'sharer' | 'joiner', name: string, fs = new MemFs(`/mem/${name}`), kv = new MemoryStore()): Promise<MemSide> {
  const replica = await Replica.open({ fs, kv, env: { USER: name }, home: '/mem/home' });
  let state: SyncState;
  let firstJoin = false;
  if (role === 'sharer') state = { relaySeq: 0, acked: -1 };
  else {
    await replica.detachLocalFiles();
    firstJoin = true;
    state = { relaySeq: 0, acked: replica.seq };
  }
  const conn = relay.connect();
  const hello =
    role === 'sharer'
      ? await helloAsSharer(conn, { replica, worktreeId: relay.worktreeId, secrets: relay.secrets, name: 'app' })
      : await helloAsJoiner(conn, { replica, worktreeId: relay.worktreeId, secret: relay.secrets.readWrite });
  const session = new SyncSession({ replica, conn, worktreeId: relay.worktreeId, access: hello.access!, state, saveState: async () => {}, firstCatchUpWithoutScan: firstJoin });
  return { fs, kv, replica, session, state };
}

/** One round: everyone uploads, then everyone catches up. */
export async function round(...sides: MemSide[]): Promise<void> {
  for (const s of sides) await s.session.push();
  for (const s of sides) await s.session.catchUp();
}

/** A replica without a session: its name, worktree and replica (see {@link localSide}). */
export interface Side {
  name: string;
  fs: MemFs;
  replica: Replica;
}

/** A replica named `name` over `fs` (a plain in-memory worktree unless given) and `kv` (a memory store unless given). */
export async function localSide(name: string, fs: MemFs = new MemFs(`/mem/${name}`), kv: KvStore = new MemoryStore()): Promise<Side> {
  return { name, fs, replica: await Replica.open({ fs, kv, env: { USER: name }, home: '/mem/home' }) };
}

/** The text of the file at `path` in `fs` (undefined: no file there). */
export function textOf(fs: MemFs, path: string): string | undefined {
  return fs.lstat(path)?.kind === 'file' ? new TextDecoder().decode(fs.readFile(path)) : undefined;
}

/**
 * Sends what `from` recorded since the last send to `to` (a one-way link, scanning first);
 * resolves with whether there was anything to send.
 */
export function link(from: Side, to: Side, opts: { scanFirst?: boolean } = {}): () => Promise<boolean> {
  let since = -1;
  return async () => {
    from.replica.keepLogAfter(since);
    await from.replica.scan();
    const { changes, upTo } = await from.replica.changesSince(since);
    since = upTo;
    await to.replica.applyChanges(changes, { replica: from.replica.identity.replicaId, author: from.name }, opts);
    return changes.manifest.length + changes.files.length > 0;
  };
}
