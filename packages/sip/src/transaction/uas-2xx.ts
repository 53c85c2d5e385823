/**
 * The UAS core's 2xx retransmission (RFC 3261 §13.3.1.4, RFC 6026 §8.1): the INVITE server
 * transaction only sends a 2xx once, so the UAS core retransmits it until the ACK arrives.
 */
import { InvalidStateError, TypedEmitter } from '@confab/core';
import type { Clock } from '../clock.js';
import { TimerSet, resolveTimers, type TransactionTimerOptions } from './timers.js';

/**
 * ```
 * Idle ──start()──► Waiting ──acknowledge()──► Acknowledged
 *                      │ ──64*T1 without ACK──► TimedOut
 *  (any) ──stop()──► Stopped          (a transport error also stops it)
 * ```
 */
export const Uas2xxRetransmitterState = {
  Idle: 'Idle',
  Waiting: 'Waiting',
  Acknowledged: 'Acknowledged',
  TimedOut: 'TimedOut',
  Stopped: 'Stopped',
} as const;
export type Uas2xxRetransmitterState =
  (typeof Uas2xxRetransmitterState)[keyof typeof Uas2xxRetransmitterState];

const { Idle, Waiting, Acknowledged, TimedOut, Stopped } = Uas2xxRetransmitterState;

const TRANSITIONS: Readonly<Record<Uas2xxRetransmitterState, readonly Uas2xxRetransmitterState[]>> =
  {
    [Idle]: [Waiting, Stopped],
    [Waiting]: [Acknowledged, TimedOut, Stopped],
    [Acknowledged]: [],
    [TimedOut]: [],
    [Stopped]: [],
  };

/** Events of {@link Uas2xxRetransmitter}. */
export interface Uas2xxRetransmitterEvents {
  [event: string]: unknown[];
  stateChanged: [from: Uas2xxRetransmitterState, to: Uas2xxRetransmitterState];
  /** No ACK within 64*T1: the dialog is confirmed but the session should end with BYE. */
  timeout: [];
  /** `retransmit` threw; retransmissions stopped (the ACK timer keeps running). */
  transportError: [error: unknown];
}

/** Options of {@link Uas2xxRetransmitter}. */
export interface Uas2xxRetransmitterOptions {
  readonly clock: Clock;
  /** Sends the 2xx again (outside the transaction, which may already be terminated). */
  readonly retransmit: () => void;
  /** Called on timeout, in addition to the `timeout` event. */
  readonly onTimeout?: () => void;
  /**
   * Skip retransmissions, keep the ACK timer. Deliberate deviation, for a direct hop over a
   * connection-oriented transport with no proxy in between: RFC 3261 retransmits regardless,
   * because a hop further on may be unreliable. @default false
   */
  readonly reliable?: boolean;
  /** T1 and T2. @default { T1: 500, T2: 4000 } */
  readonly timers?: TransactionTimerOptions;
}

/**
 * Retransmits a 2xx with intervals T1, 2·T1, … capped at T2 until {@link acknowledge} is
 * called, and gives up after 64·T1 with `timeout` so the TU can send BYE (§13.3.1.4).
 * The first transmission is the TU's (through the server transaction); {@link start} only
 * schedules the retransmissions.
 */
export class Uas2xxRetransmitter extends TypedEmitter<Uas2xxRetransmitterEvents> {
  #state: Uas2xxRetransmitterState = Idle;
  #options: Uas2xxRetransmitterOptions;
  #timers: TimerSet;
  #T1: number;
  #T2: number;

  constructor(options: Uas2xxRetransmitterOptions) {
    super();
    this.#options = options;
    this.#timers = new TimerSet(options.clock);
    const { T1, T2 } = resolveTimers(options.timers);
    this.#T1 = T1;
    this.#T2 = T2;
  }

  get state(): Uas2xxRetransmitterState {
    return this.#state;
  }

  /** Starts the retransmission and ACK timers. @throws InvalidStateError unless Idle. */
  start(): void {
    if (this.#state !== Idle) {
      throw new InvalidStateError(`Uas2xxRetransmitter: start() in state ${this.#state}`);
    }
    this.#transition(Waiting);
    if (this.#options.reliable !== true) {
      this.#schedule(this.#T1);
    }
    this.#timers.set('ack', 64 * this.#T1, () => {
      this.#transition(TimedOut);
      this.emit('timeout');
      this.#options.onTimeout?.();
    });
  }

  /** The ACK for the 2xx arrived (the TU matched it by CSeq, §13.3.1.4). Ignored unless Waiting. */
  acknowledge(): void {
    if (this.#state === Waiting) {
      this.#transition(Acknowledged);
    }
  }

  /** Stops everything without reporting. Idempotent. */
  stop(): void {
    if (this.#state === Idle || this.#state === Waiting) {
      this.#transition(Stopped);
    }
  }

  /** Same as {@link stop}. */
  close(): void {
    this.stop();
  }

  #schedule(interval: number): void {
    this.#timers.set('retransmit', interval, () => {
      try {
        this.#options.retransmit();
      } catch (error) {
        this.emit('transportError', error);
        return;
      }
      this.#schedule(Math.min(2 * interval, this.#T2));
    });
  }

  #transition(to: Uas2xxRetransmitterState): void {
    const from = this.#state;
    if (!TRANSITIONS[from].includes(to)) {
      throw InvalidStateError.transition('Uas2xxRetransmitter', from, to);
    }
    this.#state = to;
    if (to !== Waiting) {
      this.#timers.clearAll();
    }
    this.emit('stateChanged', from, to);
  }
}
