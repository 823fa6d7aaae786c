import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { settleWithin } from '../../../src/sync/libp2p/Libp2pNode.js';

describe('settleWithin (the bound on stopping libp2p)', () => {
  it('resolves with the work, without waiting for the bound', async () => {
    let late = 0;
    const t0 = Date.now();
    await settleWithin(new Promise((r) => setTimeout(r, 20)), 5000, () => late++);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(late).toBe(0);
    await expect(settleWithin(Promise.reject(new Error('failed')), 5000, () => late++)).rejects.toThrow('failed');
  });

  it('goes on after the bound when the work never settles, and keeps the process alive until then', async () => {
    let late = 0;
    await settleWithin(new Promise(() => {}), 50, () => late++);
    expect(late).toBe(1);
    // A pending promise alone would let Node end the process with code 13 before the bound.
    const script = `import { settleWithin } from ${JSON.stringify(new URL('../../../src/sync/libp2p/Libp2pNode.ts', import.meta.url).pathname)};
await settleWithin(new Promise(() => {}), 100, () => process.stdout.write('late\\n'));
process.stdout.write('went on\\n');`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('late\nwent on\n');
  });
});
