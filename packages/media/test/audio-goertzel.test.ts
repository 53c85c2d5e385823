import { describe, expect, it } from 'vitest';
import {
  ToneGenerator,
  dbfs,
  generateTone,
  goertzelPower,
  rms,
  toneAmplitude,
} from '../src/audio/goertzel.js';

describe('Goertzel and level helpers', () => {
  it('reads the amplitude of a tone and ignores other frequencies', () => {
    const mixed = Int16Array.from(
      generateTone({ frequency: 440, sampleRate: 8000, samples: 4000, amplitude: 6000 }),
      (v, i) => v + Math.round(2000 * Math.sin((2 * Math.PI * 1300 * i) / 8000)),
    );
    expect(toneAmplitude(mixed, 8000, 440)).toBeCloseTo(6000, -1);
    expect(toneAmplitude(mixed, 8000, 1300)).toBeCloseTo(2000, -1);
    expect(toneAmplitude(mixed, 8000, 2000)).toBeLessThan(20);
  });

  it('measures a window of the input only', () => {
    const samples = new Int16Array(1600);
    samples.set(
      generateTone({ frequency: 1000, sampleRate: 8000, samples: 800, amplitude: 4000 }),
      800,
    );
    expect(toneAmplitude(samples, 8000, 1000, 0, 800)).toBe(0);
    expect(toneAmplitude(samples, 8000, 1000, 800, 1600)).toBeCloseTo(4000, -1);
    expect(goertzelPower(samples, 8000, 1000, 5, 5)).toBe(0);
    expect(toneAmplitude(samples, 8000, 1000, 5, 5)).toBe(0);
  });

  it('computes RMS and dBFS', () => {
    const tone = generateTone({
      frequency: 1000,
      sampleRate: 8000,
      samples: 8000,
      amplitude: 10000,
    });
    expect(rms(tone)).toBeCloseTo(10000 / Math.SQRT2, -1);
    expect(rms([])).toBe(0);
    expect(dbfs(new Int16Array(10))).toBe(-Infinity);
    expect(dbfs(Int16Array.from({ length: 100 }, (_, i) => (i % 2 ? 32767 : -32767)))).toBeCloseTo(
      0,
      2,
    );
  });

  it('generates a phase-continuous tone across frames', () => {
    const generator = new ToneGenerator({ frequency: 440, sampleRate: 48000, amplitude: 8000 });
    const framed = [...generator.next(960), ...generator.next(960), ...generator.next(960)];
    const whole = generateTone({
      frequency: 440,
      sampleRate: 48000,
      samples: 2880,
      amplitude: 8000,
    });
    const maxDifference = Math.max(...framed.map((v, i) => Math.abs(v - whole[i]!)));
    expect(maxDifference).toBeLessThanOrEqual(1);
  });
});
