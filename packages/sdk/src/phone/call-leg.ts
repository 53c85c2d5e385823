/**
 * One call of the phone: a SIP.js `Inviter` (outgoing) or `Invitation` (incoming), its media,
 * and the application's {@link CallSession}. Internal to the SDK; `Phone` turns its events into
 * the public `on*` events.
 *
 * States (one `#transition()` checks this table):
 * ```txt
 * outgoing:  Dialing ──18x──▶ Progress ──2xx──▶ Established ──BYE──▶ Terminated
 * incoming:  Ringing ──accept()──▶ Answering ──200 sent──▶ Established ──BYE──▶ Terminated
 *            (every state may go straight to Terminated: reject, CANCEL, failure)
 * ```
 * On Terminated the leg decides once how the call ended ({@link CallOutcome}) and emits
 * `terminated`; nothing is emitted afterwards.
 */
import { InvalidStateError, TypedEmitter, type Logger } from '@confab/core';
import { Invitation, Inviter, SessionState, type Core, type URI } from 'sip.js';
import type { CallSession } from '../domain/call-session.js';
import { PhoneError } from '../errors.js';
import type { Platform } from '../platform.js';
import { MediaSession } from './media-session.js';

export const CallLegState = {
  Dialing: 'Dialing',
  Progress: 'Progress',
  Ringing: 'Ringing',
  Answering: 'Answering',
  Established: 'Established',
  Terminated: 'Terminated',
} as const;
export type CallLegState = (typeof CallLegState)[keyof typeof CallLegState];

const TRANSITIONS: Record<CallLegState, readonly CallLegState[]> = {
  Dialing: ['Progress', 'Established', 'Terminated'],
  Progress: ['Established', 'Terminated'],
  Ringing: ['Answering', 'Terminated'],
  Answering: ['Established', 'Terminated'],
  Established: ['Terminated'],
  Terminated: [],
};

/** How a call ended, decided once when its SIP session terminates. */
export type CallOutcome =
  /** Ended normally: BYE from either side, or cancelled/rejected by this phone. */
  | { kind: 'completed' }
  /** Our INVITE got a final non-2xx response from the network. */
  | { kind: 'rejected'; status: number }
  /** The remote party cancelled its INVITE (RFC 3261 §9.2). */
  | { kind: 'canceled'; elsewhere: boolean }
  /** Media, negotiation, timeout or transport failure. */
  | { kind: 'failed'; error: PhoneError };

export interface CallLegEvents {
  [key: string]: unknown[];
  progress: [];
  established: [];
  remoteAudio: [stream: MediaStream];
  terminated: [outcome: CallOutcome];
}

/** Settings a leg needs to build its media. */
export interface CallMediaSettings {
  platform: Platform;
  logger: Logger;
  iceServers: RTCIceServer[];
  iceGatheringTimeout: number;
}

/** Header the server uses to give a WebRTC client the id of its leg (spec wazo-js-sdk §3.4). */
const WAZO_CALL_ID_HEADER = 'X-Wazo-Call-ID';

/** RFC 3326 Reason of a CANCEL for a call answered elsewhere (SIP 200, or Q.850 cause 26). */
const ANSWERED_ELSEWHERE = /cause\s*=\s*(200|26)\b|completed elsewhere/i;

export class CallLeg {
  readonly callSession: CallSession;
  readonly session: Inviter | Invitation;
  readonly events = new TypedEmitter<CallLegEvents>();
  readonly #settings: CallMediaSettings;
  readonly #logger: Logger;
  #state: CallLegState;
  #media: MediaSession | undefined;
  #failure: PhoneError | undefined;
  /** Final response to our INVITE, when one came from the network. */
  #finalStatus: number | undefined;
  /** Status of a response the SIP stack made up (408 timeout, 503 transport error). */
  #localStatus: number | undefined;
  #canceledBy: { elsewhere: boolean } | undefined;
  #endedHere = false;
  #hangupWhenEstablished = false;
  /** A hold or resume re-INVITE in flight (one at a time, RFC 3261 §14.1). */
  #reinvite: Promise<void> | undefined;
  /** Rejecters of in-dialog requests (re-INVITE, REFER) waiting for their final response. */
  readonly #pending = new Set<(error: Error) => void>();
  /** Mute asked before the media existed, applied when it is created. */
  #pendingMute = false;

  constructor(
    session: Inviter | Invitation,
    callSession: CallSession,
    settings: CallMediaSettings,
  ) {
    this.session = session;
    this.callSession = callSession;
    this.#settings = settings;
    this.#state = session instanceof Inviter ? CallLegState.Dialing : CallLegState.Ringing;
    this.#logger = settings.logger.child({ sipCallId: callSession.sipCallId });
    session.stateChange.addListener((state) => this.#onSessionState(state));
    if (session instanceof Invitation) {
      session.delegate = {
        onCancel: (cancel) => {
          const reason = cancel.request.getHeader('Reason') ?? '';
          this.#canceledBy = { elsewhere: ANSWERED_ELSEWHERE.test(reason) };
        },
      };
    }
  }

  get state(): CallLegState {
    return this.#state;
  }

  get isOutgoing(): boolean {
    return this.session instanceof Inviter;
  }

  /** The call's media, once SIP.js asked for it. */
  get media(): MediaSession | undefined {
    return this.#media;
  }

  /** SIP.js's session description handler factory calls this for the leg's session. */
  createMedia(constraints: MediaStreamConstraints): MediaSession {
    this.#media = new MediaSession({
      ...this.#settings,
      logger: this.#logger,
      defaultConstraints: constraints,
      observer: {
        onRemoteTrack: (track, stream) => {
          if (track.kind === 'audio') {
            this.events.emit('remoteAudio', stream);
          }
        },
        onError: (error) => {
          // A failed re-offer leaves an established call as it was (SIP.js answers 488 or rolls
          // back): only failures before establishment decide how the call ends.
          if (this.#state === CallLegState.Established) {
            this.#logger.warn({ err: error }, 'SDP renegotiation failed');
            return;
          }
          this.#failure ??=
            error instanceof PhoneError
              ? error
              : PhoneError.callFailed(`SDP negotiation failed: ${error.message}`, { cause: error });
        },
        onConnectionStateChange: (state) => {
          // 'failed' is final for a connection without ICE restart: the call has no media left.
          if (state === 'failed' && this.#state === CallLegState.Established) {
            this.#failure ??= PhoneError.callFailed('media connection failed (ICE/DTLS)');
            void this.hangup();
          }
        },
      },
    });
    this.#media.setMuted(this.#pendingMute);
    return this.#media;
  }

  /** Sends the INVITE (outgoing legs); resolves once it is sent. */
  async invite(constraints: MediaStreamConstraints): Promise<void> {
    if (!(this.session instanceof Inviter)) {
      throw new InvalidStateError('invite() on an incoming call');
    }
    try {
      await this.session.invite({
        sessionDescriptionHandlerOptions: { constraints },
        requestDelegate: {
          onProgress: (response) => this.#onProgress(response),
          // SIP.js calls this after it applied the answer; reading the 2xx first means
          // `callId` is set before `established` is emitted.
          onAccept: (response) => {
            this.#readCallId(response);
            if (this.session.state === SessionState.Established) {
              this.#establish();
            }
          },
          onReject: (response) => this.#onReject(response),
        },
      });
    } catch (error) {
      this.#failure ??=
        error instanceof PhoneError
          ? error
          : PhoneError.callFailed('the INVITE could not be sent', { cause: error });
      throw this.#failure;
    }
  }

  /** Answers an incoming call; resolves once the 200 OK is sent. */
  async accept(constraints: MediaStreamConstraints): Promise<void> {
    if (!(this.session instanceof Invitation) || this.#state !== CallLegState.Ringing) {
      throw new InvalidStateError(`cannot accept a call in state ${this.#state}`);
    }
    this.#transition(CallLegState.Answering);
    // SIP.js answers with 480 itself if media fails; the observer has recorded why.
    await this.session.accept({ sessionDescriptionHandlerOptions: { constraints } });
    // Read through the getter: the state changed while awaiting.
    if (this.#failure !== undefined && this.state === CallLegState.Terminated) {
      throw this.#failure;
    }
  }

  /** Declines: 603 Decline for an incoming call (RFC 3261 §21.6.2), CANCEL for an outgoing one. */
  async reject(): Promise<void> {
    switch (this.#state) {
      case CallLegState.Ringing:
        this.#endedHere = true;
        await (this.session as Invitation).reject({ statusCode: 603, reasonPhrase: 'Decline' });
        return;
      case CallLegState.Dialing:
      case CallLegState.Progress:
        this.#endedHere = true;
        await (this.session as Inviter).cancel();
        return;
      default:
        throw new InvalidStateError(`cannot reject a call in state ${this.#state}`);
    }
  }

  /**
   * Ends the call whatever its state: CANCEL before an answer (RFC 3261 §9.1), rejection of an
   * unanswered incoming call (SIP.js default 480), BYE once established (§15).
   * Resolves false when the call had already ended.
   */
  async hangup(): Promise<boolean> {
    switch (this.#state) {
      case CallLegState.Terminated:
        return false;
      case CallLegState.Dialing:
      case CallLegState.Progress:
        this.#endedHere = true;
        await (this.session as Inviter).cancel();
        return true;
      case CallLegState.Ringing:
        this.#endedHere = true;
        await (this.session as Invitation).reject();
        return true;
      case CallLegState.Answering:
        // The 200 OK is being built; SIP.js cannot withdraw it, so hang up right after.
        this.#endedHere = true;
        this.#hangupWhenEstablished = true;
        return true;
      case CallLegState.Established:
        this.#endedHere = true;
        if (this.session.state === SessionState.Established) {
          await this.session.bye();
        }
        return true;
    }
  }

  /** Silences or restores the local audio (no signalling). */
  setMuted(muted: boolean): void {
    this.#pendingMute = muted;
    this.#media?.setMuted(muted);
  }

  /** Whether this phone has put the call on hold. */
  get held(): boolean {
    return this.#media?.held ?? false;
  }

  /**
   * Holds (`sendonly` re-offer) or resumes (`sendrecv`) the established call with a re-INVITE
   * (RFC 3264 §8.4, RFC 3261 §14.1). Resolves true once the server accepted it, false when the
   * call already was in that state. A refused re-INVITE leaves the call as it was.
   * @throws InvalidStateError if the call is not established or another re-INVITE is pending;
   *   PhoneError `PHONE_CALL_FAILED` (with the SIP status) if the re-INVITE is refused
   */
  async setHold(held: boolean): Promise<boolean> {
    const media = this.#media;
    if (this.#state !== CallLegState.Established || media === undefined) {
      throw new InvalidStateError(
        `cannot ${held ? 'hold' : 'resume'} a call in state ${this.#state}`,
      );
    }
    if (this.#reinvite !== undefined) {
      throw new InvalidStateError('a hold or resume is already in progress for this call');
    }
    if (media.held === held) {
      return false;
    }
    const attempt = this.#sendHoldReinvite(media, held);
    this.#reinvite = attempt;
    try {
      await attempt;
    } finally {
      this.#reinvite = undefined;
    }
    return true;
  }

  async #sendHoldReinvite(media: MediaSession, held: boolean): Promise<void> {
    media.setHold(held);
    try {
      await this.#untilAnswered<void>((resolve, reject) => {
        this.session
          .invite({
            requestDelegate: {
              onAccept: () => resolve(),
              onReject: (response) => {
                const status = response.message.statusCode ?? 0;
                reject(
                  PhoneError.callFailed(
                    `the ${held ? 'hold' : 'resume'} re-INVITE was refused (${status})`,
                    { status },
                  ),
                );
              },
            },
          })
          .catch((error: unknown) => {
            reject(
              error instanceof PhoneError
                ? error
                : PhoneError.callFailed(`the ${held ? 'hold' : 'resume'} re-INVITE failed`, {
                    cause: error,
                  }),
            );
          });
      });
    } catch (error) {
      // SIP.js rolled the offer back: the media keeps flowing as before.
      media.setHold(!held);
      throw error;
    }
  }

  /**
   * A promise for an in-dialog request's outcome that also rejects if the call ends first (its
   * final response may then never be reported).
   */
  #untilAnswered<T>(
    executor: (resolve: (value: T) => void, reject: (error: unknown) => void) => void,
  ): Promise<T> {
    let abort: ((error: Error) => void) | undefined;
    return new Promise<T>((resolve, reject) => {
      abort = reject;
      this.#pending.add(reject);
      executor(resolve, reject);
    }).finally(() => {
      if (abort !== undefined) {
        this.#pending.delete(abort);
      }
    });
  }

  /**
   * Sends DTMF: RFC 4733 telephone-events on the audio stream when negotiated, otherwise SIP INFO
   * `application/dtmf-relay` (the form Asterisk-based servers accept) per tone.
   * @throws InvalidStateError if the call is not established
   */
  async sendDtmf(tones: string): Promise<'rtp' | 'info'> {
    if (this.#state !== CallLegState.Established) {
      throw new InvalidStateError(`cannot send DTMF on a call in state ${this.#state}`);
    }
    if (this.#media?.sendDtmf(tones) === true) {
      return 'rtp';
    }
    for (const tone of tones) {
      if (tone === ',') {
        continue;
      }
      await this.session.info({
        requestOptions: {
          body: {
            contentDisposition: 'render',
            contentType: 'application/dtmf-relay',
            content: `Signal=${tone}\r\nDuration=100`,
          },
        },
      });
    }
    return 'info';
  }

  /**
   * Blind transfer (RFC 3515): REFER with `Refer-To: target`; once the REFER is accepted our leg
   * is hung up, as `@wazo/sdk` does.
   * @throws InvalidStateError if the call is not established; PhoneError `PHONE_CALL_FAILED` with
   *   the SIP status when the REFER is refused (e.g. 404 for an unknown number)
   */
  async refer(target: URI): Promise<void> {
    if (this.#state !== CallLegState.Established) {
      throw new InvalidStateError(`cannot transfer a call in state ${this.#state}`);
    }
    await this.#untilAnswered<void>((resolve, reject) => {
      this.session
        .refer(target, {
          requestDelegate: {
            onAccept: () => resolve(),
            onReject: (response) => {
              const status = response.message.statusCode ?? 0;
              reject(PhoneError.callFailed(`the transfer was refused (${status})`, { status }));
            },
          },
        })
        .catch((error: unknown) => {
          reject(PhoneError.callFailed('the REFER could not be sent', { cause: error }));
        });
    });
    await this.hangup();
  }

  #onProgress(response: Core.IncomingResponse): void {
    this.#readCallId(response);
    const status = response.message.statusCode ?? 0;
    // 100 Trying is hop-by-hop (RFC 3261 §21.1.1): only 18x mean the callee progresses.
    if (status <= 100) {
      return;
    }
    if (this.#state === CallLegState.Dialing) {
      this.#transition(CallLegState.Progress);
    }
    if (this.#state === CallLegState.Progress) {
      this.events.emit('progress');
    }
  }

  #onReject(response: Core.IncomingResponse): void {
    const status = response.message.statusCode ?? 0;
    // SIP.js turns timeouts and transport errors into 408/503 responses without headers
    // (RFC 3261 §8.1.3.1); a real response always carries a Via.
    if (response.message.hasHeader('Via')) {
      this.#finalStatus = status;
    } else {
      this.#localStatus = status;
    }
  }

  #readCallId(response: Core.IncomingResponse): void {
    const value = response.message.getHeader(WAZO_CALL_ID_HEADER)?.trim();
    // Never overwrite a known id (@wazo/sdk `setCallSessionCallId` behaves the same).
    if (value && value.length <= 128 && this.callSession.callId === '') {
      this.callSession.callId = value;
    }
  }

  #onSessionState(state: SessionState): void {
    this.callSession.sipStatus = state;
    switch (state) {
      case SessionState.Established:
        // Outgoing legs establish from the INVITE's onAccept delegate (see invite()).
        if (!this.isOutgoing) {
          this.#establish();
        }
        return;
      case SessionState.Terminated:
        // SIP.js terminates the session before it calls the request delegate that tells why
        // (final response to our INVITE): decide the outcome once that delegate has run.
        queueMicrotask(() => this.#terminate());
        return;
      default:
        return;
    }
  }

  #establish(): void {
    if (this.#state === CallLegState.Established || this.#state === CallLegState.Terminated) {
      return;
    }
    this.#transition(CallLegState.Established);
    this.callSession.answerTime ??= new Date();
    this.callSession.ringing = false;
    this.events.emit('established');
    if (this.#hangupWhenEstablished) {
      void this.session.bye().catch((error: unknown) => {
        this.#logger.warn({ err: error }, 'BYE after answer failed');
      });
    }
  }

  #terminate(): void {
    if (this.#state === CallLegState.Terminated) {
      return;
    }
    const wasEstablished = this.#state === CallLegState.Established;
    this.#transition(CallLegState.Terminated);
    for (const abort of [...this.#pending]) {
      abort(new InvalidStateError('the call ended before the server answered'));
    }
    this.callSession.endTime = new Date();
    this.callSession.ringing = false;
    this.#media?.close();
    const outcome = this.#outcome(wasEstablished);
    this.#logger.debug({ outcome: outcome.kind }, 'call ended');
    this.events.emit('terminated', outcome);
    this.events.removeAllListeners();
  }

  #outcome(wasEstablished: boolean): CallOutcome {
    if (this.#failure !== undefined) {
      return { kind: 'failed', error: this.#failure };
    }
    if (wasEstablished || this.#endedHere) {
      return { kind: 'completed' };
    }
    if (this.isOutgoing) {
      if (this.#finalStatus !== undefined) {
        return { kind: 'rejected', status: this.#finalStatus };
      }
      const status = this.#localStatus;
      return {
        kind: 'failed',
        error: PhoneError.callFailed(
          status === 408 ? 'no response to the INVITE (timeout)' : 'the call could not be set up',
          status === undefined ? {} : { status },
        ),
      };
    }
    if (this.#canceledBy !== undefined) {
      return { kind: 'canceled', elsewhere: this.#canceledBy.elsewhere };
    }
    return { kind: 'completed' };
  }

  #transition(to: CallLegState): void {
    const from = this.#state;
    if (!TRANSITIONS[from].includes(to)) {
      throw InvalidStateError.transition('CallLeg', from, to);
    }
    this.#state = to;
    this.#logger.debug({ from, to }, 'call state');
  }
}
