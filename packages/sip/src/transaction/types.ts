/**
 * The contracts of SIP transactions (RFC 3261 §17 with the RFC 6026 Accepted state).
 *
 * ```
 * INVITE client (§17.1.1, RFC 6026 §7.2)       non-INVITE client (§17.1.2)
 *   Calling ──1xx──► Proceeding                  Trying ──1xx──► Proceeding
 *   Calling/Proceeding ──2xx──► Accepted         Trying/Proceeding ──≥200──► Completed
 *   Calling/Proceeding ──300-699──► Completed    Completed ──Timer K──► Terminated
 *   Accepted ──Timer M──► Terminated
 *   Completed ──Timer D──► Terminated
 *   Calling ──Timer B──► Terminated (timeout)    Trying/Proceeding ──Timer F──► Terminated (timeout)
 *
 * INVITE server (§17.2.1, RFC 6026 §7.1)       non-INVITE server (§17.2.2)
 *   Proceeding ──2xx──► Accepted                 Trying ──1xx──► Proceeding
 *   Proceeding ──300-699──► Completed            Trying/Proceeding ──≥200──► Completed
 *   Completed ──ACK──► Confirmed                 Completed ──Timer J──► Terminated
 *   Completed ──Timer H──► Terminated (timeout)
 *   Confirmed ──Timer I──► Terminated
 *   Accepted ──Timer L──► Terminated
 * ```
 * Every state also goes to Terminated on a transport error (§17.1.4, §17.2.4) or when the
 * layer is closed.
 */
import type { Logger, TypedEmitter } from '@confab/core';
import type { SipRequest, SipResponse, SipMessage } from '../message.js';
import type { Flow } from '../transport.js';
import type { Clock } from '../clock.js';
import type { TransactionTimers } from './timers.js';

/** Transaction states (RFC 3261 §17, RFC 6026 §7). */
export const TransactionState = {
  Calling: 'Calling',
  Trying: 'Trying',
  Proceeding: 'Proceeding',
  Completed: 'Completed',
  Confirmed: 'Confirmed',
  Accepted: 'Accepted',
  Terminated: 'Terminated',
} as const;
export type TransactionState = (typeof TransactionState)[keyof typeof TransactionState];

/** Events of a {@link ServerTransaction}. */
export interface ServerTransactionEvents {
  [event: string]: unknown[];
  stateChanged: [from: TransactionState, to: TransactionState];
  /** INVITE only: Timer H fired, no ACK came for a non-2xx final response (§17.2.1). */
  timeout: [];
  /** Sending a response failed (§17.2.4); the transaction is terminated. */
  transportError: [error: unknown];
  terminated: [];
}

/** Events of a {@link ClientTransaction}. */
export interface ClientTransactionEvents {
  [event: string]: unknown[];
  stateChanged: [from: TransactionState, to: TransactionState];
  /**
   * A response for the TU: provisional and final ones, and in the Accepted state every further
   * 2xx (retransmissions and other forks, RFC 6026 §7.2). Retransmitted non-2xx finals are
   * absorbed.
   */
  response: [response: SipResponse];
  /** Timer B (INVITE) or Timer F (non-INVITE) fired (§17.1.1.2, §17.1.2.2). */
  timeout: [];
  /** Sending the request, a retransmission or the ACK failed (§17.1.4). */
  transportError: [error: unknown];
  terminated: [];
}

/** A server transaction, created by the layer for each new request (§17.2). */
export interface ServerTransaction extends TypedEmitter<ServerTransactionEvents> {
  /** `INVITE` transactions follow §17.2.1, every other method §17.2.2 (CANCEL included). */
  readonly kind: 'invite' | 'non-invite';
  /** The transaction key: branch, sent-by and method (§17.2.3). */
  readonly id: string;
  readonly request: SipRequest;
  readonly method: string;
  /** The flow the request arrived on; responses are sent on it (§18.2.2). */
  readonly flow: Flow;
  readonly state: TransactionState;
  /** The last response sent, retransmitted when the request is (§17.2.1, §17.2.2). */
  readonly lastResponse: SipResponse | undefined;
  /**
   * Sends a response built by the TU (see `createResponse`). Allowed while the transaction has
   * not sent a final response; for INVITE, 2xx responses are also passed through in the
   * Accepted state (RFC 6026 §7.1). A transport failure is reported as `transportError`, not
   * thrown.
   *
   * @throws InvalidStateError after a final (non-2xx) response or once terminated.
   * @throws RangeError for a status outside 100–699.
   */
  respond(response: SipResponse): void;
}

/** A client transaction, created by {@link TransactionLayer.sendRequest} (§17.1). */
export interface ClientTransaction extends TypedEmitter<ClientTransactionEvents> {
  readonly kind: 'invite' | 'non-invite';
  /** The transaction key: branch and method (§17.1.3). */
  readonly id: string;
  readonly request: SipRequest;
  readonly method: string;
  readonly flow: Flow;
  readonly state: TransactionState;
}

/** What a transaction needs from its layer: a narrow capability, not the layer itself. */
export interface TransactionContext {
  readonly clock: Clock;
  readonly timers: TransactionTimers;
  readonly logger: Logger;
  /** The transport adapter; throws on a transport error. */
  readonly send: (message: SipMessage, flow: Flow) => void;
  /** Removes the transaction from the layer's tables (called once, on Terminated). */
  readonly onTerminated: (id: string) => void;
}
