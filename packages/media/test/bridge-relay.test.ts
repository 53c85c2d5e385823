import { InvalidStateError } from '@confab/core';
import { describe, expect, it } from 'vitest';
import { ToneGenerator, toneAmplitude } from '../src/audio/goertzel.js';
import { RelayBridge, type RelayBridgeState } from '../src/bridge/relay-bridge.js';
import { decodeAlaw, decodeMulaw, encodeMulaw } from '../src/codec/g711.js';
import { OpusDecoder, OpusEncoder } from '../src/codec/opus.js';
import { parseTelephoneEvent, serializeTelephoneEvent } from '../src/dtmf/telephone-event.js';
import { audioLevelElement, serializeHeaderExtensions } from '../src/rtp/extensions.js';
import type { RtpPacket } from '../src/rtp/packet.js';
import { FakePort, OPUS, PCMA, PCMU, RtpSource, TestClock, format } from './bridge-fixtures.js';

const PAYLOAD = Uint8Array.from({ length: 160 }, (_, i) => i);

function setup(
  a = format(PCMU),
  b = format(PCMU),
): { clock: TestClock; bridge: RelayBridge; alice: FakePort; bob: FakePort } {
  const clock = new TestClock();
  const bridge = new RelayBridge({ id: 'br-1', clock });
  const alice = new FakePort('alice', a, clock, 0xa11ce);
  const bob = new FakePort('bob', b, clock, 0xb0b);
  bridge.add(alice);
  bridge.add(bob);
  return { clock, bridge, alice, bob };
}

describe('RelayBridge: same-codec forwarding', () => {
  it('forwards the payload bytes untouched under the receiving leg’s SSRC and numbering', () => {
    const { bridge, alice, bob } = setup();
    const source = new RtpSource({
      ssrc: 0x1234,
      payloadType: 0,
      samplesPerPacket: 160,
      sequenceNumber: 7,
      timestamp: 999,
    });
    const packet = source.next(PAYLOAD);
    bridge.receive('alice', packet);
    expect(alice.sent).toHaveLength(0);
    expect(bob.sent).toHaveLength(1);
    expect(bob.last.payload).toBe(packet.payload);
    expect(bob.last).toMatchObject({
      ssrc: 0xb0b,
      sequenceNumber: 1000,
      timestamp: 50_000,
      payloadType: 0,
    });
  });

  it('strips the source’s header extensions (their RFC 8285 ids belong to the source leg)', () => {
    const { bridge, bob } = setup(
      { ...format(PCMU), audioLevelExtensionId: 1 },
      { ...format(PCMU), audioLevelExtensionId: 3 },
    );
    const source = new RtpSource({ ssrc: 0x1234, payloadType: 0, samplesPerPacket: 160 });
    const packet = {
      ...source.next(PAYLOAD),
      extension: serializeHeaderExtensions([audioLevelElement(1, 20, true)]),
      csrcs: [7],
    };
    bridge.receive('alice', packet);
    expect(bob.last.extension).toBeUndefined();
    expect(bob.last.csrcs).toEqual([]);
    expect(bob.last.payload).toBe(packet.payload);
  });

  it('maps the payload type to the receiving leg’s number for the same codec', () => {
    const { bridge, bob } = setup(
      format({ ...OPUS, payloadType: 111 }),
      format({ ...OPUS, payloadType: 109 }),
    );
    const source = new RtpSource({ ssrc: 1, payloadType: 111, samplesPerPacket: 960 });
    const packet = source.next(PAYLOAD);
    bridge.receive('alice', packet);
    expect(bob.last.payloadType).toBe(109);
    expect(bob.last.payload).toBe(packet.payload);
    expect(packet.payloadType).toBe(111);
  });

  it('forwards both directions independently', () => {
    const { bridge, alice, bob } = setup();
    const fromAlice = new RtpSource({ ssrc: 1, payloadType: 0, samplesPerPacket: 160 });
    const fromBob = new RtpSource({ ssrc: 2, payloadType: 0, samplesPerPacket: 160 });
    for (let i = 0; i < 3; i++) {
      bridge.receive('alice', fromAlice.next(PAYLOAD));
      bridge.receive('bob', fromBob.next(PAYLOAD));
    }
    expect(bob.sent.map((p) => p.ssrc)).toEqual([0xb0b, 0xb0b, 0xb0b]);
    expect(alice.sent.map((p) => p.ssrc)).toEqual([0xa11ce, 0xa11ce, 0xa11ce]);
    expect(alice.sent.map((p) => p.sequenceNumber)).toEqual([1000, 1001, 1002]);
  });

  it('keeps the receiving side contiguous when the other leg is replaced: seq + 1, timestamp advanced by the elapsed time', () => {
    const { clock, bridge, bob } = setup();
    const alice = new RtpSource({
      ssrc: 0xaaaa,
      payloadType: 0,
      samplesPerPacket: 160,
      sequenceNumber: 500,
      timestamp: 12_345,
    });
    for (let i = 0; i < 5; i++) {
      bridge.receive('alice', alice.next(PAYLOAD));
      clock.advance(20);
    }
    const before = bob.last;
    expect(before).toMatchObject({ sequenceNumber: 1004, timestamp: 50_000 + 4 * 160 });

    bridge.remove('alice');
    clock.advance(2980); // three seconds after Alice's last packet, Carol is connected
    const carolPort = new FakePort('carol', format(PCMU), clock, 0xca201);
    bridge.add(carolPort);
    const carol = new RtpSource({
      ssrc: 0xcccc,
      payloadType: 0,
      samplesPerPacket: 160,
      sequenceNumber: 62_000,
      timestamp: 4_000_000_000,
    });
    bridge.receive('carol', carol.next(PAYLOAD));
    expect(bob.last).toMatchObject({
      ssrc: 0xb0b,
      sequenceNumber: before.sequenceNumber + 1,
      timestamp: before.timestamp + 3000 * 8,
      marker: true,
    });
    clock.advance(20);
    bridge.receive('carol', carol.next(PAYLOAD));
    expect(bob.last).toMatchObject({
      sequenceNumber: before.sequenceNumber + 2,
      timestamp: before.timestamp + 3000 * 8 + 160,
      marker: false,
    });
  });

  it('treats a new SSRC from the same leg as a new source', () => {
    const { clock, bridge, bob } = setup();
    const first = new RtpSource({ ssrc: 1, payloadType: 0, samplesPerPacket: 160 });
    bridge.receive('alice', first.next(PAYLOAD));
    clock.advance(40);
    const restarted = new RtpSource({
      ssrc: 2,
      payloadType: 0,
      samplesPerPacket: 160,
      timestamp: 777_777,
    });
    bridge.receive('alice', restarted.next(PAYLOAD));
    expect(bob.last).toMatchObject({ sequenceNumber: 1001, timestamp: 50_000 + 320, marker: true });
  });

  it('sends nothing to a port that does not want media, and resumes without a gap', () => {
    const { clock, bridge, bob } = setup();
    const alice = new RtpSource({ ssrc: 1, payloadType: 0, samplesPerPacket: 160 });
    bridge.receive('alice', alice.next(PAYLOAD));
    bob.wantsMedia = false;
    for (let i = 0; i < 50; i++) {
      clock.advance(20);
      bridge.receive('alice', alice.next(PAYLOAD));
    }
    expect(bob.sent).toHaveLength(1);
    bob.wantsMedia = true;
    clock.advance(20);
    bridge.receive('alice', alice.next(PAYLOAD));
    expect(bob.sent).toHaveLength(2);
    expect(bob.last).toMatchObject({
      sequenceNumber: 1001,
      timestamp: 50_000 + 51 * 160,
      marker: true,
    });
  });

  it('drops payload types the sending leg did not negotiate for audio or events (e.g. comfort noise)', () => {
    const { bridge, bob } = setup();
    const alice = new RtpSource({ ssrc: 1, payloadType: 13, samplesPerPacket: 160 });
    bridge.receive('alice', alice.next(new Uint8Array([0x40])));
    bridge.receive(
      'mallory',
      new RtpSource({ ssrc: 1, payloadType: 0, samplesPerPacket: 160 }).next(PAYLOAD),
    );
    expect(bob.sent).toHaveLength(0);
    expect(bridge.portStats('alice')).toMatchObject({ received: 1, forwarded: 0 });
  });

  it('drops packets while alone', () => {
    const clock = new TestClock();
    const bridge = new RelayBridge({ id: 'solo', clock });
    const alice = new FakePort('alice', format(PCMU), clock);
    bridge.add(alice);
    bridge.receive(
      'alice',
      new RtpSource({ ssrc: 1, payloadType: 0, samplesPerPacket: 160 }).next(PAYLOAD),
    );
    expect(alice.sent).toHaveLength(0);
    expect(bridge.portStats('alice')).toMatchObject({ received: 1, lastReceivedAt: clock.now() });
  });
});

describe('RelayBridge: PCMU ↔ PCMA', () => {
  it('converts octets one to one on the source timeline', () => {
    const { bridge, bob } = setup(format(PCMU), format(PCMA));
    const tone = new ToneGenerator({ frequency: 1000, sampleRate: 8000, amplitude: 8000 });
    const alice = new RtpSource({ ssrc: 1, payloadType: 0, samplesPerPacket: 160 });
    const pcm = tone.next(160);
    bridge.receive('alice', alice.next(encodeMulaw(pcm)));
    expect(bob.last).toMatchObject({ payloadType: 8, sequenceNumber: 1000, timestamp: 50_000 });
    const decoded = decodeAlaw(bob.last.payload);
    expect(toneAmplitude(decoded, 8000, 1000)).toBeGreaterThan(7600);
  });
});

/** Sends `seconds` of a tone from `port` in 20 ms packets; returns what the other side got. */
function sendTone(
  bridge: RelayBridge,
  clock: TestClock,
  fromId: string,
  encode: (pcm: Int16Array) => Uint8Array,
  source: RtpSource,
  sampleRate: number,
  frequency: number,
  seconds: number,
): void {
  const tone = new ToneGenerator({ frequency, sampleRate, amplitude: 8000 });
  for (let i = 0; i < seconds * 50; i++) {
    bridge.receive(fromId, source.next(encode(tone.next(sampleRate / 50))));
    clock.advance(20);
  }
}

function concat(chunks: Int16Array[]): Int16Array {
  const out = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

describe('RelayBridge: PCMU ↔ Opus transcoding', () => {
  it('carries a 440 Hz tone from a G.711 leg to an Opus leg', () => {
    const { clock, bridge, bob } = setup(format(PCMU), format(OPUS));
    const alice = new RtpSource({ ssrc: 1, payloadType: 0, samplesPerPacket: 160 });
    sendTone(bridge, clock, 'alice', (pcm) => encodeMulaw(pcm), alice, 8000, 440, 1);
    expect(bob.sent.length).toBeGreaterThanOrEqual(49);
    const timestamps = bob.sent.map((p) => p.timestamp - bob.sent[0]!.timestamp);
    expect(timestamps.slice(0, 4)).toEqual([0, 960, 1920, 2880]);
    expect(bob.sent.every((p) => p.payloadType === 111 && p.ssrc === 0xb0b)).toBe(true);
    const decoder = new OpusDecoder({ sampleRate: 48000 });
    const pcm = concat(bob.sent.map((p) => decoder.decode(p.payload)!.slice()));
    // Skip codec start-up; measure 0.5 s (220 whole periods).
    const start = 9600;
    expect(toneAmplitude(pcm, 48000, 440, start, start + 24000)).toBeGreaterThan(5000);
    expect(toneAmplitude(pcm, 48000, 1000, start, start + 24000)).toBeLessThan(500);
  });

  it('carries a 440 Hz tone from an Opus leg to a G.711 leg', () => {
    const { clock, bridge, alice } = setup(format(PCMU), format(OPUS));
    const encoder = new OpusEncoder({ sampleRate: 48000 });
    const bob = new RtpSource({ ssrc: 2, payloadType: 111, samplesPerPacket: 960 });
    sendTone(bridge, clock, 'bob', (pcm) => encoder.encode(pcm), bob, 48000, 440, 1);
    expect(alice.sent.length).toBeGreaterThanOrEqual(49);
    expect(alice.sent.every((p) => p.payloadType === 0 && p.payload.length === 160)).toBe(true);
    const pcm = concat(alice.sent.map((p) => decodeMulaw(p.payload)));
    const start = 1600;
    expect(toneAmplitude(pcm, 8000, 440, start, start + 4000)).toBeGreaterThan(5000);
    expect(toneAmplitude(pcm, 8000, 1000, start, start + 4000)).toBeLessThan(500);
  });

  it('transcodes both directions at once without crosstalk', () => {
    const { clock, bridge, alice, bob } = setup(format(PCMU), format(OPUS));
    const fromAlice = new RtpSource({ ssrc: 1, payloadType: 0, samplesPerPacket: 160 });
    const fromBob = new RtpSource({ ssrc: 2, payloadType: 111, samplesPerPacket: 960 });
    const encoder = new OpusEncoder({ sampleRate: 48000 });
    const toneA = new ToneGenerator({ frequency: 440, sampleRate: 8000, amplitude: 8000 });
    const toneB = new ToneGenerator({ frequency: 1000, sampleRate: 48000, amplitude: 8000 });
    for (let i = 0; i < 50; i++) {
      bridge.receive('alice', fromAlice.next(encodeMulaw(toneA.next(160))));
      bridge.receive('bob', fromBob.next(encoder.encode(toneB.next(960))));
      clock.advance(20);
    }
    const decoder = new OpusDecoder({ sampleRate: 48000 });
    const atBob = concat(bob.sent.map((p) => decoder.decode(p.payload)!.slice()));
    const atAlice = concat(alice.sent.map((p) => decodeMulaw(p.payload)));
    expect(toneAmplitude(atBob, 48000, 440, 9600, 33600)).toBeGreaterThan(5000);
    expect(toneAmplitude(atBob, 48000, 1000, 9600, 33600)).toBeLessThan(500);
    expect(toneAmplitude(atAlice, 8000, 1000, 1600, 5600)).toBeGreaterThan(5000);
    expect(toneAmplitude(atAlice, 8000, 440, 1600, 5600)).toBeLessThan(500);
  });
});

describe('RelayBridge: telephone-events (RFC 4733)', () => {
  function event(code: number, duration: number, end = false): Uint8Array {
    return serializeTelephoneEvent({ event: code, end, volume: 10, duration });
  }

  it('relays events with the receiving leg’s payload type on the audio timeline', () => {
    const { bridge, bob } = setup(
      format(PCMU, { payloadType: 101, clockRate: 8000 }),
      format(PCMU, { payloadType: 126, clockRate: 8000 }),
    );
    const alice = new RtpSource({
      ssrc: 1,
      payloadType: 0,
      samplesPerPacket: 160,
      timestamp: 8000,
    });
    bridge.receive('alice', alice.next(PAYLOAD));
    const start = alice.timestamp;
    bridge.receive('alice', alice.at(event(5, 160), start, true, 101));
    bridge.receive('alice', alice.at(event(5, 320), start, false, 101));
    bridge.receive('alice', alice.at(event(5, 480, true), start, false, 101));
    const events = bob.sent.slice(1);
    expect(events.map((p) => p.payloadType)).toEqual([126, 126, 126]);
    expect(events.map((p) => p.timestamp)).toEqual([50_160, 50_160, 50_160]);
    expect(events.map((p) => p.sequenceNumber)).toEqual([1001, 1002, 1003]);
    expect(events[0]!.marker).toBe(true);
    expect(events.map((p) => parseTelephoneEvent(p.payload)!.duration)).toEqual([160, 320, 480]);
  });

  it('rescales event durations from 8 kHz to 48 kHz and maps the payload type while transcoding', () => {
    const { clock, bridge, bob } = setup(
      format(PCMU, { payloadType: 101, clockRate: 8000 }),
      format(OPUS, { payloadType: 110, clockRate: 48000 }),
    );
    const alice = new RtpSource({ ssrc: 1, payloadType: 0, samplesPerPacket: 160 });
    for (let i = 0; i < 3; i++) {
      bridge.receive('alice', alice.next(encodeMulaw(new Int16Array(160))));
      clock.advance(20);
    }
    const audioBefore = bob.sent.length;
    const start = alice.timestamp;
    const durations = [160, 320, 480, 640];
    for (const duration of durations) {
      bridge.receive('alice', alice.at(event(11, duration), start, duration === 160, 101));
      clock.advance(20);
    }
    for (let i = 0; i < 3; i++) {
      bridge.receive('alice', alice.at(event(11, 800, true), start, false, 101));
    }
    const events = bob.sent.slice(audioBefore).filter((p) => p.payloadType === 110);
    expect(events).toHaveLength(7);
    expect(events.map((p) => parseTelephoneEvent(p.payload)!.duration)).toEqual([
      960, 1920, 2880, 3840, 4800, 4800, 4800,
    ]);
    expect(events.map((p) => parseTelephoneEvent(p.payload)!.event)).toEqual([
      11, 11, 11, 11, 11, 11, 11,
    ]);
    expect(new Set(events.map((p) => p.timestamp)).size).toBe(1);
    expect(events.map((p) => p.marker)).toEqual([true, false, false, false, false, false, false]);
    // The event starts where the next audio frame would, after the three frames already sent.
    expect(events[0]!.timestamp).toBe(bob.sent[audioBefore - 1]!.timestamp + 960);
    const sequence = bob.sent.map((p) => p.sequenceNumber);
    expect(sequence).toEqual(sequence.map((_, i) => 1000 + i));
  });

  it('drops events towards a leg that did not negotiate telephone-event', () => {
    const { bridge, bob } = setup(
      format(PCMU, { payloadType: 101, clockRate: 8000 }),
      format(PCMU),
    );
    const alice = new RtpSource({ ssrc: 1, payloadType: 101, samplesPerPacket: 160 });
    bridge.receive('alice', alice.next(event(1, 160)));
    expect(bob.sent).toHaveLength(0);
  });
});

describe('RelayBridge lifecycle', () => {
  it('goes idle → active → idle and reports ports and state changes', () => {
    const clock = new TestClock();
    const bridge = new RelayBridge({ id: 'br', clock });
    const log: string[] = [];
    bridge.on('portAdded', (port) => log.push(`+${port.id}`));
    bridge.on('portRemoved', (port) => log.push(`-${port.id}`));
    bridge.on('stateChanged', (state: RelayBridgeState, previous: RelayBridgeState) =>
      log.push(`${previous}->${state}`),
    );
    expect(bridge.state).toBe('idle');
    const a = new FakePort('a', format(PCMU), clock);
    const b = new FakePort('b', format(PCMU), clock);
    bridge.add(a);
    bridge.add(b);
    expect(bridge.ports).toEqual([a, b]);
    bridge.remove('a');
    bridge.remove('a');
    expect(bridge.ports).toEqual([b]);
    expect(log).toEqual(['+a', '+b', 'idle->active', '-a', 'active->idle']);
  });

  it('refuses a third port with InvalidStateError and a duplicate id with TypeError', () => {
    const { clock, bridge, alice } = setup();
    expect(() => bridge.add(new FakePort('carol', format(PCMU), clock))).toThrow(InvalidStateError);
    const twin = new FakePort('alice', format(PCMU), clock);
    bridge.remove('bob');
    expect(() => bridge.add(twin)).toThrow(TypeError);
    expect(bridge.ports).toEqual([alice]);
  });

  it('closes once, then ignores packets and rejects add()', () => {
    const { clock, bridge, bob } = setup(format(PCMU), format(OPUS));
    let closed = 0;
    bridge.on('closed', () => closed++);
    bridge.close();
    bridge.close();
    expect(closed).toBe(1);
    expect(bridge.state).toBe('closed');
    expect(bridge.ports).toEqual([]);
    bridge.receive(
      'alice',
      new RtpSource({ ssrc: 1, payloadType: 0, samplesPerPacket: 160 }).next(PAYLOAD),
    );
    expect(bob.sent).toHaveLength(0);
    expect(() => bridge.add(new FakePort('x', format(PCMU), clock))).toThrow(InvalidStateError);
  });

  it('never throws on malformed media from the network', () => {
    const { bridge, bob } = setup(
      format(PCMU, { payloadType: 101, clockRate: 8000 }),
      format(OPUS, { payloadType: 110, clockRate: 48000 }),
    );
    const alice = new RtpSource({ ssrc: 1, payloadType: 0, samplesPerPacket: 160 });
    const packets: RtpPacket[] = [
      alice.next(new Uint8Array(0)),
      alice.next(new Uint8Array(7)),
      alice.at(new Uint8Array(2), 0, false, 101),
      alice.next(new Uint8Array(4000)),
    ];
    for (const packet of packets) {
      expect(() => bridge.receive('alice', packet)).not.toThrow();
    }
    const opusSide = new RtpSource({ ssrc: 9, payloadType: 111, samplesPerPacket: 960 });
    expect(() =>
      bridge.receive('bob', opusSide.next(Uint8Array.from([0xff, 0xff, 0xff, 1, 2]))),
    ).not.toThrow();
    expect(bob.sent.length).toBeGreaterThan(0);
  });
});

describe('RelayBridge fault containment', () => {
  it('contains an exception thrown by the destination leg and counts it', () => {
    const clock = new TestClock();
    const bridge = new RelayBridge({ id: 'faulty', clock });
    const alice = new FakePort('alice', format(PCMU), clock);
    const bob = new FakePort('bob', format(PCMU), clock);
    bob.sendRtp = () => {
      throw new Error('socket closed');
    };
    bridge.add(alice);
    bridge.add(bob);
    const source = new RtpSource({ ssrc: 1, payloadType: 0, samplesPerPacket: 160 });
    expect(() => bridge.receive('alice', source.next(PAYLOAD))).not.toThrow();
    expect(() => bridge.receive('alice', source.next(PAYLOAD))).not.toThrow();
    expect(bridge.portStats('alice')).toMatchObject({ received: 2, forwarded: 2, failed: 2 });
  });
});
