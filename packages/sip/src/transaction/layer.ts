/**
 * The transaction layer (RFC 3261 §17): matches received messages to transactions, creates
 * server transactions for new requests, and runs the client transactions of requests the TU
 * sends. Sans-I/O: transports call {@link TransactionLayer.receive} and provide `send`.
 *
 * Compatibility notes:
 * - RFC 6026 is implemented: INVITE transactions have the Accepted state, so 2xx responses
 *   and their retransmissions are the TU's (UAS and UAC cores) to retransmit and ACK.
 * - Requests whose top Via branch lacks the `z9hG4bK` magic cookie (RFC 2543 peers) are not
 *   matched (§17.2.3's fallback rules are not implemented): each one is a new transaction and
 *   such an ACK always goes to the TU.
 * - §18.1.2's check that a response's top Via sent-by is ours, and §8.2.2 request validation,
 *   are left to the transport adapter and the TU.
 */
import { InvalidStateError, TypedEmitter, silentLogger, type Logger } from '@confab/core';
import { systemClock, type Clock } from '../clock.js';
import { getCSeq, getTopVia } from '../header-values.js';
import { isRequest, type SipMessage, type SipRequest, type SipResponse } from '../message.js';
import { flowKey, type Flow } from '../transport.js';
import type { Via } from '../uri.js';
import {
  InviteClientTransaction,
  NonInviteClientTransaction,
  type ClientTransactionImpl,
} from './client.js';
import { isRfc3261Branch } from './messages.js';
import {
  InviteServerTransaction,
  NonInviteServerTransaction,
  type ServerTransactionImpl,
} from './server.js';
import { resolveTimers, type TransactionTimerOptions, type TransactionTimers } from './timers.js';
import type { ClientTransaction, ServerTransaction, TransactionContext } from './types.js';

/** Options of {@link TransactionLayer}. */
export interface TransactionLayerOptions {
  /** @default systemClock */
  readonly clock?: Clock;
  /**
   * Sends a message on a flow (the transport adapter). Throwing reports a transport error to
   * the transaction concerned (§17.1.4, §17.2.4).
   */
  readonly send: (message: SipMessage, flow: Flow) => void;
  /** T1, T2, T4 (milliseconds). @default { T1: 500, T2: 4000, T4: 5000 } */
  readonly timers?: TransactionTimerOptions;
  /** @default silentLogger */
  readonly logger?: Logger;
}

/** Events of {@link TransactionLayer}. */
export interface TransactionLayerEvents {
  [event: string]: unknown[];
  /** A new request (never a retransmission), CANCEL included (its own transaction, §9.2). */
  request: [tx: ServerTransaction];
  /**
   * An ACK that no server transaction absorbed: the ACK for a 2xx, which is a transaction of
   * its own and belongs to the dialog (§17.1.1.3, RFC 6026 §7.1).
   */
  ack: [request: SipRequest, flow: Flow];
  /**
   * A response that matches no client transaction: typically a 2xx retransmission after the
   * INVITE transaction ended, which the UAC core must ACK again (§13.2.2.4).
   */
  response: [response: SipResponse, flow: Flow];
}

/** §17.2.3: branch, sent-by and method, with ACK matching INVITE. */
function serverKey(branch: string, via: Via, method: string): string {
  const sentBy = via.port === undefined ? via.host : `${via.host}:${via.port}`;
  return `${branch}\u0000${sentBy}\u0000${method === 'ACK' ? 'INVITE' : method}`;
}

/** §17.1.3: branch and CSeq method. */
function clientKey(branch: string, method: string): string {
  return `${branch}\u0000${method}`;
}

/**
 * The transaction layer. {@link receive} never throws: messages it cannot match (no readable
 * top Via or CSeq) are logged and dropped.
 *
 * Close cascade: {@link close} terminates every transaction (each emits `stateChanged` and
 * `terminated`, nothing is sent) and cancels all timers; afterwards `receive` ignores input
 * and `sendRequest` throws.
 */
export class TransactionLayer extends TypedEmitter<TransactionLayerEvents> {
  readonly timers: TransactionTimers;
  #server = new Map<string, ServerTransactionImpl>();
  #client = new Map<string, ClientTransactionImpl>();
  #serverContext: TransactionContext;
  #clientContext: TransactionContext;
  #logger: Logger;
  #closed = false;
  #unmatchedSequence = 0;

  constructor(options: TransactionLayerOptions) {
    super();
    this.timers = resolveTimers(options.timers);
    this.#logger = (options.logger ?? silentLogger).child({ component: 'sip-transaction' });
    const base = { clock: options.clock ?? systemClock, timers: this.timers, send: options.send };
    this.#serverContext = {
      ...base,
      logger: this.#logger,
      onTerminated: (id) => this.#server.delete(id),
    };
    this.#clientContext = {
      ...base,
      logger: this.#logger,
      onTerminated: (id) => this.#client.delete(id),
    };
  }

  /** Live server transactions (for metrics and tests). */
  get serverTransactionCount(): number {
    return this.#server.size;
  }

  /** Live client transactions (for metrics and tests). */
  get clientTransactionCount(): number {
    return this.#client.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Feeds a message received on `flow`. Never throws. */
  receive(message: SipMessage, flow: Flow): void {
    if (this.#closed) {
      return;
    }
    try {
      if (isRequest(message)) {
        this.#receiveRequest(message, flow);
      } else {
        this.#receiveResponse(message, flow);
      }
    } catch (error) {
      // Debug level: a peer must not be able to flood the logs.
      this.#logger.debug(
        { err: error, flow: flowKey(flow), kind: message.type },
        'dropped a message the transaction layer cannot match',
      );
    }
  }

  /**
   * Sends a request in a new client transaction. The TU has put the top Via with a fresh
   * RFC 3261 branch (`newBranch()`), except for CANCEL, which reuses the INVITE's (§9.1);
   * sending a CANCEL also bounds the INVITE transaction to 64·T1 more (§9.1).
   * A failure of the first send is reported as `transportError` on the next clock tick, so
   * listeners attached after this call returns see it.
   *
   * @throws TypeError for an ACK (never a transaction, §17.1.1.3), a missing Via or CSeq, a
   *   branch without the magic cookie, a CSeq method that differs from the method, or a
   *   branch already in use for this method.
   * @throws InvalidStateError when the layer is closed.
   */
  sendRequest(request: SipRequest, flow: Flow): ClientTransaction {
    if (this.#closed) {
      throw InvalidStateError.closed('TransactionLayer');
    }
    if (request.method === 'ACK') {
      throw new TypeError('ACK is not sent in a client transaction (RFC 3261 §17.1.1.3)');
    }
    let branch: string | null | undefined;
    let cseqMethod: string;
    try {
      branch = getTopVia(request).params.get('branch');
      cseqMethod = getCSeq(request).method;
    } catch (error) {
      throw new TypeError('a request needs a valid top Via and CSeq', { cause: error });
    }
    if (!isRfc3261Branch(branch)) {
      throw new TypeError('the top Via needs a branch starting with z9hG4bK (RFC 3261 §8.1.1.7)');
    }
    if (cseqMethod !== request.method) {
      throw new TypeError(`CSeq method ${cseqMethod} differs from ${request.method}`);
    }
    const id = clientKey(branch, request.method);
    if (this.#client.has(id)) {
      throw new TypeError(`a ${request.method} client transaction with branch ${branch} exists`);
    }
    const context = this.#contextFor(this.#clientContext, { branch, method: request.method });
    const tx =
      request.method === 'INVITE'
        ? new InviteClientTransaction(id, request, flow, context)
        : new NonInviteClientTransaction(id, request, flow, context);
    this.#client.set(id, tx);
    tx.start();
    if (request.method === 'CANCEL') {
      const invite = this.#client.get(clientKey(branch, 'INVITE'));
      if (invite instanceof InviteClientTransaction) {
        invite.cancelSent();
      }
    }
    return tx;
  }

  /**
   * The INVITE server transaction a CANCEL targets (§9.2: the CANCEL matches it by the
   * §17.2.3 rules, with method INVITE), if it is still alive. The TU answers the CANCEL 200
   * when one is found (481 otherwise), and the INVITE 487 only if its state is still
   * `Proceeding`: once a final response was sent, the CANCEL has no effect on it.
   */
  findInviteServerTransaction(cancel: SipRequest): ServerTransaction | undefined {
    try {
      const via = getTopVia(cancel);
      const branch = via.params.get('branch');
      if (!isRfc3261Branch(branch)) {
        return undefined;
      }
      const tx = this.#server.get(serverKey(branch, via, 'INVITE'));
      return tx?.kind === 'invite' ? tx : undefined;
    } catch {
      return undefined;
    }
  }

  /** Terminates every transaction and cancels all timers. Idempotent. */
  close(): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    for (const tx of [...this.#server.values(), ...this.#client.values()]) {
      tx.close();
    }
    this.#server.clear();
    this.#client.clear();
  }

  #receiveRequest(request: SipRequest, flow: Flow): void {
    const via = getTopVia(request);
    getCSeq(request);
    const branch = via.params.get('branch');
    if (!isRfc3261Branch(branch)) {
      this.#logger.debug(
        { method: request.method, flow: flowKey(flow) },
        'request without an RFC 3261 branch: not matched to transactions',
      );
      if (request.method === 'ACK') {
        this.emit('ack', request, flow);
      } else {
        this.#createServerTransaction(`unmatched\u0000${++this.#unmatchedSequence}`, request, flow);
      }
      return;
    }
    const id = serverKey(branch, via, request.method);
    const existing = this.#server.get(id);
    if (request.method === 'ACK') {
      // §17.2.1: an ACK for a non-2xx final response ends in its INVITE transaction;
      // anything else is for the TU.
      if (!(existing instanceof InviteServerTransaction && existing.receiveAck())) {
        this.emit('ack', request, flow);
      }
      return;
    }
    if (existing) {
      existing.receiveRetransmission();
      return;
    }
    this.#createServerTransaction(id, request, flow);
  }

  #createServerTransaction(id: string, request: SipRequest, flow: Flow): void {
    const context = this.#contextFor(this.#serverContext, { method: request.method });
    const tx =
      request.method === 'INVITE'
        ? new InviteServerTransaction(id, request, flow, context)
        : new NonInviteServerTransaction(id, request, flow, context);
    this.#server.set(id, tx);
    this.emit('request', tx);
  }

  #receiveResponse(response: SipResponse, flow: Flow): void {
    const branch = getTopVia(response).params.get('branch');
    const { method } = getCSeq(response);
    const tx = isRfc3261Branch(branch) ? this.#client.get(clientKey(branch, method)) : undefined;
    if (tx) {
      tx.receiveResponse(response);
    } else {
      this.emit('response', response, flow);
    }
  }

  #contextFor(context: TransactionContext, bindings: Record<string, unknown>): TransactionContext {
    return { ...context, logger: context.logger.child(bindings) };
  }
}
