import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
};

/**
 * `npm install` warns `EBADENGINE` for every installed package whose `engines.node` the
 * running Node does not satisfy. cshare supports the oldest Node its own `engines` allows, so
 * every package in the lock file must accept that one: libp2p 3 pulled in nanoid 6 and
 * p-retry 8, which declare Node 22; `overrides` pin nanoid 5 and p-retry 7 (Node 20).
 */
describe('engines', () => {
  it('every locked package accepts the oldest Node that package.json allows, and the one running the tests', () => {
    const oldest = semver.minVersion(pkg.engines.node)!.version;
    expect(oldest).toBe('20.19.0');
    const refused: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (path === '' || range === undefined) continue;
      for (const node of [oldest, process.version]) {
        if (!semver.satisfies(node, range)) refused.push(`${path}@${entry.version} wants node ${range}, not ${node}`);
      }
    }
    expect(refused).toEqual([]);
  });
});
