import { describe, expect, it } from 'vitest';
import {
  audioLevelElement,
  audioLevelOctet,
  findHeaderExtension,
  parseHeaderExtensions,
  readAudioLevel,
  serializeHeaderExtensions,
} from '../src/rtp/extensions.js';
import { parseRtp, serializeRtp } from '../src/rtp/packet.js';

function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

// An Opus packet from a browser: one-byte extensions id 1 = RFC 6464 audio level
// (V=1, 42 −dBov → 0xaa), id 3 = 3-octet abs-send-time, one padding octet.
const BROWSER_PACKET = '906f0001 00000960 0000abcd bede0002 10aa3212 34560000 fcff';

describe('RFC 8285 header extensions', () => {
  it('parses one-byte elements out of a real packet layout', () => {
    const packet = parseRtp(hex(BROWSER_PACKET))!;
    const elements = parseHeaderExtensions(packet.extension!)!;
    expect(elements.map((e) => [e.id, toHex(e.data)])).toEqual([
      [1, 'aa'],
      [3, '123456'],
    ]);
    expect(toHex(findHeaderExtension(packet.extension, 3)!)).toBe('123456');
    expect(findHeaderExtension(packet.extension, 2)).toBeUndefined();
    expect(findHeaderExtension(undefined, 1)).toBeUndefined();
  });

  it('reads the RFC 6464 audio level', () => {
    const packet = parseRtp(hex(BROWSER_PACKET))!;
    expect(readAudioLevel(packet.extension, 1)).toEqual({ voiceActivity: true, level: 42 });
    expect(audioLevelOctet(packet.extension, 1)).toBe(0xaa);
    expect(audioLevelOctet(packet.extension, 5)).toBe(-1);
    expect(readAudioLevel(undefined, 1)).toBeUndefined();
  });

  it('parses the two-byte form, including zero-length elements and padding', () => {
    const extension = { profile: 0x1000, data: hex('0701 81 00 0800 0c02 abcd 0000') };
    expect(parseHeaderExtensions(extension)!.map((e) => [e.id, toHex(e.data)])).toEqual([
      [7, '81'],
      [8, ''],
      [12, 'abcd'],
    ]);
    expect(readAudioLevel(extension, 7)).toEqual({ voiceActivity: true, level: 1 });
  });

  it('stops at ID 15 in the one-byte form (RFC 8285 §4.2)', () => {
    const extension = { profile: 0xbede, data: hex('10aa f0 2101 00') };
    expect(parseHeaderExtensions(extension)!.map((e) => e.id)).toEqual([1]);
    expect(findHeaderExtension(extension, 2)).toBeUndefined();
  });

  it.each([
    ['a non-RFC 8285 profile', { profile: 0x1234, data: hex('10aa0000') }],
    ['a one-byte element overrunning the data', { profile: 0xbede, data: hex('3312') }],
    ['a two-byte element overrunning the data', { profile: 0x1000, data: hex('0105aabb') }],
    ['a two-byte header cut short', { profile: 0x1000, data: hex('01') }],
  ])('rejects %s', (_name, extension) => {
    expect(parseHeaderExtensions(extension)).toBeUndefined();
    expect(findHeaderExtension(extension, 1)).toBeUndefined();
    expect(audioLevelOctet(extension, 1)).toBe(-1);
  });

  it('serializes in the one-byte form when possible and round-trips through a packet', () => {
    const extension = serializeHeaderExtensions([
      audioLevelElement(1, 42, true),
      { id: 3, data: hex('123456') },
    ]);
    expect(extension.profile).toBe(0xbede);
    expect(toHex(extension.data)).toBe('10aa3212' + '34560000');
    const packet = parseRtp(hex(BROWSER_PACKET))!;
    expect(toHex(serializeRtp({ ...packet, extension }))).toBe(toHex(hex(BROWSER_PACKET)));
  });

  it('falls back to the two-byte form for large IDs, long or empty data', () => {
    const extension = serializeHeaderExtensions([
      { id: 1, data: hex('aa') },
      { id: 20, data: new Uint8Array(0) },
    ]);
    expect(extension.profile).toBe(0x1000);
    expect(toHex(extension.data)).toBe('0101aa' + '1400' + '000000');
    expect(() => serializeHeaderExtensions([{ id: 0, data: hex('aa') }])).toThrow(RangeError);
    expect(() => serializeHeaderExtensions([{ id: 1, data: new Uint8Array(256) }])).toThrow(
      RangeError,
    );
  });

  it('clamps audio levels to 0–127', () => {
    expect(toHex(audioLevelElement(1, 200, false).data)).toBe('7f');
    expect(toHex(audioLevelElement(1, -3, true).data)).toBe('80');
  });
});
