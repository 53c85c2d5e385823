import { describe, expect, it } from 'vitest';
import {
  isRtcp,
  parseRtp,
  rtpSerializedLength,
  serializeRtp,
  serializeRtpInto,
  type RtpPacket,
} from '../src/rtp/packet.js';

function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

// V=2, PT 0 (PCMU), seq 0x1234, ts 0x00000a0b, SSRC 0xdeadbeef, 4 payload octets.
const MINIMAL = '80001234 00000a0b deadbeef ffffffff';

// V=2 P=1 X=1 CC=2, M=1 PT=111, seq 65535, ts 2^32−1, SSRC 0x11223344, CSRCs 0x01020304 and
// 0xa0b0c0d0, extension profile 0xbede of one word (RFC 8285 element id 1, one octet 0x7f,
// two padding octets), payload dead, then four padding octets whose last one counts them.
const FULL = `b2ef ffff ffffffff 11223344 01020304 a0b0c0d0
              bede 0001 107f0000
              dead
              00000004`;

describe('parseRtp', () => {
  it('parses the fixed header and exposes the payload as a view of the input', () => {
    const data = hex(MINIMAL);
    const packet = parseRtp(data)!;
    expect(packet).toMatchObject({
      marker: false,
      payloadType: 0,
      sequenceNumber: 0x1234,
      timestamp: 0x0a0b,
      ssrc: 0xdeadbeef,
      csrcs: [],
      extension: undefined,
      padding: 0,
    });
    expect(toHex(packet.payload)).toBe('ffffffff');
    expect(packet.payload.buffer).toBe(data.buffer);
    expect(packet.payload.byteOffset).toBe(12);
  });

  it('parses CSRCs, a header extension, the marker bit and padding (RFC 3550 §5.1, §5.3.1)', () => {
    const packet = parseRtp(hex(FULL))!;
    expect(packet.marker).toBe(true);
    expect(packet.payloadType).toBe(111);
    expect(packet.sequenceNumber).toBe(65535);
    expect(packet.timestamp).toBe(0xffffffff);
    expect(packet.ssrc).toBe(0x11223344);
    expect(packet.csrcs).toEqual([0x01020304, 0xa0b0c0d0]);
    expect(packet.extension?.profile).toBe(0xbede);
    expect(toHex(packet.extension!.data)).toBe('107f0000');
    expect(toHex(packet.payload)).toBe('dead');
    expect(packet.padding).toBe(4);
  });

  it('accepts a packet with an empty payload', () => {
    const packet = parseRtp(hex('80081234 00000001 00000002'))!;
    expect(packet.payloadType).toBe(8);
    expect(packet.payload.length).toBe(0);
  });

  it.each([
    ['empty input', ''],
    ['11 octets, shorter than the fixed header', '80001234 00000a0b deadbe'],
    ['version 1', '40001234 00000a0b deadbeef ff'],
    ['version 0 (e.g. STUN)', '00010000 2112a442 00000000 00000000'],
    ['a CSRC count beyond the end', '83001234 00000a0b deadbeef 01020304 05060708'],
    ['an extension header cut short', '90001234 00000a0b deadbeef bede'],
    ['an extension length beyond the end', '90001234 00000a0b deadbeef bede0002 10ff0000'],
    ['a padding count of zero', 'a0001234 00000a0b deadbeef ffff00'],
    ['a padding count beyond the payload', 'a0001234 00000a0b deadbeef ff05'],
    ['an RTCP sender report', '80c80006 deadbeef 00000000 00000000 00000000 00000000 00000000'],
    ['an RTCP receiver report (PT 201)', '80c90001 deadbeef'],
  ])('returns undefined for %s', (_name, text) => {
    expect(parseRtp(hex(text))).toBeUndefined();
  });

  it('never throws on random garbage', () => {
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed >>> 24;
    };
    for (let i = 0; i < 5000; i++) {
      const data = new Uint8Array(random() % 64);
      for (let j = 0; j < data.length; j++) {
        data[j] = random();
      }
      if (data.length > 0) {
        data[0] = (data[0]! & 0x3f) | 0x80;
      }
      const packet = parseRtp(data);
      if (packet) {
        expect(packet.payload.length).toBeLessThanOrEqual(data.length - 12);
      }
    }
  });
});

describe('serializeRtp', () => {
  it.each([
    ['minimal', MINIMAL],
    ['CSRCs, extension and padding', FULL],
  ])('round-trips the %s fixture byte for byte', (_name, text) => {
    const data = hex(text);
    expect(toHex(serializeRtp(parseRtp(data)!))).toBe(toHex(data));
  });

  it('zero-pads extension data to a 32-bit boundary and counts the length in words', () => {
    const packet: RtpPacket = {
      marker: true,
      payloadType: 96,
      sequenceNumber: 1,
      timestamp: 2,
      ssrc: 3,
      csrcs: [],
      extension: { profile: 0xbede, data: hex('22aabbcc dd') },
      payload: hex('01'),
    };
    expect(toHex(serializeRtp(packet))).toBe(
      '90e00001' + '00000002' + '00000003' + 'bede0002' + '22aabbccdd000000' + '01',
    );
  });

  it('writes padding as zeros ended by the count', () => {
    const packet: RtpPacket = {
      marker: false,
      payloadType: 0,
      sequenceNumber: 0,
      timestamp: 0,
      ssrc: 0,
      csrcs: [],
      extension: undefined,
      payload: hex('aa'),
      padding: 3,
    };
    expect(toHex(serializeRtp(packet))).toBe(
      'a0000000' + '00000000' + '00000000' + 'aa' + '000003',
    );
  });

  it('writes into a caller buffer at an offset and reports the length', () => {
    const packet = parseRtp(hex(MINIMAL))!;
    const target = new Uint8Array(40).fill(0xee);
    const written = serializeRtpInto(packet, target, 8);
    expect(written).toBe(rtpSerializedLength(packet));
    expect(toHex(target.subarray(8, 8 + written))).toBe(toHex(hex(MINIMAL)));
    expect(target[7]).toBe(0xee);
    expect(target[8 + written]).toBe(0xee);
    expect(() => serializeRtpInto(packet, new Uint8Array(10), 0)).toThrow(RangeError);
  });

  it('masks out-of-range field values to their wire width', () => {
    const packet: RtpPacket = {
      marker: false,
      payloadType: 0x80 | 8,
      sequenceNumber: 0x1_0005,
      timestamp: 2 ** 32 + 7,
      ssrc: -1,
      csrcs: [],
      extension: undefined,
      payload: new Uint8Array(0),
    };
    expect(toHex(serializeRtp(packet))).toBe('80080005' + '00000007' + 'ffffffff');
  });
});

describe('isRtcp (RFC 5761 §4)', () => {
  it.each([
    ['an SR (200)', '80c80006', true],
    ['an RR with one report block (201)', '81c90007', true],
    ['PT 192 (FIR, lower bound)', '80c00001', true],
    ['PT 223 (upper bound)', '80df0001', true],
    ['RTP PT 0', '80000001', false],
    ['RTP PT 111 with marker (239)', '80ef0001', false],
    ['RTP PT 63 with marker (191)', '80bf0001', false],
    ['wrong version', '40c80006', false],
    ['too short', '80c8', false],
  ])('classifies %s', (_name, text, expected) => {
    expect(isRtcp(hex(text))).toBe(expected);
  });
});
