import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cshareJson } from '../../helpers/cli.js';
import { stopAll, until } from '../../helpers/procs.js';
import { cluster, converged, read, startRelay } from './cluster.js';

afterEach(stopAll);

// A relay whose data comes back from an older copy (a restored backup, a disk that lost its
// last writes) has lost changes it had acknowledged. The replicas that saw them must notice
// (the relay's log ends before the seq they saw) and upload them again; a later joiner then
// gets everything. Before the fix they kept waiting for seqs after the one they had seen and
// never uploaded again: the restored relay served the old text to every new joiner.
describe('a relay restored from an older copy of its data', () => {
  it('gets back what it lost from the replicas that have it, and a late joiner gets everything', async () => {
    const c = await cluster({ files: { 'notes.txt': 'one\n' } });
    const data = join(c.base, 'relay-data');
    const backup = join(c.base, 'relay-backup');
    await c.relay.proc.stop();
    cpSync(data, backup, { recursive: true });
    c.relay = await startRelay(c.base, c.relay.port);
    await c.sharer.line((x) => x.event === 'reconnected', 60_000);

    // Changes the relay stores and acknowledges after the copy was made.
    writeFileSync(join(c.alice, 'notes.txt'), 'one\ntwo (after the backup)\n');
    writeFileSync(join(c.alice, 'new.txt'), 'created after the backup\n');
    await converged(c.alice, c.bob, 'notes.txt', (t) => t.includes('two'));
    await converged(c.alice, c.bob, 'new.txt');

    // The relay loses them: its data is the copy again.
    await c.relay.proc.stop();
    rmSync(data, { recursive: true, force: true });
    cpSync(backup, data, { recursive: true });
    c.relay = await startRelay(c.base, c.relay.port);
    // Whichever side reconnects first notices (the other may then find the relay whole
    // again, from the first one's upload).
    await until(() => [c.sharer, c.joiner].some((p) => p.lines.some((x) => x.event === 'relay-behind')), 60_000, () => 'no relay-behind from either side');
    const noticer = [c.sharer, c.joiner].find((p) => p.lines.some((x) => x.event === 'relay-behind'))!;
    const behind = noticer.lines.find((x) => x.event === 'relay-behind')!;
    expect(behind.reupload).toBe(true);
    expect(Number(behind.head)).toBeLessThan(Number(behind.seen));
    const at = noticer.lines.indexOf(behind);
    await until(() => noticer.lines.slice(at).some((x) => x.event === 'uploaded'), 60_000, () => 'nothing uploaded again');

    const carol = join(c.base, 'carol');
    const joined = cshareJson(c.base, ['join', c.codes.readOnly, carol, '--once']);
    expect(joined.code, JSON.stringify(joined.json)).toBe(0);
    expect(read(carol, 'notes.txt')).toBe('one\ntwo (after the backup)\n');
    expect(read(carol, 'new.txt')).toBe('created after the backup\n');

    // Both sides keep syncing with the restored relay.
    writeFileSync(join(c.bob, 'notes.txt'), 'one\ntwo (after the backup)\nthree (from bob)\n');
    await converged(c.alice, c.bob, 'notes.txt', (t) => t.includes('three'));
  }, 240_000);
});
