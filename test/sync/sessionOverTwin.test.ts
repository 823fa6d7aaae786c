import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { hashSecret, newShareSecrets, worktreeIdToString } from '../../src/sync/joinCode.js';
import { MemoryRelay } from '../../src/sync/memory/MemoryRelay.js';
import { MemoryRelayClient } from '../../src/sync/memory/MemoryRelayClient.js';
import { SyncSession, type SessionEvent } from '../../src/sync/SyncSession.js';
import { openReplica } from '../helpers/replica.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { treeOf } from '../helpers/tree.js';
import { waitFor } from './helpers.js';

/**
 * A sync session needs nothing of the wire: over the in-memory twin of a relay (no RPC, no
 * frames), a share reaches a joiner and a live edit comes back.
 */
describe('SyncSession over the in-memory RelayClient', () => {
  it('shares, catches up and follows live edits through MemoryRelayClient alone', async () => {
    const relay = new MemoryRelay();
    const secrets = newShareSecrets();
    const worktreeId = worktreeIdToString(secrets.worktreeId);
    const open = async (name: string, role: 'sharer' | 'joiner') => {
      const root = tempDir();
      const { replica } = await openReplica(root, new MemoryStore(), name);
      const client = new MemoryRelayClient({ relay, worktreeId, peer: name });
      const hello = await client.hello({
        role, secret: secrets.readWrite, replicaId: replica.identity.replicaId, name,
        ...(role === 'sharer' ? { register: { readOnlyHash: hashSecret(secrets.readOnly), name: 'app' } } : {}),
      });
      const events: SessionEvent[] = [];
      const state = { relaySeq: 0, acked: role === 'sharer' ? -1 : 0 };
      const session = new SyncSession({ replica, client, worktreeId, access: hello.access!, state, saveState: async () => {}, onEvent: (e) => events.push(e) });
      return { root, client, session, events, state };
    };
    const alice = await open('alice', 'sharer');
    writeTree(alice.root, { 'src/app.ts': 'let a = 1;\n', 'bin.dat': new Uint8Array([0, 1, 2, 0]) });
    expect(await alice.session.push()).toBeGreaterThan(0);

    const bob = await open('bob', 'joiner');
    await bob.session.catchUp();
    expect(treeOf(bob.root)).toEqual(treeOf(alice.root));
    expect(bob.state.relaySeq).toBe(relay.head(worktreeId));

    const live = bob.session.live();
    await waitFor(() => bob.client.following, 5000, "bob's live feed");
    writeFileSync(join(alice.root, 'src/app.ts'), 'let a = 1;\nlet b = 2;\n');
    await alice.session.push();
    await waitFor(() => readFileSync(join(bob.root, 'src/app.ts'), 'utf8') === 'let a = 1;\nlet b = 2;\n', 5000, "alice's edit on bob's disk");
    expect(bob.events.filter((e) => e.type === 'applied').map((e) => e.type === 'applied' && e.changes.map((c) => c.path))).toContainEqual(['src/app.ts']);
    // Closing the connection ends the live feed as a dropped connection does.
    bob.client.close();
    await expect(live).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
    alice.client.close();
  });
});
