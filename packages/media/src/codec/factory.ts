/**
 * Creates the encoder or decoder of a negotiated codec behind the common contract.
 */
import type { AudioCodec } from '../bridge/types.js';
import { G711Decoder, G711Encoder } from './g711.js';
import { OpusDecoder, OpusEncoder, type OpusEncoderOptions, type OpusSampleRate } from './opus.js';
import type { AudioDecoder, AudioEncoder } from './types.js';

/** Options for {@link createEncoder} and {@link createDecoder}. */
export interface CodecFactoryOptions {
  /**
   * PCM rate at which Opus runs. libopus converts internally and more cheaply than a separate
   * resampler, so a transcoder facing G.711 runs Opus at 8000. @default 48000
   */
  opusSampleRate?: OpusSampleRate;
  /** Extra Opus encoder settings (complexity, bitrate, FEC, DTX). */
  opus?: Omit<OpusEncoderOptions, 'sampleRate' | 'channels'>;
}

/** The PCM rate a codec's encoder/decoder will use with `options`. */
export function pcmRateOf(codec: AudioCodec, options: CodecFactoryOptions = {}): number {
  return codec.name === 'opus' ? (options.opusSampleRate ?? 48000) : 8000;
}

/** A mono encoder for `codec`. */
export function createEncoder(codec: AudioCodec, options: CodecFactoryOptions = {}): AudioEncoder {
  switch (codec.name) {
    case 'PCMU':
    case 'PCMA':
      return new G711Encoder(codec.name);
    case 'opus':
      return new OpusEncoder({
        ...options.opus,
        sampleRate: options.opusSampleRate ?? 48000,
        channels: 1,
      });
  }
}

/** A mono decoder for `codec`. */
export function createDecoder(codec: AudioCodec, options: CodecFactoryOptions = {}): AudioDecoder {
  switch (codec.name) {
    case 'PCMU':
    case 'PCMA':
      return new G711Decoder(codec.name);
    case 'opus':
      return new OpusDecoder({ sampleRate: options.opusSampleRate ?? 48000, channels: 1 });
  }
}
