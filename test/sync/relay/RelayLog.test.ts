import { describe, expect, it } from 'vitest';
import { PER_SECOND, REPEAT_MS, RelayLog } from '../../../src/sync/relay/RelayLog.js';

function capture(json: boolean) {
  const lines: string[] = [];
  let now = Date.parse('2026-12-07T10:00:00.000Z');
  const log = new RelayLog({ json, write: (l) => lines.push(l), now: () => now });
  return { log, lines, advance: (ms: number) => (now += ms) };
}

describe('RelayLog', () => {
  it('writes one line per event, as text or JSON, with control characters quoted', () => {
    const text = capture(false);
    text.log.log({ event: 'refused', peer: 'p1', code: 'UNAUTHORIZED', reason: 'no such\nworktree' });
    expect(text.lines).toEqual(['2026-12-07T10:00:00.000Z refused peer=p1 code=UNAUTHORIZED reason="no such\\nworktree"']);
    const json = capture(true);
    json.log.log({ event: 'quota', peer: 'p1', worktree: 'w', used: 5, max: 4 });
    expect(json.lines.map((l) => JSON.parse(l))).toEqual([{ time: '2026-12-07T10:00:00.000Z', event: 'quota', peer: 'p1', worktree: 'w', used: 5, max: 4 }]);
  });

  it('folds repeats of an event for one peer, and says how many on its next line', () => {
    const { log, lines, advance } = capture(true);
    for (let i = 0; i < 5; i++) log.log({ event: 'refused', peer: 'p1', code: 'UNAUTHORIZED', reason: 'x' });
    log.log({ event: 'refused', peer: 'p2', code: 'UNAUTHORIZED', reason: 'x' });
    advance(REPEAT_MS);
    log.log({ event: 'refused', peer: 'p1', code: 'UNAUTHORIZED', reason: 'x' });
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>).map((e) => [e.peer, e.repeated])).toEqual([
      ['p1', undefined],
      ['p2', undefined],
      ['p1', 4],
    ]);
  });

  it('writes at most PER_SECOND lines of a kind a second, however many peers, and says how many it left out', () => {
    const { log, lines, advance } = capture(true);
    for (let i = 0; i < 500; i++) log.log({ event: 'refused', peer: `p${i}`, code: 'OVERLOADED', reason: 'x' });
    expect(lines).toHaveLength(PER_SECOND);
    advance(1000);
    log.log({ event: 'refused', peer: 'q', code: 'OVERLOADED', reason: 'x' });
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ peer: 'q', suppressed: 500 - PER_SECOND });
  });
});
