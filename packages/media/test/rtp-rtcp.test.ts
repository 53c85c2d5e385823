import { describe, expect, it } from 'vitest';
import {
  ntpFromUnixMs,
  ntpMiddle32,
  parseRtcp,
  serializeGoodbye,
  serializeReceiverReport,
  serializeRtcp,
  serializeSenderReport,
  serializeSourceDescription,
  type RtcpReportBlock,
} from '../src/rtp/rtcp.js';

function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

// SR without report blocks: SSRC 0x11223344, NTP e4b2d1c0.80000000, RTP ts 0x12345, 10 packets, 1600 octets.
const SR = '80c80006 11223344 e4b2d1c0 80000000 00012345 0000000a 00000640';
// One report block on SSRC 0x55667788: fraction 64/256, cumulative lost −2, highest 0x00010010,
// jitter 32, LSR b2d1c080, DLSR 1 s.
const BLOCK = '55667788 40fffffe 00010010 00000020 b2d1c080 00010000';
const SR_WITH_BLOCK = `81c8000c 11223344 e4b2d1c0 80000000 00012345 0000000a 00000640 ${BLOCK}`;
const RR = `81c90007 11223344 ${BLOCK}`;
// SDES, one chunk: CNAME "user@example.com" (16 octets), null item, one padding octet.
const SDES = '81ca0006 11223344 0110 75736572406578616d706c652e636f6d 0000';
// BYE of one SSRC with reason "done".
const BYE = '81cb0003 11223344 04646f6e 65000000';
// APP packet (PT 204), skipped by the parser.
const APP = '80cc0002 11223344 74657374';

const EXPECTED_BLOCK: RtcpReportBlock = {
  ssrc: 0x55667788,
  fractionLost: 64,
  packetsLost: -2,
  highestSequence: 0x00010010,
  jitter: 32,
  lastSenderReport: 0xb2d1c080,
  delaySinceLastSenderReport: 0x10000,
};

describe('parseRtcp', () => {
  it('parses a sender report', () => {
    expect(parseRtcp(hex(SR))).toEqual([
      {
        type: 'sr',
        ssrc: 0x11223344,
        ntpSeconds: 0xe4b2d1c0,
        ntpFraction: 0x80000000,
        rtpTimestamp: 0x12345,
        packetCount: 10,
        octetCount: 1600,
        reports: [],
      },
    ]);
  });

  it('parses report blocks with a negative cumulative loss', () => {
    const [sr] = parseRtcp(hex(SR_WITH_BLOCK))!;
    expect(sr).toMatchObject({ type: 'sr', reports: [EXPECTED_BLOCK] });
  });

  it('parses a compound RR + SDES + APP + BYE, skipping the APP packet', () => {
    const packets = parseRtcp(hex(RR + SDES + APP + BYE))!;
    expect(packets).toEqual([
      { type: 'rr', ssrc: 0x11223344, reports: [EXPECTED_BLOCK] },
      {
        type: 'sdes',
        chunks: [{ ssrc: 0x11223344, items: [{ type: 1, value: 'user@example.com' }] }],
      },
      { type: 'bye', ssrcs: [0x11223344], reason: 'done' },
    ]);
  });

  it('honours padding on the last packet (RFC 3550 §6.4.1)', () => {
    // BYE without reason, P bit, 4 octets of padding.
    const packets = parseRtcp(hex('a1cb0002 11223344 00000004'));
    expect(packets).toEqual([{ type: 'bye', ssrcs: [0x11223344], reason: undefined }]);
  });

  it.each([
    ['empty input', ''],
    ['three octets', '80c800'],
    ['version 1', '40c80006 11223344 e4b2d1c0 80000000 00012345 0000000a 00000640'],
    [
      'a length beyond the datagram',
      '80c80007 11223344 e4b2d1c0 80000000 00012345 0000000a 00000640',
    ],
    ['trailing garbage shorter than a header', `${SR} 8000`],
    [
      'an SR announcing a block it does not carry',
      '81c80006 11223344 e4b2d1c0 80000000 00012345 0000000a 00000640',
    ],
    ['an SDES item overrunning its packet', '81ca0002 11223344 01100000'],
    ['a BYE reason overrunning its packet', '81cb0002 11223344 0a646f6e'],
    ['a padding count of zero', 'a1cb0002 11223344 00000000'],
    ['a padding count larger than the packet', 'a1cb0002 11223344 000000ff'],
    ['RTP with a version-2 header', `${SR} 80000001 00000000 00000000`],
  ])('returns undefined for %s', (_name, text) => {
    expect(parseRtcp(hex(text))).toBeUndefined();
  });

  it('never throws on random garbage', () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed >>> 24;
    };
    let parsed = 0;
    for (let i = 0; i < 5000; i++) {
      const data = new Uint8Array(random() % 80);
      for (let j = 0; j < data.length; j++) {
        data[j] = random();
      }
      if (data.length > 1) {
        data[0] = 0x80 | (data[0]! & 0x3f);
        data[1] = 200 + (data[1]! % 5);
      }
      if (parseRtcp(data) !== undefined) {
        parsed++;
      }
    }
    expect(parsed).toBeLessThan(5000);
  });
});

describe('RTCP serialization', () => {
  it('builds the sender report fixtures byte for byte', () => {
    const base = {
      ssrc: 0x11223344,
      ntpSeconds: 0xe4b2d1c0,
      ntpFraction: 0x80000000,
      rtpTimestamp: 0x12345,
      packetCount: 10,
      octetCount: 1600,
    };
    expect(toHex(serializeSenderReport({ ...base, reports: [] }))).toBe(toHex(hex(SR)));
    expect(toHex(serializeSenderReport({ ...base, reports: [EXPECTED_BLOCK] }))).toBe(
      toHex(hex(SR_WITH_BLOCK)),
    );
  });

  it('builds RR, SDES and BYE fixtures byte for byte', () => {
    expect(toHex(serializeReceiverReport({ ssrc: 0x11223344, reports: [EXPECTED_BLOCK] }))).toBe(
      toHex(hex(RR)),
    );
    expect(
      toHex(
        serializeSourceDescription({
          chunks: [{ ssrc: 0x11223344, items: [{ type: 1, value: 'user@example.com' }] }],
        }),
      ),
    ).toBe(toHex(hex(SDES)));
    expect(toHex(serializeGoodbye({ ssrcs: [0x11223344], reason: 'done' }))).toBe(toHex(hex(BYE)));
  });

  it('round-trips a compound packet', () => {
    const compound = hex(RR + SDES + BYE);
    expect(toHex(serializeRtcp(parseRtcp(compound)!))).toBe(toHex(compound));
  });

  it('pads an SDES chunk whose items end on a word boundary with a full null word', () => {
    // 4 (SSRC) + 2 + 2 ("ab") = 8: the null item needs a whole extra word.
    const sdes = serializeSourceDescription({
      chunks: [{ ssrc: 1, items: [{ type: 1, value: 'ab' }] }],
    });
    expect(toHex(sdes)).toBe('81ca0003' + '00000001' + '01026162' + '00000000');
    expect(parseRtcp(sdes)).toEqual([
      { type: 'sdes', chunks: [{ ssrc: 1, items: [{ type: 1, value: 'ab' }] }] },
    ]);
  });

  it('clamps the cumulative loss to 24 bits and rejects more than 31 blocks', () => {
    const rr = serializeReceiverReport({
      ssrc: 1,
      reports: [{ ...EXPECTED_BLOCK, packetsLost: -10_000_000 }],
    });
    expect(parseRtcp(rr)![0]).toMatchObject({ reports: [{ packetsLost: -0x800000 }] });
    const blocks = Array.from({ length: 32 }, () => EXPECTED_BLOCK);
    expect(() => serializeReceiverReport({ ssrc: 1, reports: blocks })).toThrow(RangeError);
  });
});

describe('NTP helpers', () => {
  it('converts Unix milliseconds to NTP and takes the middle 32 bits', () => {
    expect(ntpFromUnixMs(0)).toEqual({ ntpSeconds: 2_208_988_800, ntpFraction: 0 });
    expect(ntpFromUnixMs(1500)).toEqual({ ntpSeconds: 2_208_988_801, ntpFraction: 0x80000000 });
    expect(ntpMiddle32(0xe4b2d1c0, 0x80000000)).toBe(0xd1c08000);
  });
});
