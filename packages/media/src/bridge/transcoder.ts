/**
 * One direction of transcoding between two legs: decode → (resample) → re-frame to 20 ms →
 * encode → the destination's outbound stream.
 */
import { Resampler } from '../audio/resample.js';
import {
  createDecoder,
  createEncoder,
  pcmRateOf,
  type CodecFactoryOptions,
} from '../codec/factory.js';
import type { AudioDecoder, AudioEncoder } from '../codec/types.js';
import type { RtpPacket } from '../rtp/packet.js';
import type { OutboundRtpStream } from './outbound-stream.js';
import type { AudioCodec } from './types.js';

/** Options of {@link Transcoder}. */
export interface TranscoderOptions {
  /** Codec of the packets given to {@link Transcoder.push}. */
  from: AudioCodec;
  /** Codec to produce. */
  to: AudioCodec;
  /** The destination leg's stream (it numbers and timestamps the output). */
  output: OutboundRtpStream;
  /** Receives each encoded, rewritten packet. */
  send: (packet: RtpPacket) => void;
  /**
   * Codec settings. When only one side is Opus, Opus runs at the other side's PCM rate by
   * default (libopus converts internally, cheaper than decoding at 48 kHz and resampling).
   */
  codec?: CodecFactoryOptions;
  /**
   * Longest gap in the source filled by packet-loss concealment; a longer gap (or one that
   * ends with a marker bit) is silence, reproduced as a timestamp jump. @default 100
   */
  maxConcealmentMs?: number;
}

/** Counters of a {@link Transcoder}. */
export interface TranscoderStats {
  /** Source packets decoded. */
  decoded: number;
  /** Source packets dropped as duplicates or too late. */
  late: number;
  /** PCM samples synthesised by concealment (at the decoder's rate). */
  concealedSamples: number;
  /** Packets encoded and sent. */
  encoded: number;
}

/** Output frame duration: the engine's packetisation (RFC 7587 §4.2 and RFC 3551 §4.5 default). */
const FRAME_MS = 20;

/**
 * A sans-I/O transcoding pipeline for one direction of a bridge.
 *
 * Timing: output packets are generated media on the destination stream, so they are numbered
 * contiguously; the source's timing survives as the output's timestamps (lost frames are
 * concealed and keep their time slot; silence periods become timestamp jumps with the marker
 * bit on the next talkspurt, RFC 3550 §5.1).
 */
export class Transcoder {
  readonly #decoder: AudioDecoder;
  readonly #encoder: AudioEncoder;
  readonly #resampler: Resampler | undefined;
  readonly #output: OutboundRtpStream;
  readonly #send: (packet: RtpPacket) => void;
  readonly #payloadType: number;
  readonly #fromClockRate: number;
  readonly #toClockRate: number;
  readonly #maxConcealmentClock: number;
  readonly #frame: Int16Array;
  readonly #frameDuration: number;
  readonly #stats: TranscoderStats = { decoded: 0, late: 0, concealedSamples: 0, encoded: 0 };
  #fill = 0;
  #started = false;
  #lastSequence = 0;
  #expectedTimestamp = 0;
  /** Samples (decoder rate) of the last decoded packet: what a corrupt packet is worth. */
  #lastPacketSamples: number;
  #markNext = false;
  #closed = false;

  constructor(options: TranscoderOptions) {
    const { from, to } = options;
    const codec: CodecFactoryOptions = { ...options.codec };
    if (codec.opusSampleRate === undefined && (from.name === 'opus') !== (to.name === 'opus')) {
      codec.opusSampleRate = 8000;
    }
    this.#decoder = createDecoder(from, codec);
    this.#encoder = createEncoder(to, codec);
    const inputRate = pcmRateOf(from, codec);
    const outputRate = pcmRateOf(to, codec);
    this.#resampler =
      inputRate === outputRate ? undefined : new Resampler({ inputRate, outputRate });
    this.#output = options.output;
    this.#send = options.send;
    this.#payloadType = to.payloadType;
    this.#fromClockRate = from.clockRate;
    this.#toClockRate = to.clockRate;
    this.#maxConcealmentClock = ((options.maxConcealmentMs ?? 100) * from.clockRate) / 1000;
    this.#frame = new Int16Array((outputRate * FRAME_MS) / 1000);
    this.#frameDuration = this.#frame.length * this.#encoder.clockRatio;
    this.#lastPacketSamples = (inputRate * FRAME_MS) / 1000;
  }

  /** Live counters (the same object, updated in place). */
  get stats(): Readonly<TranscoderStats> {
    return this.#stats;
  }

  /**
   * Transcodes one source packet (the audio payload type of the source leg); zero or more
   * packets go to `send`. Malformed payloads are concealed, never thrown.
   */
  push(packet: RtpPacket): void {
    if (this.#closed) {
      return;
    }
    if (this.#started) {
      const sequenceDelta = (packet.sequenceNumber - this.#lastSequence) & 0xffff;
      if (sequenceDelta === 0 || sequenceDelta >= 0x8000) {
        // Duplicate, or its time slot was already concealed or played.
        this.#stats.late++;
        return;
      }
      const gap = (packet.timestamp - this.#expectedTimestamp) | 0;
      if (gap > 0) {
        if (packet.marker || gap > this.#maxConcealmentClock) {
          this.#silence(gap);
        } else {
          this.#conceal(Math.round(gap / this.#decoder.clockRatio));
        }
      }
    } else {
      this.#started = true;
    }
    this.#lastSequence = packet.sequenceNumber;

    const pcm = this.#decoder.decode(packet.payload);
    let samples: number;
    if (pcm === undefined || pcm.length === 0) {
      samples = this.#lastPacketSamples;
      this.#conceal(samples);
    } else {
      samples = pcm.length;
      this.#lastPacketSamples = samples;
      this.#stats.decoded++;
      this.#feed(pcm);
    }
    this.#expectedTimestamp = (packet.timestamp + samples * this.#decoder.clockRatio) >>> 0;
  }

  /**
   * Forgets the source's sequencing and any partial frame (after a deliberate interruption such
   * as a hold, or a change of source). Codec state is kept; the next output starts a talkspurt.
   */
  reset(): void {
    this.#started = false;
    this.#fill = 0;
    this.#markNext = true;
    this.#resampler?.reset();
  }

  /** Releases the codecs. Idempotent; later pushes are ignored. */
  close(): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    this.#decoder.close();
    this.#encoder.close();
  }

  #conceal(samples: number): void {
    if (samples <= 0) {
      return;
    }
    this.#stats.concealedSamples += samples;
    this.#feed(this.#decoder.conceal(samples));
  }

  /** A silent period of `gap` source clock units: close the talkspurt, jump the timeline. */
  #silence(gap: number): void {
    let padded = 0;
    if (this.#fill > 0) {
      padded = this.#frame.length - this.#fill;
      this.#frame.fill(0, this.#fill);
      this.#fill = this.#frame.length;
      this.#emit();
    }
    const jump =
      Math.round((gap * this.#toClockRate) / this.#fromClockRate) -
      padded * this.#encoder.clockRatio;
    if (jump > 0) {
      this.#output.skip(jump);
    }
    this.#resampler?.reset();
    this.#markNext = true;
  }

  #feed(input: Int16Array): void {
    const pcm = this.#resampler === undefined ? input : this.#resampler.process(input);
    const frame = this.#frame;
    let at = 0;
    while (at < pcm.length) {
      const take = Math.min(frame.length - this.#fill, pcm.length - at);
      frame.set(pcm.subarray(at, at + take), this.#fill);
      this.#fill += take;
      at += take;
      if (this.#fill === frame.length) {
        this.#emit();
      }
    }
  }

  #emit(): void {
    this.#fill = 0;
    const payload = this.#encoder.encode(this.#frame);
    const packet = this.#output.writeGenerated(
      payload,
      this.#payloadType,
      this.#frameDuration,
      this.#markNext,
    );
    this.#markNext = false;
    this.#stats.encoded++;
    this.#send(packet);
  }
}
