import { InvalidStateError } from '@confab/core';
import { describe, expect, it } from 'vitest';
import { ToneGenerator, rms, toneAmplitude } from '../src/audio/goertzel.js';
import { createDecoder, createEncoder } from '../src/codec/factory.js';
import { G711Decoder, G711Encoder } from '../src/codec/g711.js';
import { OpusDecoder, OpusEncoder } from '../src/codec/opus.js';

function concat(chunks: Int16Array[]): Int16Array {
  const out = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

describe('OpusEncoder / OpusDecoder', () => {
  it('defaults to mono 48 kHz, 20 ms frames and complexity 5', () => {
    const encoder = new OpusEncoder();
    expect(encoder).toMatchObject({
      sampleRate: 48000,
      channels: 1,
      frameSamples: 960,
      clockRatio: 1,
    });
    expect(encoder.complexity).toBe(5);
    expect(new OpusEncoder({ complexity: 9 }).complexity).toBe(9);
  });

  it('carries a 440 Hz tone through encode and decode', () => {
    const encoder = new OpusEncoder();
    const decoder = new OpusDecoder();
    const tone = new ToneGenerator({ frequency: 440, sampleRate: 48000, amplitude: 8000 });
    const out = concat(
      Array.from({ length: 50 }, () => decoder.decode(encoder.encode(tone.next(960)))!.slice()),
    );
    expect(out.length).toBe(48000);
    expect(toneAmplitude(out, 48000, 440, 4800, 4800 + 26400)).toBeGreaterThan(7000);
  });

  it('runs at 8 kHz on the 48 kHz RTP clock (clockRatio 6)', () => {
    const encoder = new OpusEncoder({ sampleRate: 8000 });
    const decoder = new OpusDecoder({ sampleRate: 8000 });
    expect([encoder.frameSamples, encoder.clockRatio, decoder.clockRatio]).toEqual([160, 6, 6]);
    const tone = new ToneGenerator({ frequency: 440, sampleRate: 8000, amplitude: 8000 });
    const out = concat(
      Array.from({ length: 50 }, () => decoder.decode(encoder.encode(tone.next(160)))!.slice()),
    );
    expect(out.length).toBe(8000);
    expect(toneAmplitude(out, 8000, 440, 800, 800 + 4400)).toBeGreaterThan(6000);
  });

  it('mixes a stereo stream down to mono', () => {
    const encoder = new OpusEncoder({ channels: 2 });
    const decoder = new OpusDecoder();
    const left = new ToneGenerator({ frequency: 440, sampleRate: 48000, amplitude: 8000 });
    const chunks: Int16Array[] = [];
    for (let i = 0; i < 25; i++) {
      const mono = left.next(960);
      const stereo = new Int16Array(1920);
      for (let j = 0; j < 960; j++) {
        stereo[2 * j] = mono[j]!;
        stereo[2 * j + 1] = mono[j]!;
      }
      chunks.push(decoder.decode(encoder.encode(stereo))!.slice());
    }
    const out = concat(chunks);
    expect(out.length).toBe(25 * 960);
    expect(toneAmplitude(out, 48000, 440, 4800, 4800 + 13200)).toBeGreaterThan(6000);
  });

  it('decodes a payload that is a view into a larger datagram (as parseRtp returns it)', () => {
    const encoder = new OpusEncoder();
    const payload = encoder.encode(
      new ToneGenerator({ frequency: 440, sampleRate: 48000 }).next(960),
    );
    const datagram = new Uint8Array(12 + payload.length).fill(0x80);
    datagram.set(payload, 12);
    const direct = new OpusDecoder().decode(payload)!.slice();
    const viewed = new OpusDecoder().decode(datagram.subarray(12))!.slice();
    expect(Array.from(viewed)).toEqual(Array.from(direct));
  });

  it('rejects frames of the wrong length with TypeError', () => {
    expect(() => new OpusEncoder().encode(new Int16Array(480))).toThrow(TypeError);
  });

  it('returns undefined for empty or corrupt payloads instead of throwing', () => {
    const decoder = new OpusDecoder();
    expect(decoder.decode(new Uint8Array(0))).toBeUndefined();
    // TOC code 3 with a frame count of zero is invalid (RFC 6716 §3.2.5).
    expect(decoder.decode(Uint8Array.of(0x03, 0x00))).toBeUndefined();
  });

  it('conceals lost frames with PLC: silence before any packet, a fading continuation after', () => {
    const decoder = new OpusDecoder();
    expect(rms(decoder.conceal(960))).toBe(0);
    const encoder = new OpusEncoder();
    const tone = new ToneGenerator({ frequency: 440, sampleRate: 48000, amplitude: 8000 });
    let last = new Int16Array(0);
    for (let i = 0; i < 10; i++) {
      last = decoder.decode(encoder.encode(tone.next(960)))!.slice();
    }
    const concealed = decoder.conceal(960);
    expect(concealed.length).toBe(960);
    expect(rms(concealed)).toBeGreaterThan(rms(last) * 0.2);
    expect(decoder.conceal(2000).length).toBe(2000);
  });

  it('rejects use after close with InvalidStateError', () => {
    const encoder = new OpusEncoder();
    const decoder = new OpusDecoder();
    encoder.close();
    decoder.close();
    decoder.close();
    expect(() => encoder.encode(new Int16Array(960))).toThrow(InvalidStateError);
    expect(() => decoder.decode(Uint8Array.of(0xf8))).toThrow(InvalidStateError);
  });
});

describe('codec factory', () => {
  it('creates the encoder and decoder of each negotiated codec', () => {
    const pcmu = { name: 'PCMU', payloadType: 0, clockRate: 8000, channels: 1 } as const;
    const opus = { name: 'opus', payloadType: 111, clockRate: 48000, channels: 2 } as const;
    expect(createEncoder(pcmu)).toBeInstanceOf(G711Encoder);
    expect(createDecoder({ ...pcmu, name: 'PCMA' })).toBeInstanceOf(G711Decoder);
    expect(createEncoder(opus, { opusSampleRate: 8000 })).toMatchObject({
      sampleRate: 8000,
      clockRatio: 6,
    });
    expect(createDecoder(opus)).toMatchObject({ sampleRate: 48000, clockRatio: 1 });
  });
});
