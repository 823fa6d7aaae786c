import { describe, expect, it } from 'vitest';
import { Replica } from '../../../src/core/Replica.js';
import { MemoryStore } from '../../../src/store/memory/MemoryStore.js';
import { MemFs } from '../../helpers/MemFs.js';

const open = (name: string, fs = new MemFs(`/mem/${name}`)) => Replica.open({ fs, kv: new MemoryStore(), env: { USER: name }, home: '/mem/home' });

describe('a manifest entry whose content has not arrived yet (convergence fuzz, seed 1)', () => {
  it('is neither recorded as deleted nor breaks the next scan, and is written once its blob comes', async () => {
    const aliceFs = new MemFs('/mem/alice');
    const alice = await open('alice', aliceFs);
    aliceFs.writeFile('a.txt', new TextEncoder().encode('hello\n'));
    await alice.scan();
    const { changes } = await alice.changesSince(-1);

    const bob = await open('bob');
    // The manifest arrives first (the sharer uploads it before the rest of the blobs).
    await bob.applyChanges({ manifest: changes.manifest, files: [], blobs: [] }, { replica: 'alice', author: 'alice' });
    expect(await bob.missingBlobs()).toHaveLength(1);
    const scan = await bob.scan();
    expect(scan.recorded).toEqual([]);
    // Then the blob: the file appears, still live.
    await bob.applyChanges({ manifest: [], files: [], blobs: changes.blobs }, { replica: 'alice', author: 'alice' });
    expect(bob.fileCount()).toBe(1);
    expect(await bob.missingBlobs()).toEqual([]);
  });
});

describe('a local file at the path of an entry whose content has not arrived (convergence fuzz, seed 56)', () => {
  it('is recorded as a new file instead of failing every scan, and keeps its content', async () => {
    const aliceFs = new MemFs('/mem/alice');
    const alice = await open('alice', aliceFs);
    aliceFs.writeFile('a.txt', new TextEncoder().encode('from alice\n'));
    await alice.scan();
    const { changes } = await alice.changesSince(-1);

    const bobFs = new MemFs('/mem/bob');
    const bob = await open('bob', bobFs);
    await bob.applyChanges({ manifest: changes.manifest, files: [], blobs: [] }, { replica: 'alice', author: 'alice' });
    bobFs.writeFile('a.txt', new TextEncoder().encode('from bob\n'));
    const scan = await bob.scan();
    expect(scan.recorded.map((c) => `${c.kind} ${c.path}`)).toEqual(['create a.txt']);
    await bob.applyChanges({ manifest: [], files: [], blobs: changes.blobs }, { replica: 'alice', author: 'alice' });
    expect(new TextDecoder().decode(bobFs.readFile('a.txt'))).toBe('from bob\n');
    expect((await bob.scan()).recorded).toEqual([]);
  });
});

describe('a new file with the digest of an entry whose content has not arrived (convergence fuzz, seed 110)', () => {
  it('is recorded as a new file, not as a rename of the file in transit', async () => {
    const aliceFs = new MemFs('/mem/alice');
    const alice = await open('alice', aliceFs);
    aliceFs.writeFile('c.md', new Uint8Array());
    await alice.scan();
    const { changes } = await alice.changesSince(-1);

    const bobFs = new MemFs('/mem/bob');
    const bob = await open('bob', bobFs);
    await bob.applyChanges({ manifest: changes.manifest, files: [], blobs: [] }, { replica: 'alice', author: 'alice' });
    bobFs.writeFile('b.txt', new Uint8Array());
    expect((await bob.scan()).recorded.map((c) => `${c.kind} ${c.path}`)).toEqual(['create b.txt']);
    await bob.applyChanges({ manifest: [], files: [], blobs: changes.blobs }, { replica: 'alice', author: 'alice' });
    expect(bobFs.files()).toEqual(['b.txt', 'c.md']);
  });
});
