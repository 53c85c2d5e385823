/**
 * RFC 6464 audio levels from a real browser: Debian Chromium offers `ssrc-audio-level` by
 * default; a WebRTC leg of the media engine must negotiate it and hand the levels Chromium
 * measured, packet by packet, to whatever bridge (the mixer's talk detection) listens to it.
 * The page sends a WebAudio tone whose gain the test changes: loud, quiet, silent.
 *
 * Runs the BUILT @confab/media (`npm run build` first).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JSHandle } from 'playwright-core';
import { PortAllocator, readAudioLevel, WebRtcLeg } from '@confab/media';
import type { RtpPacket } from '@confab/media';
import { launchParticipant, type BrowserParticipant } from '../support/browser.js';
import { startStaticServer, type StaticServer } from '../support/static-server.js';

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>audio level</title></head><body>
<script>
window.startTone = async () => {
  // Granting the microphone lets Chromium expose host candidates (no mDNS names); the tone
  // itself comes from WebAudio so that the test can change its loudness.
  const mic = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
  mic.getTracks().forEach((track) => track.stop());
  const ctx = new AudioContext({ sampleRate: 48000 });
  await ctx.resume();
  const oscillator = ctx.createOscillator();
  oscillator.frequency.value = 700;
  const gain = ctx.createGain();
  gain.gain.value = 1;
  const destination = ctx.createMediaStreamDestination();
  oscillator.connect(gain).connect(destination);
  oscillator.start();
  const pc = new RTCPeerConnection();
  const [track] = destination.stream.getAudioTracks();
  pc.addTrack(track, destination.stream);
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') { resolve(); return; }
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { resolve(); }
    });
  });
  window.tone = { pc, gain };
  return pc.localDescription.sdp;
};
</script></body></html>`;

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

describe('RFC 6464 audio levels from Chromium', () => {
  let server: StaticServer;
  let participant: BrowserParticipant;
  let leg: WebRtcLeg | undefined;

  beforeAll(async () => {
    server = await startStaticServer({ pages: { '/': PAGE } });
    participant = await launchParticipant({ name: 'level' });
  });

  afterAll(async () => {
    await leg?.close();
    await participant?.close();
    await server?.close();
  });

  it('negotiates ssrc-audio-level with Chromium and receives levels that follow the tone’s loudness', async () => {
    const { page } = participant;
    await page.goto(server.origin + '/');
    const offer = await page.evaluate(() =>
      (window as unknown as { startTone(): Promise<string> }).startTone(),
    );
    expect(offer).toMatch(/a=extmap:\d+ urn:ietf:params:rtp-hdrext:ssrc-audio-level/);
    leg = WebRtcLeg.create({ portAllocator: new PortAllocator([26_500, 26_503]) });
    const received: { at: number; packet: RtpPacket }[] = [];
    leg.on('rtp', (packet) => received.push({ at: performance.now(), packet }));
    const answer = await leg.acceptOffer(offer);
    await page.evaluate(
      (sdp) =>
        (window as unknown as { tone: { pc: RTCPeerConnection } }).tone.pc.setRemoteDescription({
          type: 'answer',
          sdp,
        }),
      answer,
    );
    const id = leg.format.audioLevelExtensionId;
    expect(id).toBeDefined();
    const offeredId = Number(
      /a=extmap:(\d+) urn:ietf:params:rtp-hdrext:ssrc-audio-level/.exec(offer)![1],
    );
    expect(id).toBe(offeredId);

    const gain: JSHandle = await page.evaluateHandle(
      () => (window as unknown as { tone: { gain: GainNode } }).tone.gain,
    );
    /** Levels of the packets received during `ms` after a settling time, at gain `value`. */
    const levelsAt = async (value: number, ms = 1000): Promise<number[]> => {
      await gain.evaluate((node, v) => {
        (node as GainNode).gain.value = v;
      }, value);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const from = performance.now();
      await new Promise((resolve) => setTimeout(resolve, ms));
      return received
        .filter((entry) => entry.at >= from)
        .map((entry) => readAudioLevel(entry.packet.extension, id!)?.level)
        .filter((level): level is number => level !== undefined);
    };

    const loud = await levelsAt(1);
    const quiet = await levelsAt(0.01);
    const silent = await levelsAt(0);
    const summary = JSON.stringify({
      loud: loud.length,
      quiet: quiet.length,
      silent: silent.length,
      medians: [loud, quiet, silent].map((levels) => (levels.length ? median(levels) : null)),
    });
    // A full-scale sine is −3 dBov; at gain 0.01 it is −43 dBov (RFC 6464 §3: level = −dBov).
    expect(loud.length, summary).toBeGreaterThan(20);
    expect(quiet.length, summary).toBeGreaterThan(20);
    expect(silent.length, summary).toBeGreaterThan(20);
    expect(median(loud), summary).toBeLessThanOrEqual(10);
    expect(median(quiet), summary).toBeGreaterThanOrEqual(33);
    expect(median(quiet), summary).toBeLessThanOrEqual(53);
    expect(median(silent), summary).toBeGreaterThanOrEqual(100);
  });
});
