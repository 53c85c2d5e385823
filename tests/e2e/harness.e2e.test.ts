/**
 * Self-test of the real-peer harness, with no Confab server: each Chromium plays its own tone
 * file as its fake microphone, sends it over two RTCPeerConnections connected in the same page,
 * and the in-page probe must find that tone (and not the other participant's) in the received
 * stream. If this fails, no e2e result of the call tests can be trusted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import type { JSHandle } from 'playwright-core';
import {
  inboundAudioStats,
  launchParticipant,
  measureStreamTones,
  type BrowserParticipant,
} from '../support/browser.js';
import { startStaticServer, type StaticServer } from '../support/static-server.js';
import { makeToneDir, writeToneWav } from '../support/tones.js';

const LOW = 500;
const HIGH = 1300;

const LOOPBACK_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>loopback</title></head><body>
<script>
window.startLoopback = async () => {
  const local = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
  const sender = new RTCPeerConnection();
  const receiver = new RTCPeerConnection();
  sender.onicecandidate = (e) => { if (e.candidate) { receiver.addIceCandidate(e.candidate); } };
  receiver.onicecandidate = (e) => { if (e.candidate) { sender.addIceCandidate(e.candidate); } };
  const remote = new Promise((resolve) => {
    receiver.ontrack = (e) => resolve(e.streams[0] || new MediaStream([e.track]));
  });
  for (const track of local.getTracks()) { sender.addTrack(track, local); }
  const offer = await sender.createOffer();
  await sender.setLocalDescription(offer);
  await receiver.setRemoteDescription(offer);
  const answer = await receiver.createAnswer();
  await receiver.setLocalDescription(answer);
  await sender.setRemoteDescription(answer);
  window.loopback = { sender, receiver, remote: await remote };
  return true;
};
</script></body></html>`;

describe('real-peer harness (Chromium, no server)', () => {
  let toneDir: string;
  let server: StaticServer;
  const participants: BrowserParticipant[] = [];

  beforeAll(async () => {
    toneDir = makeToneDir();
    server = await startStaticServer({ pages: { '/': LOOPBACK_PAGE } });
  });

  afterAll(async () => {
    await Promise.all(participants.map((p) => p.close()));
    await server?.close();
    rmSync(toneDir, { recursive: true, force: true });
  });

  async function loopback(
    name: string,
    frequency: number,
  ): Promise<{ p: BrowserParticipant; remote: JSHandle; receiver: JSHandle }> {
    const p = await launchParticipant({ name, toneWav: writeToneWav(toneDir, frequency) });
    participants.push(p);
    await p.page.goto(server.origin + '/');
    await p.page.evaluate(() =>
      (window as unknown as { startLoopback(): Promise<boolean> }).startLoopback(),
    );
    const remote = await p.page.evaluateHandle(
      () => (window as unknown as { loopback: { remote: MediaStream } }).loopback.remote,
    );
    const receiver = await p.page.evaluateHandle(
      () => (window as unknown as { loopback: { receiver: RTCPeerConnection } }).loopback.receiver,
    );
    return { p, remote, receiver };
  }

  it.each([
    ['low', LOW, HIGH],
    ['high', HIGH, LOW],
  ])(
    'a page whose fake microphone plays %s tone hears that tone over WebRTC and not the other',
    async (name, own, other) => {
      const { p, remote, receiver } = await loopback(name, own);
      // Let the jitter buffer fill before measuring.
      await measureStreamTones(p.page, remote, [own, other], 500);
      const report = await measureStreamTones(p.page, remote, [own, other], 2000);
      expect(report.dominant, JSON.stringify(report) + p.logs.join('\n')).toBe(own);
      expect(report.powers[own]!).toBeGreaterThan(1e-3);
      expect(report.powers[own]!).toBeGreaterThan(100 * report.powers[other]!);

      const stats = await inboundAudioStats(p.page, receiver);
      expect(stats).not.toBeNull();
      expect(stats!.packetsReceived).toBeGreaterThan(0);
      expect(stats!.totalAudioEnergy).toBeGreaterThan(0);
    },
  );

  it('reports silence (no dominant tone) for a stream that carries no audio', async () => {
    const p = participants[0]!;
    const silent = await p.page.evaluateHandle(() => {
      const ctx = new AudioContext();
      return ctx.createMediaStreamDestination().stream;
    });
    const report = await measureStreamTones(p.page, silent, [LOW, HIGH], 500);
    expect(report.dominant).toBeNull();
  });
});
