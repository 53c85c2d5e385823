/**
 * Tone measurement helpers: the Goertzel algorithm (one DFT bin, O(N)) and RMS.
 *
 * Tests across the project use these to check that audio is carried (each party sends its own
 * frequency, receivers check which frequencies they hear). For an exact reading, measure a
 * window holding a whole number of periods of the tone, after any filter delay has passed.
 */

/** Samples as any numeric array view (Int16Array PCM, Float32Array, number[]). */
export type SampleView = ArrayLike<number>;

/**
 * Estimated amplitude (in sample units) of the `frequency` component of
 * `samples[start, end)`: a full-scale-16-bit sine of amplitude A reads about A.
 * The bin need not be an integer multiple of `sampleRate / N` (generalised Goertzel).
 */
export function toneAmplitude(
  samples: SampleView,
  sampleRate: number,
  frequency: number,
  start = 0,
  end = samples.length,
): number {
  const n = end - start;
  if (n <= 0) {
    return 0;
  }
  return (2 * Math.sqrt(goertzelPower(samples, sampleRate, frequency, start, end))) / n;
}

/**
 * Squared magnitude of the DFT of `samples[start, end)` at `frequency` (Goertzel recurrence:
 * s[n] = x[n] + 2cos(ω)·s[n−1] − s[n−2]; |X|² = s1² + s2² − 2cos(ω)·s1·s2).
 */
export function goertzelPower(
  samples: SampleView,
  sampleRate: number,
  frequency: number,
  start = 0,
  end = samples.length,
): number {
  const coefficient = 2 * Math.cos((2 * Math.PI * frequency) / sampleRate);
  let s1 = 0;
  let s2 = 0;
  for (let i = start; i < end; i++) {
    const s0 = samples[i]! + coefficient * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return Math.max(0, s1 * s1 + s2 * s2 - coefficient * s1 * s2);
}

/** Root mean square of `samples[start, end)` (0 for an empty range). */
export function rms(samples: SampleView, start = 0, end = samples.length): number {
  const n = end - start;
  if (n <= 0) {
    return 0;
  }
  let sum = 0;
  for (let i = start; i < end; i++) {
    const v = samples[i]!;
    sum += v * v;
  }
  return Math.sqrt(sum / n);
}

/** Level of `samples` relative to 16-bit full scale, in dB (−Infinity for silence). */
export function dbfs(samples: SampleView, start = 0, end = samples.length): number {
  return 20 * Math.log10(rms(samples, start, end) / 32768);
}

/** Options of {@link ToneGenerator}. */
export interface ToneOptions {
  frequency: number;
  sampleRate: number;
  /** Peak amplitude in 16-bit units. @default 8000 */
  amplitude?: number;
}

/** A phase-continuous sine source, for frames of a test or benchmark stream. */
export class ToneGenerator {
  readonly #step: number;
  readonly #amplitude: number;
  #phase = 0;

  constructor(options: ToneOptions) {
    this.#step = (2 * Math.PI * options.frequency) / options.sampleRate;
    this.#amplitude = options.amplitude ?? 8000;
  }

  /** The next `samples` samples of the tone (a new array). */
  next(samples: number): Int16Array {
    const out = new Int16Array(samples);
    for (let i = 0; i < samples; i++) {
      out[i] = Math.round(this.#amplitude * Math.sin(this.#phase));
      this.#phase += this.#step;
    }
    this.#phase %= 2 * Math.PI;
    return out;
  }
}

/** `samples` samples of a sine tone starting at phase 0. */
export function generateTone(options: ToneOptions & { samples: number }): Int16Array {
  return new ToneGenerator(options).next(options.samples);
}
