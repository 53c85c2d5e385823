/**
 * RTP fixed header, CSRC list, header extension and padding (RFC 3550 §5.1, §5.3.1).
 *
 * Lean by design: {@link parseRtp} returns a plain object whose `payload` (and extension `data`)
 * are subarrays of the input — nothing is copied, so the caller must not reuse the input buffer
 * while the packet is alive. Malformed input never throws; it yields `undefined`.
 *
 * RFC 8285 element parsing lives in `extensions.ts`; this module keeps the extension raw.
 */

/** A raw RTP header extension (RFC 3550 §5.3.1): the 16-bit profile word and its data words. */
export interface RtpHeaderExtension {
  /** "Defined by profile" 16 bits (0xBEDE for RFC 8285 one-byte, 0x100x for two-byte). */
  profile: number;
  /** Extension data; its length is a multiple of 4 on the wire (serialization pads if needed). */
  data: Uint8Array;
}

/** One RTP packet (version 2). */
export interface RtpPacket {
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  csrcs: readonly number[];
  extension: RtpHeaderExtension | undefined;
  payload: Uint8Array;
  /**
   * Number of padding octets including the count octet itself (RFC 3550 §5.1 "P" bit).
   * Absent or 0: no padding. {@link parseRtp} always sets it (0 when absent) so that every parsed
   * packet has the same object shape.
   */
  padding?: number;
}

/** Length of the RTP fixed header in octets (RFC 3550 §5.1). */
export const RTP_HEADER_LENGTH = 12;

const EMPTY_CSRCS: readonly number[] = Object.freeze([]);

/**
 * Parses one RTP packet. Returns `undefined` for anything that is not valid RTP version 2:
 * too short, wrong version, CSRC list/extension/padding overrunning the buffer, or an RTCP
 * packet type in the second octet (RFC 5761 §4).
 */
export function parseRtp(data: Uint8Array): RtpPacket | undefined {
  const length = data.length;
  if (length < RTP_HEADER_LENGTH) {
    return undefined;
  }
  const b0 = data[0]!;
  if (b0 >> 6 !== 2) {
    return undefined;
  }
  const b1 = data[1]!;
  // RFC 5761 §4: PT values 64–95 with the marker bit form the RTCP range 192–223.
  if (b1 >= 192 && b1 <= 223) {
    return undefined;
  }
  const csrcCount = b0 & 0x0f;
  let offset = RTP_HEADER_LENGTH + csrcCount * 4;
  if (offset > length) {
    return undefined;
  }

  let csrcs = EMPTY_CSRCS;
  if (csrcCount > 0) {
    const list: number[] = new Array<number>(csrcCount);
    for (let i = 0; i < csrcCount; i++) {
      list[i] = readU32(data, RTP_HEADER_LENGTH + i * 4);
    }
    csrcs = list;
  }

  let extension: RtpHeaderExtension | undefined;
  if ((b0 & 0x10) !== 0) {
    // RFC 3550 §5.3.1: 16-bit profile, 16-bit length in 32-bit words (excluding this header).
    if (offset + 4 > length) {
      return undefined;
    }
    const profile = (data[offset]! << 8) | data[offset + 1]!;
    const words = (data[offset + 2]! << 8) | data[offset + 3]!;
    const end = offset + 4 + words * 4;
    if (end > length) {
      return undefined;
    }
    extension = { profile, data: data.subarray(offset + 4, end) };
    offset = end;
  }

  let payloadEnd = length;
  let padding = 0;
  if ((b0 & 0x20) !== 0) {
    // RFC 3550 §5.1: the last octet counts the padding octets, itself included; it can't be 0.
    padding = data[length - 1]!;
    if (padding === 0 || offset + padding > length) {
      return undefined;
    }
    payloadEnd = length - padding;
  }

  const packet: RtpPacket = {
    marker: (b1 & 0x80) !== 0,
    payloadType: b1 & 0x7f,
    sequenceNumber: (data[2]! << 8) | data[3]!,
    timestamp: readU32(data, 4),
    ssrc: readU32(data, 8),
    csrcs,
    extension,
    payload: data.subarray(offset, payloadEnd),
    padding,
  };
  return packet;
}

/** Number of octets {@link serializeRtp} will produce for `packet`. */
export function rtpSerializedLength(packet: RtpPacket): number {
  const csrcCount = Math.min(packet.csrcs.length, 15);
  let length = RTP_HEADER_LENGTH + csrcCount * 4 + packet.payload.length;
  if (packet.extension) {
    length += 4 + paddedTo4(packet.extension.data.length);
  }
  const padding = packet.padding ?? 0;
  if (padding > 0) {
    length += Math.min(padding, 255);
  }
  return length;
}

/**
 * Serializes `packet` into a new buffer. CSRCs beyond 15 are dropped (the CC field has 4 bits);
 * extension data is zero-padded to a 32-bit boundary; padding octets are zero except the last,
 * which holds the count (RFC 3550 §5.1).
 */
export function serializeRtp(packet: RtpPacket): Uint8Array {
  const out = new Uint8Array(rtpSerializedLength(packet));
  serializeRtpInto(packet, out, 0);
  return out;
}

/**
 * Serializes `packet` into `target` at `offset` (no allocation; the hot path of legs that keep
 * one send buffer). Returns the number of octets written. `target` must have room for
 * {@link rtpSerializedLength} octets; otherwise a `RangeError` is thrown.
 */
export function serializeRtpInto(packet: RtpPacket, target: Uint8Array, offset: number): number {
  const length = rtpSerializedLength(packet);
  if (offset < 0 || offset + length > target.length) {
    throw new RangeError(`RTP packet of ${length} octets does not fit at offset ${offset}`);
  }
  const csrcCount = Math.min(packet.csrcs.length, 15);
  const padding = Math.min(packet.padding ?? 0, 255);
  const ext = packet.extension;
  target[offset] = 0x80 | (padding > 0 ? 0x20 : 0) | (ext ? 0x10 : 0) | csrcCount;
  target[offset + 1] = (packet.marker ? 0x80 : 0) | (packet.payloadType & 0x7f);
  target[offset + 2] = (packet.sequenceNumber >>> 8) & 0xff;
  target[offset + 3] = packet.sequenceNumber & 0xff;
  writeU32(target, offset + 4, packet.timestamp);
  writeU32(target, offset + 8, packet.ssrc);
  let at = offset + RTP_HEADER_LENGTH;
  for (let i = 0; i < csrcCount; i++) {
    writeU32(target, at, packet.csrcs[i]!);
    at += 4;
  }
  if (ext) {
    const padded = paddedTo4(ext.data.length);
    target[at] = (ext.profile >>> 8) & 0xff;
    target[at + 1] = ext.profile & 0xff;
    target[at + 2] = (padded >>> 10) & 0xff;
    target[at + 3] = (padded >>> 2) & 0xff;
    target.set(ext.data, at + 4);
    target.fill(0, at + 4 + ext.data.length, at + 4 + padded);
    at += 4 + padded;
  }
  target.set(packet.payload, at);
  at += packet.payload.length;
  if (padding > 0) {
    target.fill(0, at, at + padding - 1);
    target[at + padding - 1] = padding;
    at += padding;
  }
  return at - offset;
}

/**
 * RFC 5761 §4 demultiplexing of RTP and RTCP on one port: version 2 and a second octet in
 * 192–223 (RTCP packet types; RTP payload types 64–95 with the marker bit collide and are
 * therefore never used when multiplexing).
 */
export function isRtcp(data: Uint8Array): boolean {
  if (data.length < 4) {
    return false;
  }
  const b1 = data[1]!;
  return data[0]! >> 6 === 2 && b1 >= 192 && b1 <= 223;
}

function paddedTo4(n: number): number {
  return (n + 3) & ~3;
}

function readU32(data: Uint8Array, at: number): number {
  return ((data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!) >>> 0;
}

function writeU32(target: Uint8Array, at: number, value: number): void {
  target[at] = (value >>> 24) & 0xff;
  target[at + 1] = (value >>> 16) & 0xff;
  target[at + 2] = (value >>> 8) & 0xff;
  target[at + 3] = value & 0xff;
}
