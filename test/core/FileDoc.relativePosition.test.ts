import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { FileDoc } from '../../src/core/FileDoc.js';

/** Two replicas of one file from the same base, the second synced from the first. */
function pair(base: string): { a: FileDoc; b: FileDoc } {
  const a = FileDoc.create({ fileId: 'f1', clientId: 11, baseText: base }).doc;
  const b = FileDoc.create({ fileId: 'f1', clientId: 22, baseText: base }).doc;
  b.applyUpdate(Y.diffUpdate(a.snapshot(), b.stateVector()));
  return { a, b };
}

describe('FileDoc relative positions (presence)', () => {
  it('resolve on another replica at every offset, inside the text and at its end', () => {
    const { a, b } = pair('hello world\n');
    for (const at of [0, 3, 6, 12]) expect(b.absolutePosition(a.relativePosition(at))).toBe(at);
  });

  it('reject a position of another root type, and garbage', () => {
    const { b } = pair('text\n');
    const other = new Y.Doc();
    const foreign = Y.encodeRelativePosition(Y.createRelativePositionFromTypeIndex(other.getText('not-content'), 0));
    expect(b.absolutePosition(foreign)).toBeUndefined();
    expect(b.absolutePosition(new Uint8Array([0xff, 0xff, 0xff]))).toBeUndefined();
  });
});
