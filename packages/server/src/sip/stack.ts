/**
 * The server's SIP stack: transports + the sans-I/O transaction layer + request routing.
 *
 * Routing of new requests (RFC 3261 §8.2, §12.2.2):
 *  - a request with a To tag belongs to a dialog: it goes to the dialog's handler, or gets
 *    481 Call/Transaction Does Not Exist;
 *  - otherwise by method: REGISTER → registrar, INVITE → call control, CANCEL → call control
 *    (matched to its INVITE server transaction, §9.2), OPTIONS → 200 (§11.2), REFER → 403
 *    (transfers happen in a call's dialog, RFC 3515 §2.4.2);
 *    known-but-unsupported methods → 405 with Allow (§8.2.1); unknown methods → 501 (§21.5.2).
 *
 * ACKs for 2xx are not transactions (§17.1.1.3) and stray 2xx retransmissions must be re-ACKed
 * by the UAC core (§13.2.2.4): both are routed to dialog handlers by dialog id.
 */
import type { Logger } from '@confab/core';
import {
  SipRequest,
  SipResponse,
  TransactionLayer,
  TransactionState,
  createResponse,
  formatVia,
  getCallId,
  getFrom,
  getTag,
  getTo,
  getTopVia,
  isSipParseError,
  newBranch,
  newTag,
  validateRequest,
  type Clock,
  type TimerHandle,
  type ClientTransaction,
  type Flow,
  type ServerTransaction,
  type SipMessage,
  type SipParseError,
} from '@confab/sip';
import type { TransportManager } from './transport-manager.js';

/** Methods this server implements, advertised in Allow (§20.5). */
export const ALLOWED_METHODS = [
  'INVITE',
  'ACK',
  'BYE',
  'CANCEL',
  'OPTIONS',
  'REGISTER',
  'INFO',
  'UPDATE',
  'REFER',
] as const;
/**
 * Option tags we advertise in Supported (§20.37) and accept in Require (§8.2.2.3): only what is
 * implemented. `outbound`: RFC 5626 flows (bindings keyed by instance and reg-id, requests over
 * the registering flow, CRLF keep-alives); `norefersub`: RFC 4488 `Refer-Sub: false`. Not
 * implemented, hence absent: `path` (RFC 3327, no Path stored as a route), `gruu` (RFC 5627),
 * `replaces` (RFC 3891, a REFER with Replaces gets 501), `timer` (RFC 4028), `100rel` (RFC 3262).
 */
const SUPPORTED_OPTION_TAGS = ['outbound', 'norefersub'] as const;

/** The option tags of the request's Require header(s) that we do not support (§8.2.2.3). */
function unsupportedRequirements(request: SipRequest): string[] {
  if (request.method === 'ACK' || request.method === 'CANCEL') {
    return [];
  }
  const supported: readonly string[] = SUPPORTED_OPTION_TAGS;
  return request.headers
    .getAll('Require')
    .flatMap((value) => value.split(','))
    .map((tag) => tag.trim())
    .filter((tag) => tag !== '' && !supported.includes(tag));
}

/** Methods we know (RFC 3261 + common extensions) but do not implement: 405 rather than 501. */
const KNOWN_UNSUPPORTED = new Set(['PRACK', 'SUBSCRIBE', 'NOTIFY', 'MESSAGE', 'PUBLISH']);

export interface DialogHandler {
  /** A new in-dialog request (BYE, re-INVITE, INFO, UPDATE, OPTIONS…). */
  onRequest(tx: ServerTransaction): void;
  /** ACK for a 2xx we sent. */
  onAck(ack: SipRequest, flow: Flow): void;
  /** A 2xx retransmission that matched no client transaction (§13.2.2.4). */
  onStrayResponse(response: SipResponse, flow: Flow): void;
}

export interface RequestHandlers {
  register(tx: ServerTransaction): void;
  invite(tx: ServerTransaction): void;
  cancel(tx: ServerTransaction, invite: ServerTransaction | undefined): void;
}

export interface SipStackOptions {
  transports: TransportManager;
  clock: Clock;
  logger: Logger;
  /** Host (and port) we put in Via sent-by and Contact: the advertised address. */
  advertisedHost: string;
  /** Ports per transport, for Via/Contact. */
  ports: { udp: number; tcp: number };
  userAgent?: string;
}

export function dialogKey(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}\u0000${localTag}\u0000${remoteTag}`;
}

export class SipStack {
  readonly transactions: TransactionLayer;
  readonly #options: SipStackOptions;
  readonly #dialogs = new Map<string, DialogHandler>();
  readonly #retiring = new Set<TimerHandle>();
  readonly #logger: Logger;
  #handlers: RequestHandlers | undefined;

  constructor(options: SipStackOptions) {
    this.#options = options;
    this.#logger = options.logger;
    const { transports } = options;
    this.transactions = new TransactionLayer({
      clock: options.clock,
      logger: options.logger,
      send: (message: SipMessage, flow: Flow) => {
        transports.send(message, flow);
      },
    });
    transports.on('message', (message, flow) => {
      if (message.type === 'request') {
        if (!this.#isValidRequest(message, flow)) {
          return;
        }
        this.#stampReceived(message, flow);
      }
      this.transactions.receive(message, flow);
    });
    transports.on('malformed', (error, flow) => {
      this.#answerMalformed(error, flow);
    });
    this.transactions.on('request', (tx) => {
      this.#route(tx);
    });
    this.transactions.on('ack', (ack, flow) => {
      this.#dialogFor(ack, 'uas')?.onAck(ack, flow);
    });
    this.transactions.on('response', (response, flow) => {
      this.#dialogFor(response, 'uac')?.onStrayResponse(response, flow);
    });
  }

  get userAgent(): string {
    return this.#options.userAgent ?? 'Confab';
  }

  setHandlers(handlers: RequestHandlers): void {
    this.#handlers = handlers;
  }

  registerDialog(
    callId: string,
    localTag: string,
    remoteTag: string,
    handler: DialogHandler,
  ): void {
    this.#dialogs.set(dialogKey(callId, localTag, remoteTag), handler);
  }

  unregisterDialog(callId: string, localTag: string, remoteTag: string): void {
    this.#dialogs.delete(dialogKey(callId, localTag, remoteTag));
  }

  /**
   * Unregisters a dialog after `delayMs`, so that retransmitted BYEs and ACKs of an ended dialog
   * are still absorbed by its handler (§17.2.2: Timer J; §13.3.1.4) rather than answered 481.
   * Pending retirements are cancelled (and the dialogs dropped) by {@link SipStack.close}.
   */
  retireDialog(callId: string, localTag: string, remoteTag: string, delayMs: number): void {
    const key = dialogKey(callId, localTag, remoteTag);
    const clock = this.#options.clock;
    const timer = clock.setTimeout(() => {
      this.#retiring.delete(timer);
      this.#dialogs.delete(key);
    }, delayMs);
    this.#retiring.add(timer);
  }

  get dialogCount(): number {
    return this.#dialogs.size;
  }

  /**
   * Our sent-by for a transport (§18.1.1). For WebSocket it is informational: responses use the
   * connection (RFC 7118 §5).
   */
  sentBy(flow: Flow): string {
    const [host, port] = this.#sentByParts(flow);
    const hostText = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    return port === undefined ? hostText : `${hostText}:${port}`;
  }

  /** A Contact URI for dialogs we take part in over `flow` (§8.1.1.8, §12.1.1). */
  contactUri(flow: Flow, user: string): string {
    const transport = flow.protocol.toLowerCase();
    const hostPort = this.sentBy(flow);
    return transport === 'udp'
      ? `sip:${user}@${hostPort}`
      : `sip:${user}@${hostPort};transport=${transport}`;
  }

  /**
   * Sends a new request in a client transaction: prepends our Via with a fresh branch
   * (§8.1.1.7, rport per RFC 3581) unless one was already set for this hop.
   */
  sendRequest(request: SipRequest, flow: Flow): ClientTransaction {
    this.#prepareRequest(request, flow);
    return this.transactions.sendRequest(request, flow);
  }

  /** Sends the ACK for a 2xx: a new Via branch, outside any transaction (§13.2.2.4, §17.1.1.3). */
  sendAck(ack: SipRequest, flow: Flow): void {
    this.#prepareRequest(ack, flow);
    this.sendDirect(ack, flow);
  }

  #prepareRequest(request: SipRequest, flow: Flow): void {
    const [host, port] = this.#sentByParts(flow);
    // Requests built by a Dialog carry no Via yet: this hop's Via is ours to add (§8.1.1.7).
    request.headers.delete('Via');
    request.headers.prepend(
      'Via',
      formatVia({
        transport: flow.protocol,
        host,
        port,
        params: new Map<string, string | null>([
          ['branch', newBranch()],
          ['rport', null],
        ]),
      }),
    );
    if (!request.headers.has('Max-Forwards')) {
      request.headers.set('Max-Forwards', '70');
    }
    if (!request.headers.has('User-Agent')) {
      request.headers.set('User-Agent', this.userAgent);
    }
  }

  #sentByParts(flow: Flow): [host: string, port: number | undefined] {
    const { advertisedHost, ports } = this.#options;
    switch (flow.protocol) {
      case 'UDP':
        return [advertisedHost, ports.udp];
      case 'TCP':
        return [advertisedHost, ports.tcp];
      default:
        return [advertisedHost, undefined];
    }
  }

  /**
   * Sends a message outside any transaction: the ACK for a 2xx (§13.2.2.4) and the UAS core's
   * 2xx retransmissions (§13.3.1.4, RFC 6026 §8.1). Transport failures are logged, not thrown.
   */
  sendDirect(message: SipMessage, flow: Flow): void {
    try {
      this.#options.transports.send(message, flow);
    } catch (error) {
      this.#logger.debug({ err: error }, 'direct send failed');
    }
  }

  /**
   * Answers a server transaction with a response built from its request. A transaction that
   * ended meanwhile (transport error, timeout — possible after asynchronous work) is skipped.
   */
  respond(
    tx: ServerTransaction,
    status: number,
    extra?: (response: SipResponse) => void,
    options: { toTag?: string } = {},
  ): void {
    if (tx.state === TransactionState.Terminated) {
      this.#logger.debug({ status, method: tx.method }, 'not answering an ended transaction');
      return;
    }
    // §8.2.6.2: "the UAS MUST add a tag to the To header field in the response" (createResponse
    // leaves 100 Trying and a To that already has one, i.e. in-dialog requests, unchanged).
    const response = createResponse(tx.request, status, undefined, {
      toTag: options.toTag ?? newTag(),
    });
    response.headers.set('Server', this.userAgent);
    extra?.(response);
    tx.respond(response);
  }

  #route(tx: ServerTransaction): void {
    const request = tx.request;
    let toTag: string | undefined;
    try {
      toTag = getTag(getTo(request));
    } catch {
      this.respond(tx, 400);
      return;
    }
    const unsupported = unsupportedRequirements(request);
    if (unsupported.length > 0) {
      // §8.2.2.3: an option tag in Require that we do not understand (100rel, timer…) gets
      // 420 naming it in Unsupported; ACK and CANCEL are exempt (they cannot be refused).
      this.respond(tx, 420, (response) => {
        response.headers.set('Unsupported', unsupported.join(', '));
      });
      return;
    }
    if (toTag !== undefined && request.method !== 'CANCEL') {
      const handler = this.#dialogFor(request, 'uas');
      if (handler) {
        handler.onRequest(tx);
      } else if (request.method !== 'ACK') {
        // §12.2.2: a request that matches no dialog.
        this.respond(tx, 481);
      }
      return;
    }
    const handlers = this.#handlers;
    switch (request.method) {
      case 'REGISTER':
        if (handlers) {
          handlers.register(tx);
        } else {
          this.respond(tx, 503);
        }
        return;
      case 'INVITE':
        if (handlers) {
          handlers.invite(tx);
        } else {
          this.respond(tx, 503);
        }
        return;
      case 'CANCEL':
        if (handlers) {
          handlers.cancel(tx, this.transactions.findInviteServerTransaction(request));
        } else {
          this.respond(tx, 481);
        }
        return;
      case 'OPTIONS':
        // §11.2: capabilities.
        this.respond(tx, 200, (response) => {
          response.headers.set('Allow', ALLOWED_METHODS.join(', '));
          response.headers.set('Accept', 'application/sdp');
          response.headers.set('Accept-Language', 'en');
          response.headers.set('Supported', SUPPORTED_OPTION_TAGS.join(', '));
        });
        return;
      case 'BYE':
      case 'INFO':
      case 'UPDATE':
        this.respond(tx, 481);
        return;
      case 'REFER':
        // RFC 3515 §2 allows a REFER outside any dialog, and §2.4.2 lets the recipient decline
        // one it will not act on. We transfer calls: a REFER only means something in a call's
        // dialog (see CallControl), so one outside a dialog is declined.
        this.respond(tx, 403, (response) => {
          response.headers.set('Warning', '399 confab "REFER is accepted only within a call"');
        });
        return;
      default:
        if (KNOWN_UNSUPPORTED.has(request.method)) {
          this.respond(tx, 405, (response) => {
            response.headers.set('Allow', ALLOWED_METHODS.join(', '));
          });
        } else {
          this.respond(tx, 501);
        }
    }
  }

  #dialogFor(message: SipMessage, side: 'uas' | 'uac'): DialogHandler | undefined {
    try {
      const callId = getCallId(message);
      const fromTag = getTag(getFrom(message));
      const toTag = getTag(getTo(message));
      if (fromTag === undefined || toTag === undefined) {
        return undefined;
      }
      // For requests we receive, our tag is in To; for responses to our requests, in From.
      return side === 'uas'
        ? this.#dialogs.get(dialogKey(callId, toTag, fromTag))
        : this.#dialogs.get(dialogKey(callId, fromTag, toTag));
    } catch {
      return undefined;
    }
  }

  /**
   * RFC 3261 §8.2 (and §16.3 step 1): a request whose CSeq method differs from its method
   * (§8.1.1.5), with a duplicated single-valued header, an unreadable Max-Forwards or URI
   * headers in the Request-URI is answered 400 statelessly; one without a readable Via, From,
   * To, Call-ID or CSeq cannot be answered (§8.2.6.2 copies them) and is dropped. Neither kind
   * reaches the transaction layer, so no transaction or dialog state is created for it.
   */
  #isValidRequest(request: SipRequest, flow: Flow): boolean {
    try {
      validateRequest(request);
      return true;
    } catch (error) {
      if (isSipParseError(error)) {
        this.#answerMalformed(error, flow);
      } else {
        this.#logger.debug({ err: error }, 'request validation failed');
      }
      return false;
    }
  }

  /** RFC 3261 §18.2.1 received, RFC 3581 §4 rport: where the request really came from. */
  #stampReceived(request: SipRequest, flow: Flow): void {
    if (!request.headers.has('Via')) {
      return;
    }
    try {
      const via = getTopVia(request);
      let changed = false;
      if (via.host !== flow.remoteAddress) {
        via.params.set('received', flow.remoteAddress);
        changed = true;
      }
      if (via.params.has('rport') && via.params.get('rport') === null) {
        via.params.set('rport', String(flow.remotePort));
        changed = true;
      }
      if (changed) {
        request.headers.replaceFirst('Via', formatVia(via));
      }
    } catch {
      // A malformed Via is rejected by the transaction layer.
    }
  }

  #answerMalformed(error: SipParseError, flow: Flow): void {
    const partial = error.partial;
    this.#logger.info(
      {
        code: error.code,
        status: error.status,
        flow: `${flow.protocol}:${flow.remoteAddress}:${flow.remotePort}`,
      },
      'malformed SIP message',
    );
    if (partial?.type !== 'request' || partial.method === 'ACK') {
      return;
    }
    try {
      const response = createResponse(partial, error.status, undefined, { toTag: newTag() });
      response.headers.set('Server', this.userAgent);
      if (error.status === 400) {
        response.reason = `Bad Request (${error.message.slice(0, 80).replace(/[\r\n]/g, ' ')})`;
      }
      this.#options.transports.send(response, flow);
    } catch (sendError) {
      this.#logger.debug({ err: sendError }, 'could not answer a malformed request');
    }
  }

  close(): void {
    for (const timer of this.#retiring) {
      this.#options.clock.clearTimeout(timer);
    }
    this.#retiring.clear();
    this.transactions.close();
    this.#dialogs.clear();
  }
}
