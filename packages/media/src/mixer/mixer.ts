/**
 * The conference mixer: many {@link BridgePort}s, one 20 ms {@link Mixer.tick} driven by the
 * engine adapter. Sans-I/O: fed with received packets and ticks, it hands packets to each
 * port's `sendRtp`.
 */
import { InvalidStateError, TypedEmitter, silentLogger, type Logger } from '@confab/core';
import { Resampler } from '../audio/resample.js';
import { createDecoder, createEncoder, type CodecFactoryOptions } from '../codec/factory.js';
import type { OpusEncoderOptions } from '../codec/opus.js';
import { encodeAlaw, encodeMulaw } from '../codec/g711.js';
import type { AudioDecoder, AudioEncoder } from '../codec/types.js';
import { audioLevelOctet } from '../rtp/extensions.js';
import type { RtpPacket } from '../rtp/packet.js';
import type { AudioCodec, BridgePort, Clock } from '../bridge/types.js';
import { JitterBuffer, JitterStatus, type JitterBufferOptions } from './jitter-buffer.js';
import { Limiter } from './limiter.js';
import {
  energyLevel,
  TalkDetector,
  talkSettings,
  type TalkDetectorOptions,
  type TalkSettings,
} from './talk-detector.js';

/**
 * The lifecycle of a {@link Mixer}.
 *
 * ```text
 *   idle ◄──► active      (at least one port: active)
 *     └────┬────┘
 *          ▼
 *        closed           (terminal; close() from any state)
 * ```
 */
export const MixerState = {
  Idle: 'idle',
  Active: 'active',
  Closed: 'closed',
} as const;

export type MixerState = (typeof MixerState)[keyof typeof MixerState];

const TRANSITIONS: Readonly<Record<MixerState, readonly MixerState[]>> = {
  idle: ['active', 'closed'],
  active: ['idle', 'closed'],
  closed: [],
};

/** Events of a {@link Mixer}. */
// eslint-disable-next-line @typescript-eslint/consistent-type-definitions
export type MixerEvents = {
  /** A port started or stopped talking (hysteresis applied; see {@link TalkDetectorOptions}). */
  talking: [portId: string, talking: boolean];
  portAdded: [port: BridgePort];
  portRemoved: [port: BridgePort];
  stateChanged: [state: MixerState, previous: MixerState];
  /** Emitted once by {@link Mixer.close}. */
  closed: [];
};

/** Options of {@link Mixer}. */
export interface MixerOptions {
  id: string;
  clock: Clock;
  logger?: Logger;
  jitter?: JitterBufferOptions;
  talk?: TalkDetectorOptions;
  /**
   * Most inputs mixed in one tick (the loudest win); bounds the decode and encode work when
   * many talk at once. @default 4
   */
  maxMixed?: number;
  /**
   * Opus encoder settings (complexity, bitrate). The application is not one of them: the mixer's
   * encoders are always CELT-only ({@link MIXER_OPUS_APPLICATION}).
   */
  opus?: Omit<NonNullable<CodecFactoryOptions['opus']>, 'application'>;
}

/**
 * The libopus application of every mixer encoder: `restricted_lowdelay`, i.e. CELT only, never
 * SILK or hybrid (RFC 6716 §2, §3.1 configurations 16–31).
 *
 * A listener's stream does not always come from one encoder: it hears the shared full mix while
 * silent and its own mix-minus-self while talking (and a stream moved in from a relay bridge
 * came from the peer's encoder before). The receiver's single decoder then carries on from
 * another encoder's state. SILK predicts each frame from the decoder's own past excitation and
 * synthesis (long-term and LPC prediction); after such a switch, on steady voiced or tonal input
 * that mismatch does not die out but circulates and grows: the decoder rails at full scale and
 * plays loud broadband noise for as long as the input stays steady (seconds). CELT carries only
 * short memories (inter-frame energy prediction, a 2.5 ms overlap, the pitch post-filter), so a
 * switch costs at most a frame or two, like a lost packet. It is also about three times cheaper
 * to encode than hybrid at the same bitrate; the mixer sends no in-band FEC (a SILK feature).
 */
export const MIXER_OPUS_APPLICATION: NonNullable<OpusEncoderOptions['application']> =
  'restricted_lowdelay';

/** Codec work of a {@link Mixer}, cumulative. Encoder calls are counted per codec. */
export interface MixerStats {
  ticks: number;
  /** Payloads decoded (talkers, and every frame of inputs without RFC 6464 levels). */
  decoded: number;
  /** Frames synthesised by packet-loss concealment. */
  concealed: number;
  /**
   * Encoder calls by codec: one shared encode per codec and tick, plus one per own stream (each
   * mixed talker, kept for the talk hang time after it was last mixed).
   */
  encoded: Record<AudioCodec['name'], number>;
  /** Of which shared encodes (the full mix for all listeners of a codec). */
  sharedEncodes: number;
  /** Packets handed to ports. */
  sent: number;
  /** Packets whose sending threw. */
  failed: number;
}

/** A packet a port received, and when (the mixer's clock). */
export interface ReceivedPacket {
  packet: RtpPacket;
  receivedAt: number;
}

/** Counters and state of one port of a {@link Mixer}. */
export interface MixerPortStats {
  /** Audio packets received from the port. */
  received: number;
  /** Packets not mixed because of their payload type (telephone-events, comfort noise). */
  ignored: number;
  duplicate: number;
  late: number;
  /** Slots concealed because their packet was lost. */
  lost: number;
  /** Clock time of the last audio packet (−1: none yet); for RTP timeouts. */
  lastReceivedAt: number;
  /** Level of the last frame in −dBov (127: silent or nothing received). */
  level: number;
  talking: boolean;
  muted: boolean;
  held: boolean;
}

/** 20 ms at 48 kHz: the mixing frame. */
const FRAME = 960;
const FRAME_MS = 20;
/** Longest Opus packet (120 ms, RFC 6716 §3.2.5) at 48 kHz. */
const MAX_PACKET = 5760;
/** PCM queue of an input: a partly played packet of the longest kind plus a frame, rounded up. */
const FIFO_CAPACITY = 8192;
/** Packets an input may have pulled and not yet played (a tick pulls ≥ 20 ms, 2.5 ms each at least). */
const UNIT_CAPACITY = 16;
/** Opus frame sizes at 48 kHz by configuration (RFC 6716 §3.1, Table 2). */
const SILK_SIZES = [480, 960, 1920, 2880] as const;
const CELT_SIZES = [120, 240, 480, 960] as const;

/** One packet (or lost packet) pulled from an input's jitter buffer, played over its duration. */
interface Unit {
  status: JitterStatus;
  /** A copy of the payload (the jitter buffer reuses its slots). */
  payload: Uint8Array;
  length: number;
  /** Duration in 48 kHz samples. */
  samples: number;
  /** RFC 6464 level (−1: none; a lost packet takes the input's level when played). */
  level: number;
  /** Its samples are in the input's PCM queue. */
  decoded: boolean;
}

type CodecName = AudioCodec['name'];

/** Everything about one port. */
interface Participant {
  readonly port: BridgePort;
  readonly codec: AudioCodec;
  /** RTP clock units per 20 ms frame (960 Opus, 160 G.711). */
  readonly frameDuration: number;
  readonly levelId: number | undefined;
  readonly jitter: JitterBuffer;
  readonly detector: TalkDetector;
  readonly stats: MixerPortStats;
  index: number;
  decoder: AudioDecoder | undefined;
  /** 8 → 48 kHz for G.711 inputs. */
  upsampler: Resampler | undefined;
  /** 48 kHz samples per codec sample (6 for G.711, 1 for Opus). */
  readonly upsampling: number;
  /**
   * Packets pulled from the jitter buffer and not fully played, oldest first (a ring). A
   * packet longer than 20 ms covers several ticks; a tick may span two packets.
   */
  readonly units: Unit[];
  unitHead: number;
  unitCount: number;
  /** 48 kHz samples of the oldest unit already played. */
  skip: number;
  /** 48 kHz samples the units hold from the play position on. */
  queued: number;
  /**
   * Decoded 48 kHz samples from the play position on: those of the decoded units, which are
   * always the oldest ones (decoding goes in stream order). Allocated at the first decode.
   */
  fifo: Int16Array | undefined;
  fifoStart: number;
  fifoCount: number;
  /** The last unit decoded was the one just before the next to decode (decoder and resampler state are current). */
  continuous: boolean;
  /** Duration of the last packet (48 kHz samples): the duration assumed for a lost one. */
  lastSamples: number;
  /** Own encoder for mix-minus-self. */
  encoder: AudioEncoder | undefined;
  /** Limiter of the own mix-minus-self stream. */
  readonly limiter: Limiter;
  /** The own mix-minus-self was sent last tick (else the port heard the shared mix). */
  ownLastTick: boolean;
  /**
   * Ticks the port keeps its own stream while not mixed: a talker who misses a packet or falls
   * out of the loudest for a moment is not switched to the shared encoder and back (each switch
   * hands its decoder another encoder's stream; see {@link MIXER_OPUS_APPLICATION}).
   */
  ownHang: number;
  /** 48 → 8 kHz of the own mix for G.711. */
  downsampler: Resampler | undefined;
  /** This tick: 48 kHz frame if mixed. */
  frame: Int16Array | undefined;
  status: JitterStatus;
  mixed: boolean;
  muted: boolean;
  held: boolean;
  /** Output was withheld (remote hold, held): the next packet resynchronises the stream. */
  suppressed: boolean;
  /** This tick's 48 kHz frame, taken from the PCM queue. */
  readonly pcm: Int16Array;
}

/** The shared encode of one codec for this tick. */
interface CodecGroup {
  readonly name: CodecName;
  encoder: AudioEncoder | undefined;
  payload: Uint8Array | undefined;
}

/**
 * Mixes N ports at 48 kHz mono, once per {@link Mixer.tick}.
 *
 * Per tick and input: one packet from its {@link JitterBuffer}; its level from the RFC 6464
 * header extension (RFC 6464 §3) when the port negotiated one, else from the energy of the
 * decoded frame; a {@link TalkDetector} turns levels into talk start/stop. Only inputs that are
 * talking (or whose frame is active, so a talkspurt's first syllable isn't clipped) are decoded
 * and mixed, at most `maxMixed`, the loudest first. Lost packets of mixed inputs are concealed
 * (Opus PLC; G.711 fades the last frame).
 *
 * Outputs: each mixed input hears the mix minus itself through its own encoder, and keeps that
 * stream (then carrying the full mix) for the talk hang time after it was last mixed; every
 * other port hears the full mix, encoded ONCE per codec and tick — all those ports send the same
 * payload bytes, each on its own stream ({@link BridgePort.output}: own SSRC, sequence and
 * timestamps, so moving a port between a relay bridge and a mixer costs its receiver a marker
 * bit only). Opus is encoded CELT-only, so that a receiver's decoder survives being moved from
 * one encoder's stream to another's ({@link MIXER_OPUS_APPLICATION}). When nobody talks the full
 * mix is silence and is still encoded and sent, which keeps browsers' jitter buffers and NAT
 * bindings alive.
 *
 * Muted ports are heard by nobody and never talk, but still hear the others. Held ports
 * neither send into nor receive from the mix. Packets other than the port's audio payload
 * type (RFC 4733 telephone-events: the legs report DTMF themselves) are not mixed.
 *
 * Ticks and output packets are 20 ms (the packetisation WebRTC and the engine's legs use).
 * Inputs may packetise otherwise (a SIP phone at ptime 30/40, Opus at 40/60 ms): each tick plays
 * exactly 20 ms of every input, pulling packets from its jitter buffer as needed — a long packet
 * feeds several ticks, a tick may span two packets — and decoding into a small 48 kHz PCM queue
 * only what is mixed. A packet's RFC 6464 level applies to every tick it covers.
 */
export class Mixer extends TypedEmitter<MixerEvents> {
  readonly id: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #jitterOptions: JitterBufferOptions;
  readonly #talk: TalkSettings;
  readonly #maxMixed: number;
  readonly #codecOptions: CodecFactoryOptions;
  readonly #byId = new Map<string, Participant>();
  readonly #participants: Participant[] = [];
  readonly #mixed: Participant[] = [];
  readonly #groups: Record<CodecName, CodecGroup>;
  readonly #stats: MixerStats = {
    ticks: 0,
    decoded: 0,
    concealed: 0,
    encoded: { opus: 0, PCMU: 0, PCMA: 0 },
    sharedEncodes: 0,
    sent: 0,
    failed: 0,
  };
  /** The full mix (float sum of the mixed inputs). */
  readonly #sum = new Float32Array(FRAME);
  readonly #full = new Int16Array(FRAME);
  /** Limiter of the shared full mix (each mix-minus-self has its own: {@link Participant}). */
  readonly #fullLimiter = new Limiter();
  readonly #own = new Int16Array(FRAME);
  /** The full mix at 8 kHz, shared by the G.711 listeners. */
  readonly #sharedDownsampler = new Resampler({ inputRate: 48000, outputRate: 8000 });
  #full8: Int16Array | undefined;
  /** Talking changes of this tick, emitted after it: [participant, talking, …]. */
  readonly #changes: (Participant | boolean)[] = [];
  #mixedCount = 0;
  #state: MixerState = MixerState.Idle;

  constructor(options: MixerOptions) {
    super();
    this.id = options.id;
    this.#logger = (options.logger ?? silentLogger).child({ mixerId: options.id });
    this.#jitterOptions = options.jitter ?? {};
    this.#talk = talkSettings(options.talk);
    this.#maxMixed = Math.max(1, options.maxMixed ?? 4);
    this.#codecOptions = {
      opusSampleRate: 48000,
      opus: { ...options.opus, application: MIXER_OPUS_APPLICATION },
    };
    this.#groups = {
      opus: { name: 'opus', encoder: undefined, payload: undefined },
      PCMU: { name: 'PCMU', encoder: undefined, payload: undefined },
      PCMA: { name: 'PCMA', encoder: undefined, payload: undefined },
    };
    this.#clock = options.clock;
  }

  get state(): MixerState {
    return this.#state;
  }

  get closed(): boolean {
    return this.#state === MixerState.Closed;
  }

  /** Number of ports. */
  get size(): number {
    return this.#participants.length;
  }

  /** Live codec counters. */
  get stats(): Readonly<MixerStats> {
    return this.#stats;
  }

  has(portId: string): boolean {
    return this.#byId.has(portId);
  }

  /** Live counters of a port, or `undefined`. */
  portStats(portId: string): Readonly<MixerPortStats> | undefined {
    const p = this.#byId.get(portId);
    if (!p) {
      return undefined;
    }
    const jitter = p.jitter.stats;
    p.stats.duplicate = jitter.duplicate;
    p.stats.late = jitter.late;
    p.stats.lost = jitter.lost;
    return p.stats;
  }

  /**
   * Adds a port (its `format` is read now: after a renegotiation remove and add it again).
   *
   * `last` primes the port's jitter buffer with the last packet the port received before it
   * joined (while relayed), when that packet is fresh: received less than its own duration
   * ago, so that the source has not paused and the next packet is the one after it. The first
   * tick then mixes it instead of waiting up to a packet time for the next one (merge latency);
   * the stream goes on from it in sequence. An older packet is not replayed.
   * @throws InvalidStateError once closed; TypeError if the port is already in the mixer.
   */
  add(
    port: BridgePort,
    flags: { muted?: boolean; held?: boolean; last?: ReceivedPacket } = {},
  ): void {
    if (this.closed) {
      throw InvalidStateError.closed(`Mixer ${this.id}`);
    }
    if (this.#byId.has(port.id)) {
      throw new TypeError(`port ${port.id} is already in mixer ${this.id}`);
    }
    const codec = port.format.audio;
    const muted = flags.muted ?? false;
    const held = flags.held ?? false;
    const p: Participant = {
      port,
      codec,
      frameDuration: (codec.clockRate * FRAME_MS) / 1000,
      levelId: port.format.audioLevelExtensionId,
      jitter: new JitterBuffer(this.#jitterOptions),
      detector: new TalkDetector(this.#talk),
      stats: {
        received: 0,
        ignored: 0,
        duplicate: 0,
        late: 0,
        lost: 0,
        lastReceivedAt: -1,
        level: 127,
        talking: false,
        muted,
        held,
      },
      index: this.#participants.length,
      decoder: undefined,
      upsampler: undefined,
      upsampling: codec.name === 'opus' ? 1 : 48000 / codec.clockRate,
      units: Array.from({ length: UNIT_CAPACITY }, () => ({
        status: JitterStatus.Empty,
        payload: new Uint8Array(256),
        length: 0,
        samples: 0,
        level: -1,
        decoded: false,
      })),
      unitHead: 0,
      unitCount: 0,
      skip: 0,
      queued: 0,
      fifo: undefined,
      fifoStart: 0,
      fifoCount: 0,
      continuous: false,
      lastSamples: FRAME,
      encoder: undefined,
      limiter: new Limiter(),
      ownLastTick: false,
      ownHang: 0,
      downsampler: undefined,
      frame: undefined,
      status: JitterStatus.Empty,
      mixed: false,
      muted,
      held,
      // The first mixed packet continues the stream by wall-clock time with a marker bit.
      suppressed: true,
      pcm: new Int16Array(FRAME),
    };
    this.#participants.push(p);
    this.#byId.set(port.id, p);
    this.#logger.debug({ portId: port.id, codec: codec.name, levels: p.levelId }, 'port added');
    const last = flags.last;
    if (last !== undefined && !held && this.#fresh(p, last)) {
      this.receive(port.id, last.packet);
      p.stats.lastReceivedAt = last.receivedAt;
    }
    this.emit('portAdded', port);
    if (this.#state === MixerState.Idle) {
      this.#transition(MixerState.Active);
    }
  }

  /** Whether `last` is an audio packet of `p` received less than its duration ago. */
  #fresh(p: Participant, last: ReceivedPacket): boolean {
    const packet = last.packet;
    if (packet.payloadType !== p.codec.payloadType) {
      return false;
    }
    const samples = this.#packetSamples(p, packet.payload, packet.payload.length);
    const durationMs = (samples > 0 ? samples : FRAME) / 48;
    return this.#clock.now() - last.receivedAt < durationMs;
  }

  /** Removes a port (a talking port reports `talking: false` first). No effect if absent. */
  remove(portId: string): void {
    const p = this.#byId.get(portId);
    if (!p) {
      return;
    }
    this.#byId.delete(portId);
    const last = this.#participants.pop()!;
    if (last !== p) {
      this.#participants[p.index] = last;
      last.index = p.index;
    }
    this.#release(p);
    if (p.detector.reset()) {
      p.stats.talking = false;
      this.emit('talking', portId, false);
    }
    this.#logger.debug({ portId }, 'port removed');
    this.emit('portRemoved', p.port);
    if (this.#participants.length === 0 && this.#state === MixerState.Active) {
      this.#transition(MixerState.Idle);
    }
  }

  /** A muted port is not mixed and never talks; it still hears the others. */
  setMuted(portId: string, muted: boolean): void {
    const p = this.#byId.get(portId);
    if (!p || p.muted === muted) {
      return;
    }
    p.muted = muted;
    p.stats.muted = muted;
    if (muted) {
      this.#silenceTalker(p);
    }
  }

  /** A held port is neither mixed nor sent anything. */
  setHeld(portId: string, held: boolean): void {
    const p = this.#byId.get(portId);
    if (!p || p.held === held) {
      return;
    }
    p.held = held;
    p.stats.held = held;
    p.jitter.reset();
    this.#dropUnits(p);
    if (held) {
      p.suppressed = true;
      this.#silenceTalker(p);
    }
  }

  /**
   * A packet received from `portId` (decrypted). Buffered only: all decoding happens in
   * {@link Mixer.tick}. Unknown ports and foreign payload types are ignored; never throws for
   * network input.
   */
  receive(portId: string, packet: RtpPacket): void {
    const p = this.#byId.get(portId);
    if (!p || p.held) {
      return;
    }
    if (packet.payloadType !== p.codec.payloadType) {
      p.stats.ignored++;
      return;
    }
    p.stats.received++;
    p.stats.lastReceivedAt = this.#clock.now();
    const octet = p.levelId === undefined ? -1 : audioLevelOctet(packet.extension, p.levelId);
    p.jitter.push(packet.ssrc, packet.sequenceNumber, packet.payload, octet);
  }

  /** Mixes and sends one 20 ms frame. Call every 20 ms. */
  tick(): void {
    if (this.closed) {
      return;
    }
    this.#stats.ticks++;
    const participants = this.#participants;
    const threshold = this.#talk.threshold;
    this.#mixedCount = 0;
    for (const p of participants) {
      p.frame = undefined;
      p.mixed = false;
      if (p.held) {
        p.status = JitterStatus.Empty;
        continue;
      }
      this.#pull(p);
      if (p.muted) {
        p.status = JitterStatus.Empty;
        continue;
      }
      // The packets this tick's 20 ms cover: the loudest one's level counts (RFC 6464 levels
      // come per packet and apply to all of its duration).
      let level = 127;
      let status: JitterStatus = JitterStatus.Empty;
      const units = p.units;
      let covered = -p.skip;
      for (let k = 0; k < p.unitCount && covered < FRAME; k++) {
        const unit = units[(p.unitHead + k) % UNIT_CAPACITY]!;
        covered += unit.samples;
        let unitLevel: number;
        if (unit.status === JitterStatus.Packet) {
          status = JitterStatus.Packet;
          unitLevel = unit.level;
        } else {
          if (status === JitterStatus.Empty) {
            status = JitterStatus.Lost;
          }
          unitLevel = p.detector.talking ? p.stats.level : 127;
        }
        if (unitLevel < level) {
          level = unitLevel;
        }
      }
      p.status = status;
      p.stats.level = level;
      if (p.detector.update(level)) {
        p.stats.talking = p.detector.talking;
        this.#changes.push(p, p.detector.talking);
      }
      if (status !== JitterStatus.Empty && (p.detector.talking || level <= threshold)) {
        this.#consider(p, level);
      }
    }

    this.#mix();
    this.#send();
    for (const p of participants) {
      this.#advance(p);
    }

    if (this.#changes.length > 0) {
      const changes = this.#changes;
      for (let i = 0; i < changes.length; i += 2) {
        this.emit('talking', (changes[i] as Participant).port.id, changes[i + 1] as boolean);
      }
      changes.length = 0;
    }
  }

  /** Closes every codec and releases the ports (no `portRemoved`), then emits `closed`. */
  close(): void {
    if (this.closed) {
      return;
    }
    for (const p of this.#participants) {
      this.#release(p);
    }
    this.#participants.length = 0;
    this.#byId.clear();
    this.#mixed.length = 0;
    for (const group of Object.values(this.#groups)) {
      group.encoder?.close();
      group.encoder = undefined;
    }
    this.#transition(MixerState.Closed);
    this.emit('closed');
    this.removeAllListeners();
  }

  /** Keeps the `maxMixed` loudest candidates, sorted by level (lower is louder). */
  #consider(p: Participant, level: number): void {
    const mixed = this.#mixed;
    let count = this.#mixedCount;
    if (count === this.#maxMixed) {
      if (level >= mixed[count - 1]!.stats.level) {
        return;
      }
      count--;
    }
    let at = count;
    while (at > 0 && mixed[at - 1]!.stats.level > level) {
      mixed[at] = mixed[at - 1]!;
      at--;
    }
    mixed[at] = p;
    this.#mixedCount = count + 1;
  }

  /**
   * Pulls packets until `p` holds this tick's 20 ms (or its jitter buffer has nothing more).
   * Without RFC 6464 levels each packet is decoded at once: decoding is the only way to measure.
   */
  #pull(p: Participant): void {
    const jitter = p.jitter;
    while (p.queued < FRAME && p.unitCount < UNIT_CAPACITY) {
      const status = jitter.pop();
      if (status === JitterStatus.Empty) {
        return;
      }
      const unit = p.units[(p.unitHead + p.unitCount) % UNIT_CAPACITY]!;
      unit.status = status;
      unit.decoded = false;
      unit.level = -1;
      if (status === JitterStatus.Packet) {
        const length = jitter.payloadLength;
        if (unit.payload.length < length) {
          unit.payload = new Uint8Array(Math.max(length, unit.payload.length * 2));
        }
        jitter.copyPayload(unit.payload);
        unit.length = length;
        const samples = this.#packetSamples(p, unit.payload, length);
        if (samples > 0) {
          p.lastSamples = samples;
        }
        unit.samples = samples > 0 ? samples : p.lastSamples;
        unit.level = jitter.level >= 0 ? jitter.level & 0x7f : -1;
      } else {
        // A lost packet (or a late one, RFC 3550 sequence order): as long as the last one.
        unit.length = 0;
        unit.samples = p.lastSamples;
      }
      p.unitCount++;
      p.queued += unit.samples;
      if (status === JitterStatus.Packet && unit.level < 0 && !p.muted) {
        this.#decodeThrough(p, p.unitCount - 1);
        const fifo = p.fifo!;
        const end = p.fifoStart + p.fifoCount;
        unit.level = energyLevel(fifo.subarray(end - Math.min(unit.samples, p.fifoCount), end));
      }
    }
  }

  /**
   * 48 kHz duration of a payload: G.711 carries one sample per octet; Opus says it in its TOC
   * octet (RFC 6716 §3.1: frame size by configuration, frame count by code). 0 if unreadable.
   */
  #packetSamples(p: Participant, payload: Uint8Array, length: number): number {
    if (p.codec.name !== 'opus') {
      return length * p.upsampling;
    }
    if (length === 0) {
      return 0;
    }
    const toc = payload[0]!;
    const config = toc >> 3;
    const size =
      config < 12
        ? SILK_SIZES[config & 3]!
        : config < 16
          ? 480 << (config & 1)
          : CELT_SIZES[config & 3]!;
    const code = toc & 3;
    const frames = code === 0 ? 1 : code !== 3 ? 2 : length > 1 ? payload[1]! & 0x3f : 0;
    const samples = size * frames;
    return samples <= MAX_PACKET ? samples : 0;
  }

  /** Decodes the units of `p` in order up to index `last` (from the oldest) into its PCM queue. */
  #decodeThrough(p: Participant, last: number): void {
    const units = p.units;
    for (let k = 0; k <= last && k < p.unitCount; k++) {
      const unit = units[(p.unitHead + k) % UNIT_CAPACITY]!;
      if (unit.decoded) {
        continue;
      }
      unit.decoded = true;
      const decoder = (p.decoder ??= createDecoder(p.codec, this.#codecOptions));
      const codecSamples = unit.samples / p.upsampling;
      let raw: Int16Array | undefined;
      if (unit.status === JitterStatus.Packet) {
        raw = decoder.decode(unit.payload.subarray(0, unit.length));
      }
      if (raw === undefined || raw.length === 0) {
        // Lost, or corrupt: Opus PLC, G.711 fades the last samples.
        raw = decoder.conceal(codecSamples / decoder.clockRatio);
        this.#stats.concealed++;
      } else {
        this.#stats.decoded++;
      }
      if (p.upsampling !== 1) {
        const upsampler = (p.upsampler ??= new Resampler({ inputRate: 8000, outputRate: 48000 }));
        if (!p.continuous) {
          upsampler.reset();
        }
        raw = upsampler.process(raw);
      }
      p.continuous = true;
      // The oldest unit may be partly played already: keep what remains.
      const from = k === 0 ? p.skip : 0;
      this.#append(p, raw, from, unit.samples);
    }
  }

  /** Appends samples `from`…`to` of a unit's decoded PCM (zero-padded if it is short). */
  #append(p: Participant, pcm: Int16Array, from: number, to: number): void {
    const fifo = (p.fifo ??= new Int16Array(FIFO_CAPACITY));
    const n = to - from;
    if (p.fifoStart + p.fifoCount + n > FIFO_CAPACITY) {
      fifo.copyWithin(0, p.fifoStart, p.fifoStart + p.fifoCount);
      p.fifoStart = 0;
    }
    let at = p.fifoStart + p.fifoCount;
    const available = Math.min(to, pcm.length);
    for (let i = from; i < available; i++) {
      fifo[at++] = pcm[i]!;
    }
    for (let i = Math.max(from, available); i < to; i++) {
      fifo[at++] = 0;
    }
    p.fifoCount += n;
  }

  /** This tick's 48 kHz frame of a mixed input (decoding the packets it covers). */
  #frame48(p: Participant): Int16Array {
    let last = 0;
    let covered = p.units[p.unitHead]!.samples - p.skip;
    while (covered < FRAME && last + 1 < p.unitCount) {
      last++;
      covered += p.units[(p.unitHead + last) % UNIT_CAPACITY]!.samples;
    }
    this.#decodeThrough(p, last);
    const pcm = p.pcm;
    const fifo = p.fifo!;
    const n = Math.min(FRAME, p.fifoCount);
    const start = p.fifoStart;
    for (let i = 0; i < n; i++) {
      pcm[i] = fifo[start + i]!;
    }
    // The stream paused within this tick: the rest is silence.
    pcm.fill(0, n);
    return pcm;
  }

  /** Plays 20 ms of `p`: drops them from its PCM queue and its units. */
  #advance(p: Participant): void {
    let remaining = Math.min(FRAME, p.queued);
    if (remaining === 0) {
      return;
    }
    p.queued -= remaining;
    const fromFifo = Math.min(remaining, p.fifoCount);
    p.fifoStart += fromFifo;
    p.fifoCount -= fromFifo;
    if (p.fifoCount === 0) {
      p.fifoStart = 0;
    }
    const units = p.units;
    while (remaining > 0) {
      const unit = units[p.unitHead]!;
      const left = unit.samples - p.skip;
      if (left > remaining) {
        p.skip += remaining;
        return;
      }
      remaining -= left;
      if (!unit.decoded) {
        // Not heard: the decoder and resampler miss it; the next decoded unit starts afresh.
        p.continuous = false;
      }
      p.skip = 0;
      p.unitHead = (p.unitHead + 1) % UNIT_CAPACITY;
      p.unitCount--;
    }
  }

  /** Forgets the pulled units (hold). */
  #dropUnits(p: Participant): void {
    p.unitCount = 0;
    p.skip = 0;
    p.queued = 0;
    p.fifoStart = 0;
    p.fifoCount = 0;
    p.continuous = false;
  }

  #mix(): void {
    const sum = this.#sum;
    sum.fill(0);
    const mixed = this.#mixed;
    for (let m = 0; m < this.#mixedCount; m++) {
      const p = mixed[m]!;
      const frame = this.#frame48(p);
      p.frame = frame;
      p.mixed = true;
      for (let i = 0; i < FRAME; i++) {
        sum[i]! += frame[i]!;
      }
    }
    this.#fullLimiter.process(sum, undefined, this.#full);
    this.#full8 = undefined;
    this.#groups.opus.payload = undefined;
    this.#groups.PCMU.payload = undefined;
    this.#groups.PCMA.payload = undefined;
  }

  #send(): void {
    for (const p of this.#participants) {
      if (p.held || !p.port.wantsMedia) {
        p.suppressed = true;
        p.ownLastTick = false;
        p.ownHang = 0;
        continue;
      }
      let payload: Uint8Array;
      const ownLastTick = p.ownLastTick;
      // Not mixed this tick: its own stream (the full mix, as nothing of it is in the sum) goes
      // on for the talk hang time before the port moves to the shared one.
      const own = p.mixed || (ownLastTick && p.ownHang > 0);
      p.ownHang = p.mixed ? this.#talk.hangFrames : own ? p.ownHang - 1 : 0;
      p.ownLastTick = own;
      try {
        payload = own
          ? this.#encodeOwn(p, ownLastTick)
          : this.#encodeShared(this.#groups[p.codec.name]);
      } catch (error) {
        this.#fail(p, error);
        continue;
      }
      const output = p.port.output;
      if (p.suppressed) {
        p.suppressed = false;
        output.resync();
      }
      try {
        p.port.sendRtp(output.writeGenerated(payload, p.codec.payloadType, p.frameDuration));
        this.#stats.sent++;
      } catch (error) {
        this.#fail(p, error);
      }
    }
  }

  /** The full mix in `group`'s codec, encoded once per tick for all its listeners. */
  #encodeShared(group: CodecGroup): Uint8Array {
    if (group.payload !== undefined) {
      return group.payload;
    }
    let payload: Uint8Array;
    if (group.name === 'opus') {
      group.encoder ??= createEncoder(OPUS_CODEC, this.#codecOptions);
      payload = group.encoder.encode(this.#full);
    } else {
      const pcm8 = (this.#full8 ??= this.#sharedDownsampler.process(this.#full));
      // A fresh buffer: ports may keep the payload after sendRtp returns.
      payload =
        group.name === 'PCMU'
          ? encodeMulaw(pcm8, new Uint8Array(pcm8.length))
          : encodeAlaw(pcm8, new Uint8Array(pcm8.length));
    }
    this.#stats.encoded[group.name]++;
    this.#stats.sharedEncodes++;
    group.payload = payload;
    return payload;
  }

  /** Mix-minus-self of a port (the full mix when it is not mixed this tick), through its own encoder. */
  #encodeOwn(p: Participant, ownLastTick: boolean): Uint8Array {
    const own = this.#own;
    if (!ownLastTick) {
      // It heard the shared mix until now: go on from that stream's gain.
      p.limiter.continueFrom(this.#fullLimiter);
    }
    p.limiter.process(this.#sum, p.frame, own);
    let payload: Uint8Array;
    if (p.codec.name === 'opus') {
      p.encoder ??= createEncoder(p.codec, this.#codecOptions);
      payload = p.encoder.encode(own);
    } else {
      p.downsampler ??= new Resampler({ inputRate: 48000, outputRate: 8000 });
      const pcm8 = p.downsampler.process(own);
      payload =
        p.codec.name === 'PCMU'
          ? encodeMulaw(pcm8, new Uint8Array(pcm8.length))
          : encodeAlaw(pcm8, new Uint8Array(pcm8.length));
    }
    this.#stats.encoded[p.codec.name]++;
    return payload;
  }

  #silenceTalker(p: Participant): void {
    if (p.detector.reset()) {
      p.stats.talking = false;
      this.emit('talking', p.port.id, false);
    }
  }

  #fail(p: Participant, error: unknown): void {
    // A failing port (closed socket, codec fault) must not stop the mix for the others.
    if (this.#stats.failed++ === 0) {
      this.#logger.warn({ err: error, portId: p.port.id }, 'mixer output failed');
    }
  }

  #release(p: Participant): void {
    p.decoder?.close();
    p.encoder?.close();
    p.decoder = undefined;
    p.encoder = undefined;
  }

  #transition(to: MixerState): void {
    const from = this.#state;
    if (!TRANSITIONS[from].includes(to)) {
      throw InvalidStateError.transition(`Mixer ${this.id}`, from, to);
    }
    this.#state = to;
    this.#logger.debug({ from, to }, 'state');
    this.emit('stateChanged', to, from);
  }
}

const OPUS_CODEC: AudioCodec = { name: 'opus', payloadType: 111, clockRate: 48000, channels: 1 };
