/**
 * What call control needs from the media engine. The server adapts `@confab/media`'s engine to
 * this narrow interface so that call control can be tested with a real engine or driven
 * step by step.
 */
export type LegKind = 'webrtc' | 'rtp';

/** What the media engine tells call control about legs. */
export type MediaControlEvent =
  /** The leg can no longer carry media (ICE/DTLS failure, its worker died). */
  | { type: 'legFailed'; legId: string; reason: string }
  /** A key press received on the leg (RFC 4733 telephone-event). */
  | { type: 'dtmf'; legId: string; digit: string }
  /** A mixer participant started or stopped talking (hysteresis applied by the mixer). */
  | { type: 'mixerTalking'; mixerId: string; legId: string; talking: boolean }
  /** A mixer is gone (closed by us, or its worker died). */
  | { type: 'mixerClosed'; mixerId: string };

export interface MediaControl {
  /** A new leg; legs of one `group` (one conversation) live on the same media worker. */
  createLeg(kind: LegKind, group: string): Promise<string>;
  /** Our offer for a leg we call out on. */
  createOffer(legId: string): Promise<string>;
  /** The endpoint's offer (initial or re-offer); resolves with our answer. Rejects with MEDIA_SDP_INVALID. */
  acceptOffer(legId: string, sdp: string): Promise<string>;
  /** The endpoint's answer to our offer. */
  acceptAnswer(legId: string, sdp: string): Promise<void>;
  /** Joins two legs in a relay bridge; resolves with the media bridge id. */
  bridge(legA: string, legB: string): Promise<string>;
  unbridge(bridgeId: string): Promise<void>;
  closeLeg(legId: string): Promise<void>;
  /** A new audio mixer (an ad-hoc conference's media), placed on the worker of `group`. */
  createMixer(group: string): Promise<string>;
  /**
   * Moves a leg into a mixer without renegotiation: a leg still in a relay bridge leaves it first.
   * Idempotent for a leg already in this mixer.
   */
  addToMixer(mixerId: string, legId: string): Promise<void>;
  /** The leg leaves the mixer and stays open, unbridged. */
  removeFromMixer(mixerId: string, legId: string): Promise<void>;
  /**
   * The mixer's first members are in: it may mix now rather than at its next 20 ms tick
   * (merge latency). Optional to call; the mixer ticks anyway.
   */
  startMixer(mixerId: string): Promise<void>;
  /** Closes a mixer (its legs stay open, unbridged); idempotent. */
  closeMixer(mixerId: string): Promise<void>;
  /** Server-side mute: the leg's audio no longer reaches its bridge (its DTMF still does). */
  setMuted(legId: string, muted: boolean): Promise<void>;
  /** Server-side hold: nothing is relayed from or to the leg. */
  setHeld(legId: string, held: boolean): Promise<void>;
  /** Subscribes to media events; returns the unsubscribe function. */
  onEvent(listener: (event: MediaControlEvent) => void): () => void;
}
