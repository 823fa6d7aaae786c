import { describe, expect, it } from 'vitest';
import { DocSync, type ChangeEvent } from '../../editors/vscode/src/docSync.js';
import { applyChanges, lineStarts, positionAt, type Change, type OffsetEdit } from '../../editors/vscode/src/text.js';
import { Prng } from '../../src/sync/prng.js';

/**
 * A VS Code text document as the extension host sees it: its text, `document.version`, change
 * events with VS Code's shape (every change relative to the text before the event), the line
 * breaks of inserted text normalised to the document's EOL, and a WorkspaceEdit that fails when
 * the document changed since the extension read it (VS Code checks the version it was made at).
 */
class FakeDoc {
  version = 1;
  constructor(
    public text: string,
    readonly eol: '\n' | '\r\n',
  ) {}

  /** Applies offset edits relative to the current text; returns the event VS Code would fire. */
  edit(edits: readonly OffsetEdit[]): ChangeEvent {
    const before = this.text;
    const starts = lineStarts(before);
    const sorted = [...edits].sort((a, b) => b.from - a.from);
    const changes = sorted.map((e) => {
      const text = e.text.replace(/\r\n|\r|\n/g, this.eol);
      return { range: { start: positionAt(before, e.from, starts), end: positionAt(before, e.to, starts) }, rangeOffset: e.from, rangeLength: e.to - e.from, text };
    });
    for (const c of changes) this.text = this.text.slice(0, c.rangeOffset) + c.text + this.text.slice(c.rangeOffset + c.rangeLength);
    this.version++;
    return { docVersion: this.version, changes };
  }
}

/** The daemon's view of the buffer: the text at the version it knows; checks every message. */
class FakeDaemon {
  constructor(
    public text: string,
    public version: number,
  ) {}

  didChange(m: { version: number; changes: Change[] }): void {
    expect(m.version).toBeGreaterThan(this.version);
    const next = applyChanges(this.text, m.changes);
    expect(next).toBeDefined();
    this.text = next!;
    this.version = m.version;
  }
}

const pieces = ['a', 'é', '😀', '漢', 'e\u0301', ' ', '\n', 'xyz', '👩‍💻'];

/** A random edit of `text` at code point boundaries (never inside a surrogate pair or a \r\n). */
function randomEdit(rand: () => number, text: string): OffsetEdit {
  const cuts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) i++;
    else if (c === 13 && text.charCodeAt(i + 1) === 10) i++;
    cuts.push(i + 1);
  }
  const a = cuts[Math.floor(rand() * cuts.length)]!;
  const b = rand() < 0.6 ? a : cuts[Math.min(cuts.length - 1, cuts.indexOf(a) + 1 + Math.floor(rand() * 4))]!;
  const ins = rand() < 0.25 ? '' : Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pieces[Math.floor(rand() * pieces.length)]).join('');
  return { from: a, to: b, text: ins };
}

describe('VS Code extension: version mapping and echo suppression (editors/vscode/src/docSync.ts)', () => {
  it('applies an edit only at exactly the version the daemon knows with nothing unsent, and never sends it back', () => {
    const doc = new FakeDoc('hello\n', '\n');
    const sync = new DocSync('a.txt', 1, doc.text);
    const daemon = new FakeDaemon(doc.text, 1);
    // The user types: the change waits to be sent, so an applyEdit on version 1 is refused.
    expect(sync.changed(doc.edit([{ from: 5, to: 5, text: '!' }]))).toBe(true);
    expect(sync.beginApply(1, [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: '> ' }], doc.text, doc.version)).toEqual({ refused: 'unsent' });
    daemon.didChange(sync.takeUnsent()!);
    expect(daemon).toMatchObject({ text: 'hello!\n', version: 2 });
    // A stale version is refused; the current one is applied, and its event is not sent.
    const change = [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: '> ' }];
    expect(sync.beginApply(1, change, doc.text, doc.version)).toEqual({ refused: 'version' });
    const plan = sync.beginApply(2, change, doc.text, doc.version);
    expect(plan).toEqual({ edits: [{ from: 0, to: 0, text: '> ' }] });
    expect(sync.changed(doc.edit((plan as { edits: OffsetEdit[] }).edits))).toBe(false);
    expect(sync.endApply(true)).toEqual({ applied: true, version: 3 });
    expect(sync.takeUnsent()).toBeUndefined();
    daemon.text = applyChanges(daemon.text, change)!;
    expect(doc.text).toBe('> hello!\n');
    expect(daemon.text).toBe(doc.text);
  });

  it('a keystroke that reaches the document first makes VS Code refuse the edit: answered {applied:false}, the keystroke is sent, nothing is lost', () => {
    const doc = new FakeDoc('ab', '\n');
    const sync = new DocSync('a.txt', 1, doc.text);
    const plan = sync.beginApply(1, [{ range: { start: { line: 0, character: 2 }, end: { line: 0, character: 2 } }, text: 'R' }], doc.text, doc.version);
    expect('edits' in plan).toBe(true);
    // The user's keystroke lands while the edit travels; VS Code then refuses the edit (version check).
    expect(sync.changed(doc.edit([{ from: 0, to: 0, text: 'U' }]))).toBe(false);
    expect(sync.endApply(false)).toEqual({ applied: false });
    expect(sync.takeUnsent()).toEqual({ version: 2, changes: [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: 'U' }] });
  });

  it('a \\n a peer inserted into a \\r\\n document, which VS Code turns into \\r\\n, is sent back as this buffer\'s change after the answer', () => {
    const doc = new FakeDoc('one\r\ntwo', '\r\n');
    const sync = new DocSync('a.txt', 1, doc.text);
    const daemon = new FakeDaemon(doc.text, 1);
    const change = [{ range: { start: { line: 1, character: 3 }, end: { line: 1, character: 3 } }, text: '\nthree' }];
    const plan = sync.beginApply(1, change, doc.text, doc.version) as { edits: OffsetEdit[] };
    sync.changed(doc.edit(plan.edits));
    expect(sync.endApply(true)).toEqual({ applied: true, version: 2 });
    daemon.text = applyChanges(daemon.text, change)!;
    daemon.version = 2;
    daemon.didChange(sync.takeUnsent()!);
    expect(doc.text).toBe('one\r\ntwo\r\nthree');
    expect(daemon.text).toBe(doc.text);
  });

  it('an event that replaces half of a surrogate pair (VS Code reports a typed emoji so next to another) is sent as one whole change', () => {
    const doc = new FakeDoc('a😀b', '\n');
    const sync = new DocSync('a.txt', 1, doc.text);
    const daemon = new FakeDaemon(doc.text, 1);
    // 😁 typed after 😀: VS Code reports "replace the low surrogate of 😀 with \uDE00\uD83D\uDE01".
    const e = doc.edit([{ from: 2, to: 3, text: '\uDE00\uD83D\uDE01' }]);
    expect(doc.text).toBe('a😀😁b');
    expect(sync.changed(e)).toBe(true);
    const m = sync.takeUnsent()!;
    expect(m.changes).toEqual([{ range: { start: { line: 0, character: 3 }, end: { line: 0, character: 3 } }, text: '😁' }]);
    daemon.didChange(m);
    expect(daemon.text).toBe(doc.text);
  });

  it("an event whose report does not lead to the document's text after it is sent as the change to that text", () => {
    const sync = new DocSync('a.txt', 1, 'abc');
    const daemon = new FakeDaemon('abc', 1);
    // Reported: 'X' inserted at 1; the document (VS Code's getText()) has 'aXYbc'.
    expect(sync.changed({ docVersion: 2, after: 'aXYbc', changes: [{ range: { start: { line: 0, character: 1 }, end: { line: 0, character: 1 } }, rangeOffset: 1, rangeLength: 0, text: 'X' }] })).toBe(true);
    daemon.didChange(sync.takeUnsent()!);
    expect(daemon.text).toBe('aXYbc');
  });

  it('random typing on both sides, with multibyte text, \\r\\n documents and keystrokes racing the edits: the daemon\'s text always equals the buffer at the version it knows (seeds 1-300)', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const prng = new Prng(seed);
      const rand = () => prng.next();
      const eol = rand() < 0.5 ? '\r\n' : '\n';
      const doc = new FakeDoc(`first${eol}second 😀${eol}`, eol);
      const sync = new DocSync('f.txt', 1, doc.text);
      const daemon = new FakeDaemon(doc.text, 1);
      let applied = 0;
      for (let step = 0; step < 60; step++) {
        const r = rand();
        if (r < 0.45) {
          if (sync.changed(doc.edit([randomEdit(rand, doc.text)])) && rand() < 0.5) {
            const m = sync.takeUnsent();
            if (m) daemon.didChange(m);
          }
        } else if (r < 0.55) {
          const m = sync.takeUnsent();
          if (m) daemon.didChange(m);
        } else {
          // The daemon sends an edit on the version it knows (stale if the buffer has unsent changes).
          const e = randomEdit(rand, daemon.text);
          const change: Change = { range: { start: positionAt(daemon.text, e.from), end: positionAt(daemon.text, e.to) }, text: e.text };
          const plan = sync.beginApply(daemon.version, [change], doc.text, doc.version);
          if ('refused' in plan) continue;
          const race = rand();
          let ok = true;
          if (race < 0.3) {
            // A keystroke gets in first: VS Code refuses the edit.
            sync.changed(doc.edit([randomEdit(rand, doc.text)]));
            ok = false;
          } else {
            sync.changed(doc.edit(plan.edits));
            // Keystrokes right after the edit, before its promise resolves.
            if (race > 0.7) sync.changed(doc.edit([randomEdit(rand, doc.text)]));
          }
          const answer = sync.endApply(ok);
          if (answer.applied) {
            applied++;
            daemon.text = applyChanges(daemon.text, [change])!;
            daemon.version = answer.version;
          }
        }
      }
      const last = sync.takeUnsent();
      if (last) daemon.didChange(last);
      expect({ seed, text: daemon.text }).toEqual({ seed, text: doc.text });
      expect(applied, `seed ${seed}`).toBeGreaterThan(0);
    }
  });
});
