import { describe, expect, it } from 'vitest';
import { Replica } from '../../src/core/Replica.js';
import type { DirEntry } from '../../src/core/ports.js';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { MemFs } from '../helpers/MemFs.js';

const enc = new TextEncoder();

/** A worktree whose next listing leaves out one file, as a listing taken while a writer replaced it does. */
class MissingOnce extends MemFs {
  hide?: string;

  override readdir(rel: string): DirEntry[] | undefined {
    const entries = super.readdir(rel);
    const hide = this.hide;
    if (entries === undefined || hide === undefined) return entries;
    const dir = hide.includes('/') ? hide.slice(0, hide.lastIndexOf('/')) : '';
    if (dir !== rel) return entries;
    this.hide = undefined;
    return entries.filter((e) => e.name !== hide.slice(hide.lastIndexOf('/') + 1));
  }
}

describe('a file a scan missed while a writer replaced it', () => {
  // The checkout benchmark's sharer logged "d26/f2636.txt was never held here as the shared
  // file: recorded as a new file at its path" for a file git checkout had written: the scan that
  // missed it dropped its stat entry, and the next one took the file for one it never held.
  it('keeps its identity: the next scan records an edit of the shared file, not a new file', async () => {
    const fs = new MissingOnce('/mem/w');
    fs.writeFile('src/a.txt', enc.encode('main\n'));
    fs.writeFile('src/b.txt', enc.encode('b\n'));
    const replica = await Replica.open({ fs, kv: new MemoryStore(), env: { USER: 'alice' }, home: '/mem/home' });
    await replica.scan();
    const [created] = await replica.log({ path: 'src/a.txt' });
    // The checkout writes the file as the scan lists its folder.
    fs.writeFile('src/a.txt', enc.encode('other\n'));
    fs.hide = 'src/a.txt';
    expect((await replica.scan()).recorded).toEqual([]);
    expect(fs.hide).toBeUndefined();
    const next = await replica.scan();
    expect(next.recorded).toMatchObject([{ kind: 'edit', path: 'src/a.txt' }]);
    const log = await replica.log({ path: 'src/a.txt' });
    expect(log.map((o) => o.kind)).toEqual(['edit', 'create']);
    expect(new Set(log.map((o) => o.fileId))).toEqual(new Set([created!.fileId]));
    await replica.close();
  });
});
