/**
 * An editor's buffer as a {@link LiveListener} (`Replica.openLive`): the text it opened with,
 * every change it was told applied in order (each checked against the text it deletes), and the
 * other events it was told.
 */
import { expect } from 'vitest';
import type { TextOp } from '../../src/core/FileDoc.js';
import type { LiveListener } from '../../src/core/liveDocs.js';

export class EditorBuffer implements LiveListener {
  text: string;
  told: TextOp[][] = [];
  events: string[] = [];
  constructor(text: string) {
    this.text = text;
  }
  changed(ops: readonly TextOp[]): void {
    this.told.push([...ops]);
    for (const op of ops) {
      // Each op is in the text the one before left, and deletes what that text holds there.
      expect(this.text.slice(op.pos, op.pos + op.del.length)).toBe(op.del);
      this.text = this.text.slice(0, op.pos) + op.ins + this.text.slice(op.pos + op.del.length);
    }
  }
  arrived(text: string): void {
    this.events.push('arrived');
    this.text = text;
  }
  renamed(to: string): void {
    this.events.push(`renamed ${to}`);
  }
  deleted(): void {
    this.events.push('deleted');
  }
}
