/**
 * Transaction timer values (RFC 3261 §17, Table 4 in Appendix A; RFC 6026 §8.11).
 */
import type { Clock, TimerHandle } from '../clock.js';

/** Base timer values, in milliseconds. */
export interface TransactionTimerOptions {
  /** RTT estimate. @default 500 */
  readonly T1?: number;
  /** Longest retransmit interval for non-INVITE requests and INVITE responses. @default 4000 */
  readonly T2?: number;
  /** Longest time a message stays in the network. @default 5000 */
  readonly T4?: number;
}

/** The base values with defaults applied. */
export interface TransactionTimers {
  readonly T1: number;
  readonly T2: number;
  readonly T4: number;
}

export const DEFAULT_TIMERS: TransactionTimers = Object.freeze({ T1: 500, T2: 4000, T4: 5000 });

/** §17.2.1: the server transaction sends 100 Trying if the TU has not answered within 200 ms. */
export const TRYING_DELAY_MS = 200;

/**
 * Timer D must be "at least 32 seconds" (§17.1.1.2): it absorbs retransmissions of the final
 * response, paced by the server's own T1, so it does not shrink when our T1 is tuned down.
 */
export const TIMER_D_MIN_MS = 32_000;

/** Applies the defaults. @throws TypeError for non-positive values or T2 < T1. */
export function resolveTimers(options: TransactionTimerOptions = {}): TransactionTimers {
  const timers = {
    T1: options.T1 ?? DEFAULT_TIMERS.T1,
    T2: options.T2 ?? DEFAULT_TIMERS.T2,
    T4: options.T4 ?? DEFAULT_TIMERS.T4,
  };
  for (const [name, value] of Object.entries(timers)) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new TypeError(`timer ${name} must be a positive number of milliseconds`);
    }
  }
  if (timers.T2 < timers.T1) {
    throw new TypeError('timer T2 must not be shorter than T1');
  }
  return timers;
}

/**
 * Named one-shot timers on a {@link Clock}: setting a name again replaces its timer, and
 * {@link TimerSet.clearAll} cancels everything (on the Terminated state).
 */
export class TimerSet {
  #clock: Clock;
  #handles = new Map<string, TimerHandle>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  set(name: string, ms: number, fn: () => void): void {
    this.clear(name);
    const handle = this.#clock.setTimeout(() => {
      this.#handles.delete(name);
      fn();
    }, ms);
    this.#handles.set(name, handle);
  }

  clear(name: string): void {
    const handle = this.#handles.get(name);
    if (handle !== undefined) {
      this.#clock.clearTimeout(handle);
      this.#handles.delete(name);
    }
  }

  has(name: string): boolean {
    return this.#handles.has(name);
  }

  clearAll(): void {
    for (const handle of this.#handles.values()) {
      this.#clock.clearTimeout(handle);
    }
    this.#handles.clear();
  }
}
