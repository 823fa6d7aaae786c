import { afterEach, describe, expect, it } from 'vitest';
import type { HistoryEntry } from '../../../src/sync/schema.js';
import { waitFor } from '../helpers.js';
import { RelayHarness, collect, recorder, rejection } from './harness.js';

const harnesses: RelayHarness[] = [];
function relay(): RelayHarness {
  const h = new RelayHarness();
  harnesses.push(h);
  return h;
}
afterEach(() => {
  for (const h of harnesses.splice(0)) h.close();
});

const entry = (seq: number, path = 'a.txt', extra: Partial<HistoryEntry> = {}): HistoryEntry => ({
  seq, kind: 'edit', time: 1_700_000_000_000 + seq, author: 'Alice', fileId: 'f1', path, inserted: 1, deleted: 0, ...extra,
});

describe('relay: history entries', () => {
  it('stores an upload under one seq, hands it out in catch-up and to the other subscribers, credited to the uploader', async () => {
    const h = relay();
    const a = await h.sharer();
    const b = await h.joiner('bob', 'ro');
    const W = h.worktreeId;
    const seen = recorder(b, `/worktrees/${W}`);
    await seen.ready;
    const mine = recorder(a, `/worktrees/${W}`);
    await mine.ready;
    const entries = [entry(1), entry(2, 'b.txt', { kind: 'rename', from: 'old.txt', patch: [{ pos: 0, del: '', ins: 'x' }] })];
    expect(await a.request('history/upload', { worktreeId: W, entries })).toEqual({ ok: true, seq: 1 });
    await waitFor(() => seen.events.some((e) => e.type === 'history'));
    expect(seen.events.filter((e) => e.type === 'history')).toEqual([{ type: 'history', entries, seq: 1, by: 'alice' }]);
    expect(mine.events.some((e) => e.type === 'history')).toBe(false);
    const pages = await collect(b.requestStream('worktree/sync-pages', { worktreeId: W, after: 0 }));
    expect(pages.flatMap((p) => p.items)).toEqual([{ type: 'history', seq: 1, entries, by: 'alice' }, { type: 'head', seq: 1 }]);
  });

  it('refuses unsafe paths, malformed or oversized entries and read-only codes, and stores nothing', async () => {
    const h = relay();
    const a = await h.sharer();
    const ro = await h.joiner('carol', 'ro');
    const W = h.worktreeId;
    const upload = (entries: unknown[], c = a) => rejection(c.request('history/upload', { worktreeId: W, entries: entries as HistoryEntry[] }));
    for (const path of ['../x', '.git/config', 'a\\b', 'src/.GIT/hooks/x']) expect((await upload([entry(1, path)])).code, path).toMatch(/BAD_PATH|PROTOCOL/);
    expect((await upload([entry(1, 'ok.txt', { from: '.cshare/store' })])).code).toMatch(/BAD_PATH|PROTOCOL/);
    expect((await upload([entry(1, 'a.txt', { patch: [{ pos: 0, del: '', ins: 'x'.repeat(3000) }] })])).code).toBe('PROTOCOL');
    expect((await upload([entry(1, 'a.txt', { patch: Array.from({ length: 40 }, () => ({ pos: 0, del: '', ins: 'x' })) })])).code).toBe('PROTOCOL');
    expect((await upload([entry(1, 'a.txt', { author: 'x'.repeat(300) })])).code).toBe('PROTOCOL');
    expect((await upload([{ ...entry(1), kind: 'explode' }])).code).toBe('PROTOCOL');
    expect((await upload([{ ...entry(1), extra: 1 }])).code).toBe('PROTOCOL');
    expect((await upload(Array.from({ length: 5001 }, (_, i) => entry(i + 1)))).code).toBe('PROTOCOL');
    expect((await upload([])).code).toBe('PROTOCOL');
    expect((await upload([entry(1)], ro)).code).toBe('FORBIDDEN');
    expect(await h.store.head(W)).toBe(0);
  });
});
