import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import { EventPrinter } from '../../src/cli/eventPrinter.js';

function printer(opts: { tty: boolean; verbose?: boolean }): { p: EventPrinter; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const p = new EventPrinter({ color: new Chalk({ level: 0 }), verbose: opts.verbose ?? false, tty: opts.tty, out: (t) => out.push(t), err: (t) => err.push(t) });
  return { p, out, err };
}

const changes = (n: number) => Array.from({ length: n }, (_, i) => ({ seq: i, kind: 'edit' as const, path: `f${i}.txt`, inserted: 1, deleted: 0 }));

describe('EventPrinter: what share and join print for humans', () => {
  it('on a terminal: one progress line redrawn with \\r, then a summary that replaces it', () => {
    const { p, out } = printer({ tty: true });
    p.write({ type: 'progress', phase: 'download', done: 100, total: 300, bytes: 1e6, totalBytes: 3e6 });
    p.write({ type: 'progress', phase: 'download', done: 200, total: 300, bytes: 2e6, totalBytes: 3e6 });
    p.write({ type: 'progress', phase: 'download', done: 300, total: 300, bytes: 3e6, totalBytes: 3e6 });
    const text = out.join('');
    expect(text.match(/\r/g)?.length).toBe(3);
    expect(text).toContain('downloading 100 of 300 files, 1.0 MB of 3.0 MB');
    expect(text).toMatch(/\rdownloaded 300 files \(3\.0 MB\) in [\d.]+ s\x1b\[K\n$/);
    expect(text.split('\n').length).toBe(2);
  });

  it('without a terminal: no redraws, only the summary', () => {
    const { p, out } = printer({ tty: false });
    p.write({ type: 'progress', phase: 'upload', done: 10, total: 20, bytes: 5e5 });
    p.write({ type: 'progress', phase: 'upload', done: 20, total: 20, bytes: 1e6 });
    expect(out.join('')).toMatch(/^uploaded 20 files \(1\.0 MB\) in [\d.]+ s\n$/);
  });

  it('a catch-up before the worktree is in sync lists nothing; later a big apply is one line and a small one is listed', () => {
    const { p, out } = printer({ tty: false });
    p.write({ type: 'applied', changes: changes(3000), by: 'r' });
    expect(out).toEqual([]);
    p.synced();
    p.write({ type: 'applied', changes: changes(2), by: 'r' });
    p.write({ type: 'applied', changes: changes(250), by: 'r' });
    expect(out.join('')).toBe('<- edit f0.txt\n<- edit f1.txt\n<- 250 files changed (250 edit); --verbose lists them\n');
  });

  it('--verbose lists every file, the catch-up too', () => {
    const { p, out } = printer({ tty: false, verbose: true });
    p.write({ type: 'applied', changes: changes(40), by: 'r' });
    expect(out.join('').split('\n').filter(Boolean)).toHaveLength(40);
  });

  it('an error ends the progress line first and goes to stderr', () => {
    const { p, out, err } = printer({ tty: true });
    p.write({ type: 'progress', phase: 'upload', done: 5, total: 50, bytes: 10 });
    p.write({ type: 'error', code: 'IO', message: 'disk full' });
    expect(out.join('').endsWith('\n')).toBe(true);
    expect(err).toEqual(['error: disk full\n']);
  });
});

describe('EventPrinter: a peer typing live', () => {
  const edit = (path: string) => ({ type: 'applied' as const, changes: [{ seq: 1, kind: 'edit' as const, path, inserted: 1, deleted: 0 }], by: 'r' });

  function typing(tty: boolean) {
    let t = 0;
    const out: string[] = [];
    const p = new EventPrinter({ color: new Chalk({ level: 0 }), verbose: false, tty, out: (s) => out.push(s), err: () => {}, now: () => t });
    p.synced();
    return { p, out, at: (ms: number) => (t = ms) };
  }

  it('without a terminal: one line per file for a burst of edits, a new one after a pause or another line', () => {
    const { p, out, at } = typing(false);
    for (let i = 0; i < 20; i++) {
      at(i * 60);
      p.write(edit('a.txt'));
    }
    at(1300);
    p.write(edit('b.txt'));
    at(1400);
    p.write(edit('a.txt'));
    at(1500);
    p.write({ type: 'peer-left', replicaId: 'r', name: 'bob' });
    at(1600);
    p.write(edit('a.txt'));
    at(9000);
    p.write(edit('a.txt'));
    expect(out.join('').split('\n').filter((l) => l.startsWith('<-'))).toEqual(['<- edit a.txt', '<- edit b.txt', '<- edit a.txt', '<- edit a.txt', '<- edit a.txt']);
  });

  it('on a terminal: the line is redrawn in place with the count', () => {
    const { p, out, at } = typing(true);
    for (let i = 0; i < 3; i++) {
      at(i * 100);
      p.write(edit('a.txt'));
    }
    expect(out).toEqual(['<- edit a.txt\n', '\x1b[1A\r<- edit a.txt (2 times)\x1b[K\n', '\x1b[1A\r<- edit a.txt (3 times)\x1b[K\n']);
  });

  it('--verbose still lists every edit', () => {
    const out: string[] = [];
    const p = new EventPrinter({ color: new Chalk({ level: 0 }), verbose: true, tty: false, out: (s) => out.push(s), now: () => 0 });
    p.synced();
    for (let i = 0; i < 5; i++) p.write(edit('a.txt'));
    expect(out.join('').split('\n').filter(Boolean)).toHaveLength(5);
  });
});
