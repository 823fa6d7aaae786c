import { describe, expect, it } from 'vitest';
import { scanWorktree } from '../../src/core/Scanner.js';
import { MemFs } from '../helpers/MemFs.js';
import { PATTERNS, RuleWorld } from './rules.js';

const enc = new TextEncoder();

/** Does cshare's own scan leave `journal` out when `ruleFile` holds `text`? */
function scanIgnores(ruleFile: string, text: string, journal: string): boolean {
  const fs = new MemFs('/mem/w');
  fs.writeFile(ruleFile, enc.encode(text));
  fs.writeFile(journal, enc.encode('#1 line\n'));
  return !scanWorktree({ fs, statCache: new Map() }).files.some((f) => f.path === journal);
}

// The fuzzer's random text edits reach `.gitignore` files; an edit that makes them ignore the
// journal files is not made, since the journal oracle wants every saved line on every replica
// (fuzz seeds 275384697, 8000663, 1532569260: a `*` line hid a new journal where it was made).
describe('RuleWorld.hidesJournals (the fuzzer keeps rules off journal files)', () => {
  const cases: [string, string, boolean][] = [
    ['.gitignore', '*\n.log\n', true], // seed 8000663: `*.log` split by an inserted newline
    ['.gitignore', 'b.{\n*\n', true], // seed 275384697
    ['.gitignore', '*\nlibdelta\n/\nlib/\n', true], // seed 1532569260
    ['.gitignore', 'b*\n', true],
    ['.gitignore', 'j/\n', true],
    ['.gitignore', '*.log\nb.*\n!b.md\n', false],
    ['.gitignore', '*\n!j/\n!j/**\n', false],
    ['src/.gitignore', '*\n', false],
    ['j/x.txt', '*\n', false],
  ];

  it.each(cases)('%s holding %j hides journal files: %s', (path, text, hides) => {
    expect(RuleWorld.hidesJournals(path, text)).toBe(hides);
  });

  it("agrees with cshare's scan about a journal file made next", () => {
    for (const [path, text, hides] of cases.filter(([p]) => p.endsWith('.gitignore'))) {
      for (const journal of ['j/a1.txt', 'j/b17.txt', 'j/c4.txt']) {
        // `b*` spares a- and c-journals; every other case decides for all three alike.
        const expected = text === 'b*\n' ? journal.startsWith('j/b') : hides;
        expect(scanIgnores(path, text, journal), `${path} ${JSON.stringify(text)} ${journal}`).toBe(expected);
      }
    }
  });

  it('holds for the rules users add on purpose (rules.ts), all at once', () => {
    expect(RuleWorld.hidesJournals('.gitignore', `${PATTERNS.join('\n')}\n`)).toBe(false);
  });
});
