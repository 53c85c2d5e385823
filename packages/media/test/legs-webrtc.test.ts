import { createSocket } from 'node:dgram';
import { promises as dnsPromises } from 'node:dns';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isInvalidStateError } from '@confab/core';
import { isMediaError } from '../src/engine/errors.js';
import { PortAllocator } from '../src/legs/port-allocator.js';
import { LegState } from '../src/legs/types.js';
import { WebRtcLeg } from '../src/legs/webrtc-leg.js';
import type { WebRtcLegOptions } from '../src/legs/webrtc-leg.js';
import type { RtpPacket } from '../src/rtp/packet.js';
import { readAudioLevel } from '../src/rtp/extensions.js';
import { AUDIO_LEVEL_URI, parseSdp } from '../src/sdp/sdp.js';
import { until, WebRtcTestPeer } from './legs-fixtures.js';
import { CHROMIUM_AUDIO_VIDEO_DATA_OFFER } from './sdp-fixtures.js';

const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((close) => close()));
});

// Private port ranges below the Linux ephemeral range (32768+), so that the OS never hands
// these ports to unrelated sockets while a test runs.
let nextRange = 22_000;
function freshAllocator(pairs = 4): PortAllocator {
  const allocator = new PortAllocator([nextRange, nextRange + pairs * 2 - 1]);
  nextRange += pairs * 2;
  return allocator;
}

function createLeg(options: WebRtcLegOptions = {}): WebRtcLeg {
  const leg = WebRtcLeg.create({ portAllocator: freshAllocator(), ...options });
  cleanup.push(() => leg.close());
  return leg;
}

function createPeer(...args: ConstructorParameters<typeof WebRtcTestPeer>): WebRtcTestPeer {
  const peer = new WebRtcTestPeer(...args);
  cleanup.push(() => peer.close());
  return peer;
}

function isSdpInvalid(error: unknown): boolean {
  return isMediaError(error) && error.code === 'MEDIA_SDP_INVALID';
}

async function connectAnswering(leg: WebRtcLeg, peer: WebRtcTestPeer): Promise<string> {
  const answer = await leg.acceptOffer(await peer.offer());
  await peer.applyAnswer(answer);
  await peer.connected();
  await until(() => leg.state === LegState.Connected, 'leg connected');
  return answer;
}

function opusFrame(
  sequenceNumber: number,
  ssrc: number,
  payloadType: number,
): Omit<RtpPacket, 'csrcs' | 'extension'> {
  return {
    marker: false,
    payloadType,
    sequenceNumber,
    timestamp: sequenceNumber * 960,
    ssrc,
    payload: Uint8Array.of(0xf8, sequenceNumber & 0xff, 0xfe),
  };
}

describe('WebRtcLeg', { timeout: 15_000 }, () => {
  it('answers a BUNDLE offer with the peer’s payload types and exchanges RTP over DTLS-SRTP', async () => {
    const leg = createLeg();
    const peer = createPeer({ opusPayloadType: 109, eventPayloadType: 101 });
    const answer = await connectAnswering(leg, peer);

    const parsed = parseSdp(answer);
    expect(parsed.groups?.map((g) => `${g.type} ${g.mids}`)).toEqual(['BUNDLE 0']);
    const audio = parsed.media[0]!;
    expect(audio.rtp.map((entry) => `${entry.payload} ${entry.codec}/${entry.rate}`)).toEqual([
      '109 opus/48000',
      '101 telephone-event/48000',
    ]);
    expect(audio.rtcpMux).toBe('rtcp-mux');
    expect(audio.setup).toBe('active');
    expect(audio.candidates?.map((c) => c.ip)).toEqual(['127.0.0.1']);
    // The default destination is the host candidate, not 9 / 0.0.0.0.
    expect(audio.port).toBe(audio.candidates![0]!.port);
    expect(audio.connection?.ip).toBe('127.0.0.1');
    expect(audio.ssrcs?.[0]?.id).toBe(leg.output.ssrc);
    expect(leg.format.audio).toEqual({
      name: 'opus',
      payloadType: 109,
      clockRate: 48_000,
      channels: 2,
    });
    expect(leg.format.telephoneEvent).toEqual({ payloadType: 101, clockRate: 48_000 });

    const atLeg: RtpPacket[] = [];
    leg.on('rtp', (packet) => atLeg.push(packet));
    const peerSsrc = peer.transceiver.sender.ssrc;
    for (let seq = 1; seq <= 5; seq++) {
      peer.send(opusFrame(seq, peerSsrc, 109));
    }
    await until(() => atLeg.length === 5, 'packets at the leg');
    expect(atLeg.map((p) => p.sequenceNumber)).toEqual([1, 2, 3, 4, 5]);
    expect(atLeg[2]!.payload).toEqual(Uint8Array.of(0xf8, 3, 0xfe));
    expect(atLeg[0]!.payloadType).toBe(109);

    for (let i = 0; i < 5; i++) {
      leg.sendRtp(leg.output.writeGenerated(Uint8Array.of(0xf8, i), 109, 960));
    }
    await until(() => peer.received.length === 5, 'packets at the peer');
    expect(peer.received.every((p) => p.ssrc === leg.output.ssrc && p.payloadType === 109)).toBe(
      true,
    );
    expect(peer.received[4]!.payload).toEqual(Uint8Array.of(0xf8, 4));
  });

  it('sends telephone-event packets with their own payload type and reports the digit', async () => {
    const leg = createLeg();
    const peer = createPeer();
    await connectAnswering(leg, peer);
    const digits: { digit: string; durationMs: number }[] = [];
    leg.on('dtmf', (event) => digits.push(event));
    const ssrc = peer.transceiver.sender.ssrc;
    const event = (
      seq: number,
      end: boolean,
      duration: number,
    ): Omit<RtpPacket, 'csrcs' | 'extension'> => ({
      marker: seq === 1,
      payloadType: 101,
      sequenceNumber: seq,
      timestamp: 48_000,
      ssrc,
      payload: Uint8Array.of(11, end ? 0x8a : 0x0a, duration >> 8, duration & 0xff),
    });
    for (const [seq, end, duration] of [
      [1, false, 960],
      [2, true, 4800],
      [3, true, 4800],
      [4, true, 4800],
    ] as const) {
      peer.send(event(seq, end, duration));
    }
    await until(() => digits.length > 0, 'a digit');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(digits).toEqual([{ digit: '#', durationMs: 100 }]);

    leg.sendRtp(leg.output.writeGenerated(Uint8Array.of(11, 0x8a, 0, 160), 101, 0));
    await until(() => peer.received.length === 1, 'the event at the peer');
    expect(peer.received[0]!.payloadType).toBe(101);
  });

  it('offers Opus and telephone-event and connects when the peer answers', async () => {
    const leg = createLeg();
    const peer = createPeer();
    const offer = await leg.createOffer();
    expect(leg.state).toBe(LegState.Connecting);
    const audio = parseSdp(offer).media[0]!;
    expect(audio.protocol).toBe('UDP/TLS/RTP/SAVPF');
    expect(audio.rtp.map((entry) => `${entry.payload} ${entry.codec}`)).toEqual([
      '111 opus',
      '126 telephone-event',
    ]);
    expect(audio.setup).toBe('actpass');

    await leg.acceptAnswer(await peer.answer(offer));
    await peer.connected();
    await until(() => leg.state === LegState.Connected, 'leg connected');
    // werift answers with our numbers; the leg sends with the answer's.
    expect(leg.format.audio.payloadType).toBe(111);
  });

  it('negotiates RFC 6464 ssrc-audio-level with the offerer’s id and hands its levels to the bridge', async () => {
    const leg = createLeg();
    const peer = createPeer({ audioLevel: true });
    const offer = await peer.offer();
    expect(offer).toContain(`a=extmap:2 ${AUDIO_LEVEL_URI}`);
    const answer = await leg.acceptOffer(offer);
    await peer.applyAnswer(answer);
    await peer.connected();
    await until(() => leg.state === LegState.Connected, 'leg connected');
    // RFC 8285 §6: the answer keeps the offerer's id.
    expect(parseSdp(answer).media[0]!.ext?.map((ext) => `${ext.value} ${ext.uri}`)).toContain(
      `2 ${AUDIO_LEVEL_URI}`,
    );
    expect(leg.format.audioLevelExtensionId).toBe(2);

    const atLeg: RtpPacket[] = [];
    leg.on('rtp', (packet) => atLeg.push(packet));
    const peerSsrc = peer.transceiver.sender.ssrc;
    // Loud, then quieter, then silence (RFC 6464 §3: -dBov, 0 loudest, 127 silence; V flag).
    const levels = [3, 3, 30, 60, 127];
    levels.forEach((level, index) => {
      const octet = (level < 127 ? 0x80 : 0) | level;
      peer.send(opusFrame(index + 1, peerSsrc, 109), [{ id: 2, payload: Uint8Array.of(octet) }]);
    });
    await until(() => atLeg.length === levels.length, 'packets at the leg');
    const id = leg.format.audioLevelExtensionId ?? -1;
    expect(atLeg.map((packet) => readAudioLevel(packet.extension, id)?.level)).toEqual(levels);
    expect(atLeg.map((packet) => readAudioLevel(packet.extension, id)?.voiceActivity)).toEqual([
      true,
      true,
      true,
      true,
      false,
    ]);
    // The payload is intact behind the extension.
    expect(atLeg[2]!.payload).toEqual(Uint8Array.of(0xf8, 3, 0xfe));
  });

  it('offers ssrc-audio-level and reads the id from the answer; a peer without it leaves none', async () => {
    const leg = createLeg();
    const peer = createPeer({ audioLevel: true });
    const offer = await leg.createOffer();
    expect(parseSdp(offer).media[0]!.ext?.map((ext) => ext.uri)).toContain(AUDIO_LEVEL_URI);
    await leg.acceptAnswer(await peer.answer(offer));
    expect(leg.format.audioLevelExtensionId).toBeGreaterThan(0);

    const plainLeg = createLeg();
    const plainPeer = createPeer();
    await plainLeg.acceptOffer(await plainPeer.offer());
    expect(plainLeg.format.audioLevelExtensionId).toBeUndefined();
  });

  it('answers a Chromium audio+video+data offer with video and data rejected and out of BUNDLE', async () => {
    const leg = createLeg();
    const answer = parseSdp(await leg.acceptOffer(CHROMIUM_AUDIO_VIDEO_DATA_OFFER));
    expect(answer.media.map((m) => [m.type, m.port === 0 ? 0 : 'open', String(m.mid)])).toEqual([
      ['audio', 'open', '0'],
      ['video', 0, '1'],
      ['application', 0, '2'],
    ]);
    expect(answer.groups?.map((g) => `${g.type} ${g.mids}`)).toEqual(['BUNDLE 0']);
    expect(
      answer.media[0]!.rtp.map((entry) => `${entry.payload} ${entry.codec}/${entry.rate}`),
    ).toEqual(['111 opus/48000', '110 telephone-event/48000']);
  });

  it('answers a hold re-offer recvonly, stops sending, and resumes on sendrecv', async () => {
    const leg = createLeg();
    const peer = createPeer();
    await connectAnswering(leg, peer);
    expect(leg.wantsMedia).toBe(true);

    peer.transceiver.setDirection('sendonly');
    const heldAnswer = await leg.acceptOffer(await peer.offer());
    await peer.applyAnswer(heldAnswer);
    expect(parseSdp(heldAnswer).media[0]!.direction).toBe('recvonly');
    expect(leg.wantsMedia).toBe(false);
    leg.sendRtp(leg.output.writeGenerated(Uint8Array.of(1), 109, 960));

    peer.transceiver.setDirection('sendrecv');
    const resumed = await leg.acceptOffer(await peer.offer());
    await peer.applyAnswer(resumed);
    expect(parseSdp(resumed).media[0]!.direction).toBe('sendrecv');
    expect(leg.wantsMedia).toBe(true);
    leg.sendRtp(leg.output.writeGenerated(Uint8Array.of(2), 109, 960));
    await until(() => peer.received.length === 1, 'the packet after resume');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(peer.received.map((p) => p.payload[0])).toEqual([2]);
    expect(leg.state).toBe(LegState.Connected);
  });

  it('keeps one o= session id and increases its version across descriptions', async () => {
    const leg = createLeg();
    const peer = createPeer();
    const first = parseSdp(await connectAnswering(leg, peer));
    const second = parseSdp(await leg.acceptOffer(await peer.offer()));
    expect(second.origin.sessionId).toBe(first.origin.sessionId);
    expect(second.origin.sessionVersion).toBe(first.origin.sessionVersion + 1);
  });

  it.each([
    [
      'a plain RTP offer',
      'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n',
    ],
    [
      'an offer without Opus',
      CHROMIUM_AUDIO_VIDEO_DATA_OFFER.replace(/a=rtpmap:111 opus\/48000\/2\r\n/, ''),
    ],
    [
      'an offer without a fingerprint',
      CHROMIUM_AUDIO_VIDEO_DATA_OFFER.replace(/a=fingerprint:[^\r]*\r\n/g, ''),
    ],
    [
      'an offer with a malformed fingerprint',
      CHROMIUM_AUDIO_VIDEO_DATA_OFFER.replace(
        /a=fingerprint:sha-256 [^\r]*/g,
        'a=fingerprint:sha-256 zz',
      ),
    ],
    ['garbage', '\u0000\u0001'],
  ])('rejects %s with MEDIA_SDP_INVALID', async (_what, sdp) => {
    const leg = createLeg();
    await expect(leg.acceptOffer(sdp)).rejects.toSatisfy(isSdpInvalid);
  });

  it('rejects an answer that refuses the audio stream', async () => {
    const leg = createLeg();
    const peer = createPeer();
    const answer = await peer.answer(await leg.createOffer());
    await expect(leg.acceptAnswer(answer.replace(/m=audio \d+/, 'm=audio 0'))).rejects.toSatisfy(
      isSdpInvalid,
    );
  });

  it('gathers host candidates of its addresses only and contacts no STUN server', async () => {
    // werift resolves a STUN server's name before querying it, so a lookup is the first contact.
    const lookups: string[] = [];
    const lookup = dnsPromises.lookup;
    const spy = vi
      .spyOn(dnsPromises, 'lookup')
      .mockImplementation((hostname: string, ...rest: unknown[]) => {
        lookups.push(hostname);
        return (lookup as (...a: unknown[]) => Promise<unknown>)(hostname, ...rest) as never;
      });
    try {
      const leg = createLeg();
      const offer = parseSdp(await leg.createOffer());
      expect(offer.media[0]!.candidates?.map((c) => `${c.type} ${c.ip}`)).toEqual([
        'host 127.0.0.1',
      ]);
    } finally {
      spy.mockRestore();
    }
    expect(lookups).toEqual([]);
  });

  it('fails when the connected peer sends no media for the media timeout', async () => {
    const leg = createLeg({ mediaTimeoutMs: 150 });
    const peer = createPeer();
    await connectAnswering(leg, peer);
    await until(() => leg.state === LegState.Failed, 'the leg to fail');
  });

  it('connects as an ICE-lite agent (the full peer controls)', async () => {
    const leg = createLeg({ iceLite: true });
    const peer = createPeer();
    const answer = await connectAnswering(leg, peer);
    expect(parseSdp(answer).icelite).toBe('ice-lite');
  });

  it('fails with MEDIA_NO_PORTS when another process holds every port of its block', async () => {
    const allocator = freshAllocator(1);
    const squatters = await Promise.all(
      [allocator.range[0], allocator.range[0] + 1].map(async (port) => {
        const socket = createSocket('udp4');
        await new Promise<void>((resolve) => socket.bind(port, '127.0.0.1', resolve));
        cleanup.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
        return socket;
      }),
    );
    expect(squatters).toHaveLength(2);
    const leg = createLeg({ portAllocator: allocator });
    await expect(leg.createOffer()).rejects.toSatisfy(
      (error: unknown) => isMediaError(error) && error.code === 'MEDIA_NO_PORTS',
    );
  });

  it('frees its UDP port once closed', async () => {
    const leg = createLeg();
    const peer = createPeer();
    const answer = await connectAnswering(leg, peer);
    const port = parseSdp(answer).media[0]!.port;
    await leg.close();
    const probe = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.bind(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });

  it('reserves ports from its range, fails with MEDIA_NO_PORTS when exhausted, and frees them on close', async () => {
    const allocator = freshAllocator(1);
    const leg = createLeg({ portAllocator: allocator });
    const offer = parseSdp(await leg.createOffer());
    expect(offer.media[0]!.port).toBeGreaterThanOrEqual(allocator.range[0]);
    expect(offer.media[0]!.port).toBeLessThanOrEqual(allocator.range[1]);
    let failure: unknown;
    try {
      WebRtcLeg.create({ portAllocator: allocator });
    } catch (error) {
      failure = error;
    }
    expect(isMediaError(failure) && failure.code).toBe('MEDIA_NO_PORTS');
    await leg.close();
    expect(allocator.inUse).toBe(0);
    expect(leg.state).toBe(LegState.Closed);
    await expect(leg.createOffer()).rejects.toSatisfy(isInvalidStateError);
  });
});
