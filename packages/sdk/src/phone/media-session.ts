/**
 * The media of one call: a SIP.js `SessionDescriptionHandler` on an injected RTCPeerConnection
 * (browser globals, or `@roamhq/wrtc` in Node).
 *
 * - Offer/answer follows RFC 3264 through JSEP: `getDescription()` creates an offer when the
 *   connection is stable and an answer when a remote offer is pending; `setDescription()` applies
 *   the remote offer or answer accordingly.
 * - SDP is sent complete ("vanilla ICE", RFC 8829 §4.1.10 non-trickle): we wait for candidate
 *   gathering to finish, bounded by `iceGatheringTimeout`, because SIP carries one SDP per
 *   offer/answer and the server does not take trickled candidates.
 * - Local media is acquired once per call through `platform.getUserMedia`, and those tracks are
 *   stopped on close. Remote tracks are gathered into one MediaStream reported to the owner.
 *
 * - Hold (RFC 3264 §8.4): {@link setHold} turns the transceivers to `sendonly` before the
 *   re-offer and back to `sendrecv` for the resume; the local audio is silenced while held
 *   (otherwise it would keep flowing to the held party) and while muted.
 *
 * Not yet: video upgrade, track replacement.
 */
import { InvalidStateError, type Logger } from '@confab/core';
import type {
  BodyAndContentType,
  SessionDescriptionHandler,
  SessionDescriptionHandlerModifier,
  SessionDescriptionHandlerOptions,
} from 'sip.js';
import { PhoneError } from '../errors.js';
import type { Platform } from '../platform.js';

/** What the owner of a MediaSession hears from it. */
export interface MediaSessionObserver {
  /** A remote track arrived; `stream` is the call's remote stream, now holding it. */
  onRemoteTrack(track: MediaStreamTrack, stream: MediaStream): void;
  /** Local media could not be acquired or SDP could not be negotiated. */
  onError(error: Error): void;
  /** RTCPeerConnection `connectionState` changed. */
  onConnectionStateChange(state: RTCPeerConnectionState): void;
}

/** Options of {@link MediaSession}. */
export interface MediaSessionOptions {
  platform: Platform;
  logger: Logger;
  iceServers: RTCIceServer[];
  /** Milliseconds to wait for ICE gathering before sending what was gathered. */
  iceGatheringTimeout: number;
  /** Constraints when SIP.js passes none. */
  defaultConstraints: MediaStreamConstraints;
  observer: MediaSessionObserver;
}

/** SIP.js passes these through `sessionDescriptionHandlerOptions`. */
interface DescriptionOptions extends SessionDescriptionHandlerOptions {
  constraints?: MediaStreamConstraints;
  offerOptions?: RTCOfferOptions;
}

const SDP = 'application/sdp';

export class MediaSession implements SessionDescriptionHandler {
  readonly #options: MediaSessionOptions;
  readonly #pc: RTCPeerConnection;
  readonly #remoteStream: MediaStream;
  #localStream: MediaStream | undefined;
  #acquiring: Promise<void> | undefined;
  #closed = false;
  #held = false;
  #muted = false;
  /** Wakes a pending ICE-gathering wait (on completion, timeout or close). */
  #gatheringDone: (() => void) | undefined;

  constructor(options: MediaSessionOptions) {
    this.#options = options;
    this.#pc = new options.platform.RTCPeerConnection({
      iceServers: options.iceServers,
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
    });
    this.#remoteStream = new options.platform.MediaStream();
    this.#pc.addEventListener('track', (event: RTCTrackEvent) => {
      if (this.#closed) {
        return;
      }
      if (!this.#remoteStream.getTracks().includes(event.track)) {
        this.#remoteStream.addTrack(event.track);
      }
      options.observer.onRemoteTrack(event.track, this.#remoteStream);
    });
    this.#pc.addEventListener('icegatheringstatechange', () => {
      if (this.#pc.iceGatheringState === 'complete') {
        this.#gatheringDone?.();
      }
    });
    this.#pc.addEventListener('connectionstatechange', () => {
      if (!this.#closed) {
        options.observer.onConnectionStateChange(this.#pc.connectionState);
      }
    });
  }

  /** The peer connection (for `getStats()`); undefined once closed. */
  get peerConnection(): RTCPeerConnection | undefined {
    return this.#closed ? undefined : this.#pc;
  }

  /** The local media being sent, once acquired. */
  get localStream(): MediaStream | undefined {
    return this.#localStream;
  }

  /** The remote media (tracks appear as they are negotiated). */
  get remoteStream(): MediaStream {
    return this.#remoteStream;
  }

  hasDescription(contentType: string): boolean {
    return contentType.split(';')[0]?.trim().toLowerCase() === SDP;
  }

  async getDescription(
    options?: DescriptionOptions,
    modifiers?: SessionDescriptionHandlerModifier[],
  ): Promise<BodyAndContentType> {
    try {
      this.#assertOpen();
      await this.#ensureLocalMedia(options?.constraints ?? this.#options.defaultConstraints);
      this.#assertOpen();
      let description: RTCSessionDescriptionInit;
      switch (this.#pc.signalingState) {
        case 'stable':
          description = await this.#pc.createOffer(options?.offerOptions);
          break;
        case 'have-remote-offer':
          description = await this.#pc.createAnswer();
          break;
        default:
          throw new InvalidStateError(
            `cannot create SDP in signaling state ${this.#pc.signalingState}`,
          );
      }
      for (const modify of modifiers ?? []) {
        description = await modify(description);
      }
      this.#assertOpen();
      await this.#pc.setLocalDescription(description);
      await this.#waitForIceGathering();
      this.#assertOpen();
      const sdp = this.#pc.localDescription?.sdp;
      if (sdp === undefined || sdp === '') {
        throw new InvalidStateError('no local description after setLocalDescription');
      }
      return { body: sdp, contentType: SDP };
    } catch (error) {
      throw this.#report(error);
    }
  }

  async setDescription(
    sdp: string,
    _options?: DescriptionOptions,
    modifiers?: SessionDescriptionHandlerModifier[],
  ): Promise<void> {
    try {
      this.#assertOpen();
      // A description arriving while we have an offer out is the answer to it (RFC 3264 §5);
      // otherwise it is a new offer (initial INVITE, or re-INVITE from the server).
      const type: RTCSdpType = this.#pc.signalingState === 'have-local-offer' ? 'answer' : 'offer';
      let description: RTCSessionDescriptionInit = { type, sdp };
      for (const modify of modifiers ?? []) {
        description = await modify(description);
      }
      this.#assertOpen();
      await this.#pc.setRemoteDescription(description);
    } catch (error) {
      throw this.#report(error);
    }
  }

  async rollbackDescription(): Promise<void> {
    this.#assertOpen();
    switch (this.#pc.signalingState) {
      case 'have-local-offer':
        await this.#pc.setLocalDescription({ type: 'rollback' });
        return;
      case 'have-remote-offer':
        await this.#pc.setRemoteDescription({ type: 'rollback' });
        return;
      default:
        return;
    }
  }

  /**
   * RFC 4733 DTMF on the audio sender. False when it cannot be sent that way: no audio sender,
   * telephone-event not negotiated (`canInsertDTMF`), or the connection is closed.
   */
  sendDtmf(tones: string, options?: { duration?: number; interToneGap?: number }): boolean {
    if (this.#closed || !/^[0-9A-D#*,]+$/i.test(tones)) {
      return false;
    }
    const sender = this.#pc.getSenders().find((s) => s.track?.kind === 'audio' && s.dtmf != null);
    const dtmf = sender?.dtmf;
    // `canInsertDTMF` is missing in some implementations; insertDTMF throws when it would be false.
    if (dtmf == null || (dtmf as { canInsertDTMF?: boolean }).canInsertDTMF === false) {
      return false;
    }
    try {
      // insertDTMF() replaces the tones still waiting to be played (WebRTC §7.2): queue after
      // them so that quick key presses are all sent.
      dtmf.insertDTMF(
        dtmf.toneBuffer + tones,
        options?.duration ?? 100,
        options?.interToneGap ?? 70,
      );
    } catch (error) {
      this.#options.logger.debug({ err: error }, 'insertDTMF refused');
      return false;
    }
    return true;
  }

  /** Whether the next offer puts the call on hold. */
  get held(): boolean {
    return this.#held;
  }

  /**
   * Prepares the hold (`sendonly`) or resume (`sendrecv`) offer of the next re-INVITE and
   * silences or restores the local audio (RFC 3264 §8.4).
   */
  setHold(held: boolean): void {
    this.#held = held;
    if (this.#closed) {
      return;
    }
    for (const transceiver of this.#pc.getTransceivers()) {
      if (transceiver.currentDirection !== 'stopped' && transceiver.direction !== 'stopped') {
        transceiver.direction = held ? 'sendonly' : 'sendrecv';
      }
    }
    this.#applyTrackState();
  }

  /** Disables (or re-enables) the local audio tracks; no signalling. */
  setMuted(muted: boolean): void {
    this.#muted = muted;
    this.#applyTrackState();
  }

  #applyTrackState(): void {
    for (const track of this.#localStream?.getAudioTracks() ?? []) {
      track.enabled = !this.#held && !this.#muted;
    }
  }

  /** Stops the local tracks this session acquired and closes the connection. Idempotent. */
  close(): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    this.#gatheringDone?.();
    for (const track of this.#localStream?.getTracks() ?? []) {
      track.stop();
    }
    this.#pc.close();
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw InvalidStateError.closed('MediaSession');
    }
  }

  /** Tells the observer about a failure (once per error) and returns it for rethrowing. */
  #report(error: unknown): Error {
    const failure = error instanceof Error ? error : new Error(String(error));
    if (!this.#closed) {
      this.#options.observer.onError(failure);
    }
    return failure;
  }

  #ensureLocalMedia(constraints: MediaStreamConstraints): Promise<void> {
    // Re-offers (re-INVITEs) keep the tracks already being sent.
    this.#acquiring ??= this.#acquire(constraints);
    return this.#acquiring;
  }

  async #acquire(constraints: MediaStreamConstraints): Promise<void> {
    let stream: MediaStream;
    try {
      stream = await this.#options.platform.getUserMedia(constraints);
    } catch (error) {
      throw PhoneError.mediaFailed(error);
    }
    if (this.#closed) {
      for (const track of stream.getTracks()) {
        track.stop();
      }
      throw InvalidStateError.closed('MediaSession');
    }
    this.#localStream = stream;
    for (const track of stream.getTracks()) {
      this.#pc.addTrack(track, stream);
    }
    this.#applyTrackState();
  }

  #waitForIceGathering(): Promise<void> {
    if (this.#pc.iceGatheringState === 'complete') {
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#options.logger.debug(
          {},
          'ICE gathering timed out; sending the candidates gathered so far',
        );
        done();
      }, this.#options.iceGatheringTimeout);
      const done = (): void => {
        clearTimeout(timer);
        this.#gatheringDone = undefined;
        resolve();
      };
      this.#gatheringDone = done;
    });
  }
}
