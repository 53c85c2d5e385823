import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { isInvalidStateError } from '@confab/core';
import { toneAmplitude, ToneGenerator } from '../src/audio/goertzel.js';
import { decodeMulaw, encodeMulaw } from '../src/codec/g711.js';
import { isMediaError } from '../src/engine/errors.js';
import { PortAllocator } from '../src/legs/port-allocator.js';
import { RtpLeg } from '../src/legs/rtp-leg.js';
import type { RtpLegOptions } from '../src/legs/rtp-leg.js';
import { LegState } from '../src/legs/types.js';
import { parseRtp, serializeRtp } from '../src/rtp/packet.js';
import { parseRtcp, serializeRtcp } from '../src/rtp/rtcp.js';
import type { RtpPacket } from '../src/rtp/packet.js';

const opened: { close(): Promise<void> | void }[] = [];

afterEach(async () => {
  await Promise.all(
    opened.splice(0).map(async (item) => {
      await item.close();
    }),
  );
});

// Private port ranges below the Linux ephemeral range (32768+), so that the OS never hands
// these ports to unrelated sockets while a test runs.
let nextRange = 21_000;
/** A private port range per test, so that tests never share ports. */
function freshAllocator(pairs = 8): PortAllocator {
  const allocator = new PortAllocator([nextRange, nextRange + pairs * 2 - 1]);
  nextRange += pairs * 2;
  return allocator;
}

async function openLeg(options: RtpLegOptions = {}): Promise<RtpLeg> {
  const leg = await RtpLeg.open({ portAllocator: freshAllocator(), ...options });
  opened.push(leg);
  return leg;
}

/** A raw UDP socket playing a SIP phone's media stack. */
async function openPhone(): Promise<{
  socket: Socket;
  port: number;
  received: Buffer[];
  sources: RemoteInfo[];
}> {
  const socket = createSocket('udp4');
  const received: Buffer[] = [];
  const sources: RemoteInfo[] = [];
  socket.on('message', (data, from) => {
    received.push(data);
    sources.push(from);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  opened.push({ close: () => new Promise<void>((resolve) => socket.close(() => resolve())) });
  return { socket, port: socket.address().port, received, sources };
}

function phoneSdp(
  port: number,
  options: { direction?: string; codecs?: string; address?: string } = {},
): string {
  const codecs = options.codecs ?? '0 8 101';
  return [
    'v=0',
    'o=phone 1 1 IN IP4 127.0.0.1',
    's=-',
    `c=IN IP4 ${options.address ?? '127.0.0.1'}`,
    't=0 0',
    `m=audio ${port} RTP/AVP ${codecs}`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-16',
    `a=${options.direction ?? 'sendrecv'}`,
    '',
  ].join('\r\n');
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function negotiate(offerer: RtpLeg, answerer: RtpLeg): Promise<void> {
  const offer = await offerer.createOffer();
  const answer = await answerer.acceptOffer(offer);
  await offerer.acceptAnswer(answer);
}

/** Sends `frames` 20 ms PCMU frames of a tone from `leg`, paced every 2 ms (only ordering matters). */
async function sendTone(leg: RtpLeg, frequency: number, frames: number): Promise<void> {
  const tone = new ToneGenerator({ frequency, sampleRate: 8000, amplitude: 8000 });
  for (let i = 0; i < frames; i++) {
    const payload = encodeMulaw(tone.next(160));
    leg.sendRtp(leg.output.writeGenerated(payload, leg.format.audio.payloadType, 160));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function decodeAll(packets: readonly RtpPacket[]): Int16Array {
  const sorted = [...packets].sort((a, b) => a.sequenceNumber - b.sequenceNumber);
  const pcm = new Int16Array(sorted.length * 160);
  sorted.forEach((packet, index) => pcm.set(decodeMulaw(packet.payload), index * 160));
  return pcm;
}

describe('RtpLeg', () => {
  it('carries a PCMU tone in each direction between two legs on loopback', async () => {
    const a = await openLeg();
    const b = await openLeg();
    await negotiate(a, b);
    expect(a.state).toBe(LegState.Connected);
    expect(b.state).toBe(LegState.Connected);
    expect(a.format.audio.name).toBe('PCMU');
    const atA: RtpPacket[] = [];
    const atB: RtpPacket[] = [];
    a.on('rtp', (packet) => atA.push(packet));
    b.on('rtp', (packet) => atB.push(packet));

    await Promise.all([sendTone(a, 440, 25), sendTone(b, 1000, 25)]);
    await until(() => atA.length >= 25 && atB.length >= 25, 'both tones');

    const heardAtB = decodeAll(atB);
    const heardAtA = decodeAll(atA);
    expect(toneAmplitude(heardAtB, 8000, 440)).toBeGreaterThan(4000);
    expect(toneAmplitude(heardAtB, 8000, 1000)).toBeLessThan(400);
    expect(toneAmplitude(heardAtA, 8000, 1000)).toBeGreaterThan(4000);
    expect(toneAmplitude(heardAtA, 8000, 440)).toBeLessThan(400);
    expect(atB[0]!.ssrc).toBe(a.output.ssrc);
    expect(b.stats().packetsReceived).toBe(25);
  });

  it('answers with the offerer’s preferred common codec and its payload type numbers', async () => {
    const leg = await openLeg();
    const answer = await leg.acceptOffer(
      phoneSdp(40_000, { codecs: '8 0 96' }).replace('a=rtpmap:101', 'a=rtpmap:96'),
    );
    expect(answer).toMatch(/m=audio \d+ RTP\/AVP 8 96\r\n/);
    expect(answer).toContain('a=rtpmap:96 telephone-event/8000');
    expect(leg.format).toEqual({
      audio: { name: 'PCMA', payloadType: 8, clockRate: 8000, channels: 1 },
      telephoneEvent: { payloadType: 96, clockRate: 8000 },
    });
  });

  it('rejects other offered streams with port 0 and keeps their position', async () => {
    const leg = await openLeg();
    const offer = phoneSdp(40_000).replace(
      'm=audio',
      'm=video 40002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\nm=audio',
    );
    const answer = await leg.acceptOffer(offer);
    const sections = answer.split('\r\n').filter((line) => line.startsWith('m='));
    expect(sections).toEqual(['m=video 0 RTP/AVP 96', `m=audio ${leg.port} RTP/AVP 0 101`]);
  });

  it('rejects an offer without a common codec with MEDIA_SDP_INVALID', async () => {
    const leg = await openLeg();
    const offer = phoneSdp(40_000, { codecs: '18' }).replace(
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:18 G729/8000',
    );
    await expect(leg.acceptOffer(offer)).rejects.toSatisfy(
      (error: unknown) => isMediaError(error) && error.code === 'MEDIA_SDP_INVALID',
    );
    expect(leg.state).toBe(LegState.New);
  });

  it.each([
    ['garbage', 'hello'],
    ['a missing version line', 'o=x 1 1 IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n'],
    [
      'a malformed m= line',
      'v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\nc=IN IP4 127.0.0.1\r\nm=audio x RTP/AVP 0\r\n',
    ],
    ['no connection address', 'v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n'],
    ['an SRTP-only stream', phoneSdp(40_000).replace('RTP/AVP', 'RTP/SAVP')],
    ['an oversized description', `v=0\r\n${'a=x\r\n'.repeat(20_000)}`],
  ])('rejects an offer with %s with MEDIA_SDP_INVALID', async (_what, sdp) => {
    const leg = await openLeg();
    await expect(leg.acceptOffer(sdp)).rejects.toSatisfy(
      (error: unknown) => isMediaError(error) && error.code === 'MEDIA_SDP_INVALID',
    );
  });

  it('stops sending while the remote party holds (sendonly, then c=0.0.0.0) and resumes after sendrecv', async () => {
    const leg = await openLeg();
    const phone = await openPhone();
    await leg.acceptOffer(phoneSdp(phone.port));
    expect(leg.wantsMedia).toBe(true);

    const held = await leg.acceptOffer(phoneSdp(phone.port, { direction: 'sendonly' }));
    expect(held).toContain('a=recvonly');
    expect(leg.wantsMedia).toBe(false);
    leg.sendRtp(leg.output.writeGenerated(new Uint8Array(160), 0, 160));

    await leg.acceptOffer(phoneSdp(phone.port, { address: '0.0.0.0' }));
    expect(leg.wantsMedia).toBe(false);

    const resumed = await leg.acceptOffer(phoneSdp(phone.port));
    expect(resumed).toContain('a=sendrecv');
    expect(leg.wantsMedia).toBe(true);
    leg.sendRtp(leg.output.writeGenerated(new Uint8Array(160).fill(0xff), 0, 160));
    await until(() => phone.received.length > 0, 'the first packet after resume');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const rtp = phone.received
      .map((data) => parseRtp(data))
      .filter((packet) => packet !== undefined);
    expect(rtp).toHaveLength(1);
    expect(rtp[0]!.payload[0]).toBe(0xff);
    expect(rtp[0]!.marker).toBe(true);
  });

  it('latches to a NATed source after a few packets in sequence and then drops other sources', async () => {
    const leg = await openLeg();
    const phone = await openPhone();
    const intruder = await openPhone();
    // The SDP names a port nobody sends from: a phone behind NAT, whose real source differs.
    await leg.acceptOffer(phoneSdp(9));
    const received: RtpPacket[] = [];
    leg.on('rtp', (packet) => received.push(packet));
    const packet = (ssrc: number, sequenceNumber: number): Uint8Array =>
      serializeRtp({
        marker: false,
        payloadType: 0,
        sequenceNumber,
        timestamp: sequenceNumber * 160,
        ssrc,
        csrcs: [],
        extension: undefined,
        payload: new Uint8Array(160),
      });
    const send = async (from: typeof phone, bytes: Uint8Array): Promise<void> => {
      from.socket.send(bytes, leg.port, '127.0.0.1');
      // One at a time, so that arrival order is send order.
      await new Promise((resolve) => setTimeout(resolve, 5));
    };

    // A single stray packet does not capture the stream.
    await send(intruder, packet(2, 100));
    for (const sequenceNumber of [1, 2, 3]) {
      await send(phone, packet(1, sequenceNumber));
    }
    await until(() => received.length === 1, 'the latching packet');
    await send(intruder, packet(2, 101));
    await send(phone, packet(1, 4));
    await until(() => received.length === 2, 'the next phone packet');
    expect(received.map((p) => [p.ssrc, p.sequenceNumber])).toEqual([
      [1, 3],
      [1, 4],
    ]);
    // The stray packet, two probation packets and the late intruder packet.
    expect(leg.stats().packetsDropped).toBe(4);

    expect(leg.remoteEndpoint).toMatchObject({ address: '127.0.0.1', port: phone.port });
    leg.sendRtp(leg.output.writeGenerated(new Uint8Array(160), 0, 160));
    await until(() => phone.received.length === 1, 'our packet at the latched source');
    expect(intruder.received).toHaveLength(0);
  });

  it('drops garbage datagrams on its RTP and RTCP ports and keeps working', async () => {
    const leg = await openLeg();
    const phone = await openPhone();
    await leg.acceptOffer(phoneSdp(phone.port));
    const received: RtpPacket[] = [];
    leg.on('rtp', (packet) => received.push(packet));
    let seed = 1;
    const random = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 500; i++) {
      const bytes = Uint8Array.from({ length: random(300) }, () => random(256));
      if (bytes.length > 1 && i % 2 === 0) {
        // Half of them look like RTP or RTCP (version 2) to reach the deeper parsers.
        bytes[0] = 0x80 | (bytes[0]! & 0x3f);
      }
      phone.socket.send(bytes, leg.port + (i % 2), '127.0.0.1');
      if (i % 25 === 0) {
        // Paced: a burst would overflow the socket's receive buffer and lose datagrams.
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    }
    phone.socket.send(
      serializeRtp({
        marker: false,
        payloadType: 0,
        sequenceNumber: 7,
        timestamp: 0,
        ssrc: 5,
        csrcs: [],
        extension: undefined,
        payload: new Uint8Array(160),
      }),
      leg.port,
      '127.0.0.1',
    );
    await until(() => received.some((p) => p.ssrc === 5), 'the valid packet after the garbage');
    expect(leg.state).toBe(LegState.Connected);
  });

  it('reports a DTMF digit once for an event with retransmitted end packets', async () => {
    const leg = await openLeg();
    const phone = await openPhone();
    await leg.acceptOffer(phoneSdp(phone.port));
    const digits: { digit: string; durationMs: number }[] = [];
    const events: RtpPacket[] = [];
    leg.on('dtmf', (event) => digits.push(event));
    leg.on('rtp', (packet) => {
      if (packet.payloadType === 101) {
        events.push(packet);
      }
    });
    const event = (sequenceNumber: number, end: boolean, duration: number): Uint8Array =>
      serializeRtp({
        marker: sequenceNumber === 1,
        payloadType: 101,
        sequenceNumber,
        timestamp: 8000,
        ssrc: 7,
        csrcs: [],
        extension: undefined,
        payload: Uint8Array.of(5, end ? 0x8a : 0x0a, duration >> 8, duration & 0xff),
      });
    const packets = [
      event(1, false, 160),
      event(2, false, 320),
      event(3, true, 800),
      event(4, true, 800),
      event(5, true, 800),
    ];
    for (const packet of packets) {
      phone.socket.send(packet, leg.port, '127.0.0.1');
    }
    await until(() => events.length === 5, 'all event packets');
    expect(digits).toEqual([{ digit: '5', durationMs: 100 }]);
  });

  it('sends RTCP sender reports with SDES to the RTCP port of the peer', async () => {
    const leg = await openLeg({ rtcpIntervalMs: 20 });
    const phone = await openPhone();
    const phoneRtcp = await openPhone();
    await leg.acceptOffer(
      phoneSdp(phone.port).replace('a=sendrecv', `a=rtcp:${phoneRtcp.port}\r\na=sendrecv`),
    );
    leg.sendRtp(leg.output.writeGenerated(new Uint8Array(160), 0, 160));
    await until(() => phoneRtcp.received.some((data) => data[1] === 200), 'a sender report');
    const report = phoneRtcp.received.find((data) => data[1] === 200)!;
    expect(report.readUInt32BE(4)).toBe(leg.output.ssrc);
    expect(report.readUInt32BE(20)).toBe(1); // sender's packet count
    const srLength = (report.readUInt16BE(2) + 1) * 4;
    expect(report[srLength + 1]).toBe(202); // SDES follows (RFC 3550 §6.1)
  });

  it('echoes the peer’s last sender report (LSR) in its report block', async () => {
    const leg = await openLeg({ rtcpIntervalMs: 20 });
    const phone = await openPhone();
    const phoneRtcp = await openPhone();
    await leg.acceptOffer(
      phoneSdp(phone.port).replace('a=sendrecv', `a=rtcp:${phoneRtcp.port}\r\na=sendrecv`),
    );
    const rtp = serializeRtp({
      marker: false,
      payloadType: 0,
      sequenceNumber: 100,
      timestamp: 0,
      ssrc: 0xabc,
      csrcs: [],
      extension: undefined,
      payload: new Uint8Array(160),
    });
    phone.socket.send(rtp, leg.port, '127.0.0.1');
    const sr = serializeRtcp([
      {
        type: 'sr',
        ssrc: 0xabc,
        ntpSeconds: 0x11223344,
        ntpFraction: 0x55667788,
        rtpTimestamp: 0,
        packetCount: 1,
        octetCount: 160,
        reports: [],
      },
    ]);
    phoneRtcp.socket.send(sr, leg.port + 1, '127.0.0.1');
    const echoed = (): boolean =>
      phoneRtcp.received.some((data) =>
        parseRtcp(data)?.some(
          (packet) =>
            (packet.type === 'rr' || packet.type === 'sr') &&
            packet.reports[0]?.ssrc === 0xabc &&
            packet.reports[0].lastSenderReport === 0x33445566,
        ),
      );
    await until(echoed, 'a report block with LSR');
  });

  it('gives two legs different port pairs from one range and frees them on close', async () => {
    const allocator = freshAllocator(2);
    const a = await openLeg({ portAllocator: allocator });
    const b = await openLeg({ portAllocator: allocator });
    expect(a.port % 2).toBe(0);
    expect(b.port).not.toBe(a.port);
    await expect(RtpLeg.open({ portAllocator: allocator })).rejects.toSatisfy(
      (error: unknown) => isMediaError(error) && error.code === 'MEDIA_NO_PORTS',
    );
    await a.close();
    expect(allocator.inUse).toBe(1);
    const c = await openLeg({ portAllocator: allocator });
    expect(c.port).toBe(a.port);
  });

  it('skips a port pair that another process holds', async () => {
    const allocator = freshAllocator(2);
    const [base] = allocator.range;
    const squatter = createSocket('udp4');
    await new Promise<void>((resolve) => squatter.bind(base + 1, '127.0.0.1', resolve));
    opened.push({ close: () => new Promise<void>((resolve) => squatter.close(() => resolve())) });
    const leg = await openLeg({ portAllocator: allocator });
    expect(leg.port).toBe(base + 2);
  });

  it('fails when the remote party stops sending, but not while it holds without sending', async () => {
    const silent = await openLeg({ mediaTimeoutMs: 100 });
    const holding = await openLeg({ mediaTimeoutMs: 100 });
    const phone = await openPhone();
    const states: string[] = [];
    silent.on('state', (state) => states.push(state));
    await silent.acceptOffer(phoneSdp(phone.port));
    // recvonly from the phone: it will not send, so silence is expected.
    await holding.acceptOffer(phoneSdp(phone.port, { direction: 'recvonly' }));
    await until(() => silent.state === LegState.Failed, 'the silent leg to fail');
    expect(states).toEqual(['connected', 'failed']);
    expect(holding.state).toBe(LegState.Connected);
  });

  it('closes idempotently and rejects negotiation afterwards with InvalidStateError', async () => {
    const leg = await openLeg();
    const states: string[] = [];
    leg.on('state', (state) => states.push(state));
    await Promise.all([leg.close(), leg.close()]);
    expect(leg.state).toBe(LegState.Closed);
    expect(states).toEqual(['closed']);
    await expect(leg.createOffer()).rejects.toSatisfy(isInvalidStateError);
    expect(leg.wantsMedia).toBe(false);
  });

  it('rejects an answer when no offer is pending', async () => {
    const leg = await openLeg();
    await expect(leg.acceptAnswer(phoneSdp(4000))).rejects.toSatisfy(isInvalidStateError);
  });

  it('rejects an answer that refuses the audio stream', async () => {
    const leg = await openLeg();
    await leg.createOffer();
    await expect(leg.acceptAnswer(phoneSdp(0))).rejects.toSatisfy(
      (error: unknown) => isMediaError(error) && error.code === 'MEDIA_SDP_INVALID',
    );
  });
});
