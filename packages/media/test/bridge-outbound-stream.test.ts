import { describe, expect, it } from 'vitest';
import { OutboundRtpStream } from '../src/bridge/outbound-stream.js';
import { RtpSource, TestClock } from './bridge-fixtures.js';

function stream(clock: TestClock, clockRate = 8000): OutboundRtpStream {
  return new OutboundRtpStream({
    clockRate,
    clock,
    ssrc: 0xabcdef01,
    initialSequence: 100,
    initialTimestamp: 5000,
  });
}

const PAYLOAD = new Uint8Array(160).fill(0x55);

describe('OutboundRtpStream.write', () => {
  it('rewrites SSRC, sequence and timestamp, shares the payload and drops CSRCs and extensions', () => {
    const clock = new TestClock();
    const out = stream(clock);
    const source = new RtpSource({
      ssrc: 7,
      payloadType: 0,
      samplesPerPacket: 160,
      sequenceNumber: 40000,
      timestamp: 123456,
    });
    const input = {
      ...source.next(PAYLOAD),
      csrcs: [1, 2],
      extension: { profile: 0xbede, data: new Uint8Array(4) },
    };
    const first = out.write(input, 'a:7');
    expect(first).toMatchObject({
      ssrc: 0xabcdef01,
      sequenceNumber: 100,
      timestamp: 5000,
      marker: true,
      payloadType: 0,
      csrcs: [],
      extension: undefined,
    });
    expect(first.payload).toBe(PAYLOAD);
    expect(first).not.toBe(input);
    clock.advance(20);
    const second = out.write(source.next(PAYLOAD), 'a:7');
    expect(second).toMatchObject({ sequenceNumber: 101, timestamp: 5160, marker: false });
  });

  it('keeps the source spacing, loss gaps and marker bits within one source', () => {
    const clock = new TestClock();
    const out = stream(clock);
    const source = new RtpSource({ ssrc: 7, payloadType: 0, samplesPerPacket: 160 });
    out.write(source.next(PAYLOAD), 'k');
    source.lose(2);
    const afterLoss = out.write(source.next(PAYLOAD), 'k');
    expect(afterLoss.sequenceNumber).toBe(103);
    expect(afterLoss.timestamp).toBe(5000 + 3 * 160);
    source.timestamp += 8000; // one second of silence suppression, then a talkspurt
    const talkspurt = out.write(source.next(PAYLOAD, true), 'k');
    expect(talkspurt).toMatchObject({
      sequenceNumber: 104,
      timestamp: 5000 + 4 * 160 + 8000,
      marker: true,
    });
  });

  it('continues from the last packet by elapsed wall-clock time on a source change, with the marker bit', () => {
    const clock = new TestClock();
    const out = stream(clock);
    const a = new RtpSource({
      ssrc: 1,
      payloadType: 0,
      samplesPerPacket: 160,
      sequenceNumber: 10,
      timestamp: 0,
    });
    for (let i = 0; i < 3; i++) {
      out.write(a.next(PAYLOAD), 'a:1');
      clock.advance(20);
    }
    expect(out.stats).toMatchObject({ lastSequence: 102, lastTimestamp: 5320 });
    clock.advance(1480); // 1.5 s after the last packet
    const b = new RtpSource({
      ssrc: 2,
      payloadType: 0,
      samplesPerPacket: 160,
      sequenceNumber: 60000,
      timestamp: 999999,
    });
    const first = out.write(b.next(PAYLOAD), 'b:2');
    expect(first).toMatchObject({ sequenceNumber: 103, timestamp: 5320 + 12000, marker: true });
    const next = out.write(b.next(PAYLOAD), 'b:2');
    expect(next).toMatchObject({ sequenceNumber: 104, timestamp: 5320 + 12160, marker: false });
  });

  it('advances at least one packet duration on an immediate source change (no overlapping media)', () => {
    const clock = new TestClock();
    const out = stream(clock, 48000);
    const a = new RtpSource({ ssrc: 1, payloadType: 111, samplesPerPacket: 960 });
    out.write(a.next(PAYLOAD), 'a');
    out.write(a.next(PAYLOAD), 'a');
    const b = new RtpSource({ ssrc: 2, payloadType: 111, samplesPerPacket: 960, timestamp: 77 });
    const first = out.write(b.next(PAYLOAD), 'b');
    expect(first.timestamp).toBe(5000 + 960 + 960);
  });

  it('wraps sequence numbers and timestamps modulo 2^16 and 2^32', () => {
    const clock = new TestClock();
    const out = new OutboundRtpStream({
      clockRate: 8000,
      clock,
      ssrc: 1,
      initialSequence: 65535,
      initialTimestamp: 0xffffff00,
    });
    const source = new RtpSource({ ssrc: 9, payloadType: 0, samplesPerPacket: 160 });
    const first = out.write(source.next(PAYLOAD), 'k');
    const second = out.write(source.next(PAYLOAD), 'k');
    expect([first.sequenceNumber, second.sequenceNumber]).toEqual([65535, 0]);
    expect([first.timestamp, second.timestamp]).toEqual([0xffffff00, (0xffffff00 + 160) % 2 ** 32]);
    expect(out.stats.lastSequence).toBe(0);
  });

  it('forwards a reordered packet with its own number without moving the stream position back', () => {
    const clock = new TestClock();
    const out = stream(clock);
    const source = new RtpSource({ ssrc: 7, payloadType: 0, samplesPerPacket: 160 });
    const p1 = source.next(PAYLOAD);
    const p2 = source.next(PAYLOAD);
    const p3 = source.next(PAYLOAD);
    out.write(p1, 'k');
    out.write(p3, 'k');
    const late = out.write(p2, 'k');
    expect(late.sequenceNumber).toBe(101);
    expect(out.stats).toMatchObject({
      lastSequence: 102,
      lastTimestamp: 5320,
      packets: 3,
      octets: 480,
    });
  });

  it('draws a random SSRC, sequence and timestamp when none are given (RFC 3550 §5.1)', () => {
    const clock = new TestClock();
    const ssrcs = new Set<number>();
    for (let i = 0; i < 8; i++) {
      const out = new OutboundRtpStream({ clockRate: 8000, clock });
      ssrcs.add(out.ssrc);
      expect(out.ssrc).toBeGreaterThanOrEqual(0);
      expect(out.ssrc).toBeLessThan(2 ** 32);
    }
    expect(ssrcs.size).toBeGreaterThan(1);
    expect(() => new OutboundRtpStream({ clockRate: 0, clock })).toThrow(TypeError);
  });
});

describe('OutboundRtpStream generated media', () => {
  it('numbers generated packets contiguously and spaces timestamps by the sample count', () => {
    const clock = new TestClock();
    const out = stream(clock, 48000);
    const p1 = out.writeGenerated(PAYLOAD, 111, 960);
    const p2 = out.writeGenerated(PAYLOAD, 111, 960);
    const p3 = out.writeGenerated(PAYLOAD, 111, 960, true);
    expect(p1).toMatchObject({
      sequenceNumber: 100,
      timestamp: 5000,
      marker: true,
      payloadType: 111,
      ssrc: 0xabcdef01,
    });
    expect(p2).toMatchObject({ sequenceNumber: 101, timestamp: 5960, marker: false });
    expect(p3).toMatchObject({ sequenceNumber: 102, timestamp: 6920, marker: true });
  });

  it('switches between relayed and generated media with wall-clock continuity both ways', () => {
    const clock = new TestClock();
    const out = stream(clock);
    const source = new RtpSource({ ssrc: 3, payloadType: 0, samplesPerPacket: 160, timestamp: 42 });
    out.write(source.next(PAYLOAD), 'a:3');
    clock.advance(100);
    const mixed = out.writeGenerated(PAYLOAD, 0, 160);
    expect(mixed).toMatchObject({ sequenceNumber: 101, timestamp: 5800, marker: true });
    clock.advance(20);
    out.writeGenerated(PAYLOAD, 0, 160);
    clock.advance(500);
    const back = out.write(source.next(PAYLOAD), 'a:3');
    expect(back).toMatchObject({ sequenceNumber: 103, timestamp: 5960 + 4000, marker: true });
  });

  it('skip() jumps the generated timeline without sending', () => {
    const clock = new TestClock();
    const out = stream(clock);
    out.writeGenerated(PAYLOAD, 0, 160);
    out.skip(800);
    const next = out.writeGenerated(PAYLOAD, 0, 160, true);
    expect(next).toMatchObject({ sequenceNumber: 101, timestamp: 5000 + 160 + 800 });
  });

  it('writes telephone-events on one timestamp per event and keeps later audio after them (RFC 4733 §2.5.1)', () => {
    const clock = new TestClock();
    const out = stream(clock);
    out.writeGenerated(PAYLOAD, 0, 160);
    const event = new Uint8Array(4);
    const e1 = out.writeEvent(event, 101, true, 160);
    const e2 = out.writeEvent(event, 101, false, 320);
    const e3 = out.writeEvent(event, 101, false, 800);
    expect([e1.timestamp, e2.timestamp, e3.timestamp]).toEqual([5160, 5160, 5160]);
    expect([e1.marker, e2.marker, e3.marker]).toEqual([true, false, false]);
    expect([e1.sequenceNumber, e2.sequenceNumber, e3.sequenceNumber]).toEqual([101, 102, 103]);
    // Audio resumes after the event's 800 units instead of overlapping it.
    expect(out.writeGenerated(PAYLOAD, 0, 160).timestamp).toBe(5160 + 800);
    const next = out.writeEvent(event, 101, true, 160);
    expect(next).toMatchObject({ timestamp: 5160 + 960, marker: true });
  });

  it('resync() makes the next packet a new source even with the same key', () => {
    const clock = new TestClock();
    const out = stream(clock);
    const source = new RtpSource({ ssrc: 3, payloadType: 0, samplesPerPacket: 160 });
    out.write(source.next(PAYLOAD), 'a');
    clock.advance(20);
    out.resync();
    source.lose(500); // packets withheld during a hold
    clock.advance(10_000);
    const resumed = out.write(source.next(PAYLOAD), 'a');
    expect(resumed).toMatchObject({ sequenceNumber: 101, timestamp: 5000 + 80_160, marker: true });
  });

  it('extrapolates the RTP timestamp of a sender report from the last packet', () => {
    const clock = new TestClock();
    const out = stream(clock, 48000);
    out.writeGenerated(PAYLOAD, 111, 960);
    clock.advance(20);
    out.writeGenerated(PAYLOAD, 111, 960);
    expect(out.stats.lastSentAt).toBe(clock.now());
    expect(out.timestampAt(clock.now() + 250)).toBe(5960 + 12000);
  });
});
