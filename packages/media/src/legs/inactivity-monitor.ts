/**
 * Media inactivity detection for a leg: a party that should be sending and has sent nothing
 * (RTP or RTCP) for `timeoutMs` is presumed gone (a phone that lost power, a browser tab that
 * was killed without BYE). While the remote party holds the call without sending (`inactive`,
 * `recvonly` from them) nothing is expected and the clock does not run.
 */
import type { Clock } from '../bridge/types.js';

/** Options of {@link InactivityMonitor}. */
export interface InactivityMonitorOptions {
  timeoutMs: number;
  clock: Clock;
  /** Called once when the timeout elapses; the monitor then stops. */
  onTimeout: () => void;
}

/** Watches for media activity; sans-I/O except for its own check timer. */
export class InactivityMonitor {
  readonly #options: InactivityMonitorOptions;
  #expecting = false;
  #lastActivity = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: InactivityMonitorOptions) {
    if (!(options.timeoutMs > 0)) {
      throw new TypeError(`invalid media timeout ${options.timeoutMs}`);
    }
    this.#options = options;
  }

  /** Media arrived from the remote party. */
  touch(): void {
    this.#lastActivity = this.#options.clock.now();
  }

  /**
   * Whether the remote party is expected to send. Becoming expected starts a fresh grace
   * period (a call resumed from hold gets the whole timeout to resume sending).
   */
  expect(sending: boolean): void {
    if (sending === this.#expecting) {
      return;
    }
    this.#expecting = sending;
    if (sending) {
      this.touch();
      this.#timer ??= setInterval(
        () => {
          this.#check();
        },
        Math.max(20, this.#options.timeoutMs / 4),
      );
      // A leg that is never closed must not keep the process alive.
      this.#timer.unref();
    } else {
      this.stop();
    }
  }

  /** Stops watching; idempotent. */
  stop(): void {
    this.#expecting = false;
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #check(): void {
    if (
      this.#expecting &&
      this.#options.clock.now() - this.#lastActivity >= this.#options.timeoutMs
    ) {
      this.stop();
      this.#options.onTimeout();
    }
  }
}
