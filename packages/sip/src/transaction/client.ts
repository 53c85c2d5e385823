/**
 * Client transactions: INVITE (RFC 3261 §17.1.1 with the RFC 6026 §7.2 Accepted state) and
 * non-INVITE (§17.1.2). Created by {@link TransactionLayer.sendRequest}; responses are fed by
 * the layer after §17.1.3 matching.
 */
import type { SipRequest, SipResponse } from '../message.js';
import type { Flow } from '../transport.js';
import { TransactionBase, type TransitionTable } from './base.js';
import { createAckForNon2xx } from './messages.js';
import { TIMER_D_MIN_MS } from './timers.js';
import {
  TransactionState,
  type ClientTransaction,
  type ClientTransactionEvents,
  type TransactionContext,
} from './types.js';

const { Calling, Trying, Proceeding, Completed, Accepted, Terminated } = TransactionState;

const INVITE_CLIENT_TRANSITIONS: TransitionTable = {
  [Calling]: [Proceeding, Completed, Accepted, Terminated],
  [Proceeding]: [Completed, Accepted, Terminated],
  [Completed]: [Terminated],
  [Accepted]: [Terminated],
};

const NON_INVITE_CLIENT_TRANSITIONS: TransitionTable = {
  [Trying]: [Proceeding, Completed, Terminated],
  [Proceeding]: [Completed, Terminated],
  [Completed]: [Terminated],
};

/** The operations the layer uses on both kinds of client transaction. */
export interface ClientTransactionImpl extends ClientTransaction {
  /** Sends the request and starts the timers; called once, right after construction. */
  start(): void;
  receiveResponse(response: SipResponse): void;
  close(): void;
}

/** RFC 3261 §17.1.1, RFC 6026 §7.2. */
export class InviteClientTransaction
  extends TransactionBase<ClientTransactionEvents>
  implements ClientTransactionImpl
{
  readonly kind = 'invite';
  readonly request: SipRequest;
  readonly method = 'INVITE';
  #ack: SipRequest | undefined;

  constructor(id: string, request: SipRequest, flow: Flow, context: TransactionContext) {
    super('INVITE client transaction', id, flow, Calling, INVITE_CLIENT_TRANSITIONS, context);
    this.request = request;
  }

  start(): void {
    if (!this.send(this.request, true)) {
      return;
    }
    const { T1 } = this.context.timers;
    if (!this.reliable) {
      this.#scheduleTimerA(T1);
    }
    // §17.1.1.2: Timer B bounds the wait for any response, on every transport.
    this.timers.set('B', 64 * T1, () => {
      this.logger.info({}, 'INVITE client transaction: Timer B fired');
      this.emit('timeout');
      this.terminate();
    });
  }

  receiveResponse(response: SipResponse): void {
    const { status } = response;
    switch (this.state) {
      case Calling:
      case Proceeding:
        if (status < 200) {
          // §17.1.1.2: a provisional response stops retransmissions and Timer B; from now on
          // the TU bounds the call setup (Timer C / its own policy).
          this.timers.clear('A');
          this.timers.clear('B');
          if (this.state === Calling) {
            this.transition(Proceeding);
          }
          this.emit('response', response);
        } else if (status < 300) {
          // RFC 6026 §7.2: Accepted passes every further 2xx to the TU (retransmissions and
          // other forks); Timer M ends it.
          this.timers.clearAll();
          this.transition(Accepted);
          this.timers.set('M', 64 * this.context.timers.T1, () => {
            this.terminate();
          });
          this.emit('response', response);
        } else {
          this.#complete(response);
        }
        return;
      case Completed:
        // §17.1.1.2: a retransmitted final response gets the ACK again and is not passed up.
        if (status >= 300 && this.#ack) {
          this.send(this.#ack);
        }
        return;
      case Accepted:
        if (status >= 200 && status < 300) {
          this.emit('response', response);
        }
        return;
      default:
        return;
    }
  }

  /**
   * A CANCEL for this INVITE was sent. §9.1: without a final response within 64·T1, the
   * INVITE transaction is considered cancelled; it then times out like Timer B.
   */
  cancelSent(): void {
    if ((this.state === Calling || this.state === Proceeding) && !this.timers.has('cancel')) {
      this.timers.set('cancel', 64 * this.context.timers.T1, () => {
        this.logger.info({}, 'INVITE client transaction: no final response after CANCEL');
        this.emit('timeout');
        this.terminate();
      });
    }
  }

  /** §17.1.1.3: the transaction itself ACKs a 300–699 response. */
  #complete(response: SipResponse): void {
    this.timers.clearAll();
    this.#ack = createAckForNon2xx(this.request, response);
    if (!this.send(this.#ack)) {
      return;
    }
    this.transition(Completed);
    this.emit('response', response);
    if (this.terminated) {
      return;
    }
    // Timer D absorbs retransmissions of the final response; 0 on reliable transports.
    if (this.reliable) {
      this.terminate();
    } else {
      this.timers.set('D', Math.max(TIMER_D_MIN_MS, 64 * this.context.timers.T1), () => {
        this.terminate();
      });
    }
  }

  #scheduleTimerA(interval: number): void {
    // §17.1.1.2: Timer A doubles after each retransmission (no T2 cap for INVITE).
    this.timers.set('A', interval, () => {
      if (this.state === Calling && this.send(this.request)) {
        this.#scheduleTimerA(2 * interval);
      }
    });
  }
}

/** RFC 3261 §17.1.2; also used for CANCEL. */
export class NonInviteClientTransaction
  extends TransactionBase<ClientTransactionEvents>
  implements ClientTransactionImpl
{
  readonly kind = 'non-invite';
  readonly request: SipRequest;
  readonly method: string;

  constructor(id: string, request: SipRequest, flow: Flow, context: TransactionContext) {
    super(
      `${request.method} client transaction`,
      id,
      flow,
      Trying,
      NON_INVITE_CLIENT_TRANSITIONS,
      context,
    );
    this.request = request;
    this.method = request.method;
  }

  start(): void {
    if (!this.send(this.request, true)) {
      return;
    }
    const { T1 } = this.context.timers;
    if (!this.reliable) {
      this.#scheduleTimerE(T1);
    }
    this.timers.set('F', 64 * T1, () => {
      this.logger.info({}, `${this.method} client transaction: Timer F fired`);
      this.emit('timeout');
      this.terminate();
    });
  }

  receiveResponse(response: SipResponse): void {
    if (this.state !== Trying && this.state !== Proceeding) {
      // §17.1.2.2: Completed absorbs retransmitted responses.
      return;
    }
    if (response.status < 200) {
      if (this.state === Trying) {
        this.transition(Proceeding);
      }
      this.emit('response', response);
      return;
    }
    this.timers.clearAll();
    this.transition(Completed);
    this.emit('response', response);
    if (this.terminated) {
      return;
    }
    // Timer K absorbs response retransmissions; 0 on reliable transports.
    if (this.reliable) {
      this.terminate();
    } else {
      this.timers.set('K', this.context.timers.T4, () => {
        this.terminate();
      });
    }
  }

  #scheduleTimerE(interval: number): void {
    this.timers.set('E', interval, () => {
      if (this.terminated || !this.send(this.request)) {
        return;
      }
      // §17.1.2.2: doubling up to T2 in Trying, T2 flat in Proceeding.
      const { T2 } = this.context.timers;
      this.#scheduleTimerE(this.state === Proceeding ? T2 : Math.min(2 * interval, T2));
    });
  }
}
