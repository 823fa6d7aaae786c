import { describe, expect, it } from 'vitest';
import { counted, gitDate, gitQuoted, shown, shownText } from '../../src/core/display.js';

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

describe('gitQuoted, gitDate, counted: human output as git writes it', () => {
  it("quotes paths as git's core.quotePath does", () => {
    expect(gitQuoted('src/app.ts')).toBe('src/app.ts');
    expect(gitQuoted('a b.txt')).toBe('a b.txt');
    expect(gitQuoted('a\tb\n')).toBe('"a\\tb\\n"');
    expect(gitQuoted('caf\u00e9')).toBe('"caf\\303\\251"');
    expect(gitQuoted('x\x1b[2K\x7f')).toBe('"x\\033[2K\\177"');
    expect(gitQuoted('say "hi" \\ \x07\x08\x0b\x0c\r')).toBe('"say \\"hi\\" \\\\ \\a\\b\\v\\f\\r"');
    expect(gitQuoted('\u202e🌍')).toBe('"\\342\\200\\256\\360\\237\\214\\215"');
  });

  it('writes dates as git log does, in the local zone with its offset', () => {
    // Node reads TZ again whenever it is set.
    const saved = process.env.TZ;
    const at = Date.UTC(2026, 11, 1, 23, 35, 46);
    try {
      const cases = { UTC: 'Tue Dec 1 23:35:46 2026 +0000', 'Asia/Kolkata': 'Wed Dec 2 05:05:46 2026 +0530', 'America/St_Johns': 'Tue Dec 1 20:05:46 2026 -0330' };
      for (const [tz, want] of Object.entries(cases)) {
        process.env.TZ = tz;
        expect(gitDate(at), tz).toBe(want);
      }
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it('counts in singular and plural', () => {
    expect([counted(0, 'file'), counted(1, 'file'), counted(2, 'file'), counted(1, 'entry', 'entries'), counted(3, 'entry', 'entries')]).toEqual(['0 files', '1 file', '2 files', '1 entry', '3 entries']);
  });
});
