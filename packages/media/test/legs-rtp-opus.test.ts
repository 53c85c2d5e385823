/**
 * Plain RTP legs with Opus (RFC 7587): a raw UDP "phone" offering only Opus, encoding real
 * tones with libopus, bridged by the engine to a G.711 phone (transcoded) and to another Opus
 * party (relayed untouched), each way, checked with Goertzel.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { toneAmplitude, ToneGenerator } from '../src/audio/goertzel.js';
import { decodeMulaw, encodeMulaw } from '../src/codec/g711.js';
import { OpusDecoder, OpusEncoder } from '../src/codec/opus.js';
import { LocalMediaEngine } from '../src/engine/local-engine.js';
import type { LegDtmfEvent } from '../src/engine/types.js';
import type { RtpLegCodec } from '../src/legs/rtp-leg.js';
import { parseRtp, serializeRtp } from '../src/rtp/packet.js';
import type { RtpPacket } from '../src/rtp/packet.js';
import { parseRtcp } from '../src/rtp/rtcp.js';
import { until, WebRtcTestPeer } from './legs-fixtures.js';

const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((close) => close()));
});

// Private port ranges below the Linux ephemeral range, apart from the other media tests.
let nextRange = 27_400;
function createEngine(pairs = 8, rtpCodecs?: readonly RtpLegCodec[]): LocalMediaEngine {
  const engine = new LocalMediaEngine({
    portRange: [nextRange, nextRange + pairs * 2 - 1],
    rtcpIntervalMs: 200,
    ...(rtpCodecs === undefined ? {} : { rtpCodecs }),
  });
  nextRange += pairs * 2;
  cleanup.push(() => engine.close());
  return engine;
}

/** A SIP phone's media stack on a raw UDP socket: RTP on `port`, RTCP on `port + 1`. */
interface RawPhone {
  socket: Socket;
  rtcp: Socket;
  port: number;
  received: RtpPacket[];
  /** Arrival time (performance.now()) of each received packet. */
  arrivals: number[];
  rtcpReceived: number;
}

async function bindPair(): Promise<{ socket: Socket; rtcp: Socket; port: number }> {
  for (;;) {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const port = socket.address().port;
    const rtcp = createSocket('udp4');
    const bound = await new Promise<boolean>((resolve) => {
      rtcp.once('error', () => resolve(false));
      rtcp.bind(port + 1, '127.0.0.1', () => resolve(true));
    });
    if (bound && port % 2 === 0) {
      return { socket, rtcp, port };
    }
    socket.close();
    if (bound) {
      rtcp.close();
    }
  }
}

async function openPhone(): Promise<RawPhone> {
  const { socket, rtcp, port } = await bindPair();
  const phone: RawPhone = { socket, rtcp, port, received: [], arrivals: [], rtcpReceived: 0 };
  socket.on('message', (data) => {
    const packet = parseRtp(data);
    if (packet) {
      phone.received.push({ ...packet, payload: Uint8Array.from(packet.payload) });
      phone.arrivals.push(performance.now());
    }
  });
  rtcp.on('message', (data) => {
    if (parseRtcp(data)) {
      phone.rtcpReceived++;
    }
  });
  cleanup.push(async () => {
    await Promise.all([
      new Promise<void>((resolve) => socket.close(() => resolve())),
      new Promise<void>((resolve) => rtcp.close(() => resolve())),
    ]);
  });
  return phone;
}

function offer(phone: RawPhone, formats: string, attributes: string[]): string {
  return [
    'v=0',
    'o=phone 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${phone.port} RTP/AVP ${formats}`,
    ...attributes,
    'a=sendrecv',
    '',
  ].join('\r\n');
}

/** An Opus-only offer as Opus-capable desk phones write it (dynamic PT, events at 48 kHz). */
function opusOnlyOffer(phone: RawPhone, opusPt: number, eventPt: number): string {
  return offer(phone, `${opusPt} ${eventPt}`, [
    `a=rtpmap:${opusPt} opus/48000/2`,
    `a=fmtp:${opusPt} useinbandfec=1`,
    `a=rtpmap:${eventPt} telephone-event/48000`,
    `a=fmtp:${eventPt} 0-16`,
  ]);
}

function pcmuOnlyOffer(phone: RawPhone): string {
  return offer(phone, '0', ['a=rtpmap:0 PCMU/8000']);
}

/** Sends `frames` 20 ms frames of a tone to the engine leg at `to`, paced like a phone. */
async function sendOpusTone(
  phone: RawPhone,
  to: number,
  payloadType: number,
  frequency: number,
  frames: number,
  sent: Uint8Array[] = [],
): Promise<void> {
  const encoder = new OpusEncoder({ sampleRate: 48_000 });
  const tone = new ToneGenerator({ frequency, sampleRate: 48_000, amplitude: 8000 });
  try {
    for (let i = 0; i < frames; i++) {
      const payload = encoder.encode(tone.next(960));
      sent.push(payload);
      const packet = {
        marker: i === 0,
        payloadType,
        sequenceNumber: 100 + i,
        // RFC 7587 §4.1: the RTP clock is 48 kHz, 960 per 20 ms frame.
        timestamp: 5000 + i * 960,
        ssrc: 0x0a0b0c0d,
        csrcs: [],
        extension: undefined,
        payload,
      };
      phone.socket.send(serializeRtp(packet), to, '127.0.0.1');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    encoder.close();
  }
}

async function sendPcmuTone(
  phone: RawPhone,
  to: number,
  frequency: number,
  frames: number,
): Promise<void> {
  const tone = new ToneGenerator({ frequency, sampleRate: 8000, amplitude: 8000 });
  for (let i = 0; i < frames; i++) {
    const packet = {
      marker: i === 0,
      payloadType: 0,
      sequenceNumber: 300 + i,
      timestamp: 9000 + i * 160,
      ssrc: 0x01020304,
      csrcs: [],
      extension: undefined,
      payload: encodeMulaw(tone.next(160)),
    };
    phone.socket.send(serializeRtp(packet), to, '127.0.0.1');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function decodeOpus(packets: readonly RtpPacket[]): Int16Array {
  const decoder = new OpusDecoder({ sampleRate: 48_000 });
  try {
    const chunks: Int16Array[] = [];
    for (const packet of packets) {
      const pcm = decoder.decode(packet.payload);
      if (pcm) {
        chunks.push(Int16Array.from(pcm));
      }
    }
    const out = new Int16Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
    let offset = 0;
    for (const chunk of chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  } finally {
    decoder.close();
  }
}

/** The engine leg's RTP port, read from its answer's m= line. */
function mediaPort(sdp: string): number {
  const match = /^m=audio (\d+) /m.exec(sdp);
  if (!match) {
    throw new Error('no m=audio line');
  }
  return Number(match[1]);
}

describe('plain RTP leg with Opus', () => {
  it('answers an Opus-only phone on its payload type and transcodes to and from a PCMU phone', async () => {
    const engine = createEngine();
    const opusPhone = await openPhone();
    const pcmuPhone = await openPhone();
    const a = await engine.createLeg({ kind: 'rtp', group: 'call' });
    const b = await engine.createLeg({ kind: 'rtp', group: 'call' });
    const answerA = await engine.acceptOffer(a.legId, opusOnlyOffer(opusPhone, 107, 98));
    const answerB = await engine.acceptOffer(b.legId, pcmuOnlyOffer(pcmuPhone));
    expect(answerA).toMatch(/^m=audio \d+ RTP\/AVP 107 98\r$/m);
    expect(answerA).toContain('a=rtpmap:107 opus/48000/2');
    expect(answerA).toContain('a=rtpmap:98 telephone-event/48000');
    await engine.bridge(a.legId, b.legId);

    await Promise.all([
      sendOpusTone(opusPhone, mediaPort(answerA), 107, 440, 40),
      sendPcmuTone(pcmuPhone, mediaPort(answerB), 1300, 40),
    ]);
    await until(
      () => opusPhone.received.length >= 30 && pcmuPhone.received.length >= 30,
      'audio both ways',
    );

    // At the Opus phone: Opus on its own payload type, a 48 kHz timeline (960 per 20 ms).
    const atOpus = opusPhone.received;
    expect(new Set(atOpus.map((p) => p.payloadType))).toEqual(new Set([107]));
    const steps = atOpus.slice(1).map((p, i) => (p.timestamp - atOpus[i]!.timestamp) >>> 0);
    expect(steps.filter((step) => step === 960).length).toBeGreaterThan(steps.length * 0.8);
    const opusPcm = decodeOpus(atOpus.slice(5));
    expect(toneAmplitude(opusPcm, 48_000, 1300)).toBeGreaterThan(3000);
    expect(toneAmplitude(opusPcm, 48_000, 440)).toBeLessThan(400);

    // At the PCMU phone: the Opus tone, decoded and re-encoded as G.711.
    const atPcmu = pcmuPhone.received.slice(5);
    expect(new Set(atPcmu.map((p) => p.payloadType))).toEqual(new Set([0]));
    const pcm = new Int16Array(atPcmu.length * 160);
    atPcmu.forEach((p, i) => pcm.set(decodeMulaw(p.payload), i * 160));
    expect(toneAmplitude(pcm, 8000, 440)).toBeGreaterThan(3000);
    expect(toneAmplitude(pcm, 8000, 1300)).toBeLessThan(400);
  });

  it('relays Opus untouched between an Opus phone and a WebRTC party, renumbering payload types', async () => {
    const engine = createEngine();
    const phone = await openPhone();
    const peer = new WebRtcTestPeer({ opusPayloadType: 109 });
    cleanup.push(() => peer.close());
    const a = await engine.createLeg({ kind: 'rtp', group: 'call' });
    const w = await engine.createLeg({ kind: 'webrtc', group: 'call' });
    const answerA = await engine.acceptOffer(a.legId, opusOnlyOffer(phone, 96, 97));
    await peer.applyAnswer(await engine.acceptOffer(w.legId, await peer.offer()));
    await peer.connected();
    await engine.bridge(a.legId, w.legId);

    const sent: Uint8Array[] = [];
    await sendOpusTone(phone, mediaPort(answerA), 96, 440, 20, sent);
    await until(() => peer.received.length >= 20, 'Opus at the WebRTC party');
    const atPeer = peer.received.filter((p) => p.payloadType === 109);
    expect(atPeer).toHaveLength(20);
    // No transcoding: the very bytes the phone's encoder produced.
    expect(atPeer.map((p) => Buffer.from(p.payload).toString('hex'))).toEqual(
      sent.map((payload) => Buffer.from(payload).toString('hex')),
    );

    const encoder = new OpusEncoder({ sampleRate: 48_000 });
    cleanup.push(() => Promise.resolve(encoder.close()));
    const tone = new ToneGenerator({ frequency: 1300, sampleRate: 48_000, amplitude: 8000 });
    const fromPeer: Uint8Array[] = [];
    for (let i = 0; i < 20; i++) {
      const payload = encoder.encode(tone.next(960));
      fromPeer.push(payload);
      peer.send({
        marker: i === 0,
        payloadType: 109,
        sequenceNumber: 1 + i,
        timestamp: i * 960,
        ssrc: 77,
        payload,
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await until(() => phone.received.length >= 20, 'Opus at the phone');
    expect(new Set(phone.received.map((p) => p.payloadType))).toEqual(new Set([96]));
    expect(phone.received.map((p) => Buffer.from(p.payload).toString('hex'))).toEqual(
      fromPeer.map((payload) => Buffer.from(payload).toString('hex')),
    );
    expect(toneAmplitude(decodeOpus(phone.received.slice(3)), 48_000, 1300)).toBeGreaterThan(3000);

    // A pause, then another source (RFC 3550 §5.1 continuity): the leg's stream advances its
    // timestamp by the wall-clock time elapsed, in 48 kHz units, and marks the change.
    const before = phone.received.length;
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (let i = 0; i < 5; i++) {
      const payload = encoder.encode(tone.next(960));
      peer.send({
        marker: i === 0,
        payloadType: 109,
        sequenceNumber: 500 + i,
        timestamp: 7_000_000 + i * 960,
        ssrc: 78,
        payload,
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await until(() => phone.received.length >= before + 5, 'Opus after the pause');
    const last = phone.received[before - 1]!;
    const next = phone.received[before]!;
    const elapsedMs = phone.arrivals[before]! - phone.arrivals[before - 1]!;
    const timestampMs = ((next.timestamp - last.timestamp) >>> 0) / 48;
    expect(elapsedMs).toBeGreaterThan(400);
    expect(Math.abs(timestampMs - elapsedMs)).toBeLessThan(100);
    expect(next.marker).toBe(true);
    expect(next.ssrc).toBe(last.ssrc);
  });

  it('offers G.711 first by default and Opus first when the engine is configured so', async () => {
    const byDefault = createEngine();
    const a = await byDefault.createLeg({ kind: 'rtp', group: 'call' });
    expect(await byDefault.createOffer(a.legId)).toMatch(
      /^m=audio \d+ RTP\/AVP 0 8 111 101 110\r$/m,
    );
    const opusFirst = createEngine(8, ['opus', 'PCMA']);
    const b = await opusFirst.createLeg({ kind: 'rtp', group: 'call' });
    const offer = await opusFirst.createOffer(b.legId);
    expect(offer).toMatch(/^m=audio \d+ RTP\/AVP 111 8 110 101\r$/m);
    expect(offer).toContain('a=rtpmap:111 opus/48000/2');
    expect(offer).toContain('a=fmtp:111 minptime=10;useinbandfec=1');
    expect(offer).not.toContain('PCMU');
  });

  it('times DTMF at 48 kHz and sends RTCP to an Opus phone', async () => {
    const engine = createEngine();
    const dtmf: LegDtmfEvent[] = [];
    engine.on('dtmf', (event) => dtmf.push(event));
    const phone = await openPhone();
    const a = await engine.createLeg({ kind: 'rtp', group: 'call' });
    const answer = await engine.acceptOffer(a.legId, opusOnlyOffer(phone, 107, 98));
    const port = mediaPort(answer);
    // Digit 5, 100 ms: RFC 4733 §2.5.1.5 duration in timestamp units, 4800 at 48 kHz.
    for (const [seq, end] of [
      [1, false],
      [2, true],
      [3, true],
      [4, true],
    ] as const) {
      const packet = {
        marker: seq === 1,
        payloadType: 98,
        sequenceNumber: seq,
        timestamp: 48_000,
        ssrc: 9,
        csrcs: [],
        extension: undefined,
        payload: Uint8Array.of(5, end ? 0x8a : 0x0a, 4800 >> 8, 4800 & 0xff),
      };
      phone.socket.send(serializeRtp(packet), port, '127.0.0.1');
    }
    await until(() => dtmf.length === 1, 'the digit');
    expect(dtmf).toEqual([{ legId: a.legId, digit: '5', durationMs: 100 }]);
    await until(() => phone.rtcpReceived > 0, 'an RTCP report');
  });
});
