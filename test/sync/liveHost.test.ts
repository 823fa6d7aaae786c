/**
 * What a running share or join hands the editor server (`sync/liveHost.ts`), used as the editor
 * server will use it: `share` and `join` run in this process on real disks and stores, through
 * the share's own relay on loopback (libp2p), and a keystroke in one side's editor reaches the
 * other side's editor buffer.
 */
import { readFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { LiveDoc } from '../../src/core/liveDocs.js';
import { join } from '../../src/sync/join.js';
import type { LiveHost, StartLive } from '../../src/sync/liveHost.js';
import { share, type JoinCodes } from '../../src/sync/share.js';
import { EditorBuffer } from '../helpers/editorBuffer.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

/** A stand-in for the editor server: keeps the host, and closes its documents when the process ends. */
function editorServer() {
  const docs: LiveDoc[] = [];
  let host: LiveHost | undefined;
  const statuses: string[] = [];
  const start: StartLive = async (h) => {
    host = h;
    h.onStatus(() => statuses.push(h.connection()));
    return { close: async () => void (await Promise.all(docs.map((d) => d.close()))) };
  };
  return {
    start,
    statuses,
    host: () => host!,
    async open(path: string) {
      const buffer = new EditorBuffer('');
      const doc = await host!.replica.openLive({ path, origin: 'test-editor', listener: buffer });
      buffer.text = doc.text;
      docs.push(doc);
      return { doc, buffer };
    },
  };
}

describe('the live host of a running share and join', () => {
  it('hands the editor server the replica and its status; a keystroke reaches the other editor through the relay on loopback', async () => {
    const base = tempDir('cshare-live-');
    const alice = joinPath(base, 'alice');
    const bob = joinPath(base, 'bob');
    writeTree(alice, { 'doc.txt': 'hello\n' });
    const aliceEditor = editorServer();
    const bobEditor = editorServer();
    const stopAlice = new AbortController();
    const stopBob = new AbortController();
    let codes!: (c: JoinCodes) => void;
    const shared = new Promise<JoinCodes>((r) => (codes = r));
    const sharing = share({ cwd: alice, signal: stopAlice.signal, live: aliceEditor.start, onEvent: (e) => e.type === 'sharing' && codes(e.codes) });
    let joinedNow!: () => void;
    const joined = new Promise<void>((r) => (joinedNow = r));
    const joining = join({ code: (await shared).readWrite, dir: bob, cwd: base, signal: stopBob.signal, live: bobEditor.start, onEvent: (e) => e.type === 'joined' && joinedNow() });
    try {
      await joined;
      expect(aliceEditor.host()).toMatchObject({ role: 'sharer', readOnly: false, root: alice });
      expect(bobEditor.host()).toMatchObject({ role: 'joiner', readOnly: false });
      await vi.waitFor(() => expect([aliceEditor.host().connection(), bobEditor.host().connection()]).toEqual(['online', 'online']), { timeout: 10_000, interval: 20 });
      expect(bobEditor.statuses).toContain('online');
      const a = await aliceEditor.open('doc.txt');
      const b = await bobEditor.open('doc.txt');
      expect(b.buffer.text).toBe('hello\n');
      const latencies: number[] = [];
      for (const ch of 'from alice, live: 世界 🌍') {
        const at = a.buffer.text.length - 1;
        a.buffer.text = a.buffer.text.slice(0, at) + ch + a.buffer.text.slice(at);
        const want = a.buffer.text;
        const t0 = performance.now();
        await a.doc.edit(() => [{ from: at, to: at, insert: ch }]);
        await vi.waitFor(() => expect(b.buffer.text).toBe(want), { timeout: 10_000, interval: 1 });
        latencies.push(performance.now() - t0);
      }
      latencies.sort((x, y) => x - y);
      const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(1);
      console.log(`keystroke -> other editor's buffer, share's relay on loopback, LevelDB both sides: p50 ${p(0.5)} ms, p90 ${p(0.9)} ms, max ${p(1)} ms (${latencies.length} keystrokes)`);
      // The target is < 10 ms on an idle machine; this one is shared, so the test allows more.
      expect(Number(p(0.5))).toBeLessThan(200);
      // Bob's editor types back; the disk of neither side has the typing while the editors are open.
      await b.doc.edit(() => [{ from: 0, to: 0, insert: '> ' }]);
      b.buffer.text = `> ${b.buffer.text}`;
      await vi.waitFor(() => expect(a.buffer.text).toBe(b.buffer.text), { timeout: 10_000, interval: 5 });
      expect(readFileSync(joinPath(alice, 'doc.txt'), 'utf8')).toBe('hello\n');
      expect(readFileSync(joinPath(bob, 'doc.txt'), 'utf8')).toBe('hello\n');
    } finally {
      stopBob.abort();
      await joining;
      stopAlice.abort();
      await sharing;
    }
    // Each process closed its editor server before its store: the disks got the merged text.
    const merged = '> hellofrom alice, live: 世界 🌍\n';
    expect(readFileSync(joinPath(bob, 'doc.txt'), 'utf8')).toBe(merged);
    expect(readFileSync(joinPath(alice, 'doc.txt'), 'utf8')).toBe(merged);
  }, 60_000);
});
