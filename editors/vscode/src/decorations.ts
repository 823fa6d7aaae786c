/**
 * Peers' cursors and selections as decorations: per peer a cursor (a bar in its colour with
 * its name above it) and its selections (its colour, translucent), in every visible editor of
 * the document the peer is in. What is drawn is also kept (`shown`) for the test hook.
 */
import * as vscode from 'vscode';
import { marksIn, type Peer, type PeerMarks } from './peers.js';

/** The decoration types of one peer (made once per peer and colour). */
interface PeerTypes {
  color: string;
  name: string;
  cursor: vscode.TextEditorDecorationType;
  /** A cursor on the first line: its label below it (above, it would be cut off). */
  cursorTop: vscode.TextEditorDecorationType;
  selection: vscode.TextEditorDecorationType;
}

/** Draws peers in editors. */
export class PeerDecorations implements vscode.Disposable {
  private readonly types = new Map<string, PeerTypes>();
  /** What is drawn now: document path -> the marks of each peer there. */
  readonly shown = new Map<string, PeerMarks[]>();

  private typesOf(m: PeerMarks): PeerTypes {
    const had = this.types.get(m.id);
    if (had && had.color === m.color && had.name === m.name) return had;
    if (had) {
      disposeAll(had);
    }
    const t: PeerTypes = {
      color: m.color,
      name: m.name,
      cursor: cursorType(m, 'translateY(-95%)'),
      cursorTop: cursorType(m, 'translateY(95%)'),
      selection: vscode.window.createTextEditorDecorationType({ backgroundColor: `${m.color}55`, borderRadius: '2px' }),
    };
    this.types.set(m.id, t);
    return t;
  }

  /**
   * Draws peers in the visible editors; `lookup` says which shared document an editor shows
   * and who the peers of its worktree are.
   */
  update(lookup: (doc: vscode.TextDocument) => { path: string; peers: readonly Peer[] } | undefined): void {
    this.shown.clear();
    const present = new Set<string>();
    const known = new Set<string>();
    for (const editor of vscode.window.visibleTextEditors) {
      const at = lookup(editor.document);
      const path = at?.path;
      for (const p of at?.peers ?? []) known.add(p.id);
      const marks = at ? marksIn(at.peers, at.path) : [];
      if (path && marks.length > 0) this.shown.set(path, marks);
      const drawn = new Set<string>();
      for (const m of marks) {
        const t = this.typesOf(m);
        present.add(m.id);
        drawn.add(m.id);
        const at = (c: { line: number; character: number }) => new vscode.Range(c.line, c.character, c.line, c.character);
        editor.setDecorations(t.cursor, m.cursors.filter((c) => c.line > 0).map(at));
        editor.setDecorations(t.cursorTop, m.cursors.filter((c) => c.line === 0).map(at));
        editor.setDecorations(t.selection, m.selections.map((s) => new vscode.Range(s.start.line, s.start.character, s.end.line, s.end.character)));
      }
      for (const [id, t] of this.types) {
        if (drawn.has(id)) continue;
        editor.setDecorations(t.cursor, []);
        editor.setDecorations(t.cursorTop, []);
        editor.setDecorations(t.selection, []);
      }
    }
    // A peer that left (or is in no visible document) loses its types: nothing of it stays drawn.
    for (const [id, t] of this.types) {
      if (present.has(id) || known.has(id)) continue;
      disposeAll(t);
      this.types.delete(id);
    }
  }

  dispose(): void {
    for (const t of this.types.values()) disposeAll(t);
    this.types.clear();
  }
}

function disposeAll(t: PeerTypes): void {
  t.cursor.dispose();
  t.cursorTop.dispose();
  t.selection.dispose();
}

/**
 * A peer's cursor: VS Code draws no border on an empty range, so the bar and the name label are
 * the range's before/after pieces, made to take no room (the CSS after `none;` is how a
 * decoration positions its content; VS Code has no API for a floating label). `shift` puts
 * the label above the line, or below it.
 */
function cursorType(m: PeerMarks, shift: string): vscode.TextEditorDecorationType {
  return vscode.window.createTextEditorDecorationType({
    rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
    before: {
      contentText: '',
      textDecoration: `none; position: absolute; display: inline-block; width: 2px; height: 1.3em; margin-left: -1px; background-color: ${m.color}; z-index: 9; pointer-events: none`,
    },
    after: {
      contentText: m.name,
      color: '#ffffff',
      backgroundColor: m.color,
      fontWeight: 'bold',
      textDecoration: `none; position: absolute; display: inline-block; transform: ${shift}; font-size: 0.7em; line-height: 1.3em; padding: 0 3px; border-radius: 2px; z-index: 10; pointer-events: none; white-space: nowrap`,
    },
    overviewRulerColor: m.color,
    overviewRulerLane: vscode.OverviewRulerLane.Center,
  });
}
