/**
 * Server transactions: INVITE (RFC 3261 §17.2.1 with the RFC 6026 §7.1 Accepted state) and
 * non-INVITE (§17.2.2). Created and fed by the {@link TransactionLayer}; the TU answers
 * through {@link ServerTransaction.respond}.
 */
import { InvalidStateError } from '@confab/core';
import type { SipRequest, SipResponse } from '../message.js';
import type { Flow } from '../transport.js';
import { TransactionBase, type TransitionTable } from './base.js';
import { createResponse } from './messages.js';
import { TRYING_DELAY_MS } from './timers.js';
import {
  TransactionState,
  type ServerTransaction,
  type ServerTransactionEvents,
  type TransactionContext,
} from './types.js';

const { Trying, Proceeding, Completed, Confirmed, Accepted, Terminated } = TransactionState;

const INVITE_SERVER_TRANSITIONS: TransitionTable = {
  [Proceeding]: [Completed, Accepted, Terminated],
  [Completed]: [Confirmed, Terminated],
  [Confirmed]: [Terminated],
  [Accepted]: [Terminated],
};

const NON_INVITE_SERVER_TRANSITIONS: TransitionTable = {
  [Trying]: [Proceeding, Completed, Terminated],
  [Proceeding]: [Completed, Terminated],
  [Completed]: [Terminated],
};

function checkStatus(response: SipResponse): void {
  if (!Number.isInteger(response.status) || response.status < 100 || response.status > 699) {
    throw new RangeError(`invalid status code ${response.status}`);
  }
}

/** The operations the layer uses on both kinds of server transaction. */
export interface ServerTransactionImpl extends ServerTransaction {
  /** A retransmission of the request that created the transaction. */
  receiveRetransmission(): void;
  close(): void;
}

/** RFC 3261 §17.2.1, RFC 6026 §7.1. */
export class InviteServerTransaction
  extends TransactionBase<ServerTransactionEvents>
  implements ServerTransactionImpl
{
  readonly kind = 'invite';
  readonly request: SipRequest;
  readonly method = 'INVITE';
  #lastResponse: SipResponse | undefined;

  constructor(id: string, request: SipRequest, flow: Flow, context: TransactionContext) {
    super('INVITE server transaction', id, flow, Proceeding, INVITE_SERVER_TRANSITIONS, context);
    this.request = request;
    // §17.2.1: answer 100 Trying ourselves unless the TU responds within 200 ms.
    this.timers.set('Trying', TRYING_DELAY_MS, () => {
      if (this.state === Proceeding && this.#lastResponse === undefined) {
        this.#sendProvisional(createResponse(request, 100));
      }
    });
  }

  get lastResponse(): SipResponse | undefined {
    return this.#lastResponse;
  }

  respond(response: SipResponse): void {
    checkStatus(response);
    const { status } = response;
    if (this.state === Accepted && status >= 200 && status < 300) {
      // RFC 6026 §7.1: 2xx from the TU (its own retransmissions, §13.3.1.4) pass through.
      this.send(response);
      return;
    }
    if (this.state !== Proceeding) {
      throw new InvalidStateError(
        `INVITE server transaction: cannot send ${status} in state ${this.state}`,
      );
    }
    this.timers.clear('Trying');
    if (status < 200) {
      this.#sendProvisional(response);
    } else if (status < 300) {
      this.#lastResponse = response;
      if (this.send(response)) {
        // RFC 6026 §7.1: Accepted absorbs INVITE retransmissions while the UAS core
        // retransmits the 2xx; Timer L ends it.
        this.transition(Accepted);
        this.timers.set('L', 64 * this.context.timers.T1, () => {
          this.terminate();
        });
      }
    } else {
      this.#lastResponse = response;
      if (this.send(response)) {
        this.transition(Completed);
        const { T1, T2 } = this.context.timers;
        if (!this.reliable) {
          this.#scheduleTimerG(T1, T2);
        }
        this.timers.set('H', 64 * T1, () => {
          // §17.2.1: the ACK never came.
          this.logger.info({}, 'INVITE server transaction: Timer H fired, no ACK');
          this.emit('timeout');
          this.terminate();
        });
      }
    }
  }

  receiveRetransmission(): void {
    // §17.2.1: Proceeding resends the last provisional, Completed the final response;
    // Confirmed and Accepted (RFC 6026 §7.1) absorb.
    if ((this.state === Proceeding || this.state === Completed) && this.#lastResponse) {
      this.send(this.#lastResponse);
    }
  }

  /**
   * An ACK matching this transaction (§17.2.3). Returns false when it is not ours to absorb
   * (an ACK for a 2xx, which the TU handles).
   */
  receiveAck(): boolean {
    if (this.state === Completed) {
      // §17.2.1: stop retransmitting; Timer I absorbs further ACKs.
      this.timers.clear('G');
      this.timers.clear('H');
      this.transition(Confirmed);
      if (this.reliable) {
        this.terminate();
      } else {
        this.timers.set('I', this.context.timers.T4, () => {
          this.terminate();
        });
      }
      return true;
    }
    return this.state === Confirmed;
  }

  #sendProvisional(response: SipResponse): void {
    this.#lastResponse = response;
    this.send(response);
  }

  #scheduleTimerG(interval: number, cap: number): void {
    this.timers.set('G', interval, () => {
      if (this.state === Completed && this.#lastResponse && this.send(this.#lastResponse)) {
        this.#scheduleTimerG(Math.min(2 * interval, cap), cap);
      }
    });
  }
}

/** RFC 3261 §17.2.2; also used for CANCEL. */
export class NonInviteServerTransaction
  extends TransactionBase<ServerTransactionEvents>
  implements ServerTransactionImpl
{
  readonly kind = 'non-invite';
  readonly request: SipRequest;
  readonly method: string;
  #lastResponse: SipResponse | undefined;

  constructor(id: string, request: SipRequest, flow: Flow, context: TransactionContext) {
    super(
      `${request.method} server transaction`,
      id,
      flow,
      Trying,
      NON_INVITE_SERVER_TRANSITIONS,
      context,
    );
    this.request = request;
    this.method = request.method;
  }

  get lastResponse(): SipResponse | undefined {
    return this.#lastResponse;
  }

  respond(response: SipResponse): void {
    checkStatus(response);
    if (this.state !== Trying && this.state !== Proceeding) {
      throw new InvalidStateError(
        `${this.method} server transaction: cannot send ${response.status} in state ${this.state}`,
      );
    }
    this.#lastResponse = response;
    if (!this.send(response)) {
      return;
    }
    if (response.status < 200) {
      if (this.state === Trying) {
        this.transition(Proceeding);
      }
      return;
    }
    this.transition(Completed);
    // §17.2.2: Timer J absorbs request retransmissions; 0 on reliable transports.
    if (this.reliable) {
      this.terminate();
    } else {
      this.timers.set('J', 64 * this.context.timers.T1, () => {
        this.terminate();
      });
    }
  }

  receiveRetransmission(): void {
    // §17.2.2: Trying absorbs; Proceeding and Completed resend the last response.
    if (this.state !== Trying && this.#lastResponse) {
      this.send(this.#lastResponse);
    }
  }
}
