import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, start, startText, stopAll, until, type Proc } from '../helpers/procs.js';
import { git, tempDir, writeTree } from '../helpers/tmp.js';

afterEach(stopAll);

const FILES = 3000;
const path = (i: number) => `d${i % 30}/f${i}.txt`;
const text = (i: number, branch: string) => `${branch} file ${i}\n${'line\n'.repeat(i % 7)}${branch} end\n`;

/** Whether every file of `dir` holds `branch`'s text. */
function onBranch(dir: string, branch: string): boolean {
  for (let i = 0; i < FILES; i++) if (readFileSync(join(dir, path(i)), 'utf8') !== text(i, branch)) return false;
  return true;
}

function commitBranch(repo: string, branch: string): void {
  writeTree(repo, Object.fromEntries(Array.from({ length: FILES }, (_, i) => [path(i), text(i, branch)])));
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-q', '-m', branch]);
}

/** Everything a text-mode process printed, for failure messages. */
const printed = (p: Proc) => `stdout: ${p.lines.map((l) => l.raw).join('\n').slice(-3000)}\nstderr: ${p.stderr.slice(-3000)}`;

describe('a git checkout of 3000 files on the sharer (issue 16)', () => {
  it('reaches the joiner as a catch-up: the disks end equal, and neither side prints error:', async () => {
    const base = tempDir('cshare-checkout-');
    const repo = join(base, 'repo');
    git(base, ['init', '-q', '-b', 'main', repo]);
    commitBranch(repo, 'main');
    git(repo, ['checkout', '-q', '-b', 'other']);
    commitBranch(repo, 'other');
    git(repo, ['checkout', '-q', 'main']);

    const relay = start('relay', base, ['relay', '--data', join(base, 'data'), '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`]);
    const addr = ((await relay.line((l) => l.event === 'listening')).addresses as string[])[0]!;
    // Text mode, as a user runs them: what they print is what the user sees.
    const sharer = startText('alice', repo, ['share', '--relay', addr]);
    let code = '';
    await until(() => (code = /cshare join (\S+) +\(read-write\)/.exec(sharer.lines.map((l) => l.raw).join('\n'))?.[1] ?? '') !== '', 120_000, () => printed(sharer));
    // The join code comes before the background upload of a fresh tree (all but the 100 newest
    // files); this test is about the checkout, so the joiner comes once that upload has ended
    // (one joining during it may wait for content past its fetch deadline and say so).
    await until(() => sharer.lines.some((l) => /^uploaded \d+ files/.test(String(l.raw))), 120_000, () => printed(sharer));
    const joined = join(base, 'bob');
    const joiner = startText('bob', base, ['join', code, joined]);
    await until(() => joiner.lines.some((l) => String(l.raw).startsWith('Joined ')), 120_000, () => printed(joiner));
    await until(() => onBranch(joined, 'main'), 60_000, () => printed(joiner));

    git(repo, ['checkout', '-q', 'other']);
    await until(() => onBranch(joined, 'other'), 120_000, () => `${printed(sharer)}\n${printed(joiner)}`);
    // And back: the second burst comes while the first one's echoes may still be about.
    git(repo, ['checkout', '-q', 'main']);
    await until(() => onBranch(joined, 'main'), 120_000, () => `${printed(sharer)}\n${printed(joiner)}`);

    expect(sharer.stderr).not.toContain('error:');
    expect(joiner.stderr).not.toContain('error:');
    expect(`${sharer.stderr}${joiner.stderr}`).not.toMatch(/fell more than|malformed frame/);
  }, 400_000);
});
