/** The UAC side of a call leg: our INVITE to the endpoint (RFC 3261 §13.2). See channel.ts. */
import { InvalidStateError, TypedEmitter } from '@confab/core';
import {
  Dialog,
  SipRequest,
  bodyText,
  createCancel,
  formatNameAddr,
  getTag,
  getTo,
  parseUri,
  setBody,
  type Flow,
  type NameAddr,
  type SipResponse,
} from '@confab/sip';
import {
  CHANNEL_ALLOW,
  Channel,
  ChannelState,
  newTag,
  type ChannelOptions,
  type HangupOptions,
} from './channel.js';
import { HangupCause, causeForSipStatus } from './hangup-cause.js';

export interface OutboundInvite {
  /** Request-URI: the registered contact. */
  target: string;
  flow: Flow;
  from: NameAddr;
  to: NameAddr;
  sdp: string;
  headers?: Readonly<Record<string, string>>;
}

/** Outcome of an outbound channel's INVITE. */
export interface OutboundOutcomeEvents {
  [key: string]: unknown[];
  /** A provisional response (180/183…). */
  progress: [status: number];
  /** 2xx: the endpoint's SDP answer. */
  answered: [sdp: string];
  /** A final response ≥ 300, or 408 on timeout, 503 on transport failure. */
  rejected: [status: number];
}

/** We call the endpoint: we are the UAC of our INVITE (§13.2). */
export class OutboundChannel extends Channel {
  /** False for a callee's leg; true for the user's own leg of a call placed through calld. */
  readonly isCaller: boolean;
  readonly sipCallId = `${crypto.randomUUID()}@confab`;
  #flow: Flow | undefined;
  #invite: SipRequest | undefined;
  #provisional = false;
  #cancelPending = false;
  #completedElsewhere = false;
  #answered = false;
  readonly #outbound = new TypedEmitter<OutboundOutcomeEvents>();

  get flow(): Flow {
    if (!this.#flow) {
      throw new InvalidStateError(`Channel ${this.id} has not sent its INVITE`);
    }
    return this.#flow;
  }

  override get connectionId(): string | undefined {
    return this.#flow?.connectionId;
  }

  /** Outcome events of the INVITE (see {@link OutboundOutcomeEvents}). */
  get outcome(): Pick<TypedEmitter<OutboundOutcomeEvents>, 'on' | 'once' | 'off'> {
    return this.#outbound;
  }

  constructor(options: ChannelOptions & { isCaller?: boolean }) {
    super(options);
    this.isCaller = options.isCaller ?? false;
  }

  /** Sends the INVITE (§13.2.1). */
  invite(request: OutboundInvite): void {
    if (this.#invite) {
      throw new InvalidStateError(`Channel ${this.id} already sent its INVITE`);
    }
    this.#flow = request.flow;
    const invite = new SipRequest('INVITE', parseUri(request.target));
    const from: NameAddr = {
      ...request.from,
      params: new Map(request.from.params).set('tag', newTag()),
    };
    invite.headers.set('From', formatNameAddr(from));
    invite.headers.set('To', formatNameAddr(request.to));
    invite.headers.set('Call-ID', this.sipCallId);
    invite.headers.set('CSeq', '1 INVITE');
    invite.headers.set('Contact', `<${this.contactUri()}>`);
    invite.headers.set('Allow', CHANNEL_ALLOW);
    if (this.webrtc) {
      invite.headers.set('X-Wazo-Call-ID', this.id);
    }
    for (const [name, value] of Object.entries(request.headers ?? {})) {
      invite.headers.set(name, value);
    }
    setBody(invite, request.sdp, 'application/sdp');
    this.#invite = invite;
    const tx = this.stack.sendRequest(invite, request.flow);
    tx.on('response', (response) => {
      try {
        this.#onResponse(response);
      } catch (error) {
        // E.g. a 2xx whose Record-Route asks for strict routing (§12.2.1.1, unsupported): we
        // cannot build the dialog, so the leg cannot go on. Fail it now rather than ring on.
        this.logger.error(
          { err: error, status: response.status },
          'unusable response to our INVITE',
        );
        if (this.#answered) {
          this.hangup(HangupCause.Interworking);
        } else if (response.status >= 200) {
          this.#fail(502);
        }
      }
    });
    tx.on('timeout', () => {
      this.#fail(408);
    });
    tx.on('transportError', () => {
      this.#fail(503);
    });
  }

  #onResponse(response: SipResponse): void {
    const status = response.status;
    if (status < 200) {
      if (status === 100) {
        return;
      }
      this.#provisional = true;
      if (this.#cancelPending) {
        this.#sendCancel();
        return;
      }
      if (getTag(getTo(response)) !== undefined && !this.dialog) {
        this.registerDialog(Dialog.fromUacResponse(this.#requireInvite(), response));
      }
      if ((status === 180 || status === 183) && this.state === ChannelState.Down) {
        this.transition(ChannelState.Ringing);
      }
      this.#outbound.emit('progress', status);
      this.emit('updated');
      return;
    }
    if (status < 300) {
      this.#onSuccess(response);
      return;
    }
    // Non-2xx final: the transaction ACKs it (§17.1.1.3).
    this.#fail(status);
  }

  #onSuccess(response: SipResponse): void {
    const invite = this.#requireInvite();
    if (this.#answered) {
      const toTag = getTag(getTo(response));
      if (this.dialog && toTag === this.dialog.id.remoteTag) {
        // The same 2xx again (RFC 6026 Accepted state): our ACK was lost; send it again (§13.2.2.4).
        this.stack.sendAck(this.dialog.createRequest('ACK'), this.flow);
        return;
      }
      // A 2xx from another fork behind a proxy (§13.2.2.4): ACK it, then end that dialog.
      const extra = Dialog.fromUacResponse(invite, response);
      this.stack.sendAck(extra.createRequest('ACK'), this.flow);
      this.stack.sendRequest(extra.createRequest('BYE'), this.flow);
      return;
    }
    const early = this.dialog;
    const dialog =
      early && early.id.remoteTag === getTag(getTo(response))
        ? early
        : Dialog.fromUacResponse(invite, response);
    if (dialog === early) {
      dialog.receiveResponse(response);
    } else {
      this.replaceDialog(dialog);
    }
    this.stack.sendAck(dialog.createRequest('ACK'), this.flow);
    this.#answered = true;
    if (this.#cancelPending || this.ended) {
      // The 2xx crossed our CANCEL (§9.1): the call is up at the far end; end it with BYE.
      this.sendBye(HangupCause.NormalClearing);
      return;
    }
    this.transition(ChannelState.Up);
    this.#outbound.emit('answered', bodyText(response));
  }

  connectionLost(): void {
    if (this.#answered) {
      this.finish(HangupCause.DestinationOutOfOrder);
    } else {
      this.#fail(480);
    }
  }

  #requireInvite(): SipRequest {
    if (!this.#invite) {
      throw new InvalidStateError(`Channel ${this.id} has not sent its INVITE`);
    }
    return this.#invite;
  }

  #fail(status: number): void {
    if (this.ended || this.#answered) {
      return;
    }
    this.#outbound.emit('rejected', status);
    this.finish(this.#cancelPending ? HangupCause.NormalClearing : causeForSipStatus(status));
  }

  #sendCancel(): void {
    if (!this.#invite || !this.#flow) {
      return;
    }
    try {
      const cancel = createCancel(this.#invite);
      if (this.#completedElsewhere) {
        // RFC 3326 §2 + RFC 3261 §9.1 practice: the device should not log a missed call.
        cancel.headers.set('Reason', 'SIP;cause=200;text="Call completed elsewhere"');
      }
      // CANCEL reuses the INVITE's Via branch (§9.1): it bypasses the stack's Via stamping.
      this.stack.transactions.sendRequest(cancel, this.#flow);
    } catch (error) {
      this.logger.debug({ err: error }, 'could not send CANCEL');
    }
  }

  hangup(cause: HangupCause = HangupCause.NormalClearing, options: HangupOptions = {}): void {
    if (this.ended) {
      return;
    }
    if (this.#answered) {
      this.sendBye(cause);
      return;
    }
    // Not answered: CANCEL (§9.1). Before any provisional response CANCEL must wait for one.
    this.#cancelPending = true;
    this.#completedElsewhere = options.completedElsewhere === true;
    if (this.#provisional) {
      this.#sendCancel();
    }
    // Without a provisional, nothing is ringing yet; if the INVITE is still outstanding the
    // CANCEL goes out on the first 1xx, and a late 2xx gets ACK + BYE (see #onSuccess).
    this.finish(cause);
  }
}
