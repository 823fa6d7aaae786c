import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { RpcRelayClient } from '../../src/sync/client/RpcRelayClient.js';
import { helloAsJoiner, helloAsSharer } from '../../src/sync/hello.js';
import { SyncSession, type SessionEvent } from '../../src/sync/SyncSession.js';
import { ScanScope } from '../../src/core/Scanner.js';
import { openReplica } from '../helpers/replica.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { treeOf } from '../helpers/tree.js';
import { waitFor } from './helpers.js';
import { RelayHarness } from './relay/harness.js';

describe("a watcher's bursts (SyncSession.pushRecorded)", () => {
  it('are recorded one after another while the uploads before them are still going up, and all arrive', async () => {
    const relay = new RelayHarness();
    const root = tempDir();
    const { replica } = await openReplica(root, new MemoryStore(), 'alice');
    const conn = relay.connect();
    const hello = await helloAsSharer(conn, { replica, worktreeId: relay.worktreeId, secrets: relay.secrets, name: 'app' });
    // Doc uploads wait at a gate the test opens: the relay is slow to store them.
    const client = new RpcRelayClient({ conn, worktreeId: relay.worktreeId });
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let waiting = 0;
    const upload = client.uploadFileUpdates.bind(client);
    client.uploadFileUpdates = async (fileId, updates) => {
      waiting++;
      await gate;
      return upload(fileId, updates);
    };
    const events: SessionEvent[] = [];
    const state = { relaySeq: 0, acked: -1 };
    const session = new SyncSession({ replica, client, worktreeId: relay.worktreeId, access: hello.access!, state, saveState: async () => {}, onEvent: (e) => events.push(e) });
    writeTree(root, { 'a.txt': 'one\n' });
    await session.push();
    // Two bursts of saves, as a watcher reports them.
    writeFileSync(join(root, 'a.txt'), 'one\ntwo\n');
    const first = await session.pushRecorded({ scope: new ScanScope(['a.txt']) });
    await waitFor(() => waiting === 1, 5000, 'the first burst to be uploading');
    writeTree(root, { 'b.txt': 'bee\n' });
    let scanned = 0;
    const second = await session.pushRecorded({ scope: new ScanScope(['b.txt']), onScanned: (r) => (scanned = r.recorded.length) });
    // The second burst is recorded although the first is still held at the gate.
    expect(scanned).toBe(1);
    expect(waiting).toBe(1);
    expect(events.filter((e) => e.type === 'uploaded')).toHaveLength(1);
    open();
    const counts = [await first.sent, await second.sent];
    expect(counts[0]).toBeGreaterThan(0);
    // Each upload starts from what the one before acknowledged: the second sends b.txt only.
    expect(events.filter((e) => e.type === 'uploaded')).toHaveLength(3);
    expect(state.acked).toBeGreaterThan(0);
    const bobRoot = tempDir();
    const bob = await openReplica(bobRoot, new MemoryStore(), 'bob');
    const bobConn = relay.connect();
    const bobHello = await helloAsJoiner(bobConn, { replica: bob.replica, worktreeId: relay.worktreeId, secret: relay.secrets.readWrite });
    const bobSession = new SyncSession({ replica: bob.replica, conn: bobConn, worktreeId: relay.worktreeId, access: bobHello.access!, state: { relaySeq: 0, acked: 0 }, saveState: async () => {} });
    await bobSession.catchUp();
    expect(treeOf(bobRoot)).toEqual(treeOf(root));
  });
});
