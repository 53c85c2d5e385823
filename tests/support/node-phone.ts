/**
 * Media helpers for Node clients built on the SDK with `@roamhq/wrtc`:
 * - {@link createToneSource}: a live audio track playing a sine (wrtc's nonstandard
 *   RTCAudioSource, 48 kHz, 10 ms frames paced on the wall clock);
 * - {@link createToneSink}: records a received track (RTCAudioSink) and measures its tones.
 */
import wrtc from '@roamhq/wrtc';
import { analyseTones, type ToneReport } from './goertzel.js';

const { RTCAudioSource, RTCAudioSink } = wrtc.nonstandard;

/** A sine generator feeding a wrtc audio track. */
export interface ToneSource {
  readonly frequency: number;
  /** A new track fed by this source (each call gets its own track; all share the signal). */
  createTrack(): MediaStreamTrack;
  /** A new MediaStream holding one new track of this source. */
  createStream(): MediaStream;
  /** Stops feeding frames (tracks then go silent). Idempotent. */
  stop(): void;
}

const FRAME_MS = 10;

/**
 * Starts a sine source at `frequency` Hz. Frames are pushed on a timer that catches up on the
 * wall clock, so the track carries real-time audio even when the event loop is briefly busy.
 */
export function createToneSource(
  frequency: number,
  options: { sampleRate?: number; amplitude?: number } = {},
): ToneSource {
  const sampleRate = options.sampleRate ?? 48_000;
  const amplitude = options.amplitude ?? 0.5;
  const frameLength = (sampleRate * FRAME_MS) / 1000;
  const source = new RTCAudioSource();
  const step = (2 * Math.PI * frequency) / sampleRate;
  let phase = 0;
  let sent = 0;
  const startedAt = performance.now();
  const pushFrame = (): void => {
    const samples = new Int16Array(frameLength);
    for (let i = 0; i < frameLength; i++) {
      samples[i] = Math.round(Math.sin(phase) * amplitude * 32767);
      phase += step;
    }
    phase %= 2 * Math.PI;
    source.onData({
      samples,
      sampleRate,
      bitsPerSample: 16,
      channelCount: 1,
      numberOfFrames: frameLength,
    });
  };
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - startedAt) / FRAME_MS);
    // Never burst more than 100 ms: after a long stall, drop the backlog rather than flood.
    if (due - sent > 10) {
      sent = due - 10;
    }
    while (sent < due) {
      pushFrame();
      sent++;
    }
  }, FRAME_MS);
  let stopped = false;
  return {
    frequency,
    createTrack: () => source.createTrack(),
    createStream: () => new wrtc.MediaStream([source.createTrack()]),
    stop: () => {
      if (!stopped) {
        stopped = true;
        clearInterval(timer);
      }
    },
  };
}

/** Records the audio of one received track. */
export interface ToneSink {
  /** Mono samples received since creation or the last {@link ToneSink.reset}. */
  samples(): Int16Array;
  /** Sample rate of the received frames (0 before the first frame). */
  readonly sampleRate: number;
  /** Number of frames received so far (any content, silence included). */
  readonly frames: number;
  /** Forgets the recorded samples (e.g. to skip the start of a call). */
  reset(): void;
  /** Tone analysis of the recorded samples. */
  analyse(candidates: readonly number[]): ToneReport;
  /** Stops recording. Idempotent. */
  stop(): void;
}

/** Keeps at most this many seconds of audio (bounded memory on long calls). */
const MAX_SECONDS = 20;

interface AudioDataEvent {
  samples: Int16Array;
  sampleRate: number;
  channelCount?: number;
}

/** Starts recording `track` (a remote track of a wrtc RTCPeerConnection). */
export function createToneSink(track: MediaStreamTrack): ToneSink {
  const sink = new RTCAudioSink(track);
  let chunks: Int16Array[] = [];
  let length = 0;
  let sampleRate = 0;
  let frames = 0;
  sink.ondata = (event: AudioDataEvent): void => {
    frames++;
    sampleRate = event.sampleRate;
    const channels = event.channelCount ?? 1;
    // Keep the first channel only: the tones are mono.
    const mono =
      channels === 1
        ? Int16Array.from(event.samples)
        : Int16Array.from(
            { length: event.samples.length / channels },
            (_, i) => event.samples[i * channels]!,
          );
    chunks.push(mono);
    length += mono.length;
    while (length > MAX_SECONDS * sampleRate && chunks.length > 1) {
      length -= chunks.shift()!.length;
    }
  };
  const samples = (): Int16Array => {
    const all = new Int16Array(length);
    let offset = 0;
    for (const chunk of chunks) {
      all.set(chunk, offset);
      offset += chunk.length;
    }
    return all;
  };
  let stopped = false;
  return {
    samples,
    get sampleRate() {
      return sampleRate;
    },
    get frames() {
      return frames;
    },
    reset: () => {
      chunks = [];
      length = 0;
    },
    analyse: (candidates) => analyseTones(samples(), sampleRate || 48_000, candidates),
    stop: () => {
      if (!stopped) {
        stopped = true;
        sink.stop();
      }
    },
  };
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `check` every `intervalMs` until it returns a truthy value, or rejects after `timeoutMs`
 * with `what` in the message. Used to wait for audio to arrive without timing assertions.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(intervalMs);
  }
}

/** Options of {@link listenUntil}. */
export interface ListenOptions {
  /** Pause before the first window, for the audio already in flight to drain. @default 700 */
  drainMs?: number;
  /** Length of one measurement window. @default 1500 */
  windowMs?: number;
  /** No new window starts after this long. @default 10000 */
  timeoutMs?: number;
}

/**
 * What `sinks` hear (one report each), measured over successive windows until `settled` holds
 * for one window's reports, or until `timeoutMs` has passed: then the last window's reports, for
 * the caller's assertion to fail on. A change on the audio path (hold, mute, a leg moving into a
 * mixer, a transfer) reaches the ear after a delay that grows with the machine's load, so a
 * single window after a fixed pause can catch it half done. Without a change to wait for, this is
 * one window, as before.
 */
export async function listenUntil(
  sinks: readonly ToneSink[],
  candidates: readonly number[],
  settled: (reports: ToneReport[]) => boolean,
  options: ListenOptions = {},
): Promise<ToneReport[]> {
  const { drainMs = 700, windowMs = 1500, timeoutMs = 10_000 } = options;
  const deadline = Date.now() + timeoutMs;
  await sleep(drainMs);
  for (;;) {
    for (const sink of sinks) {
      sink.reset();
    }
    await sleep(windowMs);
    const reports = sinks.map((sink) => sink.analyse(candidates));
    if (settled(reports) || Date.now() + windowMs > deadline) {
      return reports;
    }
  }
}
