/**
 * What the four transaction machines share: the state field and its one transition function,
 * named timers, sending with transport-error handling (§17.1.4, §17.2.4) and teardown.
 */
import { InvalidStateError, TypedEmitter, type Logger } from '@confab/core';
import type { SipMessage } from '../message.js';
import { isReliable, type Flow } from '../transport.js';
import { TimerSet } from './timers.js';
import { TransactionState, type TransactionContext } from './types.js';

/** The events every transaction emits. */
export interface BaseTransactionEvents {
  [event: string]: unknown[];
  stateChanged: [from: TransactionState, to: TransactionState];
  transportError: [error: unknown];
  terminated: [];
}

/** Allowed moves per state; a state missing from the table has none. */
export type TransitionTable = Readonly<
  Partial<Record<TransactionState, readonly TransactionState[]>>
>;

/**
 * Base of the transaction machines. Subclasses drive it through {@link transition},
 * {@link send} and {@link terminate}; nothing else writes the state.
 */
export abstract class TransactionBase<E extends BaseTransactionEvents> extends TypedEmitter<E> {
  abstract readonly kind: 'invite' | 'non-invite';
  readonly id: string;
  readonly flow: Flow;
  protected readonly context: TransactionContext;
  protected readonly timers: TimerSet;
  protected readonly logger: Logger;
  #state: TransactionState;
  #table: TransitionTable;
  #name: string;

  protected constructor(
    name: string,
    id: string,
    flow: Flow,
    initial: TransactionState,
    table: TransitionTable,
    context: TransactionContext,
  ) {
    super();
    this.#name = name;
    this.id = id;
    this.flow = flow;
    this.#state = initial;
    this.#table = table;
    this.context = context;
    this.timers = new TimerSet(context.clock);
    this.logger = context.logger;
  }

  get state(): TransactionState {
    return this.#state;
  }

  get terminated(): boolean {
    return this.#state === TransactionState.Terminated;
  }

  /** Reliable transports need no retransmissions (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2). */
  protected get reliable(): boolean {
    return isReliable(this.flow.protocol);
  }

  /** Moves to `to` if the table allows it; Terminated also cancels every timer. */
  protected transition(to: TransactionState): void {
    const from = this.#state;
    if (!(this.#table[from]?.includes(to) ?? false)) {
      throw InvalidStateError.transition(this.#name, from, to);
    }
    this.#state = to;
    this.logger.debug({ from, to }, `${this.#name} state`);
    if (to === TransactionState.Terminated) {
      this.timers.clearAll();
      this.context.onTerminated(this.id);
    }
    this.#emit('stateChanged', from, to);
    if (to === TransactionState.Terminated) {
      this.#emit('terminated');
    }
  }

  /** Terminates unless already terminated (idempotent). */
  protected terminate(): void {
    if (!this.terminated) {
      this.transition(TransactionState.Terminated);
    }
  }

  /**
   * Passes a message to the transport. On failure (the adapter threw), reports
   * `transportError`, terminates and returns false (§17.1.4, §17.2.4). With `deferReport`, the
   * report is made on the next clock tick, for failures inside the call that created the
   * transaction, before the TU could attach listeners.
   */
  protected send(message: SipMessage, deferReport = false): boolean {
    try {
      this.context.send(message, this.flow);
      return true;
    } catch (error) {
      this.logger.warn({ err: error }, `${this.#name}: transport error`);
      const report = (): void => {
        if (!this.terminated) {
          this.#emit('transportError', error);
          this.terminate();
        }
      };
      if (deferReport) {
        this.timers.set('transport', 0, report);
      } else {
        report();
      }
      return false;
    }
  }

  /** The layer is closing: stop timers and terminate, without sending anything. */
  close(): void {
    this.terminate();
  }

  #emit<K extends keyof BaseTransactionEvents & string>(
    event: K,
    ...args: BaseTransactionEvents[K]
  ): void {
    // Every E extends BaseTransactionEvents, so these events exist with these arguments.
    (this as TypedEmitter<BaseTransactionEvents>).emit(event, ...args);
  }
}
