import { describe, expect, it } from 'vitest';
import {
  DtmfReceiver,
  digitToEvent,
  eventToDigit,
  isTelephoneEventEnd,
  parseTelephoneEvent,
  rescaleTelephoneEvent,
  serializeTelephoneEvent,
  type DtmfDigitEvent,
} from '../src/dtmf/telephone-event.js';
import type { RtpPacket } from '../src/rtp/packet.js';

function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

describe('telephone-event payload (RFC 4733 §2.3)', () => {
  it('parses and serializes an event block', () => {
    // Event 5, E=1, volume 10, duration 800.
    expect(parseTelephoneEvent(hex('058a0320'))).toEqual({
      event: 5,
      end: true,
      volume: 10,
      duration: 800,
    });
    expect(parseTelephoneEvent(hex('0b0a00a0 ffffffff'))).toEqual({
      event: 11,
      end: false,
      volume: 10,
      duration: 160,
    });
    expect(
      Buffer.from(
        serializeTelephoneEvent({ event: 5, end: true, volume: 10, duration: 800 }),
      ).toString('hex'),
    ).toBe('058a0320');
    expect(parseTelephoneEvent(hex('058a03'))).toBeUndefined();
  });

  it('ignores the R bit and clamps out-of-range fields when serializing', () => {
    expect(parseTelephoneEvent(hex('01cf0010'))).toMatchObject({ end: true, volume: 15 });
    const bytes = serializeTelephoneEvent({ event: 1, end: false, volume: 99, duration: 70000 });
    expect(Buffer.from(bytes).toString('hex')).toBe('013fffff');
  });

  it('maps digits to event codes and back (RFC 4733 §3.2)', () => {
    expect(['0', '9', '*', '#', 'A', 'D'].map(digitToEvent)).toEqual([0, 9, 10, 11, 12, 15]);
    expect(digitToEvent('d')).toBe(15);
    expect(digitToEvent('x')).toBeUndefined();
    expect(eventToDigit(10)).toBe('*');
    expect(eventToDigit(16)).toBeUndefined();
  });

  it('rescales durations between clock rates and reads the end bit', () => {
    const rescaled = rescaleTelephoneEvent(hex('058a0320'), 8000, 48000);
    expect(parseTelephoneEvent(rescaled)).toEqual({
      event: 5,
      end: true,
      volume: 10,
      duration: 4800,
    });
    expect(parseTelephoneEvent(rescaleTelephoneEvent(hex('050a4000'), 8000, 48000))!.duration).toBe(
      0xffff,
    );
    expect(isTelephoneEventEnd(rescaled)).toBe(true);
    expect(isTelephoneEventEnd(hex('050a'))).toBe(false);
  });
});

describe('DtmfReceiver', () => {
  const PT = 101;
  let now = 0;
  const clock = { now: () => now };
  let sequence = 0;

  function packet(
    event: number,
    duration: number,
    timestamp: number,
    end = false,
    ssrc = 0x42,
  ): RtpPacket {
    return {
      marker: false,
      payloadType: PT,
      sequenceNumber: sequence++,
      timestamp,
      ssrc,
      csrcs: [],
      extension: undefined,
      payload: serializeTelephoneEvent({ event, end, volume: 10, duration }),
    };
  }

  function receiver(): { receiver: DtmfReceiver; digits: DtmfDigitEvent[] } {
    const r = new DtmfReceiver({ payloadType: PT, clockRate: 8000, clock });
    const digits: DtmfDigitEvent[] = [];
    r.on('digit', (d) => digits.push(d));
    return { receiver: r, digits };
  }

  it('reports a key press once, on the first end packet, ignoring the retransmissions', () => {
    const { receiver: r, digits } = receiver();
    for (const duration of [160, 320, 480, 640]) {
      r.receive(packet(1, duration, 8000));
    }
    expect(digits).toEqual([]);
    for (let i = 0; i < 3; i++) {
      r.receive(packet(1, 800, 8000, true));
    }
    expect(digits).toEqual([
      {
        digit: '1',
        event: 1,
        durationMs: 100,
        volume: 10,
        timestamp: 8000,
        ssrc: 0x42,
        ended: true,
      },
    ]);
  });

  it('reports the same digit pressed twice as two events (distinct timestamps)', () => {
    const { receiver: r, digits } = receiver();
    r.receive(packet(5, 800, 1000, true));
    r.receive(packet(5, 800, 1000, true));
    r.receive(packet(5, 800, 3000, true));
    expect(digits.map((d) => [d.digit, d.timestamp])).toEqual([
      ['5', 1000],
      ['5', 3000],
    ]);
  });

  it('reports an event whose end packets were lost when the next event starts', () => {
    const { receiver: r, digits } = receiver();
    r.receive(packet(2, 160, 1000));
    r.receive(packet(2, 480, 1000));
    r.receive(packet(3, 160, 5000));
    expect(digits).toEqual([expect.objectContaining({ digit: '2', durationMs: 60, ended: false })]);
    r.receive(packet(2, 480, 1000)); // a straggler of the finished event
    r.receive(packet(3, 400, 5000, true));
    expect(digits.map((d) => d.digit)).toEqual(['2', '3']);
  });

  it('reports an event left open after the timeout on poll()', () => {
    const { receiver: r, digits } = receiver();
    r.receive(packet(9, 160, 1000));
    now += 999;
    r.poll();
    expect(digits).toEqual([]);
    now += 1;
    r.poll();
    expect(digits).toEqual([expect.objectContaining({ digit: '9', ended: false })]);
    r.receive(packet(9, 320, 1000, true));
    expect(digits).toHaveLength(1);
  });

  it('joins the segments of a long event (RFC 4733 §2.5.1.3)', () => {
    const { receiver: r, digits } = receiver();
    r.receive(packet(0, 32000, 1000));
    r.receive(packet(0, 0xffff, 1000));
    r.receive(packet(0, 8000, 1000 + 0xffff));
    r.receive(packet(0, 16000, 1000 + 0xffff, true));
    expect(digits).toEqual([
      expect.objectContaining({
        digit: '0',
        timestamp: 1000,
        durationMs: Math.round(((0xffff + 16000) * 1000) / 8000),
      }),
    ]);
  });

  it('ignores other payload types, malformed payloads and non-DTMF events', () => {
    const { receiver: r, digits } = receiver();
    r.receive({ ...packet(1, 800, 1, true), payloadType: 0 });
    r.receive({ ...packet(1, 800, 2, true), payload: hex('01') });
    r.receive(packet(16, 800, 3, true)); // flash
    expect(digits).toEqual([]);
  });

  it('keeps events of different SSRCs apart and reports each once', () => {
    const { receiver: r, digits } = receiver();
    r.receive(packet(4, 160, 1000, false, 1));
    r.receive(packet(4, 800, 1000, true, 2));
    r.receive(packet(4, 800, 1000, true, 1)); // the first source's end, after it was closed
    r.receive(packet(4, 800, 1000, true, 2));
    expect(digits.map((d) => [d.ssrc, d.ended])).toEqual([
      [1, false],
      [2, true],
    ]);
  });

  it('stops reporting after close()', () => {
    const { receiver: r, digits } = receiver();
    r.receive(packet(7, 160, 1000));
    r.close();
    r.close();
    r.receive(packet(7, 800, 1000, true));
    r.poll();
    expect(digits).toEqual([]);
    expect(r.closed).toBe(true);
    expect(() => r.assertOpen()).toThrow(
      expect.objectContaining({ code: 'INVALID_STATE' }) as Error,
    );
  });
});
