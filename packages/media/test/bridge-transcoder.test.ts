import { describe, expect, it } from 'vitest';
import { ToneGenerator, rms, toneAmplitude } from '../src/audio/goertzel.js';
import { OutboundRtpStream } from '../src/bridge/outbound-stream.js';
import { Transcoder } from '../src/bridge/transcoder.js';
import { decodeMulaw, encodeMulaw } from '../src/codec/g711.js';
import { OpusDecoder, OpusEncoder } from '../src/codec/opus.js';
import type { RtpPacket } from '../src/rtp/packet.js';
import { OPUS, PCMU, RtpSource, TestClock } from './bridge-fixtures.js';

function pipeline(
  from = PCMU,
  to = OPUS,
  extra: Partial<ConstructorParameters<typeof Transcoder>[0]> = {},
): { sent: RtpPacket[]; transcoder: Transcoder; clock: TestClock } {
  const clock = new TestClock();
  const sent: RtpPacket[] = [];
  const output = new OutboundRtpStream({
    clockRate: to.clockRate,
    clock,
    ssrc: 5,
    initialSequence: 0,
    initialTimestamp: 0,
  });
  const transcoder = new Transcoder({ from, to, output, send: (p) => sent.push(p), ...extra });
  return { sent, transcoder, clock };
}

function decodeOpus(packets: RtpPacket[]): Int16Array {
  const decoder = new OpusDecoder({ sampleRate: 48000 });
  const chunks = packets.map((p) => decoder.decode(p.payload)!.slice());
  const out = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

describe('Transcoder', () => {
  it('conceals a lost packet in its time slot: output stays contiguous, one frame per 20 ms', () => {
    const { sent, transcoder } = pipeline();
    const tone = new ToneGenerator({ frequency: 440, sampleRate: 8000, amplitude: 8000 });
    const source = new RtpSource({ ssrc: 1, payloadType: 0, samplesPerPacket: 160 });
    for (let i = 0; i < 20; i++) {
      const pcm = tone.next(160);
      if (i === 10 || i === 11) {
        source.lose(1);
        continue;
      }
      transcoder.push(source.next(encodeMulaw(pcm)));
    }
    expect(sent).toHaveLength(20);
    expect(sent.map((p) => p.timestamp)).toEqual(sent.map((_, i) => i * 960));
    expect(sent.map((p) => p.sequenceNumber)).toEqual(sent.map((_, i) => i));
    expect(transcoder.stats).toMatchObject({ decoded: 18, concealedSamples: 320, encoded: 20 });
    // The concealed frames are not silence: the tone fades rather than stopping dead.
    const pcm = decodeOpus(sent);
    expect(rms(pcm, 10 * 960, 11 * 960)).toBeGreaterThan(500);
  });

  it('reproduces a silence period as a timestamp jump with the marker bit, not as concealment', () => {
    const { sent, transcoder } = pipeline();
    const source = new RtpSource({ ssrc: 1, payloadType: 0, samplesPerPacket: 160 });
    const frame = encodeMulaw(new ToneGenerator({ frequency: 300, sampleRate: 8000 }).next(160));
    for (let i = 0; i < 5; i++) {
      transcoder.push(source.next(frame));
    }
    source.timestamp += 8000; // one second without packets (VAD / silence suppression)
    transcoder.push(source.next(frame, true));
    transcoder.push(source.next(frame));
    expect(sent.map((p) => p.timestamp)).toEqual([
      0,
      960,
      1920,
      2880,
      3840,
      4800 + 48000,
      5760 + 48000,
    ]);
    expect(sent.map((p) => p.marker)).toEqual([true, false, false, false, false, true, false]);
    expect(transcoder.stats.concealedSamples).toBe(0);
  });

  it('drops duplicate and late packets', () => {
    const { sent, transcoder } = pipeline();
    const source = new RtpSource({ ssrc: 1, payloadType: 0, samplesPerPacket: 160 });
    const frame = new Uint8Array(160).fill(0xff);
    const p1 = source.next(frame);
    const p2 = source.next(frame);
    const p3 = source.next(frame);
    transcoder.push(p1);
    transcoder.push(p3);
    transcoder.push(p2);
    transcoder.push(p3);
    expect(transcoder.stats).toMatchObject({ decoded: 2, late: 2, concealedSamples: 160 });
    expect(sent).toHaveLength(3);
  });

  it('re-frames other packetisations into 20 ms output frames', () => {
    const { sent, transcoder } = pipeline();
    const source = new RtpSource({ ssrc: 1, payloadType: 0, samplesPerPacket: 240 }); // 30 ms
    const frame = new Uint8Array(240).fill(0xff);
    for (let i = 0; i < 4; i++) {
      transcoder.push(source.next(frame));
    }
    expect(sent).toHaveLength(6);
    expect(sent.every((p) => p.payload.length > 0)).toBe(true);
  });

  it('conceals lost Opus frames with libopus PLC on the way to G.711', () => {
    const { sent, transcoder } = pipeline(OPUS, PCMU);
    const encoder = new OpusEncoder({ sampleRate: 48000 });
    const tone = new ToneGenerator({ frequency: 440, sampleRate: 48000, amplitude: 8000 });
    const source = new RtpSource({ ssrc: 1, payloadType: 111, samplesPerPacket: 960 });
    for (let i = 0; i < 30; i++) {
      const payload = encoder.encode(tone.next(960));
      if (i === 20) {
        source.lose(1);
        continue;
      }
      transcoder.push(source.next(payload));
    }
    expect(sent).toHaveLength(30);
    expect(sent.map((p) => p.timestamp)).toEqual(sent.map((_, i) => i * 160));
    expect(transcoder.stats.concealedSamples).toBe(160);
    const pcm = decodeMulaw(Uint8Array.from(sent.flatMap((p) => Array.from(p.payload))));
    expect(toneAmplitude(pcm, 8000, 440, 20 * 160, 21 * 160)).toBeGreaterThan(2000);
  });

  it('uses the resampler when Opus is forced to run at 48 kHz', () => {
    const { sent, transcoder } = pipeline(PCMU, OPUS, { codec: { opusSampleRate: 48000 } });
    const tone = new ToneGenerator({ frequency: 440, sampleRate: 8000, amplitude: 8000 });
    const source = new RtpSource({ ssrc: 1, payloadType: 0, samplesPerPacket: 160 });
    for (let i = 0; i < 50; i++) {
      transcoder.push(source.next(encodeMulaw(tone.next(160))));
    }
    expect(sent).toHaveLength(50);
    const pcm = decodeOpus(sent);
    expect(toneAmplitude(pcm, 48000, 440, 9600, 33600)).toBeGreaterThan(6000);
  });

  it('ignores pushes after close(), which is idempotent', () => {
    const { sent, transcoder } = pipeline();
    transcoder.close();
    transcoder.close();
    transcoder.push(
      new RtpSource({ ssrc: 1, payloadType: 0, samplesPerPacket: 160 }).next(new Uint8Array(160)),
    );
    expect(sent).toHaveLength(0);
  });
});
