/**
 * The conference mixer: many {@link BridgePort}s, one 20 ms {@link Mixer.tick} driven by the
 * engine adapter. Sans-I/O: fed with received packets and ticks, it hands packets to each
 * port's `sendRtp`.
 */
import { InvalidStateError, TypedEmitter, silentLogger, type Logger } from '@confab/core';
import { Resampler } from '../audio/resample.js';
import { createDecoder, createEncoder, type CodecFactoryOptions } from '../codec/factory.js';
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
  /** Opus encoder settings (complexity, bitrate, FEC). */
  opus?: CodecFactoryOptions['opus'];
}

/** Codec work of a {@link Mixer}, cumulative. Encoder calls are counted per codec. */
export interface MixerStats {
  ticks: number;
  /** Payloads decoded (talkers, and every frame of inputs without RFC 6464 levels). */
  decoded: number;
  /** Frames synthesised by packet-loss concealment. */
  concealed: number;
  /** Encoder calls by codec: one shared encode per codec and tick, plus one per mixed talker. */
  encoded: Record<AudioCodec['name'], number>;
  /** Of which shared encodes (the full mix for all listeners of a codec). */
  sharedEncodes: number;
  /** Packets handed to ports. */
  sent: number;
  /** Packets whose sending threw. */
  failed: number;
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
  upsampledLastTick: boolean;
  /** Own encoder for mix-minus-self. */
  encoder: AudioEncoder | undefined;
  /** Limiter of the own mix-minus-self stream. */
  readonly limiter: Limiter;
  /** The own mix-minus-self was sent last tick (else the port heard the shared mix). */
  ownLastTick: boolean;
  /** 48 → 8 kHz of the own mix for G.711. */
  downsampler: Resampler | undefined;
  /** This tick: decoded samples at the codec rate, or undefined. */
  raw: Int16Array | undefined;
  /** This tick: 48 kHz frame if mixed. */
  frame: Int16Array | undefined;
  status: JitterStatus;
  mixed: boolean;
  muted: boolean;
  held: boolean;
  /** Output was withheld (remote hold, held): the next packet resynchronises the stream. */
  suppressed: boolean;
  /** 48 kHz copy when a decoder yields another frame length. */
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
 * Outputs: each mixed input hears the mix minus itself through its own encoder; every other
 * port hears the full mix, encoded ONCE per codec and tick — all those ports send the same
 * payload bytes, each on its own stream ({@link BridgePort.output}: own SSRC, sequence and
 * timestamps, so moving a port between a relay bridge and a mixer costs its receiver a marker
 * bit only). When nobody talks the full mix is silence and is still encoded and sent, which
 * keeps browsers' jitter buffers and NAT bindings alive.
 *
 * Muted ports are heard by nobody and never talk, but still hear the others. Held ports
 * neither send into nor receive from the mix. Packets other than the port's audio payload
 * type (RFC 4733 telephone-events: the legs report DTMF themselves) are not mixed.
 *
 * Frames are 20 ms (the packetisation WebRTC and the engine's legs use): one packet per input
 * and tick.
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
      ...(options.opus === undefined ? {} : { opus: options.opus }),
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
   * @throws InvalidStateError once closed; TypeError if the port is already in the mixer.
   */
  add(port: BridgePort, flags: { muted?: boolean; held?: boolean } = {}): void {
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
      upsampledLastTick: false,
      encoder: undefined,
      limiter: new Limiter(),
      ownLastTick: false,
      downsampler: undefined,
      raw: undefined,
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
    this.emit('portAdded', port);
    if (this.#state === MixerState.Idle) {
      this.#transition(MixerState.Active);
    }
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
      p.raw = undefined;
      p.frame = undefined;
      p.mixed = false;
      if (p.held) {
        p.status = JitterStatus.Empty;
        continue;
      }
      const status = p.jitter.pop();
      p.status = status;
      if (p.muted) {
        continue;
      }
      let level = 127;
      if (status === JitterStatus.Packet) {
        const octet = p.jitter.level;
        if (octet >= 0) {
          level = octet & 0x7f;
        } else {
          // No RFC 6464 level: decoding is the only way to measure.
          level = energyLevel(this.#decode(p));
        }
      } else if (status === JitterStatus.Lost && p.detector.talking) {
        level = p.stats.level;
      }
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

  /** Decodes this tick's packet of `p` at the codec rate (concealing a corrupt one). */
  #decode(p: Participant): Int16Array {
    if (p.raw !== undefined) {
      return p.raw;
    }
    const decoder = (p.decoder ??= createDecoder(p.codec, this.#codecOptions));
    let raw = decoder.decode(p.jitter.payload);
    if (raw === undefined || raw.length === 0) {
      raw = decoder.conceal(p.frameDuration / decoder.clockRatio);
      this.#stats.concealed++;
    } else {
      this.#stats.decoded++;
    }
    p.raw = raw;
    return raw;
  }

  /** This tick's 48 kHz frame of a mixed input. */
  #frame48(p: Participant): Int16Array {
    let raw: Int16Array;
    if (p.status === JitterStatus.Packet) {
      raw = this.#decode(p);
    } else {
      const decoder = (p.decoder ??= createDecoder(p.codec, this.#codecOptions));
      raw = decoder.conceal(p.frameDuration / decoder.clockRatio);
      this.#stats.concealed++;
    }
    if (p.codec.name !== 'opus') {
      const upsampler = (p.upsampler ??= new Resampler({ inputRate: 8000, outputRate: 48000 }));
      if (!p.upsampledLastTick) {
        upsampler.reset();
      }
      raw = upsampler.process(raw);
    }
    if (raw.length === FRAME) {
      return raw;
    }
    // Another packetisation than 20 ms: keep the first 20 ms (the mixer is frame-based).
    const pcm = p.pcm;
    const n = Math.min(raw.length, FRAME);
    pcm.set(raw.subarray(0, n));
    pcm.fill(0, n);
    return pcm;
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
    for (const p of this.#participants) {
      p.upsampledLastTick = p.mixed && p.codec.name !== 'opus';
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
        continue;
      }
      let payload: Uint8Array;
      const own = p.mixed;
      const ownLastTick = p.ownLastTick;
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

  /** Mix-minus-self of a mixed input, through its own encoder. */
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
