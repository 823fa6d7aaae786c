import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LISTEN_FILE, planListen, storeListen } from '../../src/sync/listenPorts.js';
import { tempDir } from '../helpers/tmp.js';

const held: Server[] = [];
afterEach(async () => {
  await Promise.all(held.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

function hold(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => {
      held.push(s);
      resolve();
    });
  });
}

const portOf = (addr: string) => Number(addr.split('/')[4]);
const defaults = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'];

describe('planListen', () => {
  it('turns port 0 into distinct concrete ports the first time, to be stored', async () => {
    const plan = await planListen({ dataDir: tempDir(), defaults });
    expect(plan.listen).toHaveLength(2);
    expect(plan.listen[1]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws$/);
    expect(portOf(plan.listen[0]!)).toBeGreaterThan(0);
    expect(portOf(plan.listen[0]!)).not.toBe(portOf(plan.listen[1]!));
    expect(plan.store).toEqual(plan.listen);
    expect(plan.moved).toEqual([]);
  });

  it('reuses the stored addresses, and replaces only a taken one (keeping the file as it is)', async () => {
    const dataDir = tempDir();
    const first = await planListen({ dataDir, defaults });
    await storeListen(dataDir, first.store!);
    const again = await planListen({ dataDir, defaults });
    expect(again).toEqual({ listen: first.listen, moved: [] });

    await hold(portOf(first.listen[0]!));
    const moved = await planListen({ dataDir, defaults });
    expect(moved.store).toBeUndefined();
    expect(moved.listen[1]).toBe(first.listen[1]);
    expect(portOf(moved.listen[0]!)).not.toBe(portOf(first.listen[0]!));
    expect(moved.moved).toEqual([{ stored: first.listen[0], now: moved.listen[0], reason: `port ${portOf(first.listen[0]!)} is in use by another program` }]);
  });

  it('takes addresses asked for over the stored ones, and stores them', async () => {
    const dataDir = tempDir();
    await storeListen(dataDir, ['/ip4/127.0.0.1/tcp/1234']);
    const plan = await planListen({ dataDir, requested: ['/ip4/127.0.0.1/tcp/0'], defaults });
    expect(portOf(plan.listen[0]!)).not.toBe(1234);
    expect(plan.store).toEqual(plan.listen);
  });

  it('refuses a damaged file with what to do', async () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, LISTEN_FILE), '{"listen": 7}');
    await expect(planListen({ dataDir, defaults })).rejects.toMatchObject({ code: 'STORE_CORRUPT', message: expect.stringMatching(/remove it/) });
  });
});
