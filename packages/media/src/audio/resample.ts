/**
 * Streaming sample-rate conversion for telephony rates (8, 12, 16, 24, 48 kHz and any other
 * pair whose reduced ratio is small) with a windowed-sinc polyphase FIR.
 *
 * Conversion by L/M: conceptually upsample by L (zero stuffing), low-pass at the lower of the
 * two Nyquist frequencies, keep every M-th sample. The polyphase form only evaluates the taps
 * that meet non-zero input samples, so each output sample costs `tapsPerPhase` multiply-adds.
 * The low-pass is a Kaiser-windowed sinc: its cutoff sits below the output Nyquist frequency
 * when decimating, so that content above it is removed instead of folding back into the band
 * (a 6 kHz tone does not come out as 2 kHz at 8 kHz).
 */

/** Options of {@link Resampler}. */
export interface ResamplerOptions {
  inputRate: number;
  outputRate: number;
  /**
   * Zero crossings of the sinc on each side, counted at the lower of the two rates. More gives
   * a steeper transition band at a linear CPU cost. @default 24
   */
  zeroCrossings?: number;
  /** Cutoff as a fraction of the lower Nyquist frequency. @default 0.9 */
  cutoff?: number;
  /** Kaiser window β; 7 gives about 70 dB of stopband attenuation. @default 7 */
  kaiserBeta?: number;
}

/** Largest interpolation factor accepted (bounds the coefficient table). */
const MAX_UPSAMPLING = 320;

/**
 * A stateful resampler: feed consecutive blocks of one stream to {@link Resampler.process};
 * filter state carries over between blocks, so block boundaries are inaudible.
 */
export class Resampler {
  readonly inputRate: number;
  readonly outputRate: number;
  /** Filter delay in output samples (constant; the output lags the input by this much). */
  readonly delay: number;
  readonly #up: number;
  readonly #down: number;
  readonly #taps: number;
  /** Coefficients by phase: `#coefficients[phase * #taps + i]` weighs `x[newest - i]`. */
  readonly #coefficients: Float64Array;
  /** Last `#taps - 1` input samples, then room for the next block. */
  #buffer: Float64Array;
  /** Position of the next output on the upsampled grid, relative to `#buffer[0]`. */
  #position: number;
  #output = new Int16Array(0);

  constructor(options: ResamplerOptions) {
    const { inputRate, outputRate } = options;
    if (!isPositiveInteger(inputRate) || !isPositiveInteger(outputRate)) {
      throw new TypeError(`invalid resampling rates ${inputRate} → ${outputRate}`);
    }
    const divisor = gcd(inputRate, outputRate);
    const up = outputRate / divisor;
    const down = inputRate / divisor;
    if (up > MAX_UPSAMPLING) {
      throw new TypeError(`resampling ratio ${outputRate}/${inputRate} is too fine`);
    }
    this.inputRate = inputRate;
    this.outputRate = outputRate;
    this.#up = up;
    this.#down = down;

    const zeroCrossings = options.zeroCrossings ?? 24;
    const cutoff = options.cutoff ?? 0.9;
    const beta = options.kaiserBeta ?? 7;
    // On the upsampled grid (rate inputRate × up) one period of the lower rate spans `span`
    // samples; the sinc's zero crossings are `span / cutoff` apart.
    const span = Math.max(up, down);
    const half = Math.ceil((zeroCrossings * span) / cutoff);
    const length = 2 * half + 1;
    const prototype = new Float64Array(length);
    const fc = cutoff / (2 * span); // cycles per upsampled sample
    const i0Beta = besselI0(beta);
    let sum = 0;
    for (let k = 0; k < length; k++) {
      const n = k - half;
      const sinc = n === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * n) / (Math.PI * n);
      const r = n / half;
      const window = besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0Beta;
      prototype[k] = sinc * window;
      sum += sinc * window;
    }
    // Unity gain at DC after zero stuffing: the taps of every phase sum to ~1, the whole to `up`.
    const gain = up / sum;
    const taps = Math.ceil(Math.ceil(length / up) / 4) * 4;
    this.#taps = taps;
    this.#coefficients = new Float64Array(up * taps);
    for (let phase = 0; phase < up; phase++) {
      for (let i = 0; i < taps; i++) {
        const k = phase + i * up;
        this.#coefficients[phase * taps + i] = k < length ? prototype[k]! * gain : 0;
      }
    }
    this.delay = Math.round(half / down);
    this.#buffer = new Float64Array(taps - 1 + 1024);
    this.#position = (taps - 1) * up;
  }

  /** Multiply-adds per output sample (a cost figure for benchmarks). */
  get tapsPerPhase(): number {
    return this.#taps;
  }

  /**
   * Converts the next block of the stream. Returns the output samples that block completes;
   * the view is valid until the next call (copy it to keep it).
   */
  process(input: Int16Array): Int16Array {
    const history = this.#taps - 1;
    const filled = history + input.length;
    if (this.#buffer.length < filled) {
      const grown = new Float64Array(filled * 2);
      grown.set(this.#buffer.subarray(0, history));
      this.#buffer = grown;
    }
    const buffer = this.#buffer;
    for (let i = 0; i < input.length; i++) {
      buffer[history + i] = input[i]!;
    }

    const up = this.#up;
    const down = this.#down;
    const taps = this.#taps;
    const coefficients = this.#coefficients;
    // Outputs whose newest input sample is inside the buffer.
    const limit = filled * up;
    let position = this.#position;
    const count = position < limit ? Math.ceil((limit - position) / down) : 0;
    if (this.#output.length < count) {
      this.#output = new Int16Array(Math.max(count, this.#output.length * 2));
    }
    const output = this.#output;
    // Walk the upsampled grid as (newest input index, phase) to avoid a division per output.
    let newest = Math.floor(position / up);
    let phase = position - newest * up;
    const step = Math.floor(down / up);
    const stepPhase = down - step * up;
    for (let n = 0; n < count; n++) {
      // Taps are padded to a multiple of 4: four independent accumulators pipeline better.
      let c = phase * taps;
      let x = newest;
      const end = c + taps;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      while (c < end) {
        a0 += coefficients[c]! * buffer[x]!;
        a1 += coefficients[c + 1]! * buffer[x - 1]!;
        a2 += coefficients[c + 2]! * buffer[x - 2]!;
        a3 += coefficients[c + 3]! * buffer[x - 3]!;
        c += 4;
        x -= 4;
      }
      const acc = a0 + a1 + a2 + a3;
      const rounded = Math.round(acc);
      output[n] = rounded > 32767 ? 32767 : rounded < -32768 ? -32768 : rounded;
      newest += step;
      phase += stepPhase;
      if (phase >= up) {
        phase -= up;
        newest++;
      }
    }
    position += count * down;

    // Keep the last `history` samples for the next block.
    const consumed = filled - history;
    buffer.copyWithin(0, consumed, filled);
    this.#position = position - consumed * up;
    return output.subarray(0, count);
  }

  /** Forgets the stream's past (after a discontinuity), as if newly constructed. */
  reset(): void {
    this.#buffer.fill(0);
    this.#position = (this.#taps - 1) * this.#up;
  }
}

function isPositiveInteger(n: number): boolean {
  return Number.isInteger(n) && n > 0;
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    [a, b] = [b, a % b];
  }
  return a;
}

/** Zeroth-order modified Bessel function of the first kind (power series). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const quarter = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= quarter / (k * k);
    sum += term;
    if (term < sum * 1e-12) {
      break;
    }
  }
  return sum;
}
