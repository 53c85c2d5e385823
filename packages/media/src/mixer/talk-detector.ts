/**
 * Talk detection with hysteresis on per-frame audio levels in −dBov (the RFC 6464 scale: 0 is
 * full scale, 127 silence), whether the level comes from the `ssrc-audio-level` header
 * extension or from the energy of a decoded frame.
 */

/** Options of {@link TalkDetector}. */
export interface TalkDetectorOptions {
  /** A frame is active when its level is at or above −`threshold` dBov (level ≤ threshold). @default 50 */
  threshold?: number;
  /** Consecutive active 20 ms frames before talking starts (short blips don't count). @default 3 */
  startFrames?: number;
  /** Consecutive inactive frames before talking stops (the hang time, 20 ms each). @default 25 */
  hangFrames?: number;
}

/** Resolved {@link TalkDetectorOptions}. */
export interface TalkSettings {
  threshold: number;
  startFrames: number;
  hangFrames: number;
}

export function talkSettings(options: TalkDetectorOptions = {}): TalkSettings {
  return {
    threshold: options.threshold ?? 50,
    startFrames: Math.max(1, options.startFrames ?? 3),
    hangFrames: Math.max(1, options.hangFrames ?? 25),
  };
}

/** One input's talking state; {@link TalkDetector.update} once per 20 ms frame. */
export class TalkDetector {
  readonly #settings: TalkSettings;
  #talking = false;
  #active = 0;
  #quiet = 0;

  constructor(settings: TalkSettings) {
    this.#settings = settings;
  }

  get talking(): boolean {
    return this.#talking;
  }

  /** Feeds the level of one frame; returns true when `talking` changed. */
  update(level: number): boolean {
    if (level <= this.#settings.threshold) {
      this.#quiet = 0;
      if (!this.#talking && ++this.#active >= this.#settings.startFrames) {
        this.#talking = true;
        return true;
      }
    } else {
      this.#active = 0;
      if (this.#talking && ++this.#quiet >= this.#settings.hangFrames) {
        this.#talking = false;
        return true;
      }
    }
    return false;
  }

  /** Back to not talking; returns whether it was talking. */
  reset(): boolean {
    const was = this.#talking;
    this.#talking = false;
    this.#active = 0;
    this.#quiet = 0;
    return was;
  }
}

/**
 * Level of a PCM frame in −dBov (RMS against 16-bit full scale), 0–127, for inputs without
 * RFC 6464 levels.
 */
export function energyLevel(pcm: Int16Array): number {
  const n = pcm.length;
  if (n === 0) {
    return 127;
  }
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = pcm[i]!;
    sum += v * v;
  }
  if (sum === 0) {
    return 127;
  }
  const level = Math.round(-10 * Math.log10(sum / n / (32768 * 32768)));
  return level < 0 ? 0 : level > 127 ? 127 : level;
}
