/**
 * The editor server's transform (docSync.ts, operation.ts) against a simulated world: an editor
 * that types at random moments while applyEdits are in flight, sends its changes in random
 * batches and refuses applyEdits at random; a remote peer that edits the document; the replica
 * recording the editor's edits at random moments (LiveDoc.edit's plan). Multibyte text (emoji,
 * CJK, combining marks) and every line break; all three position encodings. Each run ends with
 * buffer == document. Seeded: a failing seed is replayed with SEED=<n>.
 */
import { describe, expect, it } from 'vitest';
import { DocSync, type EditorChange, type OutgoingEdit } from '../../src/editor/docSync.js';
import { LineIndex, type PositionEncoding } from '../../src/editor/positions.js';
import { Prng } from '../../src/sync/prng.js';
import type { TextOp } from '../../src/core/hunkDiff.js';
import type { TextEdit } from '../../src/core/textEdits.js';

const PIECES = ['a', 'b', 'xy', ' ', '\n', '\r\n', '\r', 'é', 'e\u0301', '中文', '😀', '👍🏽', '\t'];
const ENCODINGS: PositionEncoding[] = ['utf-16', 'utf-8', 'utf-32'];

function randomText(rng: Prng, max: number): string {
  let s = '';
  const n = rng.int(max + 1);
  for (let i = 0; i < n; i++) s += PIECES[rng.int(PIECES.length)];
  return s;
}

/** Offsets of `text` that are code point boundaries; `lineSafe`: not between a `\r` and its `\n`. */
function boundaries(text: string, lineSafe: boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i <= text.length; i++) {
    const c = text.charCodeAt(i);
    if (i > 0 && c >= 0xdc00 && c <= 0xdfff && text.charCodeAt(i - 1) >= 0xd800 && text.charCodeAt(i - 1) <= 0xdbff) continue;
    if (lineSafe && i > 0 && c === 10 && text.charCodeAt(i - 1) === 13) continue;
    out.push(i);
  }
  return out;
}

function randomOp(rng: Prng, text: string, lineSafe: boolean): TextOp {
  const b = boundaries(text, lineSafe);
  let from = b[rng.int(b.length)]!;
  let to = b[rng.int(b.length)]!;
  if (from > to) [from, to] = [to, from];
  if (rng.chance(0.5)) to = Math.min(to, b.find((x) => x >= from + 4) ?? to); // mostly short deletes
  return { pos: from, del: text.slice(from, to), ins: rng.chance(0.2) ? '' : randomText(rng, 3) };
}

function applyEditorChanges(text: string, changes: readonly EditorChange[], enc: PositionEncoding): string {
  for (const c of changes) {
    const lines = new LineIndex(text);
    const from = lines.offsetOf(c.range.start, enc);
    const to = lines.offsetOf(c.range.end, enc);
    if (from === undefined || to === undefined || to < from) throw new Error(`bad range from the daemon: ${JSON.stringify(c.range)}`);
    text = text.slice(0, from) + c.text + text.slice(to);
  }
  return text;
}

function applyEdits(text: string, edits: readonly TextEdit[]): string {
  for (const e of [...edits].sort((a, b) => b.from - a.from)) text = text.slice(0, e.from) + e.insert + text.slice(e.to);
  return text;
}

type ToDaemon = { kind: 'change'; version: number; changes: EditorChange[] } | { kind: 'answer'; applied: boolean; version?: number };

/** One seeded run; returns counts for the sanity checks. */
function run(seed: number, steps: number) {
  const rng = new Prng(seed);
  const enc = ENCODINGS[seed % 3]!;
  const initial = randomText(rng, 12);
  // The buffer may start differing from the doc (an open with reconcile ops).
  let doc = rng.chance(0.3) ? randomText(rng, 12) : initial;
  let buffer = initial;
  let version = rng.int(5);
  const reconcile: TextOp[] = buffer === doc ? [] : [{ pos: 0, del: buffer, ins: doc }];
  const sync = new DocSync({ text: buffer, version, doc, pending: reconcile });
  const toDaemon: ToDaemon[] = [];
  const toEditor: OutgoingEdit[] = [];
  let unsent: EditorChange[] = [];
  let planScheduled = false;
  let rejectRate = rng.next() * 0.5;
  // Some editors stall (read nothing for most of the run): the daemon's pending ops pile up.
  const stallUntil = rng.chance(0.2) ? Math.floor(steps * 0.8) : 0;
  let now = 0;
  const stats = { applied: 0, refused: 0, typed: 0, remote: 0, maxPending: 0 };

  const daemonPoll = () => {
    if (sync.hasUnrecorded) planScheduled = true;
    const e = sync.nextEdit(enc);
    if (e) toEditor.push(e);
  };
  const step = (draining: boolean) => {
    const r = rng.int(draining ? 4 : 6);
    if (r === 0 && toDaemon.length > 0) {
      const m = toDaemon.shift()!;
      if (m.kind === 'change') sync.editorChanged(m.version, m.changes, enc);
      else sync.editAnswered(m.applied, m.version);
      daemonPoll();
    } else if (r === 1 && toEditor.length > 0 && now >= stallUntil) {
      const m = toEditor.shift()!;
      if (m.version === version && unsent.length === 0 && !(rng.chance(rejectRate))) {
        buffer = applyEditorChanges(buffer, m.changes, enc);
        version += 1 + rng.int(3);
        toDaemon.push({ kind: 'answer', applied: true, version });
        stats.applied++;
      } else {
        toDaemon.push({ kind: 'answer', applied: false });
        stats.refused++;
      }
    } else if (r === 2 && planScheduled) {
      planScheduled = false;
      doc = applyEdits(doc, sync.takeUnrecorded());
      expect(sync.docText).toBe(doc);
    } else if (r === 3 && unsent.length > 0) {
      toDaemon.push({ kind: 'change', version, changes: unsent });
      unsent = [];
    } else if (r === 4) {
      const op = randomOp(rng, buffer, true);
      const lines = new LineIndex(buffer);
      unsent.push({ range: { start: lines.positionOf(op.pos, enc), end: lines.positionOf(op.pos + op.del.length, enc) }, text: op.ins });
      buffer = buffer.slice(0, op.pos) + op.ins + buffer.slice(op.pos + op.del.length);
      version++;
      stats.typed++;
    } else if (r === 5) {
      const op = randomOp(rng, doc, false);
      doc = doc.slice(0, op.pos) + op.ins + doc.slice(op.pos + op.del.length);
      sync.docChanged([op]);
      daemonPoll();
      stats.remote++;
    }
  };
  for (now = 0; now < steps; now++) {
    step(false);
    stats.maxPending = Math.max(stats.maxPending, sync.pendingCount);
  }
  now = steps;
  // Drain: the editor stops typing and refusing, everything in flight arrives.
  rejectRate = 0;
  for (let i = 0; i < 10_000 && (toDaemon.length || toEditor.length || planScheduled || unsent.length || sync.behind || sync.awaiting); i++) {
    step(true);
    if (!sync.awaiting && sync.behind) daemonPoll();
  }
  expect({ seed, buffer }).toEqual({ seed, buffer: doc });
  expect(sync.shadowText).toBe(buffer);
  expect(sync.docText).toBe(doc);
  // The shadow's lines, kept change by change, are those of a fresh scan.
  expect([sync.shadowLines.starts, sync.shadowLines.ends]).toEqual([new LineIndex(buffer).starts, new LineIndex(buffer).ends]);
  return stats;
}

describe('editor transform convergence (randomized, seeded)', () => {
  it('every run ends with buffer == document (1500 seeds; SEED=n replays one)', () => {
    const only = process.env.SEED ? [Number(process.env.SEED)] : Array.from({ length: 1500 }, (_, i) => i + 1);
    const total = { applied: 0, refused: 0, typed: 0, remote: 0 };
    let maxPending = 0;
    for (const seed of only) {
      const s = run(seed, 160);
      for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += s[k];
      maxPending = Math.max(maxPending, s.maxPending);
    }
    // Stalled editors piled pending ops up to the bound, and not past it.
    if (!process.env.SEED) expect(maxPending).toBe(32);
    // The runs exercised what they claim to: both sides typing, applied and refused edits.
    if (!process.env.SEED) {
      expect(total.typed).toBeGreaterThan(10_000);
      expect(total.remote).toBeGreaterThan(10_000);
      expect(total.applied).toBeGreaterThan(2_000);
      expect(total.refused).toBeGreaterThan(1_000);
    }
  });

  it('never sends a position between the \\r and \\n of a line break (an insert there is widened)', () => {
    const sync = new DocSync({ text: 'a\r\nb', version: 1, doc: 'a\r\nb' });
    sync.docChanged([{ pos: 2, del: '', ins: 'X' }]);
    const e = sync.nextEdit('utf-16')!;
    expect(e.changes).toEqual([{ range: { start: { line: 0, character: 1 }, end: { line: 1, character: 0 } }, text: '\rX\n' }]);
    expect(applyEditorChanges('a\r\nb', e.changes, 'utf-16')).toBe('a\rX\nb');
  });
});

/** As Neovim with `fileformat=dos` holds a CRLF file: lines without the `\r`. */
const fromDoc = (t: string) => t.replace(/\r\n/g, '\n');
const toDoc = (t: string) => t.replace(/\n/g, '\r\n');
const LF_PIECES = ['a', 'b', 'xy', ' ', '\n', 'é', '中文', '😀', 'e\u0301'];

/** A remote change of a CRLF-only document as a save's diff makes it (one op). */
function remoteCrlfOp(rng: Prng, doc: string): TextOp {
  const lf = fromDoc(doc);
  const lfOp = randomOp(rng, lf, true);
  const ins = Array.from({ length: rng.int(3) }, () => LF_PIECES[rng.int(LF_PIECES.length)]).join('');
  const next = toDoc(lf.slice(0, lfOp.pos) + ins + lf.slice(lfOp.pos + lfOp.del.length));
  let p = 0;
  while (p < doc.length && p < next.length && doc[p] === next[p]) p++;
  let s = 0;
  while (s < doc.length - p && s < next.length - p && doc[doc.length - 1 - s] === next[next.length - 1 - s]) s++;
  // Never between the halves of a surrogate pair (the replica's ops never are).
  while (p > 0 && /[\udc00-\udfff]/.test(doc[p] ?? '')) p--;
  while (s > 0 && /[\udc00-\udfff]/.test(doc[doc.length - s] ?? '')) s--;
  return { pos: p, del: doc.slice(p, doc.length - s), ins: next.slice(p, next.length - s) };
}

let splitOps = 0;

/**
 * A remote change whose ends fall between a \r and its \n, as a CRDT merge or a diff may place
 * them: a line inserted as `\n<line>\r` inside a \r\n, or a line deleted as `\n<line>\r`.
 */
function splitCrlfOp(rng: Prng, doc: string): TextOp | undefined {
  const crlfs: number[] = [];
  for (let i = doc.indexOf('\r\n'); i >= 0; i = doc.indexOf('\r\n', i + 2)) crlfs.push(i);
  if (crlfs.length === 0) return undefined;
  const at = crlfs[rng.int(crlfs.length)]! + 1; // between the \r and the \n
  const next = crlfs.find((c) => c > at);
  if (next !== undefined && rng.chance(0.5)) return { pos: at, del: doc.slice(at, next + 1), ins: '' };
  const line = Array.from({ length: 1 + rng.int(2) }, () => LF_PIECES[rng.int(LF_PIECES.length)]).join('').replace(/\n/g, '');
  return { pos: at, del: '', ins: `\n${line}\r` };
}

/** A CRLF file between a dos-mode editor and remote changes; ends with buffer == document. */
function runDos(seed: number, steps: number): void {
  const rng = new Prng(seed);
  const enc = ENCODINGS[seed % 3]!;
  let buffer = Array.from({ length: rng.int(8) }, () => LF_PIECES[rng.int(LF_PIECES.length)]).join('');
  let doc = toDoc(buffer);
  let version = 1;
  const sync = new DocSync({ text: doc, version, doc });
  const toDaemon: ToDaemon[] = [];
  const toEditor: OutgoingEdit[] = [];
  let unsent: EditorChange[] = [];
  let planScheduled = false;
  const poll = () => {
    if (sync.hasUnrecorded) planScheduled = true;
    const e = sync.nextEdit(enc);
    if (e) toEditor.push(e);
  };
  const step = (draining: boolean) => {
    const r = rng.int(draining ? 4 : 6);
    if (r === 0 && toDaemon.length > 0) {
      const m = toDaemon.shift()!;
      if (m.kind === 'change') sync.editorChanged(m.version, m.changes, enc);
      else sync.editAnswered(m.applied, m.version);
      poll();
    } else if (r === 1 && toEditor.length > 0) {
      const m = toEditor.shift()!;
      if (m.version === version && unsent.length === 0 && !(draining ? false : rng.chance(0.2))) {
        // Positions are the same in the LF view (a `\r\n` is one break, and never split).
        buffer = applyEditorChanges(buffer, m.changes.map((c) => ({ range: c.range, text: fromDoc(c.text) })), enc);
        expect(buffer.includes('\r'), `seed ${seed}: a lone \\r reached the dos buffer`).toBe(false);
        version++;
        toDaemon.push({ kind: 'answer', applied: true, version });
      } else toDaemon.push({ kind: 'answer', applied: false });
    } else if (r === 2 && planScheduled) {
      planScheduled = false;
      doc = applyEdits(doc, sync.takeUnrecorded());
    } else if (r === 3 && unsent.length > 0) {
      toDaemon.push({ kind: 'change', version, changes: unsent });
      unsent = [];
    } else if (r === 4) {
      const op = randomOp(rng, buffer, true);
      const ins = Array.from({ length: rng.int(3) }, () => LF_PIECES[rng.int(LF_PIECES.length)]).join('');
      const lines = new LineIndex(buffer);
      unsent.push({ range: { start: lines.positionOf(op.pos, enc), end: lines.positionOf(op.pos + op.del.length, enc) }, text: toDoc(ins) });
      buffer = buffer.slice(0, op.pos) + ins + buffer.slice(op.pos + op.del.length);
      version++;
    } else if (r === 5) {
      const op = remoteCrlfOp(rng, doc);
      doc = doc.slice(0, op.pos) + op.ins + doc.slice(op.pos + op.del.length);
      sync.docChanged([op]);
      poll();
    }
  };
  const drain = () => {
    for (let i = 0; i < 10_000 && (toDaemon.length || toEditor.length || planScheduled || unsent.length || sync.behind || sync.awaiting); i++) {
      step(true);
      if (!sync.awaiting && sync.behind) poll();
    }
  };
  for (let i = 0; i < steps; i++) {
    step(false);
    if (rng.chance(0.05)) {
      // Everything settles, then a remote insert arrives split around a \r\n.
      // Everything settles (a CRLF-only document), then the editor types on while it arrives.
      drain();
      const op = splitCrlfOp(rng, doc);
      if (op) {
        splitOps++;
        doc = doc.slice(0, op.pos) + op.ins + doc.slice(op.pos + op.del.length);
        sync.docChanged([op]);
        poll();
      }
    }
  }
  drain();
  expect({ seed, doc: toDoc(buffer) }).toEqual({ seed, doc });
}

describe('a CRLF file in a dos-mode editor (lines without \\r, as Neovim holds them)', () => {
  it('remote saves whose ops split \\r\\n still reach the buffer whole: 600 seeds converge, no lone \\r in the buffer', () => {
    const only = process.env.SEED ? [Number(process.env.SEED)] : Array.from({ length: 600 }, (_, i) => i + 1);
    for (const seed of only) runDos(seed, 120);
    if (!process.env.SEED) expect(splitOps).toBeGreaterThan(100);
  });
});
