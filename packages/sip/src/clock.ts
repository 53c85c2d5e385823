/**
 * Time as an injected dependency.
 *
 * Every timer-driven part of the SIP stack (transactions, 2xx retransmission, nonce expiry) takes
 * a {@link Clock} instead of calling the global timer functions, so tests run the RFC 3261 timers
 * deterministically with {@link FakeClock} and never wait for real time.
 */

declare const timerHandleBrand: unique symbol;

/** An opaque timer handle returned by {@link Clock.setTimeout}. */
export interface TimerHandle {
  readonly [timerHandleBrand]: true;
}

/** A source of time and one-shot timers. */
export interface Clock {
  /** Milliseconds since an arbitrary, fixed origin (monotonic for {@link FakeClock}). */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; a handle that already fired or was cleared is ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `Date.now()` and the global timer functions. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms) as unknown as TimerHandle,
  clearTimeout: (handle) => {
    globalThis.clearTimeout(handle as unknown as Parameters<typeof globalThis.clearTimeout>[0]);
  },
};

interface FakeTimer {
  readonly id: number;
  readonly due: number;
  readonly fn: () => void;
}

/**
 * A manual clock for tests. Time only moves when {@link FakeClock.advance} is called; due timers
 * then fire in order of due time (ties in scheduling order), with `now()` set to each timer's due
 * time while it runs, including timers scheduled by other timers during the same advance.
 *
 * @example
 * ```ts
 * const clock = new FakeClock();
 * clock.setTimeout(() => console.log(clock.now()), 500);
 * clock.advance(1000); // logs 500; clock.now() === 1000 afterwards
 * ```
 */
export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers: FakeTimer[] = [];

  /** @param start - the initial value of `now()`. @default 0 */
  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    // Like the platform timers: negative or NaN delays mean "as soon as possible".
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    const timer: FakeTimer = { id: this.#nextId++, due: this.#now + delay, fn };
    this.#timers.push(timer);
    return timer.id as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    const id = handle as unknown as number;
    const index = this.#timers.findIndex((timer) => timer.id === id);
    if (index !== -1) {
      this.#timers.splice(index, 1);
    }
  }

  /** How many timers are scheduled and not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /**
   * Moves time forward by `ms` milliseconds and fires every timer that falls due, in order.
   * An exception thrown by a timer propagates to the caller; the clock stays consistent (that
   * timer is consumed and `now()` is its due time).
   */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`FakeClock.advance: invalid duration ${ms}`);
    }
    const target = this.#now + ms;
    for (let timer = this.#nextDue(target); timer; timer = this.#nextDue(target)) {
      this.#timers.splice(this.#timers.indexOf(timer), 1);
      this.#now = timer.due;
      timer.fn();
    }
    this.#now = target;
  }

  /** Fires timers until none is left; throws if more than `limit` fire (a runaway loop). */
  runAll(limit = 10_000): void {
    for (let fired = 0; this.#timers.length > 0; fired++) {
      if (fired >= limit) {
        throw new RangeError(`FakeClock.runAll: more than ${limit} timers fired`);
      }
      const next = this.#nextDue(Number.POSITIVE_INFINITY);
      if (next) {
        this.advance(next.due - this.#now);
      }
    }
  }

  #nextDue(limit: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const timer of this.#timers) {
      if (
        timer.due <= limit &&
        (!best || timer.due < best.due || (timer.due === best.due && timer.id < best.id))
      ) {
        best = timer;
      }
    }
    return best;
  }
}
