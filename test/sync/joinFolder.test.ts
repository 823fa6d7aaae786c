import { describe, expect, it } from 'vitest';
import { fallbackFolderName, freeFolderName, safeFolderName } from '../../src/core/folderName.js';
import { worktreeNameOn } from '../../src/sync/joinFolder.js';
import { RelayHarness } from './relay/harness.js';

describe('the folder a join names after the shared worktree', () => {
  it('takes one plain name, Unicode and spaces inside included', () => {
    for (const n of ['app', 'my app', 'caf\u00e9', '\u30d5\u30a1\u30a4\u30eb', 'a.b', 'app-2', 'x'.repeat(100)]) expect(safeFolderName(n)).toBe(n);
  });

  it('refuses what leads out, hides, is empty or too long, or would put escapes on a terminal', () => {
    const bad = ['', '.', '..', '...', '/', 'a/b', '../x', '/abs', 'a\\b', '.git', '.cshare', '.hidden', '-rf', '~', '~root', ' a', 'a ', '\t',
      'x'.repeat(101), '\u30d5'.repeat(90), 'a\x00b', 'a\x1b[2K', 'a\nb', 'a\x7f', 'a\x9bb', 'rtl\u202e', 'zw\u200b', 'bom\ufeff', 'sep\u2028'];
    for (const n of bad) expect(safeFolderName(n), JSON.stringify(n)).toBeUndefined();
    // 100 characters of 2 bytes fit in 255 bytes; 90 of 3 bytes (270) do not.
    expect(safeFolderName('\u00e9'.repeat(100))).toBe('\u00e9'.repeat(100));
    expect(safeFolderName(undefined)).toBeUndefined();
    expect(safeFolderName(42)).toBeUndefined();
  });

  it('takes the next free name as name-2, name-3...; falls back to cshare-<id>', () => {
    const taken = new Set(['app', 'app-2', 'app-3']);
    expect(freeFolderName('app', (n) => taken.has(n))).toBe('app-4');
    expect(freeFolderName('new', (n) => taken.has(n))).toBe('new');
    expect(freeFolderName('app', () => true)).toBeUndefined();
    expect(fallbackFolderName('3f2a9c1b77e0')).toBe('cshare-3f2a9c1b');
  });
});

describe('worktree/info: the name a joiner names its folder after', () => {
  it('a relay says the registered name to a holder of either secret, before any hello', async () => {
    const relay = new RelayHarness();
    await relay.sharer();
    for (const secret of [relay.secrets.readOnly, relay.secrets.readWrite]) {
      expect(await worktreeNameOn(relay.connect(), { worktreeId: relay.worktreeId, secret })).toBe('app');
    }
    await expect(worktreeNameOn(relay.connect(), { worktreeId: relay.worktreeId, secret: new Uint8Array(32) })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });
});
