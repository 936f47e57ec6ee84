// The data path's clock: one deadline list per clock. FakeClock runs the same list on a time that
// moves only by advance(); the process clock is checked on real time with generous bounds.
import { describe, it, expect } from 'vitest';
import { FakeClock, systemClock } from '../src/clock.js';
import { sleep } from './helpers/harness.js';

describe('FakeClock', () => {
  it('fires a deadline at its time, once; refresh pushes it later; cancel drops it', () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    const a = clock.deadline(() => fired.push(`a@${clock.now()}`));
    const b = clock.deadline(() => fired.push(`b@${clock.now()}`));
    const c = clock.deadline(() => fired.push(`c@${clock.now()}`));
    a.arm(100);
    b.arm(50);
    c.arm(10);
    c.cancel();
    clock.advance(40);
    b.refresh(); // due at 90 now
    clock.advance(1000);
    expect(fired).toEqual(['b@90', 'a@100']);
    expect(a.armed || b.armed || c.armed).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it('fires deadlines armed by a callback within the same advance, in time order', () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    const second = clock.deadline(() => fired.push(clock.now()));
    const first = clock.deadline(() => { fired.push(clock.now()); second.arm(30); });
    first.arm(20);
    clock.advance(100);
    expect(fired).toEqual([20, 50]);
    expect(clock.nextIn).toBe(Infinity);
  });
});

describe('the process clock', () => {
  it('fires, refreshes and cancels on real time', async () => {
    let fired = 0;
    let cancelledFired = false;
    const d = systemClock.deadline(() => { fired++; });
    const cancelled = systemClock.deadline(() => { cancelledFired = true; });
    cancelled.arm(20);
    d.arm(30);
    cancelled.cancel();
    const t0 = systemClock.now();
    while (fired === 0 && systemClock.now() - t0 < 5000) await sleep(10);
    expect(fired).toBe(1);
    expect(systemClock.now() - t0).toBeGreaterThanOrEqual(29);
    await sleep(60);
    expect(fired).toBe(1);
    expect(cancelledFired).toBe(false);
  });

  it('disarm stops a deadline that stays ready: arming again (same or another duration) fires once, also after it fired', async () => {
    let fired = 0;
    const d = systemClock.deadline(() => { fired++; });
    const waitFired = async (n: number) => {
      const t0 = systemClock.now();
      while (fired < n && systemClock.now() - t0 < 5000) await sleep(5);
    };
    d.arm(20);
    d.disarm();
    expect(d.armed).toBe(false);
    await sleep(80); // past its time: the timer that stayed scheduled must do nothing
    expect(fired).toBe(0);
    d.arm(20); // same duration: the kept timer is re-armed
    expect(d.armed).toBe(true);
    await waitFired(1);
    expect(fired).toBe(1);
    expect(d.armed).toBe(false);
    d.arm(20); // after it fired
    await waitFired(2);
    expect(fired).toBe(2);
    d.arm(25); // another duration
    d.refresh();
    await waitFired(3);
    expect(fired).toBe(3);
    d.arm(20);
    d.cancel();
    d.refresh(); // not armed: nothing
    await sleep(80);
    expect(fired).toBe(3);
  });
});
