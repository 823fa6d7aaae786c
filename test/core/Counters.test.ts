import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/core/Counters.js';

describe('Counters', () => {
  it('hands out each seq and each Lamport time once, in order', () => {
    const c = new Counters({ seq: 4, lamport: 10 });
    expect([c.nextSeq(), c.nextSeq()]).toEqual([5, 6]);
    expect(c.seq).toBe(6);
    expect(c.nextLamport()).toBe(11);
    expect(c.lamport).toBe(11);
  });

  it('moves the clock past a time seen elsewhere, never back', () => {
    const c = new Counters({ seq: 0, lamport: 10 });
    c.observeLamport(7);
    expect(c.lamport).toBe(10);
    c.observeLamport(20);
    expect(c.lamport).toBe(20);
    expect(c.nextLamport()).toBe(21);
  });

  it('lets compaction fold only changes up to keepLogAfter (everything while not sharing)', () => {
    const c = new Counters({ seq: 0, lamport: 0 });
    expect(c.keepLogAfter).toBe(Infinity);
    expect(c.mayCompact(1_000_000)).toBe(true);
    c.keepLogAfter = 5;
    expect([c.mayCompact(5), c.mayCompact(6)]).toEqual([true, false]);
    c.keepLogAfter = -1;
    expect(c.mayCompact(1)).toBe(false);
  });

  it('takes a keepLogAfter that is not a number (a damaged sync state) as holding back everything', () => {
    const c = new Counters({ seq: 0, lamport: 0, keepLogAfter: Number.NaN });
    expect(c.keepLogAfter).toBe(-1);
    c.keepLogAfter = undefined as unknown as number;
    expect(c.mayCompact(1)).toBe(false);
  });

  it('tells which seq the store does not know was handed out', () => {
    const c = new Counters({ seq: 3, lamport: 0 });
    expect(c.unpersisted()).toBeUndefined();
    c.nextSeq();
    c.nextSeq();
    expect(c.unpersisted()).toBe(5);
    c.persisted(4);
    expect(c.unpersisted()).toBe(5);
    c.persisted(5);
    expect(c.unpersisted()).toBeUndefined();
  });
});
