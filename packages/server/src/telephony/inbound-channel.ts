/** The UAS side of a call leg: the endpoint's INVITE to us (RFC 3261 §13.3). See channel.ts. */
import { InvalidStateError } from '@confab/core';
import {
  Dialog,
  createResponse,
  parseUri,
  setBody,
  type Flow,
  type ServerTransaction,
  type SipRequest,
  type SipResponse,
} from '@confab/sip';
import {
  CHANNEL_ALLOW,
  Channel,
  ChannelState,
  cseqNumber,
  newTag,
  respondIfAlive,
  type ChannelOptions,
} from './channel.js';
import { HangupCause, sipStatusForCause } from './hangup-cause.js';

export interface InboundChannelOptions extends ChannelOptions {
  invite: ServerTransaction;
}

/** The endpoint called us: we are the UAS of its INVITE (§13.3). */
export class InboundChannel extends Channel {
  readonly isCaller = true;
  readonly sipCallId: string;
  readonly flow: Flow;
  readonly #invite: ServerTransaction;
  readonly #localTag = newTag();
  #finalSent = false;

  constructor(options: InboundChannelOptions) {
    super(options);
    this.#invite = options.invite;
    this.flow = options.invite.flow;
    this.sipCallId = options.invite.request.headers.get('Call-ID') ?? '';
  }

  get invite(): SipRequest {
    return this.#invite.request;
  }

  protected override awaitingInitialFinal(): boolean {
    return !this.#finalSent && !this.ended;
  }

  /**
   * RFC 3261 §15.1.2: a BYE in the early dialog (the caller hangs up while it rings, instead of
   * CANCEL) ends the call; the INVITE still needs its final response, and 487 is the
   * recommended one. Without it the INVITE transaction would never end.
   */
  protected override endPendingInvite(): void {
    if (this.#finalSent || this.ended) {
      return;
    }
    this.#finalSent = true;
    respondIfAlive(this.#invite, this.#response(487));
  }

  /** The remote party is being alerted: 180 Ringing (early dialog, §13.3.1.1). */
  ring(): void {
    if (this.ended || this.#finalSent || this.state !== ChannelState.Down) {
      return;
    }
    const response = this.#response(180);
    this.#ensureDialog();
    respondIfAlive(this.#invite, response);
    this.transition(ChannelState.Ring);
  }

  /** 200 OK with our SDP answer (§13.3.1.4). */
  answer(sdp: string): void {
    if (this.ended || this.#finalSent) {
      throw InvalidStateError.closed(`Channel ${this.id}`);
    }
    const response = this.#response(200);
    setBody(response, sdp, 'application/sdp');
    this.#ensureDialog();
    this.#finalSent = true;
    this.sendReliable2xx(this.#invite, response, cseqNumber(this.#invite.request));
    this.transition(ChannelState.Up);
  }

  connectionLost(): void {
    this.#finalSent = true;
    this.finish(HangupCause.DestinationOutOfOrder);
  }

  /** The caller sent CANCEL (§9.2): 200 to the CANCEL, 487 to the INVITE. */
  cancelled(cancel: ServerTransaction): void {
    // §9.2: the To tag of the CANCEL's 200 SHOULD be the one of the INVITE's responses.
    this.stack.respond(cancel, 200, undefined, { toTag: this.#localTag });
    if (this.#finalSent || this.ended) {
      return;
    }
    this.#finalSent = true;
    respondIfAlive(this.#invite, this.#response(487));
    this.logger.info({}, 'caller cancelled');
    this.finish(HangupCause.NormalClearing);
  }

  hangup(cause: HangupCause = HangupCause.NormalClearing): void {
    if (this.ended) {
      return;
    }
    if (!this.#finalSent) {
      this.#finalSent = true;
      const status = sipStatusForCause(cause);
      const response = this.#response(status);
      respondIfAlive(this.#invite, response);
      this.finish(cause);
      return;
    }
    this.sendBye(cause);
  }

  #response(status: number): SipResponse {
    const response = createResponse(this.#invite.request, status, undefined, {
      toTag: this.#localTag,
      // §12.1.1: a response that creates a dialog (early with a 1xx, confirmed with a 2xx)
      // copies every Record-Route of the request, so that a record-routing proxy in front of
      // the caller stays in the caller's route set (our own route set already has it).
      copyRecordRoute: status > 100 && status < 300,
    });
    response.headers.set('Server', this.stack.userAgent);
    if (status < 300 || status === 180 || status === 183) {
      response.headers.set('Contact', `<${this.contactUri()}>`);
      response.headers.set('Allow', CHANNEL_ALLOW);
    }
    if (this.webrtc) {
      response.headers.set('X-Wazo-Call-ID', this.id);
    }
    return response;
  }

  /** The dialog starts with our first 1xx/2xx (§12.1.1). */
  #ensureDialog(): void {
    if (this.dialog) {
      return;
    }
    this.registerDialog(
      Dialog.fromUasRequest(this.#invite.request, this.#localTag, parseUri(this.contactUri())),
    );
  }
}
