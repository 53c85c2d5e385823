/**
 * Real-browser participants for e2e tests: Debian Chromium driven by playwright-core, one browser
 * process per participant because `--use-file-for-fake-audio-capture` (each participant's own
 * tone) is a per-process flag. Every participant gets a fresh profile directory.
 *
 * The in-page probe ({@link installAudioProbe}, `window.__confabProbe`) measures what a page
 * actually receives: a WebAudio AnalyserNode on the remote MediaStream feeds a Goertzel filter per
 * candidate frequency, and `getStats()` inbound-rtp `totalAudioEnergy` gives a second opinion.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type JSHandle, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** The flags every participant's Chromium runs with (the tone file is added per participant). */
export const CHROMIUM_FLAGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
  '--ignore-certificate-errors',
];

/** Options of {@link launchParticipant}. */
export interface ParticipantOptions {
  /** A label for logs and errors. */
  name: string;
  /** WAV file the fake microphone plays in a loop (see ./tones.ts). Omit for Chromium's beep. */
  toneWav?: string;
  /** Extra Chromium flags. */
  extraArgs?: readonly string[];
}

/** One participant: its own Chromium process, profile and page. */
export interface BrowserParticipant {
  readonly name: string;
  readonly context: BrowserContext;
  readonly page: Page;
  /** Page console lines and errors, for diagnosing failures. */
  readonly logs: string[];
  /** Closes the browser and removes the profile directory. Idempotent. */
  close(): Promise<void>;
}

/** Launches one Chromium for one participant, with the audio probe installed in every page. */
export async function launchParticipant(options: ParticipantOptions): Promise<BrowserParticipant> {
  const userDataDir = mkdtempSync(join(tmpdir(), `confab-chromium-${options.name}-`));
  const args = [...CHROMIUM_FLAGS, ...(options.extraArgs ?? [])];
  if (options.toneWav !== undefined) {
    args.push(`--use-file-for-fake-audio-capture=${options.toneWav}`);
  }
  let context: BrowserContext;
  try {
    // launchPersistentContext is how playwright gives Chromium a --user-data-dir of our choosing.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args,
      ignoreHTTPSErrors: true,
    });
  } catch (error) {
    rmSync(userDataDir, { recursive: true, force: true });
    throw error;
  }
  await context.addInitScript({ content: AUDIO_PROBE_SOURCE });
  const page = context.pages()[0] ?? (await context.newPage());
  const logs: string[] = [];
  page.on('console', (message) =>
    logs.push(`[${options.name}] ${message.type()}: ${message.text()}`),
  );
  page.on('pageerror', (error) => logs.push(`[${options.name}] pageerror: ${error.message}`));
  let closed = false;
  return {
    name: options.name,
    context,
    page,
    logs,
    close: async () => {
      if (closed) {
        return;
      }
      closed = true;
      await context.close().catch(() => undefined);
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** What the probe reports for one measurement. */
export interface ProbeReport {
  /** AudioContext sample rate. */
  sampleRate: number;
  /** Analyser blocks measured. */
  blocks: number;
  /** Mean Goertzel power per candidate frequency (full-scale sine ≈ 0.25). */
  powers: Record<string, number>;
  /** The candidate with the highest power, or null on silence. */
  dominant: number | null;
  /** Mean RMS level of the measured blocks. */
  rms: number;
}

/** The `getStats()` figures of the first inbound audio RTP stream. */
export interface InboundAudioStats {
  packetsReceived: number;
  totalAudioEnergy: number;
  totalSamplesDuration: number;
}

/**
 * Measures the tone content of `stream` (a JSHandle to a MediaStream in the page) for
 * `durationMs`. The candidates should include the expected frequency and every other
 * participant's, so that the result says "hears X and not Y".
 */
export async function measureStreamTones(
  page: Page,
  stream: JSHandle,
  candidates: readonly number[],
  durationMs = 1500,
): Promise<ProbeReport> {
  const frequencies: number[] = [...candidates];
  return page.evaluate(
    ([s, freqs, ms]) => window.__confabProbe.measure(s as MediaStream, freqs, ms),
    [stream, frequencies, durationMs] as const,
  );
}

/** Reads inbound audio stats of `peerConnection` (a JSHandle to an RTCPeerConnection). */
export async function inboundAudioStats(
  page: Page,
  peerConnection: JSHandle,
): Promise<InboundAudioStats | null> {
  return page.evaluate(
    (pc) => window.__confabProbe.inboundAudio(pc as RTCPeerConnection),
    peerConnection,
  );
}

/** The probe's page-side API (declared for `page.evaluate` callbacks). */
export interface AudioProbe {
  measure(stream: MediaStream, candidates: number[], durationMs: number): Promise<ProbeReport>;
  inboundAudio(pc: RTCPeerConnection): Promise<InboundAudioStats | null>;
}

declare global {
  interface Window {
    __confabProbe: AudioProbe;
  }
}

/**
 * Page-side source of the probe, as plain JavaScript: it is injected with `addInitScript`, so it
 * must not depend on how this TypeScript file is transpiled. It keeps one playing <audio> element
 * per measured stream: Chromium only feeds remote WebRTC audio into WebAudio while a media element
 * consumes the stream, and computes inbound-rtp `totalAudioEnergy` on the playout path (a muted
 * element leaves it at 0). Headless Chromium has no sound card, so nothing is audible.
 */
export const AUDIO_PROBE_SOURCE = String.raw`
(() => {
  if (window.__confabProbe) { return; }
  const goertzel = (buf, sampleRate, frequency) => {
    const c = 2 * Math.cos((2 * Math.PI * frequency) / sampleRate);
    let s1 = 0, s2 = 0;
    for (let i = 0; i < buf.length; i++) { const s0 = buf[i] + c * s1 - s2; s2 = s1; s1 = s0; }
    return (s1 * s1 + s2 * s2 - c * s1 * s2) / (buf.length * buf.length);
  };
  const sinks = new WeakMap();
  window.__confabProbe = {
    async measure(stream, candidates, durationMs) {
      if (!sinks.has(stream)) {
        const el = document.createElement('audio');
        el.autoplay = true; el.srcObject = stream;
        el.setAttribute('data-confab-probe', '');
        document.body.appendChild(el);
        el.play().catch(() => undefined);
        sinks.set(stream, el);
      }
      const ctx = new AudioContext();
      await ctx.resume();
      const source = ctx.createMediaStreamSource(stream);
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 4096;
      source.connect(analyser);
      const buf = new Float32Array(analyser.fftSize);
      const blockMs = (analyser.fftSize / ctx.sampleRate) * 1000;
      const sums = candidates.map(() => 0);
      let blocks = 0, rmsSum = 0;
      const end = performance.now() + durationMs;
      while (performance.now() < end) {
        await new Promise((r) => setTimeout(r, blockMs));
        analyser.getFloatTimeDomainData(buf);
        let sq = 0;
        for (let i = 0; i < buf.length; i++) { sq += buf[i] * buf[i]; }
        rmsSum += Math.sqrt(sq / buf.length);
        candidates.forEach((f, i) => { sums[i] += goertzel(buf, ctx.sampleRate, f); });
        blocks++;
      }
      source.disconnect();
      await ctx.close();
      const powers = {};
      let dominant = null;
      candidates.forEach((f, i) => {
        powers[f] = blocks ? sums[i] / blocks : 0;
        if (powers[f] > 0 && (dominant === null || powers[f] > powers[dominant])) { dominant = f; }
      });
      return { sampleRate: ctx.sampleRate, blocks, powers, dominant, rms: blocks ? rmsSum / blocks : 0 };
    },
    async inboundAudio(pc) {
      const report = await pc.getStats();
      for (const s of report.values()) {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') {
          return { packetsReceived: s.packetsReceived || 0, totalAudioEnergy: s.totalAudioEnergy || 0,
                   totalSamplesDuration: s.totalSamplesDuration || 0 };
        }
      }
      return null;
    },
  };
})();
`;
