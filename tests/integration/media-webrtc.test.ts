// Runs the BUILT @confab/media (worker threads need JavaScript): `npx tsc -b packages/media` first.
import { afterEach, describe, expect, it } from 'vitest';
import { LocalMediaEngine, toneAmplitude, WorkerMediaEngine } from '@confab/media';
import type { LegStateEvent, MediaEngine } from '@confab/media';
import { RtpPhone, until, WebRtcClient } from './media-peers.js';

const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  // Clients first, so the engine sees them go while it still runs.
  for (const close of cleanup.splice(0).reverse()) {
    await close();
  }
});

// Private port ranges below the Linux ephemeral range (32768+), so that the OS never hands
// these ports to unrelated sockets while a test runs.
let nextRange = 25_000;
function range(pairs: number): [number, number] {
  const result: [number, number] = [nextRange, nextRange + pairs * 2 - 1];
  nextRange += pairs * 2;
  return result;
}

const engines: [string, () => MediaEngine][] = [
  ['LocalMediaEngine', () => new LocalMediaEngine({ portRange: range(16) })],
  ['WorkerMediaEngine', () => new WorkerMediaEngine({ workers: 2, portRange: range(16) })],
];

function track<T extends { close(): Promise<void> }>(resource: T): T {
  cleanup.push(() => resource.close());
  return resource;
}

/** Waits until the engine reported `connected` for every leg of `legIds`. */
function connectedLegs(engine: MediaEngine): (legIds: readonly string[]) => Promise<void> {
  const connected = new Set<string>();
  engine.on('legState', (event: LegStateEvent) => {
    if (event.state === 'connected') {
      connected.add(event.legId);
    }
  });
  return (legIds) => until(() => legIds.every((id) => connected.has(id)), 'legs connected');
}

describe.each(engines)('%s: media through the engine', (_name, createEngine) => {
  it('relays Opus between two WebRTC clients so that each hears the other’s tone', async () => {
    const engine = track(createEngine());
    const waitConnected = connectedLegs(engine);
    const alice = track(new WebRtcClient());
    const bob = track(new WebRtcClient());

    // Alice calls in (her offer), the server calls Bob (its offer).
    const { legId: a } = await engine.createLeg({ kind: 'webrtc', group: 'call-ab' });
    const { legId: b } = await engine.createLeg({ kind: 'webrtc', group: 'call-ab' });
    await alice.applyAnswer(await engine.acceptOffer(a, await alice.offer()));
    await engine.acceptAnswer(b, await bob.answer(await engine.createOffer(b)));
    await Promise.all([alice.connected(), bob.connected(), waitConnected([a, b])]);
    await engine.bridge(a, b);

    await Promise.all([alice.sendTone(440, 60), bob.sendTone(1300, 60)]);
    await until(() => alice.received.length >= 55 && bob.received.length >= 55, 'both tones');

    const atBob = bob.decoded();
    const atAlice = alice.decoded();
    expect(toneAmplitude(atBob, 48_000, 440)).toBeGreaterThan(5000);
    expect(toneAmplitude(atBob, 48_000, 1300)).toBeLessThan(500);
    expect(toneAmplitude(atAlice, 48_000, 1300)).toBeGreaterThan(5000);
    expect(toneAmplitude(atAlice, 48_000, 440)).toBeLessThan(500);
  });

  it('transcodes between a WebRTC client (Opus) and a plain RTP phone (PCMU)', async () => {
    const engine = track(createEngine());
    const waitConnected = connectedLegs(engine);
    const browser = track(new WebRtcClient());
    const phone = track(await RtpPhone.open(range(1)));

    const { legId: w } = await engine.createLeg({ kind: 'webrtc', group: 'call-wp' });
    const { legId: r } = await engine.createLeg({ kind: 'rtp', group: 'call-wp' });
    await browser.applyAnswer(await engine.acceptOffer(w, await browser.offer()));
    await engine.acceptAnswer(r, await phone.leg.acceptOffer(await engine.createOffer(r)));
    await Promise.all([browser.connected(), waitConnected([w, r])]);
    await engine.bridge(w, r);

    await Promise.all([browser.sendTone(440, 60), phone.sendTone(1000, 60)]);
    await until(() => browser.received.length >= 50 && phone.received.length >= 50, 'both tones');

    const atPhone = phone.decoded();
    const atBrowser = browser.decoded();
    expect(toneAmplitude(atPhone, 8000, 440)).toBeGreaterThan(4000);
    expect(toneAmplitude(atPhone, 8000, 1000)).toBeLessThan(400);
    expect(toneAmplitude(atBrowser, 48_000, 1000)).toBeGreaterThan(4000);
    expect(toneAmplitude(atBrowser, 48_000, 440)).toBeLessThan(400);
  });
});
