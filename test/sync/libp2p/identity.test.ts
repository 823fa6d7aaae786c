import '../../../src/cli/polyfills.js';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IDENTITY_FILE, loadOrCreateIdentity } from '../../../src/sync/libp2p/identity.js';
import { tempDir } from '../../helpers/tmp.js';
import { startNode } from './harness.js';

describe('identity', () => {
  it('creates a key once (mode 0600) and gives the same peer id after a restart', async () => {
    const dataDir = join(tempDir(), 'nested', 'data');
    const first = await loadOrCreateIdentity({ dataDir });
    expect(first.created).toBe(true);
    expect(first.path).toBe(join(dataDir, IDENTITY_FILE));
    expect(statSync(first.path).mode & 0o777).toBe(0o600);

    const node1 = await startNode({ privateKey: first.privateKey });
    expect(node1.peerId).toBe(first.peerId);
    await node1.stop();

    const second = await loadOrCreateIdentity({ dataDir });
    expect(second.created).toBe(false);
    expect(second.peerId).toBe(first.peerId);
    const node2 = await startNode({ privateKey: second.privateKey });
    expect(node2.peerId).toBe(first.peerId);

    const other = await loadOrCreateIdentity({ dataDir: tempDir() });
    expect(other.peerId).not.toBe(first.peerId);
  });

  it('ends with one key when several callers create it at once', async () => {
    const dataDir = tempDir();
    const all = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateIdentity({ dataDir })));
    expect(new Set(all.map((i) => i.peerId)).size).toBe(1);
    expect((await loadOrCreateIdentity({ dataDir })).peerId).toBe(all[0]!.peerId);
  });

  it('refuses a corrupt key file instead of replacing it', async () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, IDENTITY_FILE), 'not a key');
    await expect(loadOrCreateIdentity({ dataDir })).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
  });

  it('honours an aborted signal', async () => {
    await expect(loadOrCreateIdentity({ dataDir: tempDir(), signal: AbortSignal.abort() })).rejects.toThrow();
  });
});
