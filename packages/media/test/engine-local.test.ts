import { afterEach, describe, expect, it } from 'vitest';
import { isInvalidStateError } from '@confab/core';
import { toneAmplitude, ToneGenerator } from '../src/audio/goertzel.js';
import { decodeAlaw, decodeMulaw, encodeMulaw } from '../src/codec/g711.js';
import { LocalMediaEngine } from '../src/engine/local-engine.js';
import { isMediaError } from '../src/engine/errors.js';
import type { LegClosedEvent, LegDtmfEvent, LegStateEvent } from '../src/engine/types.js';
import { PortAllocator } from '../src/legs/port-allocator.js';
import { RtpLeg } from '../src/legs/rtp-leg.js';
import type { RtpPacket } from '../src/rtp/packet.js';
import { until } from './legs-fixtures.js';

const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((close) => close()));
});

// Private port ranges below the Linux ephemeral range (32768+), so that the OS never hands
// these ports to unrelated sockets while a test runs.
let nextRange = 23_000;
function range(pairs: number): [number, number] {
  const result: [number, number] = [nextRange, nextRange + pairs * 2 - 1];
  nextRange += pairs * 2;
  return result;
}

function createEngine(pairs = 8): LocalMediaEngine {
  const engine = new LocalMediaEngine({ portRange: range(pairs) });
  cleanup.push(() => engine.close());
  return engine;
}

/** A SIP phone's media stack, outside the engine. */
async function openPhone(codecs: readonly ('PCMU' | 'PCMA')[] = ['PCMU', 'PCMA']): Promise<RtpLeg> {
  const phone = await RtpLeg.open({ portAllocator: new PortAllocator(range(1)), codecs });
  cleanup.push(() => phone.close());
  return phone;
}

/** The phone calls in: its offer goes to the engine leg, whose answer comes back. */
async function callIn(engine: LocalMediaEngine, phone: RtpLeg, group: string): Promise<string> {
  const { legId } = await engine.createLeg({ kind: 'rtp', group });
  await phone.acceptAnswer(await engine.acceptOffer(legId, await phone.createOffer()));
  return legId;
}

/** The engine calls the phone: the engine offers, the phone answers. */
async function callOut(engine: LocalMediaEngine, phone: RtpLeg, group: string): Promise<string> {
  const { legId } = await engine.createLeg({ kind: 'rtp', group });
  await engine.acceptAnswer(legId, await phone.acceptOffer(await engine.createOffer(legId)));
  return legId;
}

async function sendTone(phone: RtpLeg, frequency: number, frames: number): Promise<void> {
  const tone = new ToneGenerator({ frequency, sampleRate: 8000, amplitude: 8000 });
  for (let i = 0; i < frames; i++) {
    phone.sendRtp(phone.output.writeGenerated(encodeMulaw(tone.next(160)), 0, 160));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function collect(phone: RtpLeg): RtpPacket[] {
  const packets: RtpPacket[] = [];
  phone.on('rtp', (packet) => packets.push(packet));
  return packets;
}

function isMediaCode(code: string): (error: unknown) => boolean {
  return (error) => isMediaError(error) && error.code === code;
}

describe('LocalMediaEngine', () => {
  it('relays a tone between two plain RTP phones through a bridge, each way', async () => {
    const engine = createEngine();
    const alice = await openPhone();
    const bob = await openPhone();
    const a = await callIn(engine, alice, 'call-1');
    const b = await callOut(engine, bob, 'call-1');
    await engine.bridge(a, b);
    const atAlice = collect(alice);
    const atBob = collect(bob);

    await Promise.all([sendTone(alice, 440, 25), sendTone(bob, 1300, 25)]);
    await until(() => atAlice.length >= 25 && atBob.length >= 25, 'both directions');

    const pcm = (packets: RtpPacket[]): Int16Array => {
      const out = new Int16Array(packets.length * 160);
      packets.forEach((p, i) => out.set(decodeMulaw(p.payload), i * 160));
      return out;
    };
    expect(toneAmplitude(pcm(atBob), 8000, 440)).toBeGreaterThan(4000);
    expect(toneAmplitude(pcm(atBob), 8000, 1300)).toBeLessThan(400);
    expect(toneAmplitude(pcm(atAlice), 8000, 1300)).toBeGreaterThan(4000);
    expect(toneAmplitude(pcm(atAlice), 8000, 440)).toBeLessThan(400);
    const stats = await engine.stats();
    expect(stats).toMatchObject({ legs: 2, bridges: 1, legsByKind: { rtp: 2, webrtc: 0 } });
    expect(stats.packetsReceived).toBe(50);
    expect(stats.packetsSent).toBe(50);
  });

  it('converts PCMU to PCMA when the two phones negotiated different G.711 laws', async () => {
    const engine = createEngine();
    const alice = await openPhone(['PCMU']);
    const bob = await openPhone(['PCMA']);
    const a = await callIn(engine, alice, 'call-2');
    const b = await callIn(engine, bob, 'call-2');
    await engine.bridge(a, b);
    const atBob = collect(bob);
    await sendTone(alice, 440, 10);
    await until(() => atBob.length >= 10, 'packets at bob');
    expect(atBob[0]!.payloadType).toBe(8);
    const pcm = new Int16Array(atBob.length * 160);
    atBob.forEach((p, i) => pcm.set(decodeAlaw(p.payload), i * 160));
    expect(toneAmplitude(pcm, 8000, 440)).toBeGreaterThan(4000);
  });

  it('re-routes a bridge when a re-offer changes the codec of one leg', async () => {
    const engine = createEngine();
    const alice = await openPhone();
    const bob = await openPhone();
    const a = await callIn(engine, alice, 'call-r');
    const b = await callIn(engine, bob, 'call-r');
    await engine.bridge(a, b);
    const atBob = collect(bob);
    await sendTone(alice, 440, 3);
    await until(() => atBob.length === 3, 'PCMU at bob');
    expect(atBob.map((p) => p.payloadType)).toEqual([0, 0, 0]);

    // Bob re-offers with PCMA only.
    const reoffer = (await bob.createOffer()).replace(/RTP\/AVP 0 8 101/, 'RTP/AVP 8 101');
    await bob.acceptAnswer(await engine.acceptOffer(b, reoffer));
    await sendTone(alice, 440, 3);
    await until(() => atBob.length === 6, 'PCMA at bob');
    expect(atBob.slice(3).map((p) => p.payloadType)).toEqual([8, 8, 8]);
    const pcm = new Int16Array(3 * 160);
    atBob.slice(3).forEach((p, i) => pcm.set(decodeAlaw(p.payload), i * 160));
    expect(toneAmplitude(pcm, 8000, 440)).toBeGreaterThan(4000);
  });

  it('mutes a leg server-side: its audio stops reaching the bridge, its DTMF and the other direction still flow', async () => {
    const engine = createEngine();
    const alice = await openPhone();
    const bob = await openPhone();
    const a = await callIn(engine, alice, 'call-m');
    const b = await callIn(engine, bob, 'call-m');
    await engine.bridge(a, b);
    const atAlice = collect(alice);
    const atBob = collect(bob);

    await engine.setMuted(a, true);
    await sendTone(alice, 440, 5);
    alice.sendRtp({
      marker: true,
      payloadType: 101,
      sequenceNumber: 900,
      timestamp: 5000,
      ssrc: alice.output.ssrc,
      csrcs: [],
      extension: undefined,
      payload: Uint8Array.of(5, 0x8a, 0x03, 0x20),
    });
    await sendTone(bob, 1300, 5);
    await until(() => atAlice.length >= 5 && atBob.length >= 1, 'bob audio and alice DTMF');
    expect(atBob.map((p) => p.payloadType)).toEqual([101]);

    await engine.setMuted(a, false);
    await sendTone(alice, 440, 5);
    await until(() => atBob.length >= 6, 'alice audio after unmute');
    expect(atBob.slice(1).every((p) => p.payloadType === 0)).toBe(true);
    // The muted stretch is not loss: the stream resumes at the next sequence number, marked.
    expect(atBob[1]).toMatchObject({
      marker: true,
      sequenceNumber: (atBob[0]!.sequenceNumber + 1) & 0xffff,
    });
  });

  it('holds a leg server-side: nothing is relayed from or to it until it is resumed', async () => {
    const engine = createEngine();
    const alice = await openPhone();
    const bob = await openPhone();
    const a = await callIn(engine, alice, 'call-h');
    const b = await callIn(engine, bob, 'call-h');
    await engine.setHeld(a, true);
    await engine.bridge(a, b);
    const atAlice = collect(alice);
    const atBob = collect(bob);

    await Promise.all([sendTone(alice, 440, 5), sendTone(bob, 1300, 5)]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(atAlice).toEqual([]);
    expect(atBob).toEqual([]);

    await engine.setHeld(a, false);
    await Promise.all([sendTone(alice, 440, 5), sendTone(bob, 1300, 5)]);
    await until(() => atAlice.length >= 5 && atBob.length >= 5, 'both directions after resume');
  });

  it('rejects setMuted/setHeld with a non-boolean or an unknown leg', async () => {
    const engine = createEngine();
    const { legId } = await engine.createLeg({ kind: 'rtp', group: 'g' });
    await expect(engine.setMuted(legId, 'yes' as unknown as boolean)).rejects.toBeInstanceOf(
      TypeError,
    );
    await expect(engine.setHeld('nope', true)).rejects.toSatisfy(
      isMediaCode('MEDIA_LEG_NOT_FOUND'),
    );
  });

  it('reports leg states, DTMF and closes with reasons', async () => {
    const engine = createEngine();
    const states: LegStateEvent[] = [];
    const dtmf: LegDtmfEvent[] = [];
    const closed: LegClosedEvent[] = [];
    engine.on('legState', (event) => states.push(event));
    engine.on('dtmf', (event) => dtmf.push(event));
    engine.on('legClosed', (event) => closed.push(event));
    const phone = await openPhone();
    const legId = await callIn(engine, phone, 'call-3');
    expect(states).toEqual([{ legId, state: 'connected' }]);

    for (const [seq, end] of [
      [1, false],
      [2, true],
      [3, true],
      [4, true],
    ] as const) {
      phone.sendRtp({
        marker: seq === 1,
        payloadType: 101,
        sequenceNumber: seq,
        timestamp: 1000,
        ssrc: 9,
        csrcs: [],
        extension: undefined,
        payload: Uint8Array.of(1, end ? 0x8a : 0x0a, 0x03, 0x20),
      });
    }
    await until(() => dtmf.length === 1, 'the digit');
    expect(dtmf).toEqual([{ legId, digit: '1', durationMs: 100 }]);

    await engine.closeLeg(legId);
    expect(closed).toEqual([{ legId, reason: 'closed' }]);
    await expect(engine.createOffer(legId)).rejects.toSatisfy(isMediaCode('MEDIA_LEG_NOT_FOUND'));
  });

  it('reports a leg failed when its remote party goes silent (mediaTimeoutMs)', async () => {
    const engine = new LocalMediaEngine({ portRange: range(4), mediaTimeoutMs: 100 });
    cleanup.push(() => engine.close());
    const states: LegStateEvent[] = [];
    engine.on('legState', (event) => states.push(event));
    const phone = await openPhone();
    const legId = await callIn(engine, phone, 'call-silent');
    await until(() => states.some((event) => event.state === 'failed'), 'the failure');
    expect(states).toEqual([
      { legId, state: 'connected' },
      { legId, state: 'failed' },
    ]);
  });

  it('closes every leg on close() with reason engine-closed, frees the ports and rejects later commands', async () => {
    const engine = createEngine();
    const closed: LegClosedEvent[] = [];
    engine.on('legClosed', (event) => closed.push(event));
    const { legId: a } = await engine.createLeg({ kind: 'rtp', group: 'g' });
    const { legId: b } = await engine.createLeg({ kind: 'webrtc', group: 'g' });
    await engine.createOffer(b);
    await engine.bridge(a, b);
    expect((await engine.stats()).portPairsInUse).toBe(2);

    await Promise.all([engine.close(), engine.close()]);
    expect(closed.map((event) => event.reason)).toEqual(['engine-closed', 'engine-closed']);
    expect(new Set(closed.map((event) => event.legId))).toEqual(new Set([a, b]));
    const stats = await engine.stats();
    expect(stats).toMatchObject({ legs: 0, bridges: 0, portPairsInUse: 0 });
    await expect(engine.createLeg({ kind: 'rtp', group: 'g' })).rejects.toSatisfy(
      isInvalidStateError,
    );
  });

  it('keeps legs open on unbridge and lets them join another bridge', async () => {
    const engine = createEngine();
    const { legId: a } = await engine.createLeg({ kind: 'rtp', group: 'g' });
    const { legId: b } = await engine.createLeg({ kind: 'rtp', group: 'g' });
    const { legId: c } = await engine.createLeg({ kind: 'rtp', group: 'g' });
    const { bridgeId } = await engine.bridge(a, b);
    await expect(engine.bridge(a, c)).rejects.toSatisfy(isMediaCode('MEDIA_LEG_BUSY'));
    await engine.unbridge(bridgeId);
    await expect(engine.unbridge(bridgeId)).rejects.toSatisfy(
      isMediaCode('MEDIA_BRIDGE_NOT_FOUND'),
    );
    await engine.bridge(a, c);
    expect((await engine.stats()).bridges).toBe(1);
  });

  it('closes a bridge once both of its legs are closed', async () => {
    const engine = createEngine();
    const { legId: a } = await engine.createLeg({ kind: 'rtp', group: 'g' });
    const { legId: b } = await engine.createLeg({ kind: 'rtp', group: 'g' });
    const { bridgeId } = await engine.bridge(a, b);
    await engine.closeLeg(a);
    expect((await engine.stats()).bridges).toBe(1);
    await engine.closeLeg(b);
    expect((await engine.stats()).bridges).toBe(0);
    await expect(engine.unbridge(bridgeId)).rejects.toSatisfy(
      isMediaCode('MEDIA_BRIDGE_NOT_FOUND'),
    );
  });

  it('rejects unusable SDP with MEDIA_SDP_INVALID and keeps the leg usable', async () => {
    const engine = createEngine();
    const { legId } = await engine.createLeg({ kind: 'rtp', group: 'g' });
    await expect(engine.acceptOffer(legId, 'v=0\r\nm=video 1 RTP/AVP 96\r\n')).rejects.toSatisfy(
      isMediaCode('MEDIA_SDP_INVALID'),
    );
    const phone = await openPhone();
    await expect(engine.acceptOffer(legId, await phone.createOffer())).resolves.toContain(
      'm=audio',
    );
  });

  it('fails with MEDIA_NO_PORTS when the range is exhausted', async () => {
    const engine = createEngine(1);
    await engine.createLeg({ kind: 'rtp', group: 'g' });
    await expect(engine.createLeg({ kind: 'webrtc', group: 'g' })).rejects.toSatisfy(
      isMediaCode('MEDIA_NO_PORTS'),
    );
  });

  it('rejects malformed commands with TypeError', async () => {
    const engine = createEngine();
    await expect(engine.createLeg({ kind: 'sctp' as 'rtp', group: 'g' })).rejects.toBeInstanceOf(
      TypeError,
    );
    await expect(engine.createLeg({ kind: 'rtp', group: '' })).rejects.toBeInstanceOf(TypeError);
    await expect(engine.createOffer(42 as unknown as string)).rejects.toBeInstanceOf(TypeError);
    await expect(engine.execute({ type: 'explode' } as never)).rejects.toBeInstanceOf(TypeError);
  });
});
