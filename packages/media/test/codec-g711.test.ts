import { describe, expect, it } from 'vitest';
import { generateTone, rms, toneAmplitude } from '../src/audio/goertzel.js';
import {
  ALAW_SILENCE,
  G711Decoder,
  G711Encoder,
  MULAW_SILENCE,
  alawDecodeSample,
  alawEncodeSample,
  decodeAlaw,
  decodeMulaw,
  encodeAlaw,
  encodeMulaw,
  mulawDecodeSample,
  mulawEncodeSample,
  transcodeG711,
} from '../src/codec/g711.js';
import { InvalidStateError, isInvalidStateError } from '@confab/core';

describe('G.711 μ-law (PCMU)', () => {
  it('encodes and decodes the known reference points', () => {
    expect(mulawEncodeSample(0)).toBe(0xff);
    expect(MULAW_SILENCE).toBe(0xff);
    expect(mulawDecodeSample(0xff)).toBe(0);
    expect(mulawDecodeSample(0x7f)).toBe(0); // negative zero
    expect(mulawEncodeSample(-1)).toBe(0x7f);
    expect(mulawDecodeSample(0x80)).toBe(32124);
    expect(mulawDecodeSample(0x00)).toBe(-32124);
    expect(mulawEncodeSample(32767)).toBe(0x80);
    expect(mulawEncodeSample(-32768)).toBe(0x00);
    // First segment boundaries: codes 0xfe/0xfd decode to ±8 steps of the finest segment.
    expect(mulawDecodeSample(0xfe)).toBe(8);
    expect(mulawDecodeSample(0xfd)).toBe(16);
  });

  it('round-trips every 16-bit sample within half a quantisation step', () => {
    const outOfBound: number[] = [];
    for (let x = -32124; x <= 32124; x++) {
      const error = Math.abs(mulawDecodeSample(mulawEncodeSample(x)) - x);
      // Segment e has a step of 8·2^e and starts at a biased magnitude of 128·2^e.
      if (error > (Math.abs(x) + 132) / 32) {
        outOfBound.push(x);
      }
    }
    expect(outOfBound).toEqual([]);
  });

  it('is idempotent on its own output (decode → encode gives the same octet)', () => {
    for (let code = 0; code < 256; code++) {
      const decoded = mulawDecodeSample(code);
      const again = mulawEncodeSample(decoded);
      // 0x7f (negative zero) re-encodes as positive zero; everything else is a fixed point.
      expect(again).toBe(code === 0x7f ? 0xff : code);
    }
  });

  it('encodes and decodes buffers like the per-sample functions', () => {
    const pcm = Int16Array.from([0, -1, 1000, -1000, 32767, -32768]);
    const bytes = encodeMulaw(pcm);
    expect(Array.from(bytes)).toEqual(Array.from(pcm, (x) => mulawEncodeSample(x)));
    expect(Array.from(decodeMulaw(bytes))).toEqual(Array.from(bytes, (b) => mulawDecodeSample(b)));
  });
});

describe('G.711 A-law (PCMA)', () => {
  it('encodes and decodes the known reference points', () => {
    expect(alawEncodeSample(0)).toBe(0xd5);
    expect(ALAW_SILENCE).toBe(0xd5);
    expect(alawDecodeSample(0xd5)).toBe(8);
    expect(alawDecodeSample(0x55)).toBe(-8);
    expect(alawEncodeSample(32767)).toBe(0xaa);
    expect(alawEncodeSample(-32768)).toBe(0x2a);
    expect(alawDecodeSample(0xaa)).toBe(32256);
    expect(alawDecodeSample(0x2a)).toBe(-32256);
  });

  it('round-trips every 16-bit sample within half a quantisation step', () => {
    const outOfBound: number[] = [];
    for (let x = -32256; x <= 32256; x++) {
      const error = Math.abs(alawDecodeSample(alawEncodeSample(x)) - x);
      // Segments 0 and 1 have a step of 16; segment e ≥ 1 starts at 256·2^(e−1) with a step of 16·2^(e−1).
      if (error > Math.max(Math.abs(x), 256) / 32) {
        outOfBound.push(x);
      }
    }
    expect(outOfBound).toEqual([]);
  });

  it('is idempotent on its own output', () => {
    for (let code = 0; code < 256; code++) {
      expect(alawEncodeSample(alawDecodeSample(code))).toBe(code);
    }
  });

  it('encodes and decodes buffers like the per-sample functions', () => {
    const pcm = Int16Array.from([0, -1, 1000, -1000, 32767, -32768]);
    const bytes = encodeAlaw(pcm);
    expect(Array.from(bytes)).toEqual(Array.from(pcm, (x) => alawEncodeSample(x)));
    expect(Array.from(decodeAlaw(bytes))).toEqual(Array.from(bytes, (b) => alawDecodeSample(b)));
  });
});

describe('G.711 conversions and codec objects', () => {
  it('converts PCMU to PCMA and back like a PCM round trip', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const alaw = transcodeG711(all, 'PCMU');
    expect(Array.from(alaw)).toEqual(Array.from(encodeAlaw(decodeMulaw(all))));
    expect(alaw[0xff]).toBe(ALAW_SILENCE);
    const mulaw = transcodeG711(all, 'PCMA');
    expect(Array.from(mulaw)).toEqual(Array.from(encodeMulaw(decodeAlaw(all))));
  });

  it('writes into a caller buffer and rejects one that is too small', () => {
    const out = new Uint8Array(8);
    const written = encodeMulaw(new Int16Array(4), out);
    expect(written.buffer).toBe(out.buffer);
    expect(written.length).toBe(4);
    expect(() => encodeMulaw(new Int16Array(9), out)).toThrow(RangeError);
  });

  it.each(['PCMU', 'PCMA'] as const)('carries a 1 kHz tone through %s at ~38 dB SNR', (law) => {
    const tone = generateTone({
      frequency: 1000,
      sampleRate: 8000,
      samples: 800,
      amplitude: 10000,
    });
    const encoder = new G711Encoder(law);
    const decoder = new G711Decoder(law);
    const decoded = decoder.decode(encoder.encode(tone));
    const noise = Int16Array.from(decoded, (v, i) => v - tone[i]!);
    const snr = 20 * Math.log10(rms(tone) / rms(noise));
    expect(snr).toBeGreaterThan(33);
    expect(toneAmplitude(decoded, 8000, 1000)).toBeCloseTo(10000, -2);
  });

  it('conceals a lost frame by fading the last one out, then falls silent', () => {
    const decoder = new G711Decoder('PCMU');
    const tone = generateTone({ frequency: 500, sampleRate: 8000, samples: 160, amplitude: 8000 });
    const level = rms(decoder.decode(encodeMulaw(tone)));
    const first = rms(decoder.conceal(160));
    expect(first).toBeGreaterThan(level * 0.4);
    expect(first).toBeLessThan(level * 0.6);
    decoder.conceal(160);
    decoder.conceal(160);
    decoder.conceal(160);
    expect(rms(decoder.conceal(160))).toBe(0);
  });

  it('rejects use after close with InvalidStateError', () => {
    const encoder = new G711Encoder('PCMA');
    encoder.close();
    encoder.close();
    expect(() => encoder.encode(new Int16Array(160))).toThrow(InvalidStateError);
    const decoder = new G711Decoder('PCMA');
    decoder.close();
    let error: unknown;
    try {
      decoder.decode(new Uint8Array(160));
    } catch (caught) {
      error = caught;
    }
    expect(isInvalidStateError(error)).toBe(true);
  });
});
