// The idle list (src/net/idle-list.ts): one timer for every idle connection, entries due in the
// order they became idle, leaving and re-joining in place. Run on the FakeClock.
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/clock.js';
import { IdleList, type IdleEntry } from '../../src/net/idle-list.js';

class Entry implements IdleEntry {
  idlePrev: IdleEntry | undefined = undefined;
  idleNext: IdleEntry | undefined = undefined;
  idleDue = NaN;
  constructor(readonly name: string, readonly expired: string[], readonly onExpire?: () => void) {}
  idleExpired(): void {
    this.expired.push(this.name);
    this.onExpire?.();
  }
}

describe('IdleList', () => {
  it('expires each entry idleMs after it was added, in order, on one deadline', () => {
    const clock = new FakeClock();
    const list = new IdleList(clock, 100);
    const expired: string[] = [];
    const a = new Entry('a', expired);
    const b = new Entry('b', expired);
    list.add(a);
    clock.advance(30);
    list.add(b);
    expect(clock.pending).toBe(1); // one deadline for both
    clock.advance(69);
    expect(expired).toEqual([]);
    clock.advance(1);
    expect(expired).toEqual(['a']);
    expect(list.size).toBe(1);
    clock.advance(29);
    expect(expired).toEqual(['a']);
    clock.advance(1);
    expect(expired).toEqual(['a', 'b']);
    expect(list.size).toBe(0);
    expect(Number.isNaN(a.idleDue) && Number.isNaN(b.idleDue)).toBe(true);
  });

  it('a removed entry never expires; one added again is due idleMs after its new add', () => {
    const clock = new FakeClock();
    const list = new IdleList(clock, 100);
    const expired: string[] = [];
    const a = new Entry('a', expired);
    const b = new Entry('b', expired);
    const c = new Entry('c', expired);
    list.add(a);
    list.add(b);
    list.add(c);
    list.remove(b); // from the middle
    list.remove(b); // twice: nothing
    clock.advance(50);
    list.add(a); // moves to the tail, due at 150
    clock.advance(50);
    expect(expired).toEqual(['c']);
    clock.advance(50);
    expect(expired).toEqual(['c', 'a']);
    clock.advance(1000);
    expect(expired).toEqual(['c', 'a']);
    expect(list.size).toBe(0);
    expect(clock.pending).toBe(0); // nothing left scheduled once the list is empty
  });

  it('an entry may re-join or remove others while expiring; the list stays consistent', () => {
    const clock = new FakeClock();
    const list = new IdleList(clock, 10);
    const expired: string[] = [];
    const c = new Entry('c', expired);
    const b = new Entry('b', expired, () => list.remove(c));
    const a = new Entry('a', expired, () => list.add(a));
    list.add(a);
    list.add(b);
    list.add(c);
    clock.advance(10); // a, b and c due: a re-joins, b takes c off
    expect(expired).toEqual(['a', 'b']);
    expect(list.size).toBe(1);
    clock.advance(10);
    expect(expired).toEqual(['a', 'b', 'a']);
    list.remove(a);
    list.close();
    expect(clock.pending).toBe(0);
  });

  it('holds many entries on one deadline and expires them all', () => {
    const clock = new FakeClock();
    const list = new IdleList(clock, 1000);
    const expired: string[] = [];
    const entries = Array.from({ length: 5000 }, (_, i) => new Entry(String(i), expired));
    for (const [i, e] of entries.entries()) {
      list.add(e);
      if (i % 1000 === 999) clock.advance(1);
    }
    for (let i = 0; i < 5000; i += 2) list.remove(entries[i]);
    expect(list.size).toBe(2500);
    expect(clock.pending).toBe(1);
    clock.advance(1010);
    expect(expired).toEqual(entries.filter((_, i) => i % 2 === 1).map((e) => e.name));
  });
});
