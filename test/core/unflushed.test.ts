import { lstatSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BootInfo, KvStore } from '../../src/core/ports.js';
import { Replica } from '../../src/core/Replica.js';
import { NodeFs } from '../../src/store/fs/NodeFs.js';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { FreezingKv } from '../helpers/freezingKv.js';
import { openReplica } from '../helpers/replica.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

/** The boot the files are written in, and the one after a crash. */
const before: BootInfo = { id: 'boot-before', startedMs: Date.now() - 3_600_000 };
const after = (): BootInfo => ({ id: 'boot-after', startedMs: Date.now() });

async function openBob(root: string, kv: KvStore, boot: BootInfo, flushWrites = false): Promise<Replica> {
  const home = `${root}/.no-home`;
  return Replica.open({ fs: new NodeFs(root, { boot }), kv, env: { USER: 'bob', HOME: home }, home, flushWrites });
}

async function notes(kv: KvStore): Promise<{ key: string; files: { path: string; ino: number; mtimeMs: number }[] }[]> {
  const out = [];
  for await (const [key, value] of kv.iterate({ gt: 'meta:unflushed:', lt: 'meta:unflushed;' })) out.push({ key, ...JSON.parse(new TextDecoder().decode(value)) });
  return out;
}

/** Alice's tree, applied to bob's disk unflushed in the boot `before`; bob is then closed. */
async function joined(files: Record<string, string | Uint8Array>) {
  const rootA = tempDir();
  const rootB = tempDir();
  writeTree(rootA, files);
  const { replica: alice } = await openReplica(rootA, undefined, 'alice');
  await alice.scan();
  const kv = new MemoryStore();
  const bob = await openBob(rootB, kv, before);
  const { changes } = await alice.changesSince(-1);
  await bob.applyChanges(changes, { replica: alice.identity.replicaId, author: 'alice' });
  bob.close();
  const noted = new Map((await notes(kv)).flatMap((n) => n.files.map((f) => [f.path, f] as const)));
  return { rootA, rootB, alice, kv, noted };
}

/** What a crash can leave of a file written unflushed: the inode, its data lost or cut short. */
function tear(root: string, rel: string, keep: number, mtimeMs: number): void {
  truncateSync(join(root, rel), keep);
  utimesSync(join(root, rel), new Date(), new Date(mtimeMs));
}

describe('files an apply writes unflushed', () => {
  it('are noted with their inode and mtime in the store, and flushed and forgotten once applies pause', async () => {
    const { rootB, kv, noted } = await joined({ 'a.txt': 'alpha\n', 'd/b.bin': new Uint8Array([0, 1, 2]) });
    expect([...noted.keys()].sort()).toEqual(['a.txt', 'd/b.bin']);
    const st = lstatSync(join(rootB, 'a.txt'));
    expect(noted.get('a.txt')).toMatchObject({ ino: st.ino, mtimeMs: st.mtimeMs });

    const bob = await openBob(rootB, kv, before);
    expect(await bob.flushWrites()).toBe(2);
    expect(await notes(kv)).toEqual([]);
    expect(await bob.flushWrites()).toBe(0);
    bob.close();
  });

  it('are flushed by themselves 2 s after the last apply in a long-running process (share, join), not in a short command', async () => {
    const long = await joined({ 'a.txt': 'alpha\n' });
    const short = await joined({ 'b.txt': 'beta\n' });
    const running = await openBob(long.rootB, long.kv, before, true);
    const command = await openBob(short.rootB, short.kv, before);
    await new Promise((r) => setTimeout(r, 2600));
    expect(await notes(long.kv)).toEqual([]);
    expect((await notes(short.kv)).length).toBe(1);
    running.close();
    command.close();
  });

  it('after a reboot, a file a crash tore (or lost) is written again from the store, and no edit is recorded', async () => {
    const { rootB, kv, noted } = await joined({ 'a.txt': 'alpha\nbeta\n', 'd/b.bin': new Uint8Array([9, 8, 7, 6, 5]), 'c.txt': 'gamma\n' });
    tear(rootB, 'a.txt', 0, noted.get('a.txt')!.mtimeMs);
    tear(rootB, 'd/b.bin', 2, noted.get('d/b.bin')!.mtimeMs - 5);
    rmSync(join(rootB, 'c.txt'));

    const bob = await openBob(rootB, kv, after());
    expect(readFileSync(join(rootB, 'a.txt'), 'utf8')).toBe('alpha\nbeta\n');
    expect([...readFileSync(join(rootB, 'd/b.bin'))]).toEqual([9, 8, 7, 6, 5]);
    expect(readFileSync(join(rootB, 'c.txt'), 'utf8')).toBe('gamma\n');
    expect((await bob.scan()).recorded).toEqual([]);
    expect(await notes(kv)).toEqual([]);
    bob.close();
  });

  it('after a reboot, a file modified after the write is an edit: kept and recorded by the scan', async () => {
    const { rootB, kv, noted } = await joined({ 'a.txt': 'alpha\n', 'b.txt': 'beta\n' });
    writeFileSync(join(rootB, 'a.txt'), 'edited in place\n'); // same inode, later mtime
    utimesSync(join(rootB, 'a.txt'), new Date(), new Date(noted.get('a.txt')!.mtimeMs + 5000));
    rmSync(join(rootB, 'b.txt'));
    writeFileSync(join(rootB, 'b.txt'), ''); // another inode: saved anew by someone

    const bob = await openBob(rootB, kv, after());
    expect(readFileSync(join(rootB, 'a.txt'), 'utf8')).toBe('edited in place\n');
    expect(readFileSync(join(rootB, 'b.txt'), 'utf8')).toBe('');
    const { recorded } = await bob.scan();
    expect(recorded.map((r) => [r.kind, r.path]).sort()).toEqual([['edit', 'a.txt'], ['edit', 'b.txt']]);
    bob.close();
  });

  it('in the same boot, a file that looks torn is not touched (only a crash tears, and it ends the boot)', async () => {
    const { rootB, kv, noted } = await joined({ 'a.txt': 'alpha\n' });
    tear(rootB, 'a.txt', 0, noted.get('a.txt')!.mtimeMs);
    const bob = await openBob(rootB, kv, before);
    expect(readFileSync(join(rootB, 'a.txt'), 'utf8')).toBe('');
    expect((await notes(kv)).length).toBe(1);
    bob.close();
  });

  it('after a reboot, a file torn by an apply that never committed gets back what the store records', async () => {
    const rootA = tempDir();
    const rootB = tempDir();
    writeTree(rootA, { 'a.txt': 'one\n' });
    const { replica: alice } = await openReplica(rootA, undefined, 'alice');
    await alice.scan();
    const disk = new MemoryStore();
    const kv = new FreezingKv(disk);
    const bob = await openBob(rootB, kv, before);
    const first = await alice.changesSince(-1);
    await bob.applyChanges(first.changes, { replica: alice.identity.replicaId, author: 'alice' });

    // Alice edits; bob's apply of it writes the file, and the machine dies before the commit.
    writeFileSync(join(rootA, 'a.txt'), 'one\ntwo\n');
    await alice.scan();
    const second = await alice.changesSince(first.upTo);
    kv.freezeAfter = 'meta:applying';
    void bob.applyChanges(second.changes, { replica: alice.identity.replicaId, author: 'alice' });
    for (let i = 0; i < 200 && readFileSync(join(rootB, 'a.txt'), 'utf8') !== 'one\ntwo\n'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(readFileSync(join(rootB, 'a.txt'), 'utf8')).toBe('one\ntwo\n');
    tear(rootB, 'a.txt', 3, lstatSync(join(rootB, 'a.txt')).mtimeMs);

    const bob2 = await openBob(rootB, disk, after());
    expect(readFileSync(join(rootB, 'a.txt'), 'utf8')).toBe('one\n');
    expect((await bob2.scan()).recorded).toEqual([]);
    await bob2.applyChanges(second.changes, { replica: alice.identity.replicaId, author: 'alice' });
    expect(readFileSync(join(rootB, 'a.txt'), 'utf8')).toBe('one\ntwo\n');
    bob2.close();
  });

  it('are flushed one by one, as before, where the boot is unknown', async () => {
    const rootA = tempDir();
    const rootB = tempDir();
    writeTree(rootA, { 'a.txt': 'alpha\n' });
    const { replica: alice } = await openReplica(rootA, undefined, 'alice');
    await alice.scan();
    const kv = new MemoryStore();
    const home = `${rootB}/.no-home`;
    const bob = await Replica.open({ fs: new NodeFs(rootB, { boot: undefined }), kv, env: { USER: 'bob', HOME: home }, home });
    await bob.applyChanges((await alice.changesSince(-1)).changes, { replica: alice.identity.replicaId, author: 'alice' });
    expect(readFileSync(join(rootB, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect(await notes(kv)).toEqual([]);
    bob.close();
  });
});
