/**
 * The mixer's output limiter: fits a float sum of talkers into int16 without clipping.
 *
 * Design (no standard governs this; the choices are ours):
 * - Unity gain, bit-transparent, while every sample of the frame fits int16: a single talker,
 *   or talkers whose sum stays in range, come out exactly as a plain copy would.
 * - Otherwise a peak envelope follower drives one gain per output stream. Attack: the envelope
 *   jumps to the frame's peak and the gain falls to `CEILING / peak` over the first millisecond
 *   of the frame (the mixer holds the whole 20 ms frame, so this foresight adds no latency; only
 *   that millisecond can still reach the rails, and is clamped). Release: the envelope decays by
 *   {@link RELEASE_PER_TICK} per tick and the gain ramps linearly across each frame towards the
 *   new target, so it never steps (no zipper noise) and recovers ~20 dB per second.
 * - A limited mix peaks at {@link CEILING}, a little below full scale, so going over range costs
 *   at most a 0.45 dB extra step (ramped like any attack) on top of the reduction itself.
 * - Within a steady loud passage the gain is constant (the envelope holds the recurring peak),
 *   so there is nothing to intermodulate: unlike a clip, the limited mix is just quieter.
 *
 * A gain is a property of one output stream: each talker's mix-minus-self and the shared mix
 * have their own {@link Limiter}. A listener who starts talking switches from the shared mix to
 * its own; {@link Limiter.continueFrom} starts its limiter where the shared one stood at the end
 * of the last frame it heard, so the switch does not jump in level.
 */

/** Samples per 20 ms frame at 48 kHz. */
const FRAME = 960;
/** The attack ramp: 1 ms. */
const ATTACK = 48;
/** Envelope decay per 20 ms tick: −0.4 dB, i.e. a release of 20 dB per second. */
const RELEASE_PER_TICK = 10 ** (-0.4 / 20);
const MAX = 32767;
/**
 * Where a limited mix peaks: 0.45 dB below full scale. A lossy codec's decoded waveform
 * overshoots its input's peaks; measured with this package's Opus encoder and decoder, a mix
 * limited to exactly full scale came out of the decoder railed and garbled, with this headroom
 * clean (mixer-limiter.test.ts).
 */
const CEILING = 0.95 * MAX;

export class Limiter {
  /** Gain at the end of the last frame (1: unity). */
  #gain = 1;
  /** Peak envelope, in sample units (≤ 32767 means unity). */
  #envelope = 0;
  /** The same two at the start of the last frame, for {@link Limiter.continueFrom}. */
  #previousGain = 1;
  #previousEnvelope = 0;

  /** Current gain (1: unity). */
  get gain(): number {
    return this.#gain;
  }

  /** Takes up `other`'s state as it stood before its last frame (a stream switching over). */
  continueFrom(other: Limiter): void {
    this.#gain = other.#previousGain;
    this.#envelope = other.#previousEnvelope;
  }

  /** `out = limit(sum − minus)` for one 960-sample frame; allocation-free. */
  process(sum: Float32Array, minus: Int16Array | undefined, out: Int16Array): void {
    const peak = minus === undefined ? peakOf(sum) : peakOfDifference(sum, minus);
    const from = this.#gain;
    this.#previousGain = from;
    this.#previousEnvelope = this.#envelope;
    const decayed = this.#envelope * RELEASE_PER_TICK;
    const envelope = peak > decayed ? peak : decayed;
    this.#envelope = envelope;
    const to = envelope > MAX ? CEILING / envelope : 1;
    this.#gain = to;

    if (from === 1 && to === 1) {
      // In range and not releasing: a plain copy (the values are integers).
      if (minus === undefined) {
        copy(sum, out);
      } else {
        copyDifference(sum, minus, out);
      }
      return;
    }
    // Attack over ATTACK samples, release over the whole frame; then hold `to`.
    const ramp = to < from ? ATTACK : FRAME;
    if (minus === undefined) {
      scale(sum, out, from, to, ramp);
    } else {
      scaleDifference(sum, minus, out, from, to, ramp);
    }
  }
}

/**
 * `out = clamp16(sum · g)`, g going linearly from `from` to `to` over the first `ramp` samples,
 * then `to`.
 */
function scale(sum: Float32Array, out: Int16Array, from: number, to: number, ramp: number): void {
  const step = (to - from) / ramp;
  let g = from;
  for (let i = 0; i < ramp; i++) {
    g += step;
    const v = sum[i]! * g;
    out[i] = v > MAX ? MAX : v < -32768 ? -32768 : v;
  }
  // After the ramp the gain fits the envelope: no clamp needed.
  for (let i = ramp; i < FRAME; i++) {
    out[i] = sum[i]! * to;
  }
}

function scaleDifference(
  sum: Float32Array,
  minus: Int16Array,
  out: Int16Array,
  from: number,
  to: number,
  ramp: number,
): void {
  const step = (to - from) / ramp;
  let g = from;
  for (let i = 0; i < ramp; i++) {
    g += step;
    const v = (sum[i]! - minus[i]!) * g;
    out[i] = v > MAX ? MAX : v < -32768 ? -32768 : v;
  }
  for (let i = ramp; i < FRAME; i++) {
    out[i] = (sum[i]! - minus[i]!) * to;
  }
}

function peakOf(sum: Float32Array): number {
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < FRAME; i++) {
    const v = sum[i]!;
    hi = v > hi ? v : hi;
    lo = v < lo ? v : lo;
  }
  return hi > -lo - 1 ? hi : -lo - 1;
}

function peakOfDifference(sum: Float32Array, minus: Int16Array): number {
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < FRAME; i++) {
    const v = sum[i]! - minus[i]!;
    hi = v > hi ? v : hi;
    lo = v < lo ? v : lo;
  }
  return hi > -lo - 1 ? hi : -lo - 1;
}

function copy(sum: Float32Array, out: Int16Array): void {
  for (let i = 0; i < FRAME; i++) {
    out[i] = sum[i]!;
  }
}

function copyDifference(sum: Float32Array, minus: Int16Array, out: Int16Array): void {
  for (let i = 0; i < FRAME; i++) {
    out[i] = sum[i]! - minus[i]!;
  }
}
