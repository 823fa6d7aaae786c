import { describe, expect, it } from 'vitest';
import { shown, shownText } from '../../src/core/display.js';

describe('shown / shownText: nothing from a peer reaches a terminal raw', () => {
  it('leaves ordinary paths and names alone, Unicode included', () => {
    for (const s of ['src/app.ts', 'ünï code/ファイル 🌍.txt', 'a "quoted" name', 'back\\slash']) expect(shown(s)).toBe(s);
  });

  it('quotes and escapes C0, DEL, C1 and the Unicode controls that reorder or break lines', () => {
    expect(shown('a\x1b[31mb')).toBe('"a\\x1b[31mb"');
    expect(shown('t\tn\nr\r')).toBe('"t\\tn\\nr\\r"');
    expect(shown('x\x7fy\x9bz')).toBe('"x\\x7fy\\x9bz"');
    expect(shown('abc\u202etxt.exe')).toBe('"abc\\u202etxt.exe"');
    expect(shown('l\u2028m\u2066')).toBe('"l\\u2028m\\u2066"');
    expect(shown('say "hi"\x07')).toBe('"say \\"hi\\"\\x07"');
    expect(shownText('refused "a\x1b]0;t\x07": x')).toBe('refused "a\\x1b]0;t\\x07": x');
    expect(shownText('plain message')).toBe('plain message');
  });
});
