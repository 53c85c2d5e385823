/**
 * Synthetic test tones written as WAV files, for Chromium's `--use-file-for-fake-audio-capture`.
 *
 * Every participant of a real-peer test sends its own sine so that a receiver can tell, with a
 * Goertzel filter (./goertzel.ts), whom it hears. Frequencies should be far apart and not
 * harmonics of each other (e.g. 500 Hz and 1300 Hz) so that Opus artefacts cannot blur them.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Options of {@link sineSamples} and {@link writeToneWav}. */
export interface ToneOptions {
  /** @default 48000 */
  sampleRate?: number;
  /** Peak amplitude relative to full scale, 0..1. @default 0.5 */
  amplitude?: number;
}

/** `seconds` of a sine at `frequency` Hz as 16-bit mono PCM. */
export function sineSamples(
  frequency: number,
  seconds: number,
  options: ToneOptions = {},
): Int16Array {
  const sampleRate = options.sampleRate ?? 48_000;
  const amplitude = options.amplitude ?? 0.5;
  if (!(frequency > 0 && frequency < sampleRate / 2)) {
    throw new RangeError(`frequency ${frequency} Hz is outside (0, ${sampleRate / 2})`);
  }
  const count = Math.round(seconds * sampleRate);
  const samples = new Int16Array(count);
  const step = (2 * Math.PI * frequency) / sampleRate;
  for (let i = 0; i < count; i++) {
    samples[i] = Math.round(Math.sin(step * i) * amplitude * 32767);
  }
  return samples;
}

/** A RIFF/WAVE file (PCM format 1, 16-bit, mono) holding `samples`. */
export function encodeWav(samples: Int16Array, sampleRate: number): Buffer {
  const dataBytes = samples.length * 2;
  const wav = Buffer.alloc(44 + dataBytes);
  wav.write('RIFF', 0, 'ascii');
  wav.writeUInt32LE(36 + dataBytes, 4);
  wav.write('WAVE', 8, 'ascii');
  wav.write('fmt ', 12, 'ascii');
  wav.writeUInt32LE(16, 16); // fmt chunk size
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(sampleRate, 24);
  wav.writeUInt32LE(sampleRate * 2, 28); // byte rate
  wav.writeUInt16LE(2, 32); // block align
  wav.writeUInt16LE(16, 34); // bits per sample
  wav.write('data', 36, 'ascii');
  wav.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < samples.length; i++) {
    wav.writeInt16LE(samples[i]!, 44 + i * 2);
  }
  return wav;
}

/** A fresh temporary directory for tone files (callers remove it when done). */
export function makeToneDir(prefix = 'confab-tones-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Writes `seconds` of a `frequency` Hz sine as `tone-<frequency>hz.wav` into `dir` and returns
 * the file's path. Chromium loops the file, so a few seconds are enough for any call length.
 */
export function writeToneWav(
  dir: string,
  frequency: number,
  seconds = 5,
  options: ToneOptions = {},
): string {
  const sampleRate = options.sampleRate ?? 48_000;
  const path = join(dir, `tone-${frequency}hz.wav`);
  writeFileSync(path, encodeWav(sineSamples(frequency, seconds, options), sampleRate));
  return path;
}
