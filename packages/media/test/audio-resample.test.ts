import { describe, expect, it } from 'vitest';
import { ToneGenerator, rms, toneAmplitude } from '../src/audio/goertzel.js';
import { Resampler } from '../src/audio/resample.js';

/** Runs `seconds` of a tone through a resampler in 20 ms blocks; returns the whole output. */
function resampleTone(
  resampler: Resampler,
  frequency: number,
  amplitude: number,
  seconds = 0.5,
): Int16Array {
  const tone = new ToneGenerator({ frequency, sampleRate: resampler.inputRate, amplitude });
  const block = resampler.inputRate / 50;
  const chunks: Int16Array[] = [];
  for (let i = 0; i < seconds * 50; i++) {
    chunks.push(resampler.process(tone.next(block)).slice());
  }
  const out = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** Measures after the filter has settled, over a whole number of 20 ms periods. */
function settled(samples: Int16Array, rate: number): [number, number] {
  const start = rate / 10;
  return [start, start + (rate / 50) * 15];
}

describe('Resampler', () => {
  it('keeps a 1 kHz tone when decimating 48 kHz → 8 kHz', () => {
    const out = resampleTone(new Resampler({ inputRate: 48000, outputRate: 8000 }), 1000, 10000);
    expect(out.length).toBe(4000);
    const [start, end] = settled(out, 8000);
    expect(toneAmplitude(out, 8000, 1000, start, end)).toBeGreaterThan(9800);
    expect(toneAmplitude(out, 8000, 1000, start, end)).toBeLessThan(10200);
  });

  it('removes a 6 kHz tone when decimating 48 kHz → 8 kHz instead of folding it to 2 kHz', () => {
    const out = resampleTone(new Resampler({ inputRate: 48000, outputRate: 8000 }), 6000, 10000);
    const [start, end] = settled(out, 8000);
    // −60 dB relative to the input tone, and nothing left anywhere else either.
    expect(toneAmplitude(out, 8000, 2000, start, end)).toBeLessThan(10);
    expect(rms(out, start, end)).toBeLessThan(10);
  });

  it('attenuates content just above the output band (4.4 kHz → alias at 3.6 kHz)', () => {
    const out = resampleTone(new Resampler({ inputRate: 48000, outputRate: 8000 }), 4400, 10000);
    const [start, end] = settled(out, 8000);
    expect(toneAmplitude(out, 8000, 3600, start, end)).toBeLessThan(100);
  });

  it('keeps a 1 kHz tone and rejects its images when interpolating 8 kHz → 48 kHz', () => {
    const out = resampleTone(new Resampler({ inputRate: 8000, outputRate: 48000 }), 1000, 10000);
    expect(out.length).toBe(24000);
    const [start, end] = settled(out, 48000);
    expect(toneAmplitude(out, 48000, 1000, start, end)).toBeGreaterThan(9800);
    expect(toneAmplitude(out, 48000, 1000, start, end)).toBeLessThan(10200);
    for (const image of [7000, 9000, 15000, 17000]) {
      expect(toneAmplitude(out, 48000, image, start, end)).toBeLessThan(10);
    }
  });

  it.each([
    [48000, 16000],
    [16000, 48000],
    [16000, 8000],
    [8000, 16000],
  ])('carries a 440 Hz tone from %i Hz to %i Hz', (inputRate, outputRate) => {
    const out = resampleTone(new Resampler({ inputRate, outputRate }), 440, 8000);
    expect(out.length).toBe(outputRate / 2);
    // 440 Hz: 22 periods in 50 ms, so measure over 50 ms multiples.
    const start = outputRate / 10;
    const end = start + outputRate / 2 - outputRate / 5;
    expect(toneAmplitude(out, outputRate, 440, start, end)).toBeGreaterThan(7800);
    expect(toneAmplitude(out, outputRate, 440, start, end)).toBeLessThan(8200);
  });

  it('gives the same output whatever the block sizes (state carries across calls)', () => {
    const input = new ToneGenerator({ frequency: 700, sampleRate: 48000, amplitude: 12000 }).next(
      4800,
    );
    const whole = new Resampler({ inputRate: 48000, outputRate: 8000 }).process(input).slice();
    const streamed = new Resampler({ inputRate: 48000, outputRate: 8000 });
    const parts: number[] = [];
    let at = 0;
    for (const size of [1, 5, 479, 960, 13, 3342]) {
      parts.push(...streamed.process(input.subarray(at, at + size)));
      at += size;
    }
    expect(at).toBe(4800);
    expect(parts).toEqual(Array.from(whole));
  });

  it('reports its delay and forgets the past on reset()', () => {
    const resampler = new Resampler({ inputRate: 8000, outputRate: 48000 });
    expect(resampler.delay).toBeGreaterThan(0);
    const impulse = new Int16Array(160);
    impulse[0] = 20000;
    const response = resampler.process(impulse).slice();
    // The impulse response peaks at the filter delay.
    let peak = 0;
    for (let i = 1; i < response.length; i++) {
      if (Math.abs(response[i]!) > Math.abs(response[peak]!)) {
        peak = i;
      }
    }
    expect(Math.abs(peak - resampler.delay)).toBeLessThanOrEqual(1);
    resampler.reset();
    expect(Array.from(resampler.process(impulse))).toEqual(Array.from(response));
  });

  it('clamps to the 16-bit range instead of wrapping', () => {
    const resampler = new Resampler({ inputRate: 8000, outputRate: 48000 });
    const square = Int16Array.from({ length: 800 }, (_, i) =>
      Math.floor(i / 20) % 2 ? 32767 : -32768,
    );
    const out = resampler.process(square);
    let wrapped = 0;
    for (let i = 1; i < out.length; i++) {
      // A wrap would jump by nearly 65536 between neighbours.
      if (Math.abs(out[i]! - out[i - 1]!) > 40000) {
        wrapped++;
      }
    }
    expect(wrapped).toBe(0);
    expect(Math.max(...out)).toBe(32767);
  });

  it('rejects invalid rates', () => {
    expect(() => new Resampler({ inputRate: 0, outputRate: 8000 })).toThrow(TypeError);
    expect(() => new Resampler({ inputRate: 8000.5, outputRate: 8000 })).toThrow(TypeError);
    expect(() => new Resampler({ inputRate: 48000, outputRate: 47999 })).toThrow(TypeError);
  });
});
