// Conference mixing through the engines with real plain RTP phones on loopback UDP. The worker
// engine runs the BUILT package: run `npx tsc -b packages/media` before these tests.
import { afterEach, describe, expect, it } from 'vitest';
import { isMediaError, WorkerMediaEngine } from '@confab/media';
import type { MediaEngine, MixerTalkingEvent } from '@confab/media';
import { toneAmplitude, ToneGenerator } from '../src/audio/goertzel.js';
import { decodeMulaw, encodeMulaw } from '../src/codec/g711.js';
import { LocalMediaEngine } from '../src/engine/local-engine.js';
import { PortAllocator } from '../src/legs/port-allocator.js';
import { RtpLeg } from '../src/legs/rtp-leg.js';
import type { RtpPacket } from '../src/rtp/packet.js';
import { until } from './legs-fixtures.js';

const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((close) => close()));
});

// Private port ranges below the Linux ephemeral range, distinct from the other test files.
let nextRange = 28_400;
function range(pairs: number): [number, number] {
  const result: [number, number] = [nextRange, nextRange + pairs * 2 - 1];
  nextRange += pairs * 2;
  return result;
}

async function openPhone(): Promise<RtpLeg> {
  const phone = await RtpLeg.open({ portAllocator: new PortAllocator(range(1)), codecs: ['PCMU'] });
  cleanup.push(() => phone.close());
  return phone;
}

async function callIn(engine: MediaEngine, phone: RtpLeg, group: string): Promise<string> {
  const { legId } = await engine.createLeg({ kind: 'rtp', group });
  await phone.acceptAnswer(await engine.acceptOffer(legId, await phone.createOffer()));
  return legId;
}

/** A phone talking: one 20 ms PCMU frame of a tone every 20 ms, until stopped. */
function talk(phone: RtpLeg, frequency: number): () => void {
  const tone = new ToneGenerator({ frequency, sampleRate: 8000, amplitude: 8000 });
  const timer = setInterval(() => {
    phone.sendRtp(phone.output.writeGenerated(encodeMulaw(tone.next(160)), 0, 160));
  }, 20);
  const stop = (): void => clearInterval(timer);
  cleanup.push(() => {
    stop();
    return Promise.resolve();
  });
  return stop;
}

function collect(phone: RtpLeg): RtpPacket[] {
  const packets: RtpPacket[] = [];
  phone.on('rtp', (packet) => packets.push(packet));
  return packets;
}

/**
 * Amplitude of `frequency` in each 80 ms segment of the last 24 packets received (sequence
 * order). Segments, not one window, so that a scheduling hiccup of this loaded test machine
 * (a 20 ms hole) spoils one reading instead of the whole measurement.
 */
function segmentAmplitudes(packets: RtpPacket[], frequency: number): number[] {
  const recent = packets.slice(-24).sort((a, b) => a.sequenceNumber - b.sequenceNumber);
  const amplitudes: number[] = [];
  for (let at = 0; at + 4 <= recent.length; at += 4) {
    const pcm = new Int16Array(4 * 160);
    recent.slice(at, at + 4).forEach((p, i) => pcm.set(decodeMulaw(p.payload), i * 160));
    amplitudes.push(toneAmplitude(pcm, 8000, frequency));
  }
  return amplitudes;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

/** Heard: the tone (amplitude 8000 at the source) is there in most segments. */
function heardLevel(packets: RtpPacket[], frequency: number): number {
  return median(segmentAmplitudes(packets, frequency));
}

/** Not heard: the tone is absent from every segment. */
function leakLevel(packets: RtpPacket[], frequency: number): number {
  return Math.max(...segmentAmplitudes(packets, frequency));
}

const TONES = [440, 700, 1100] as const;

/** Three phones in one mixer, each talking on its own tone; returns what each heard. */
async function threeParties(engine: MediaEngine, group: (i: number) => string) {
  const phones = [await openPhone(), await openPhone(), await openPhone()];
  const legs: string[] = [];
  for (let i = 0; i < 3; i++) {
    legs.push(await callIn(engine, phones[i]!, group(i)));
  }
  const heard = phones.map(collect);
  const talking: MixerTalkingEvent[] = [];
  engine.on('mixerTalking', (event) => talking.push(event));
  const stops = phones.map((phone, i) => talk(phone, TONES[i]!));
  return { phones, legs, heard, talking, stops };
}

function expectHearsOthersOnly(heard: RtpPacket[][]): void {
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      if (i === j) {
        expect(leakLevel(heard[i]!, TONES[j]!), `party ${i} hears itself`).toBeLessThan(300);
      } else {
        expect(heardLevel(heard[i]!, TONES[j]!), `party ${i} hears party ${j}`).toBeGreaterThan(
          6000,
        );
      }
    }
  }
}

describe('LocalMediaEngine mixers', { timeout: 20_000 }, () => {
  it('three phones in a mixer each hear the two others and not themselves', async () => {
    const engine = new LocalMediaEngine({ portRange: range(6) });
    cleanup.push(() => engine.close());
    const { legs, heard, talking } = await threeParties(engine, () => 'conf-1');
    // Two of them were in a call first: joining the mixer dissolves their relay bridge.
    const closedBridges: string[] = [];
    engine.on('bridgeClosed', (event) => closedBridges.push(event.bridgeId));
    const { bridgeId } = await engine.bridge(legs[0]!, legs[1]!);

    const { mixerId } = await engine.createMixer('conf-1');
    for (const legId of legs) {
      await engine.addToMixer(mixerId, legId);
    }
    await engine.addToMixer(mixerId, legs[0]!); // idempotent
    expect(closedBridges).toEqual([bridgeId]);
    expect(await engine.stats()).toMatchObject({ bridges: 0, mixers: 1, mixerParticipants: 3 });

    const mark = heard.map((packets) => packets.length);
    await until(() => heard.every((p, i) => p.length >= mark[i]! + 50), 'mixed audio', 8000);
    expectHearsOthersOnly(heard);
    expect(new Set(talking.filter((e) => e.talking).map((e) => e.legId))).toEqual(new Set(legs));
    expect(talking.every((e) => e.mixerId === mixerId)).toBe(true);
  });

  it("startMixer mixes at once while no mixer ticked, with a moved leg's last relayed packet", async () => {
    const engine = new LocalMediaEngine({ portRange: range(4) });
    cleanup.push(() => engine.close());
    const talker = await openPhone();
    const listener = await openPhone();
    const talkerLeg = await callIn(engine, talker, 'g');
    const listenerLeg = await callIn(engine, listener, 'g');
    await engine.bridge(talkerLeg, listenerLeg);
    const heard = collect(listener);
    const tone = new ToneGenerator({ frequency: 440, sampleRate: 8000, amplitude: 8000 });
    // One packet, relayed: the engine's talker leg received it just now.
    talker.sendRtp(talker.output.writeGenerated(encodeMulaw(tone.next(160)), 0, 160));
    await until(() => heard.length === 1, 'the relayed packet');

    // No timer can fire between these steps (the local engine answers in microtasks).
    const { mixerId } = await engine.createMixer('g');
    await engine.addToMixer(mixerId, talkerLeg);
    await engine.addToMixer(mixerId, listenerLeg);
    const before = engine.stats();
    const started = engine.startMixer(mixerId);
    const after = engine.stats();
    await started;
    // The first tick ran inside startMixer: one packet to each leg.
    expect((await after).packetsSent - (await before).packetsSent).toBe(2);

    await until(() => heard.length === 2, 'the first mixed packet');
    // The talker sent nothing since: the mix carries its primed last packet.
    expect(toneAmplitude(decodeMulaw(heard[1]!.payload), 8000, 440)).toBeGreaterThan(4000);
    expect(heard[1]!.marker).toBe(true);
    expect(heard[1]!.ssrc).toBe(heard[0]!.ssrc);
    expect(heard[1]!.sequenceNumber).toBe((heard[0]!.sequenceNumber + 1) & 0xffff);

    // Once the engine's mixers tick, the phase is set: startMixer does not tick again.
    const again = engine.stats();
    const restarted = engine.startMixer(mixerId);
    const afterAgain = engine.stats();
    await restarted;
    expect((await afterAgain).packetsSent).toBe((await again).packetsSent);
  });

  it('a muted leg is not heard and never talks; it still hears the others', async () => {
    const engine = new LocalMediaEngine({ portRange: range(6) });
    cleanup.push(() => engine.close());
    const { legs, heard, talking } = await threeParties(engine, () => 'conf-2');
    const { mixerId } = await engine.createMixer('conf-2');
    await engine.setMuted(legs[2]!, true);
    for (const legId of legs) {
      await engine.addToMixer(mixerId, legId);
    }
    const mark = heard.map((packets) => packets.length);
    await until(() => heard.every((p, i) => p.length >= mark[i]! + 50), 'mixed audio', 8000);
    expect(leakLevel(heard[0]!, TONES[2])).toBeLessThan(300);
    expect(leakLevel(heard[1]!, TONES[2])).toBeLessThan(300);
    expect(heardLevel(heard[2]!, TONES[0])).toBeGreaterThan(6000);
    expect(heardLevel(heard[2]!, TONES[1])).toBeGreaterThan(6000);
    expect(talking.some((e) => e.legId === legs[2])).toBe(false);
  });

  it('closing a mixer leaves its legs open and free to be bridged again; closeLeg leaves a mixer', async () => {
    const engine = new LocalMediaEngine({ portRange: range(6) });
    cleanup.push(() => engine.close());
    const { legs } = await threeParties(engine, () => 'conf-3');
    const closed: string[] = [];
    engine.on('mixerClosed', (event) => closed.push(event.mixerId));
    const { mixerId } = await engine.createMixer('conf-3');
    for (const legId of legs) {
      await engine.addToMixer(mixerId, legId);
    }
    await expect(engine.bridge(legs[0]!, legs[1]!)).rejects.toSatisfy(
      (error) => isMediaError(error) && error.code === 'MEDIA_LEG_BUSY',
    );
    await engine.closeLeg(legs[2]!);
    expect(await engine.stats()).toMatchObject({ legs: 2, mixerParticipants: 2 });
    await engine.removeFromMixer(mixerId, legs[1]!);
    expect(await engine.stats()).toMatchObject({ mixerParticipants: 1 });
    await engine.closeMixer(mixerId);
    await engine.closeMixer(mixerId); // idempotent
    expect(closed).toEqual([mixerId]);
    await expect(engine.addToMixer(mixerId, legs[0]!)).rejects.toSatisfy(
      (error) => isMediaError(error) && error.code === 'MEDIA_MIXER_NOT_FOUND',
    );
    await expect(engine.addToMixer('nope', 'nope')).rejects.toSatisfy(
      (error) => isMediaError(error) && error.code === 'MEDIA_MIXER_NOT_FOUND',
    );
    const { mixerId: other } = await engine.createMixer('conf-3');
    await expect(engine.addToMixer(other, 'nope')).rejects.toSatisfy(
      (error) => isMediaError(error) && error.code === 'MEDIA_LEG_NOT_FOUND',
    );
    await engine.bridge(legs[0]!, legs[1]!);
    expect(await engine.stats()).toMatchObject({ legs: 2, bridges: 1, mixers: 1 });
    await engine.close();
    expect(closed).toEqual([mixerId, other]);
  });
});

describe('WorkerMediaEngine mixers', { timeout: 20_000 }, () => {
  function createEngine(): WorkerMediaEngine {
    const engine = new WorkerMediaEngine({ workers: 2, portRange: range(16) });
    cleanup.push(() => engine.close());
    return engine;
  }

  it('mixes three phones whose legs and mixer share a group', async () => {
    const engine = createEngine();
    const { legs, heard, talking } = await threeParties(engine, () => 'conf-w');
    const { mixerId } = await engine.createMixer('conf-w');
    for (const legId of legs) {
      await engine.addToMixer(mixerId, legId);
    }
    const mark = heard.map((packets) => packets.length);
    await until(() => heard.every((p, i) => p.length >= mark[i]! + 50), 'mixed audio', 8000);
    expectHearsOthersOnly(heard);
    expect(new Set(talking.filter((e) => e.talking).map((e) => e.legId))).toEqual(new Set(legs));
    expect(await engine.stats()).toMatchObject({ mixers: 1, mixerParticipants: 3 });
    const closed: string[] = [];
    engine.on('mixerClosed', (event) => closed.push(event.mixerId));
    await engine.closeMixer(mixerId);
    await until(() => closed.length === 1, 'mixerClosed');
    await engine.closeMixer(mixerId);
    await expect(engine.removeFromMixer(mixerId, legs[0]!)).rejects.toSatisfy(
      (error) => isMediaError(error) && error.code === 'MEDIA_MIXER_NOT_FOUND',
    );
  });

  it('takes a leg of another worker than the mixer (through a tunnel, see worker-mixer.test.ts)', async () => {
    const engine = createEngine();
    const { mixerId } = await engine.createMixer('group-0');
    const mixerWorker = (await engine.stats()).workers!.findIndex((w) => w.mixers === 1);
    for (let i = 1; i < 64; i++) {
      const { legId } = await engine.createLeg({ kind: 'rtp', group: `group-${i}` });
      const workers = (await engine.stats()).workers!;
      if (workers[mixerWorker]!.legs === 0) {
        await engine.addToMixer(mixerId, legId);
        const after = await engine.stats();
        expect(after.mixerParticipants).toBe(1);
        expect(after.workers![mixerWorker]!.legs).toBe(0);
        return;
      }
      await engine.closeLeg(legId);
    }
    throw new Error('all groups hashed to one worker');
  });
});
