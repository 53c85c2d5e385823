/**
 * Opus (RFC 6716, RTP payload RFC 7587) through `@evan/opus` (libopus, native binary shipped in
 * the npm package, WebAssembly fallback).
 *
 * Media is mono: the decoder is created with one channel, and libopus mixes a stereo stream
 * down itself; the encoder produces mono packets, which are valid in an `opus/48000/2` session
 * (RFC 7587 §3.4). The RTP clock is always 48 kHz (RFC 7587 §4.1) whatever PCM rate the codec
 * runs at, so feeding the encoder 8 kHz PCM from a G.711 leg costs no resampler of ours.
 */
import { InvalidStateError } from '@confab/core';
import { Decoder, Encoder } from '@evan/opus';
import type { AudioDecoder, AudioEncoder } from './types.js';

/** PCM rates libopus accepts. */
export type OpusSampleRate = 8000 | 12000 | 16000 | 24000 | 48000;

/** The Opus RTP clock rate (RFC 7587 §4.1). */
export const OPUS_CLOCK_RATE = 48000;

/** Options of {@link OpusEncoder}. */
export interface OpusEncoderOptions {
  /** PCM rate of the input. @default 48000 */
  sampleRate?: OpusSampleRate;
  /** @default 1 */
  channels?: 1 | 2;
  /** libopus application; `voip` favours speech intelligibility. @default 'voip' */
  application?: 'voip' | 'audio' | 'restricted_lowdelay';
  /** 0–10; 5 is the measured sweet spot of quality per CPU for a server mixing many legs. @default 5 */
  complexity?: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10;
  /** Target bitrate in bit/s. @default libopus's choice for the rate and channels */
  bitrate?: number;
  /** In-band FEC (RFC 7587 §3.3 `useinbandfec`). @default false */
  inbandFec?: boolean;
  /** Expected loss percentage, tunes FEC. @default 0 */
  packetLossPercent?: number;
  /** Discontinuous transmission (RFC 7587 §3.1.3 `usedtx`). @default false */
  dtx?: boolean;
  /** Frame duration in ms; the engine works in 20 ms frames. @default 20 */
  frameDuration?: 10 | 20 | 40 | 60;
}

/** Options of {@link OpusDecoder}. */
export interface OpusDecoderOptions {
  /** PCM rate of the output. @default 48000 */
  sampleRate?: OpusSampleRate;
  /** @default 1 */
  channels?: 1 | 2;
}

/** An Opus encoder producing one RTP payload per frame. */
export class OpusEncoder implements AudioEncoder {
  readonly sampleRate: OpusSampleRate;
  readonly clockRatio: number;
  /** Samples per channel of one frame. */
  readonly frameSamples: number;
  readonly channels: 1 | 2;
  #encoder: Encoder | undefined;

  constructor(options: OpusEncoderOptions = {}) {
    this.sampleRate = options.sampleRate ?? 48000;
    this.channels = options.channels ?? 1;
    this.clockRatio = OPUS_CLOCK_RATE / this.sampleRate;
    this.frameSamples = (this.sampleRate * (options.frameDuration ?? 20)) / 1000;
    const encoder = new Encoder({
      channels: this.channels,
      sample_rate: this.sampleRate,
      application: options.application ?? 'voip',
    });
    encoder.complexity = options.complexity ?? 5;
    if (options.bitrate !== undefined) {
      encoder.bitrate = options.bitrate;
    }
    if (options.inbandFec !== undefined) {
      encoder.inband_fec = options.inbandFec;
    }
    if (options.packetLossPercent !== undefined) {
      encoder.packet_loss = options.packetLossPercent;
    }
    if (options.dtx !== undefined) {
      encoder.dtx = options.dtx;
    }
    this.#encoder = encoder;
  }

  /** The encoder's complexity setting (0–10). */
  get complexity(): number {
    return this.#live().complexity;
  }

  /** The encoder's target bitrate in bit/s. */
  get bitrate(): number {
    return this.#live().bitrate;
  }

  /**
   * Encodes one frame of `frameSamples × channels` interleaved samples.
   * @throws TypeError on another length; InvalidStateError once closed.
   */
  encode(pcm: Int16Array): Uint8Array {
    const encoder = this.#live();
    if (pcm.length !== this.frameSamples * this.channels) {
      throw new TypeError(
        `Opus frame must be ${this.frameSamples * this.channels} samples, got ${pcm.length}`,
      );
    }
    // The binding returns a copy (Uint8Array#slice of its shared output buffer).
    return encoder.encode(pcm);
  }

  close(): void {
    // libopus state is released by the binding's finalizer; dropping the reference is enough.
    this.#encoder = undefined;
  }

  #live(): Encoder {
    if (this.#encoder === undefined) {
      throw InvalidStateError.closed('OpusEncoder');
    }
    return this.#encoder;
  }
}

/**
 * An Opus decoder with packet-loss concealment.
 *
 * Concealment feeds libopus a one-octet packet: a TOC octet whose single frame has zero length,
 * which RFC 6716 §3.2.1 defines as a lost frame (libopus then runs its PLC for the duration
 * of the TOC's configuration, in the mode of the previous packets).
 */
export class OpusDecoder implements AudioDecoder {
  readonly sampleRate: OpusSampleRate;
  readonly clockRatio: number;
  readonly channels: 1 | 2;
  #decoder: Decoder | undefined;
  /** TOC of the last good packet, rewritten to a 20 ms configuration of the same mode. */
  #concealToc = new Uint8Array([0xf8]);
  #concealBuffer = new Int16Array(0);

  constructor(options: OpusDecoderOptions = {}) {
    this.sampleRate = options.sampleRate ?? 48000;
    this.channels = options.channels ?? 1;
    this.clockRatio = OPUS_CLOCK_RATE / this.sampleRate;
    this.#decoder = new Decoder({ channels: this.channels, sample_rate: this.sampleRate });
  }

  /** Decodes one payload; `undefined` if libopus rejects it (corrupt or empty). */
  decode(payload: Uint8Array): Int16Array | undefined {
    const decoder = this.#live();
    if (payload.length === 0) {
      return undefined;
    }
    let bytes: Uint8Array;
    try {
      bytes = decoder.decode(payload);
    } catch {
      return undefined;
    }
    this.#concealToc[0] = twentyMsToc(payload[0]!);
    // The binding returns a fresh copy, so the view is 2-byte aligned at offset 0.
    return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1);
  }

  /**
   * Synthesises `samples` samples per channel (rounded up to whole 20 ms frames, then cut) with
   * libopus PLC. Before any packet was decoded it yields silence.
   */
  conceal(samples: number): Int16Array {
    const decoder = this.#live();
    const total = samples * this.channels;
    if (this.#concealBuffer.length < total) {
      this.#concealBuffer = new Int16Array(total);
    }
    const out = this.#concealBuffer.subarray(0, total);
    let written = 0;
    while (written < total) {
      let frame: Uint8Array;
      try {
        frame = decoder.decode(this.#concealToc);
      } catch {
        break;
      }
      const pcm = new Int16Array(frame.buffer, frame.byteOffset, frame.length >> 1);
      const take = Math.min(pcm.length, total - written);
      if (take === 0) {
        break;
      }
      out.set(pcm.subarray(0, take), written);
      written += take;
    }
    out.fill(0, written);
    return out;
  }

  close(): void {
    this.#decoder = undefined;
  }

  #live(): Decoder {
    if (this.#decoder === undefined) {
      throw InvalidStateError.closed('OpusDecoder');
    }
    return this.#decoder;
  }
}

/**
 * A one-frame (code 0) TOC of the same mode, bandwidth and stereo flag as `toc`, with a 20 ms
 * frame (RFC 6716 §3.1, Table 2: SILK configs 0–11 step by 4 bandwidths × {10,20,40,60} ms;
 * hybrid 12–15 by 2 × {10,20}; CELT 16–31 by 4 × {2.5,5,10,20}).
 */
function twentyMsToc(toc: number): number {
  const config = toc >> 3;
  let twenty: number;
  if (config < 12) {
    twenty = (config & ~3) | 1;
  } else if (config < 16) {
    twenty = (config & ~1) | 1;
  } else {
    twenty = config | 3;
  }
  return (twenty << 3) | (toc & 0x04);
}
