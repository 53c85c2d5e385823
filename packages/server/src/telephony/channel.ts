/**
 * A channel is one call leg between the server and one endpoint: one SIP dialog and one media
 * leg. Its id is the Wazo call id (`"<unix seconds>.<sequence>"`), stable for its whole life.
 *
 * ```
 *            ┌──────── Ring (we called on: the caller's leg while the callee rings) ──┐
 *   Down ────┤                                                                        ├──► Up ──► Hungup
 *            └──────── Ringing (the endpoint's phone rings: the callee's leg) ────────┘
 *   (every state can go to Hungup; hold is a flag on Up, as in Wazo's call object)
 * ```
 *
 * The two roles differ only in how the dialog starts: `InboundChannel` (inbound-channel.ts) is
 * the UAS side of an INVITE the endpoint sent us; `OutboundChannel` (outbound-channel.ts) the
 * UAC side of an INVITE we send. In-dialog handling (BYE, re-INVITE/UPDATE for hold, INFO,
 * OPTIONS, REFER dispatch, 2xx/ACK reliability, outgoing BYE/INFO) is shared here.
 *
 * Close cascade: `hangup()` (or the remote BYE/CANCEL, or a transaction failure) → SIP
 * signalling to end the dialog → state `Hungup` → `hungup` event (call control closes the media
 * leg and updates the bridge) → the dialog is unregistered from the stack. `hangup()` is
 * idempotent.
 */
import { InvalidStateError, TypedEmitter, type Logger } from '@confab/core';
import {
  Dialog,
  SipRequest,
  TransactionState,
  Uas2xxRetransmitter,
  bodyText,
  createResponse,
  setBody,
  type Clock,
  type Flow,
  type ServerTransaction,
  type ClientTransaction,
  type SipMessage,
  type SipResponse,
} from '@confab/sip';
import type { DialogHandler, SipStack } from '../sip/stack.js';
import { HangupCause } from './hangup-cause.js';

export const ChannelState = {
  Down: 'Down',
  Ring: 'Ring',
  Ringing: 'Ringing',
  Up: 'Up',
  Hungup: 'Hungup',
} as const;
export type ChannelState = (typeof ChannelState)[keyof typeof ChannelState];

const TRANSITIONS: Readonly<Record<ChannelState, readonly ChannelState[]>> = {
  Down: ['Ring', 'Ringing', 'Up', 'Hungup'],
  Ring: ['Ringing', 'Up', 'Hungup'],
  Ringing: ['Up', 'Hungup'],
  Up: ['Hungup'],
  Hungup: [],
};

export interface HangupOptions {
  /** Cancelling a fork because another device answered (RFC 3326 Reason cause=200). */
  completedElsewhere?: boolean;
}

export interface PartyId {
  name: string;
  number: string;
}

/** What a channel needs from call control to answer media renegotiation. */
export interface ChannelMediaHandler {
  /** A new offer from the endpoint (re-INVITE/UPDATE): returns our answer SDP. Throws → 488. */
  reoffer(channel: Channel, sdp: string): Promise<string>;
}

export interface ChannelEvents {
  [key: string]: unknown[];
  stateChanged: [from: ChannelState, to: ChannelState];
  /** Any field of the call view changed (hold, connected line, media). */
  updated: [];
  held: [];
  resumed: [];
  dtmf: [digit: string];
  hungup: [cause: HangupCause];
}

export interface ChannelOptions {
  id: string;
  stack: SipStack;
  clock: Clock;
  logger: Logger;
  /** Owner of the channel: the user of the line at the endpoint. */
  userUuid: string | null;
  tenantUuid: string;
  lineId: number | null;
  /** The endpoint is a WebRTC client (WS/WSS): it gets X-Wazo-Call-ID headers. */
  webrtc: boolean;
  callerId: PartyId;
  connectedLine: PartyId;
  dialedExtension: string | null;
  media: ChannelMediaHandler;
  /** The conversation (Wazo `linkedid`): the caller's channel id. @default the channel's id */
  conversationId?: string;
}

/** Methods a channel accepts in its dialog (Allow, §20.5); REFER per RFC 3515 §2.4.2. */
export const CHANNEL_ALLOW = 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, REFER';

/** Handles a REFER received in a channel's dialog (call control's blind transfer). */
export type ReferHandler = (channel: Channel, tx: ServerTransaction) => void;

let sequence = 0;

/** Wazo call ids: `"<unix seconds>.<sequence>"` like Asterisk unique ids. */
export function newChannelId(nowMs: number): string {
  sequence += 1;
  return `${Math.floor(nowMs / 1000)}.${sequence}`;
}

export function newTag(): string {
  return crypto.randomUUID().replace(/-/g, '').slice(0, 16);
}

const HOLD_DIRECTIONS = /^a=(sendonly|inactive)\s*$/m;

/** RFC 3264 §8.4 hold: the offer says sendonly/inactive (or the RFC 2543 c=0.0.0.0 form). */
export function offerIsHold(sdp: string): boolean {
  return HOLD_DIRECTIONS.test(sdp) || /^c=IN IP4 0\.0\.0\.0\s*$/m.test(sdp);
}

export abstract class Channel extends TypedEmitter<ChannelEvents> implements DialogHandler {
  readonly id: string;
  readonly userUuid: string | null;
  readonly tenantUuid: string;
  readonly lineId: number | null;
  readonly webrtc: boolean;
  readonly creationTime: Date;
  readonly dialedExtension: string | null;
  /** Shared by every leg of one conversation (Wazo `conversation_id`): the caller's channel id. */
  readonly conversationId: string;
  callerId: PartyId;
  connectedLine: PartyId;
  answerTime: Date | null = null;
  hangupTime: Date | null = null;
  hangupCause: HangupCause | null = null;
  /** Held by its endpoint (re-INVITE) or by the server (calld hold API): Wazo's `on_hold`. */
  onHold = false;
  #heldBy = { endpoint: false, server: false };
  muted = false;
  /** Media leg id in the media engine (set by call control). */
  legId: string | undefined;
  /** Bridge ids this channel is in (set by the bridge registry). */
  readonly bridges = new Set<string>();
  /** Who handles REFER in this channel's dialog; without one, REFER gets 501. */
  referHandler: ReferHandler | undefined;

  protected readonly stack: SipStack;
  protected readonly clock: Clock;
  protected readonly logger: Logger;
  protected readonly media: ChannelMediaHandler;
  protected dialog: Dialog | undefined;
  #state: ChannelState = ChannelState.Down;
  #registeredDialog: { callId: string; localTag: string; remoteTag: string } | undefined;
  #retransmitter: Uas2xxRetransmitter | undefined;
  /** The 2xx we sent for the last INVITE (retransmitted on INVITE retransmissions). */
  #pendingAckCSeq: number | undefined;
  /** A re-INVITE/UPDATE offer is being answered (the media engine works asynchronously). */
  #answeringOffer = false;

  protected constructor(options: ChannelOptions) {
    super();
    this.id = options.id;
    this.stack = options.stack;
    this.clock = options.clock;
    this.logger = options.logger.child({ callId: options.id });
    this.userUuid = options.userUuid;
    this.tenantUuid = options.tenantUuid;
    this.lineId = options.lineId;
    this.webrtc = options.webrtc;
    this.callerId = options.callerId;
    this.connectedLine = options.connectedLine;
    this.dialedExtension = options.dialedExtension;
    this.conversationId = options.conversationId ?? options.id;
    this.media = options.media;
    this.creationTime = new Date(options.clock.now());
  }

  /** True when the endpoint placed the call (we are the UAS of its INVITE). */
  abstract readonly isCaller: boolean;
  /** SIP Call-ID of this channel's dialog. */
  abstract readonly sipCallId: string;
  /** The flow to the endpoint. */
  abstract readonly flow: Flow;

  get state(): ChannelState {
    return this.#state;
  }

  /** The TCP/WebSocket connection to the endpoint, if any. */
  get connectionId(): string | undefined {
    return this.flow.connectionId;
  }

  get ended(): boolean {
    return this.#state === ChannelState.Hungup;
  }

  protected transition(to: ChannelState): void {
    const from = this.#state;
    if (from === to) {
      return;
    }
    if (!TRANSITIONS[from].includes(to)) {
      throw InvalidStateError.transition(`Channel ${this.id}`, from, to);
    }
    this.#state = to;
    this.logger.debug({ from, to }, 'channel state');
    if (to === ChannelState.Up) {
      this.answerTime = new Date(this.clock.now());
    }
    this.emit('stateChanged', from, to);
  }

  /** Ends the channel with `cause`, sending whatever SIP its state requires. Idempotent. */
  abstract hangup(cause?: HangupCause, options?: HangupOptions): void;

  /**
   * The endpoint's TCP/WebSocket connection closed. We cannot reach it any more (we never open
   * WebSockets to clients, RFC 7118 §5), so the channel ends without signalling: an unanswered
   * fork counts as unavailable (480), an established leg ends with Q.850 27 (destination out of
   * order) and the bridge policy hangs the other party up.
   */
  abstract connectionLost(): void;

  /** Sets the connected line (e.g. `"Conference" <1001>`) and tells listeners. */
  setConnectedLine(party: PartyId): void {
    this.connectedLine = party;
    this.emit('updated');
  }

  setMuted(muted: boolean): void {
    if (this.muted !== muted) {
      this.muted = muted;
      this.emit('updated');
    }
  }

  /**
   * Records a hold or resume by `by` (the endpoint's re-INVITE, or the server for the calld hold
   * API). The two are independent — an endpoint's ordinary re-INVITE does not lift a server hold
   * — and `onHold` is true while either holds. Listeners hear `held`/`resumed` then `updated`
   * when `onHold` changes.
   */
  setOnHold(held: boolean, by: 'endpoint' | 'server' = 'server'): void {
    this.#heldBy = { ...this.#heldBy, [by]: held };
    const onHold = this.#heldBy.endpoint || this.#heldBy.server;
    if (this.onHold === onHold) {
      return;
    }
    this.onHold = onHold;
    this.emit(onHold ? 'held' : 'resumed');
    this.emit('updated');
  }

  /**
   * Sends one DTMF digit to the endpoint as SIP INFO `application/dtmf-relay` (the de-facto
   * format desk phones and SIP.js understand): `Signal=<digit>` and `Duration` in ms.
   * Silently skipped when the dialog is not established (nothing to carry it).
   */
  sendDtmfInfo(digit: string, durationMs = 100): void {
    const dialog = this.dialog;
    if (!dialog || this.state !== ChannelState.Up) {
      return;
    }
    try {
      const info = dialog.createRequest('INFO');
      setBody(info, `Signal=${digit}\r\nDuration=${durationMs}\r\n`, 'application/dtmf-relay');
      this.stack.sendRequest(info, this.flow);
    } catch (error) {
      this.logger.debug({ err: error }, 'could not send INFO');
    }
  }

  /**
   * Sends a request in this channel's dialog (e.g. NOTIFY for a REFER subscription, RFC 3515
   * §2.4.4). Returns undefined, sending nothing, when the dialog cannot carry it (none yet, or
   * it cannot build requests).
   */
  sendInDialog(
    method: string,
    configure: (request: SipRequest) => void,
  ): ClientTransaction | undefined {
    const dialog = this.dialog;
    if (!dialog) {
      return undefined;
    }
    try {
      const request = dialog.createRequest(method);
      configure(request);
      return this.stack.sendRequest(request, this.flow);
    } catch (error) {
      this.logger.debug({ err: error, method }, 'could not send an in-dialog request');
      return undefined;
    }
  }

  // ---- dialog plumbing shared by both roles ----

  protected registerDialog(dialog: Dialog): void {
    this.dialog = dialog;
    if (this.#registeredDialog) {
      return;
    }
    const { callId, localTag, remoteTag } = dialog.id;
    this.#registeredDialog = { callId, localTag, remoteTag };
    this.stack.registerDialog(callId, localTag, remoteTag, this);
  }

  /** The final dialog differs from the early one (a 2xx with another To tag, §12.1.2). */
  protected replaceDialog(dialog: Dialog): void {
    const previous = this.#registeredDialog;
    if (previous) {
      this.stack.unregisterDialog(previous.callId, previous.localTag, previous.remoteTag);
      this.#registeredDialog = undefined;
    }
    this.registerDialog(dialog);
  }

  /** Common teardown: state, timers, dialog registration, event. Called once. */
  protected finish(cause: HangupCause): void {
    if (this.ended) {
      return;
    }
    this.hangupCause = cause;
    this.hangupTime = new Date(this.clock.now());
    this.#retransmitter?.stop();
    this.#retransmitter = undefined;
    this.transition(ChannelState.Hungup);
    // Keep the dialog registered a little longer so that retransmitted BYEs/ACKs are absorbed
    // (§17.2.2 / §13.3.1.4) rather than answered with 481.
    const registered = this.#registeredDialog;
    if (registered) {
      this.stack.retireDialog(registered.callId, registered.localTag, registered.remoteTag, 32_000);
    }
    this.emit('hungup', cause);
  }

  /** Sends BYE in the confirmed dialog (§15.1.1) and finishes the channel. */
  protected sendBye(cause: HangupCause): void {
    const dialog = this.dialog;
    if (dialog) {
      try {
        const bye = dialog.createRequest('BYE');
        if (cause !== HangupCause.NormalClearing) {
          // RFC 3326: tell the peer why.
          bye.headers.set('Reason', `Q.850;cause=${cause}`);
        }
        this.stack.sendRequest(bye, this.flow);
      } catch (error) {
        this.logger.debug({ err: error }, 'could not send BYE');
      }
    }
    this.finish(cause);
  }

  /** Sends a 2xx reliably: retransmitted until ACK on unreliable transports (§13.3.1.4). */
  protected sendReliable2xx(tx: ServerTransaction, response: SipResponse, cseq: number): void {
    if (!respondIfAlive(tx, response)) {
      return;
    }
    this.#pendingAckCSeq = cseq;
    this.#retransmitter?.stop();
    this.#retransmitter = new Uas2xxRetransmitter({
      clock: this.clock,
      reliable: this.flow.protocol !== 'UDP',
      retransmit: () => {
        try {
          this.stack.sendDirect(response, this.flow);
        } catch (error) {
          this.logger.debug({ err: error }, '2xx retransmission failed');
        }
      },
      onTimeout: () => {
        // §13.3.1.4: no ACK within 64*T1 — the session is not established; end it with BYE.
        this.logger.info({}, 'no ACK for 2xx; hanging up');
        this.sendBye(HangupCause.RecoveryOnTimerExpiry);
      },
    });
    this.#retransmitter.start();
  }

  onAck(ack: SipRequest, _flow: Flow): void {
    if (this.#pendingAckCSeq !== undefined && cseqNumber(ack) === this.#pendingAckCSeq) {
      this.#retransmitter?.acknowledge();
      this.#retransmitter = undefined;
      this.#pendingAckCSeq = undefined;
      this.dialog?.confirm();
    }
  }

  onStrayResponse(response: SipResponse, flow: Flow): void {
    // A retransmitted 2xx to our INVITE: our ACK was lost (§13.2.2.4). Re-send it.
    const dialog = this.dialog;
    if (!dialog || response.status < 200 || response.status >= 300) {
      return;
    }
    const cseq = response.headers.get('CSeq') ?? '';
    if (!cseq.trim().endsWith('INVITE')) {
      return;
    }
    this.stack.sendAck(dialog.createRequest('ACK', { cseq: cseqNumber(response) }), flow);
  }

  onRequest(tx: ServerTransaction): void {
    const request = tx.request;
    const dialog = this.dialog;
    if (!dialog) {
      this.stack.respond(tx, 481);
      return;
    }
    // §12.2.2: requests with a lower CSeq than the last one are out of order.
    if (dialog.receiveRequest(request) === 'out-of-order') {
      this.stack.respond(tx, 500);
      return;
    }
    switch (request.method) {
      case 'BYE':
        this.stack.respond(tx, 200);
        this.logger.info({}, 'remote hangup (BYE)');
        this.endPendingInvite();
        this.finish(HangupCause.NormalClearing);
        return;
      case 'INVITE':
      case 'UPDATE':
        if (
          (this.#answeringOffer || this.awaitingInitialFinal()) &&
          (request.method === 'INVITE' || bodyText(request) !== '')
        ) {
          // RFC 3261 §14.2 (RFC 3311 §5.2 for UPDATE): an offer that arrives before we sent the
          // final response to the previous INVITE/offer gets 500 with a random Retry-After of
          // 0-10 s; answering both would leave the two sides disagreeing on the session.
          this.stack.respond(tx, 500, (response) => {
            response.headers.set('Retry-After', String(Math.floor(Math.random() * 11)));
          });
          return;
        }
        void this.#renegotiate(tx);
        return;
      case 'INFO':
        this.#info(tx);
        return;
      case 'OPTIONS':
        this.stack.respond(tx, 200);
        return;
      case 'REFER':
        if (this.referHandler) {
          this.referHandler(this, tx);
        } else {
          this.stack.respond(tx, 501);
        }
        return;
      case 'ACK':
        return;
      default:
        this.stack.respond(tx, 501);
    }
  }

  /**
   * Whether the INVITE that created the dialog still awaits our final response (only for the
   * UAS side: an early dialog exists from our 180 on).
   */
  protected awaitingInitialFinal(): boolean {
    return false;
  }

  /** A BYE arrived: answers the dialog-creating INVITE if it is still pending (UAS side). */
  protected endPendingInvite(): void {
    // Nothing pending on the UAC side: the endpoint answers our INVITE itself (§15.1.2).
  }

  /** re-INVITE / UPDATE from the endpoint: hold, resume, codec or ICE changes (RFC 3264 §8, RFC 3311). */
  async #renegotiate(tx: ServerTransaction): Promise<void> {
    this.#answeringOffer = true;
    try {
      await this.#answerOffer(tx);
    } finally {
      this.#answeringOffer = false;
    }
  }

  async #answerOffer(tx: ServerTransaction): Promise<void> {
    const request = tx.request;
    if (this.ended) {
      this.stack.respond(tx, 481);
      return;
    }
    const offer = bodyText(request);
    if (offer === '') {
      if (request.method === 'UPDATE') {
        this.stack.respond(tx, 200);
        return;
      }
      // Offerless re-INVITE would need our offer in the 2xx and the answer in ACK; our clients
      // (SIP.js, desk phones) always offer. Deliberate limitation.
      this.stack.respond(tx, 488, (response) => {
        response.headers.set(
          'Warning',
          '399 confab "re-INVITE without SDP offer is not supported"',
        );
      });
      return;
    }
    let answer: string;
    try {
      answer = await this.media.reoffer(this, offer);
    } catch (error) {
      this.logger.info({ err: error }, 'renegotiation refused');
      this.stack.respond(tx, 488);
      return;
    }
    if (this.ended) {
      this.stack.respond(tx, 481);
      return;
    }
    const held = offerIsHold(offer);
    const response = createResponse(request, 200);
    response.headers.set('Contact', `<${this.contactUri()}>`);
    response.headers.set('Server', this.stack.userAgent);
    setBody(response, answer, 'application/sdp');
    if (request.method === 'INVITE') {
      this.sendReliable2xx(tx, response, cseqNumber(request));
    } else {
      respondIfAlive(tx, response);
    }
    if (held !== this.#heldBy.endpoint) {
      this.logger.info(
        { held },
        held ? 'endpoint put the call on hold' : 'endpoint resumed the call',
      );
      this.setOnHold(held, 'endpoint');
    }
  }

  /** SIP INFO: DTMF as application/dtmf-relay (`Signal=5`), otherwise just acknowledged. */
  #info(tx: ServerTransaction): void {
    const request = tx.request;
    const type = request.headers.get('Content-Type')?.toLowerCase() ?? '';
    if (type.startsWith('application/dtmf-relay') || type.startsWith('application/dtmf')) {
      const match =
        /Signal\s*=\s*([0-9A-Da-d*#])/.exec(bodyText(request)) ??
        /^([0-9A-Da-d*#])\s*$/.exec(bodyText(request));
      const digit = match?.[1];
      if (digit !== undefined) {
        this.emit('dtmf', digit.toUpperCase());
      }
    }
    this.stack.respond(tx, 200);
  }

  /** Our Contact for this channel's dialog. */
  contactUri(): string {
    return this.stack.contactUri(this.flow, `ch-${this.id.replace('.', '-')}`);
  }
}

/** Answers `tx` unless it already ended (e.g. a transport error during asynchronous work). */
export function respondIfAlive(tx: ServerTransaction, response: SipResponse): boolean {
  if (tx.state === TransactionState.Terminated) {
    return false;
  }
  tx.respond(response);
  return true;
}

/** The sequence number of a message's CSeq (§20.16); the parser guarantees the header. */
export function cseqNumber(message: SipMessage): number {
  return Number(message.headers.get('CSeq')?.trim().split(/\s+/)[0] ?? 0);
}
