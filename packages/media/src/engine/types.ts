/**
 * The command/event protocol of a media engine.
 *
 * The control plane (call control in the server) drives legs and bridges through commands and
 * hears about them through events. The same types describe an in-process engine
 * ({@link LocalMediaEngine}) and the worker-thread engine ({@link WorkerMediaEngine}), which
 * carries them over a `MessagePort` (see `worker/protocol.ts`): every command and result is
 * structured-clone safe.
 *
 * @module
 */
import type { Listener, Logger } from '@confab/core';
import type { LegKind, LegState } from '../legs/types.js';
import type { RtpLegCodec } from '../legs/rtp-leg.js';

export type { LegKind, LegState } from '../legs/types.js';

/** Why a leg was closed. */
export const LegCloseReason = {
  /** `closeLeg()` was called. */
  Closed: 'closed',
  /** The engine was closed. */
  EngineClosed: 'engine-closed',
  /** The worker thread that owned the leg died. */
  WorkerCrashed: 'worker-crashed',
} as const;

export type LegCloseReason = (typeof LegCloseReason)[keyof typeof LegCloseReason];

/** Parameters of {@link MediaEngine.createLeg}. */
export interface CreateLegParams {
  kind: LegKind;
  /**
   * The call or conversation the leg belongs to. Legs of one group live on the same worker, so
   * they can be bridged (bridges never span workers).
   */
  group: string;
}

/** Every command, discriminated by `type`. */
export type MediaCommand =
  | ({ type: 'createLeg' } & CreateLegParams)
  | { type: 'createOffer'; legId: string }
  | { type: 'acceptOffer'; legId: string; sdp: string }
  | { type: 'acceptAnswer'; legId: string; sdp: string }
  | { type: 'bridge'; legIdA: string; legIdB: string }
  | { type: 'unbridge'; bridgeId: string }
  | { type: 'closeLeg'; legId: string }
  | { type: 'setMuted'; legId: string; muted: boolean }
  | { type: 'setHeld'; legId: string; held: boolean }
  | { type: 'createMixer'; group: string }
  | { type: 'addToMixer'; mixerId: string; legId: string }
  | { type: 'removeFromMixer'; mixerId: string; legId: string }
  | { type: 'startMixer'; mixerId: string }
  | { type: 'closeMixer'; mixerId: string }
  | { type: 'stats' }
  | { type: 'close' };

export type MediaCommandType = MediaCommand['type'];

/** The command of one type. */
export type MediaCommandOf<T extends MediaCommandType> = Extract<MediaCommand, { type: T }>;

/** The result of each command type. */
export interface MediaCommandResults {
  createLeg: { legId: string };
  createOffer: { sdp: string };
  acceptOffer: { sdp: string };
  acceptAnswer: null;
  bridge: { bridgeId: string };
  unbridge: null;
  closeLeg: null;
  setMuted: null;
  setHeld: null;
  createMixer: { mixerId: string };
  addToMixer: null;
  removeFromMixer: null;
  startMixer: null;
  closeMixer: null;
  stats: MediaEngineStats;
  close: null;
}

/** `legState` event payload. */
export interface LegStateEvent {
  legId: string;
  state: LegState;
}

/** `dtmf` event payload: a key press received on a leg (RFC 4733). */
export interface LegDtmfEvent {
  legId: string;
  digit: string;
  durationMs: number;
}

/** `legClosed` event payload. */
export interface LegClosedEvent {
  legId: string;
  reason: LegCloseReason;
}

/** `bridgeClosed` event payload. */
export interface BridgeClosedEvent {
  bridgeId: string;
}

/** `mixerTalking` event payload (talk detection with hysteresis). */
export interface MixerTalkingEvent {
  mixerId: string;
  legId: string;
  talking: boolean;
}

/** `mixerClosed` event payload. */
export interface MixerClosedEvent {
  mixerId: string;
}

/** Events of a {@link MediaEngine}. */
// A type alias, not an interface: only aliases are assignable to `EventMap`'s index signature.
// eslint-disable-next-line @typescript-eslint/consistent-type-definitions
export type MediaEngineEvents = {
  /** A leg changed state (`closed` is reported by `legClosed` instead). */
  legState: [event: LegStateEvent];
  /** A DTMF key press ended on a leg. */
  dtmf: [event: LegDtmfEvent];
  /** A leg is gone; its id is no longer valid. */
  legClosed: [event: LegClosedEvent];
  /** A bridge is gone (unbridged, both legs closed, or engine closed). */
  bridgeClosed: [event: BridgeClosedEvent];
  /** A leg of a mixer started or stopped talking (a leg leaving while talking reports false). */
  mixerTalking: [event: MixerTalkingEvent];
  /** A mixer is gone (closeMixer, engine closed, or its worker died). */
  mixerClosed: [event: MixerClosedEvent];
};

/** An engine event as carried over a message port. */
export type MediaEngineEvent =
  | ({ type: 'legState' } & LegStateEvent)
  | ({ type: 'dtmf' } & LegDtmfEvent)
  | ({ type: 'legClosed' } & LegClosedEvent)
  | ({ type: 'bridgeClosed' } & BridgeClosedEvent)
  | ({ type: 'mixerTalking' } & MixerTalkingEvent)
  | ({ type: 'mixerClosed' } & MixerClosedEvent);

/** Counters of one engine (or one worker of a {@link WorkerMediaEngine}). */
export interface MediaEngineStats {
  legs: number;
  bridges: number;
  mixers: number;
  /** Legs currently in a mixer. */
  mixerParticipants: number;
  legsByKind: Record<LegKind, number>;
  legsByState: Record<LegState, number>;
  packetsReceived: number;
  packetsSent: number;
  packetsDropped: number;
  bytesReceived: number;
  bytesSent: number;
  /** UDP port pairs reserved by live legs. */
  portPairsInUse: number;
  /** Port pairs in the engine's range. */
  portPairCapacity: number;
  /** Per worker, for a {@link WorkerMediaEngine}. */
  workers?: WorkerStats[];
}

/** Statistics of one worker thread. */
export interface WorkerStats extends Omit<MediaEngineStats, 'workers'> {
  index: number;
  /** Worker thread id. */
  threadId: number;
  /** Times this worker slot was restarted after a crash. */
  restarts: number;
}

/** Options shared by both engines; everything here is structured-clone safe. */
export interface MediaEngineSettings {
  /**
   * Local addresses: ICE host candidates of WebRTC legs; the first is announced in the SDP of
   * plain RTP legs.
   * @default ['127.0.0.1']
   */
  addresses?: readonly string[];
  /**
   * Address plain RTP sockets bind to.
   * @default the first address when only one is configured, else '0.0.0.0'
   */
  rtpBindAddress?: string;
  /**
   * Inclusive UDP port range of all legs (WebRTC and plain RTP).
   * @default [10000, 20000]
   */
  portRange?: readonly [number, number];
  /** WebRTC legs advertise ICE lite. @default false */
  iceLite?: boolean;
  /** Mean RTCP report interval of legs in ms. @default 5000 */
  rtcpIntervalMs?: number;
  /**
   * A leg whose remote party should send but sent no RTP or RTCP for this long is reported
   * `failed` (a phone that lost power, a browser killed without BYE). @default disabled
   */
  mediaTimeoutMs?: number;
  /**
   * Codecs of plain RTP legs, in the order our offers list them (answers follow the offerer's
   * order among these, RFC 3264 §6.1). @default PCMU, PCMA, opus
   */
  rtpCodecs?: readonly RtpLegCodec[];
}

/** Options of {@link LocalMediaEngine}. */
export interface LocalMediaEngineOptions extends MediaEngineSettings {
  logger?: Logger;
}

/** The media engine as call control sees it. */
export interface MediaEngine {
  /** Creates a leg; rejects with `MEDIA_NO_PORTS` when the port range is exhausted. */
  createLeg(params: CreateLegParams): Promise<{ legId: string }>;
  /** Our offer for the leg (initial or re-offer). */
  createOffer(legId: string): Promise<string>;
  /** Applies the endpoint's offer and resolves with our answer; `MEDIA_SDP_INVALID` → SIP 488. */
  acceptOffer(legId: string, sdp: string): Promise<string>;
  /** Applies the endpoint's answer to our offer. */
  acceptAnswer(legId: string, sdp: string): Promise<void>;
  /** Joins two legs in a relay bridge (transcoding when their codecs differ). */
  bridge(legIdA: string, legIdB: string): Promise<{ bridgeId: string }>;
  /** Dissolves a bridge; its legs stay open. */
  unbridge(bridgeId: string): Promise<void>;
  /** Closes a leg (leaving its bridge); `legClosed` follows. */
  closeLeg(legId: string): Promise<void>;
  /**
   * Server-side mute: the leg's audio is no longer relayed into its bridge (its telephone-events
   * still are, so a muted party can still dial); what the leg receives is unchanged.
   */
  setMuted(legId: string, muted: boolean): Promise<void>;
  /**
   * Server-side hold: nothing is relayed from or to the leg while held (the flag survives
   * bridging, so a held leg joining a bridge stays silent).
   */
  setHeld(legId: string, held: boolean): Promise<void>;
  /**
   * Creates an empty conference mixer. `group` picks the worker of a {@link WorkerMediaEngine}
   * (same hashing as {@link MediaEngine.createLeg}).
   */
  createMixer(group: string): Promise<{ mixerId: string }>;
  /**
   * Moves a leg into a mixer. A leg is in at most one relay bridge or mixer: a leg still in a
   * relay bridge leaves it first (that bridge, left with one leg, closes: `bridgeClosed`); a
   * leg in another mixer leaves that one. Output continuity (SSRC, sequence, timestamp) is kept
   * by the leg's outgoing stream; the remote party sees at most a marker bit. Idempotent for a
   * leg already in this mixer. Unknown mixer → `MEDIA_MIXER_NOT_FOUND`.
   */
  addToMixer(mixerId: string, legId: string): Promise<void>;
  /** The leg leaves the mixer and stays open, unbridged (it can join a relay bridge again). */
  removeFromMixer(mixerId: string, legId: string): Promise<void>;
  /**
   * The mixer's first members are in: if no mixer of its worker has ticked yet (the 20 ms
   * phase is still free), it mixes now instead of one period after `createMixer`; otherwise
   * it keeps the shared phase. Optional: a mixer ticks anyway. Unknown mixer →
   * `MEDIA_MIXER_NOT_FOUND`.
   */
  startMixer(mixerId: string): Promise<void>;
  /** Closes the mixer (legs stay open, unbridged); `mixerClosed` follows. Idempotent. */
  closeMixer(mixerId: string): Promise<void>;
  stats(): Promise<MediaEngineStats>;
  /** Closes every leg and bridge (`legClosed` with `engine-closed`); idempotent. */
  close(): Promise<void>;
  /** Runs one protocol command (what the typed methods above do). */
  execute<T extends MediaCommandType>(command: MediaCommandOf<T>): Promise<MediaCommandResults[T]>;
  on<K extends keyof MediaEngineEvents>(
    event: K,
    listener: Listener<MediaEngineEvents[K]>,
  ): () => void;
  off<K extends keyof MediaEngineEvents>(event: K, listener: Listener<MediaEngineEvents[K]>): void;
}
