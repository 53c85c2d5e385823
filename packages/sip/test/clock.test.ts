import { describe, expect, it } from 'vitest';
import { FakeClock, systemClock } from '../src/clock.js';

describe('FakeClock', () => {
  it('starts at the given time and only moves on advance()', () => {
    const clock = new FakeClock(1000);
    expect(clock.now()).toBe(1000);
    clock.advance(250);
    expect(clock.now()).toBe(1250);
  });

  it('fires due timers in due-time order, ties in scheduling order, with now() at each due time', () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`b@${clock.now()}`), 200);
    clock.setTimeout(() => fired.push(`a@${clock.now()}`), 100);
    clock.setTimeout(() => fired.push(`c@${clock.now()}`), 200);
    clock.setTimeout(() => fired.push(`late@${clock.now()}`), 301);
    clock.advance(300);
    expect(fired).toEqual(['a@100', 'b@200', 'c@200']);
    expect(clock.now()).toBe(300);
    expect(clock.pendingTimers).toBe(1);
  });

  it('fires timers scheduled by timers within the same advance', () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    const tick = (): void => {
      fired.push(clock.now());
      if (fired.length < 4) {
        clock.setTimeout(tick, 100);
      }
    };
    clock.setTimeout(tick, 100);
    clock.advance(1000);
    expect(fired).toEqual([100, 200, 300, 400]);
  });

  it('fires a zero-delay timer on advance(0), not synchronously', () => {
    const clock = new FakeClock();
    let fired = false;
    clock.setTimeout(() => {
      fired = true;
    }, 0);
    expect(fired).toBe(false);
    clock.advance(0);
    expect(fired).toBe(true);
  });

  it('never fires a cleared timer, and ignores clearing it twice', () => {
    const clock = new FakeClock();
    let fired = false;
    const handle = clock.setTimeout(() => {
      fired = true;
    }, 10);
    clock.clearTimeout(handle);
    clock.clearTimeout(handle);
    clock.advance(100);
    expect(fired).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });

  it('lets a timer clear another timer due at the same time', () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    const handles: ReturnType<FakeClock['setTimeout']>[] = [];
    clock.setTimeout(() => {
      fired.push('first');
      handles.forEach((handle) => {
        clock.clearTimeout(handle);
      });
    }, 50);
    handles.push(clock.setTimeout(() => fired.push('second'), 50));
    clock.advance(50);
    expect(fired).toEqual(['first']);
  });

  it('runAll() fires every pending timer and stops a runaway loop', () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(clock.now()), 5000);
    clock.setTimeout(() => fired.push(clock.now()), 10);
    clock.runAll();
    expect(fired).toEqual([10, 5000]);
    const forever = (): void => {
      clock.setTimeout(forever, 1);
    };
    forever();
    expect(() => {
      clock.runAll(100);
    }).toThrow(RangeError);
  });

  it('rejects a negative advance', () => {
    expect(() => {
      new FakeClock().advance(-1);
    }).toThrow(RangeError);
  });
});

describe('systemClock', () => {
  it('runs and clears real timers', async () => {
    const before = systemClock.now();
    await new Promise<void>((resolve) => {
      systemClock.setTimeout(resolve, 1);
    });
    let fired = false;
    const handle = systemClock.setTimeout(() => {
      fired = true;
    }, 1);
    systemClock.clearTimeout(handle);
    await new Promise<void>((resolve) => {
      systemClock.setTimeout(resolve, 5);
    });
    expect(fired).toBe(false);
    expect(systemClock.now()).toBeGreaterThanOrEqual(before);
  });
});
