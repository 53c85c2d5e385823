/**
 * Tone detection on PCM with the Goertzel algorithm: the power of one DFT bin, computed in O(N)
 * without an FFT. Tests use it to decide which of a few known frequencies a receiver hears.
 */

/** PCM accepted by the helpers: floats in [-1, 1] or 16-bit integers. */
export type Pcm = Float32Array | Int16Array;

function sampleAt(samples: Pcm, i: number): number {
  const value = samples[i]!;
  return samples instanceof Int16Array ? value / 32768 : value;
}

/**
 * Normalised power of `frequency` in `samples`: a full-scale sine at exactly that frequency gives
 * about 0.25 (amplitude² / 4), silence gives 0. Independent of the number of samples.
 */
export function goertzelPower(samples: Pcm, sampleRate: number, frequency: number): number {
  const n = samples.length;
  if (n === 0) {
    return 0;
  }
  const coefficient = 2 * Math.cos((2 * Math.PI * frequency) / sampleRate);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const s0 = sampleAt(samples, i) + coefficient * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
  return power / (n * n);
}

/** Root mean square of `samples` (full-scale sine ≈ 0.707). */
export function rms(samples: Pcm): number {
  if (samples.length === 0) {
    return 0;
  }
  let sum = 0;
  for (let i = 0; i < samples.length; i++) {
    const v = sampleAt(samples, i);
    sum += v * v;
  }
  return Math.sqrt(sum / samples.length);
}

/** The outcome of {@link analyseTones}. */
export interface ToneReport {
  /** Goertzel power per candidate frequency. */
  powers: Record<number, number>;
  /** The candidate with the highest power (undefined when there is no signal at all). */
  dominant: number | undefined;
  /** Overall RMS level. */
  rms: number;
}

/**
 * Measures every candidate frequency and names the dominant one. `blockSize` splits long
 * recordings into blocks whose powers are averaged, which keeps the filter's bandwidth sensible
 * (≈ sampleRate / blockSize Hz) instead of shrinking to a fraction of a hertz, where a codec's
 * small frequency error would already miss the bin.
 */
export function analyseTones(
  samples: Pcm,
  sampleRate: number,
  candidates: readonly number[],
  blockSize = 4800,
): ToneReport {
  const powers: Record<number, number> = {};
  for (const frequency of candidates) {
    powers[frequency] = 0;
  }
  let blocks = 0;
  for (let start = 0; start + blockSize <= samples.length; start += blockSize) {
    const block = samples.subarray(start, start + blockSize);
    for (const frequency of candidates) {
      powers[frequency]! += goertzelPower(block, sampleRate, frequency);
    }
    blocks++;
  }
  let dominant: number | undefined;
  let best = 0;
  for (const frequency of candidates) {
    const power = blocks === 0 ? 0 : powers[frequency]! / blocks;
    powers[frequency] = power;
    if (power > best) {
      best = power;
      dominant = frequency;
    }
  }
  return { powers, dominant, rms: rms(samples) };
}

/**
 * True when `expected` is clearly present and dominates every other candidate by `ratio`
 * (power ratio; 10 = 10 dB). The usual assertion of "hears X and not Y".
 */
export function hearsTone(
  report: ToneReport,
  expected: number,
  ratio = 10,
  minPower = 1e-4,
): boolean {
  const power = report.powers[expected] ?? 0;
  if (power < minPower) {
    return false;
  }
  return Object.entries(report.powers).every(
    ([frequency, other]) => Number(frequency) === expected || power >= other * ratio,
  );
}

/**
 * True when every `expected` frequency is present (a mix, e.g. a conference) and each `absent`
 * one is at least `ratio` below the weakest expected one. The usual assertion of "hears X and Y,
 * and not itself". With no `expected` tone: true when none of `absent` reaches `minPower`.
 */
export function hearsMix(
  report: ToneReport,
  expected: readonly number[],
  absent: readonly number[],
  ratio = 10,
  minPower = 1e-4,
): boolean {
  if (expected.length === 0) {
    // Silence: none of the absent tones is there at all.
    return absent.every((f) => (report.powers[f] ?? 0) < minPower);
  }
  const weakest = Math.min(...expected.map((f) => report.powers[f] ?? 0));
  if (!(weakest >= minPower)) {
    return false;
  }
  return absent.every((f) => (report.powers[f] ?? 0) * ratio <= weakest);
}
