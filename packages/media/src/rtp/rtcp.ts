/**
 * RTCP (RFC 3550 §6): parsing of compound packets (SR, RR, SDES, BYE; other packet types are
 * skipped) and building of SR, RR, SDES and BYE, for plain RTP legs.
 *
 * Feedback messages (RFC 4585/5104: NACK, PLI, REMB, transport-cc) are skipped here; WebRTC
 * legs get them from their stack.
 */

/** RTCP packet types (RFC 3550 §12.1). */
export const RtcpPacketType = {
  SenderReport: 200,
  ReceiverReport: 201,
  SourceDescription: 202,
  Goodbye: 203,
  Application: 204,
} as const;

/** SDES item types (RFC 3550 §6.5). */
export const SdesItemType = {
  Cname: 1,
  Name: 2,
  Email: 3,
  Phone: 4,
  Location: 5,
  Tool: 6,
  Note: 7,
  Private: 8,
} as const;

/** A reception report block (RFC 3550 §6.4.1). */
export interface RtcpReportBlock {
  /** The source this block reports on. */
  ssrc: number;
  /** Fraction lost since the previous report, in 1/256 (0–255). */
  fractionLost: number;
  /** Cumulative number of packets lost (signed 24 bits: duplicates can make it negative). */
  packetsLost: number;
  /** Extended highest sequence number received (cycles << 16 | highest). */
  highestSequence: number;
  /** Interarrival jitter in RTP timestamp units. */
  jitter: number;
  /** Middle 32 bits of the NTP timestamp of the last SR received from the source (0: none). */
  lastSenderReport: number;
  /** Delay since that SR, in 1/65536 s. */
  delaySinceLastSenderReport: number;
}

/** A sender report (PT 200). */
export interface RtcpSenderReport {
  type: 'sr';
  ssrc: number;
  /** NTP timestamp, integer seconds since 1900. */
  ntpSeconds: number;
  /** NTP timestamp, fraction of a second in 1/2^32. */
  ntpFraction: number;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  reports: RtcpReportBlock[];
}

/** A receiver report (PT 201). */
export interface RtcpReceiverReport {
  type: 'rr';
  ssrc: number;
  reports: RtcpReportBlock[];
}

/** One SDES item; `value` is UTF-8 text on the wire (at most 255 octets). */
export interface SdesItem {
  type: number;
  value: string;
}

/** A source description (PT 202). */
export interface RtcpSourceDescription {
  type: 'sdes';
  chunks: { ssrc: number; items: SdesItem[] }[];
}

/** A goodbye (PT 203). */
export interface RtcpGoodbye {
  type: 'bye';
  ssrcs: number[];
  reason: string | undefined;
}

/** The RTCP packets this module understands. */
export type RtcpPacket =
  RtcpSenderReport | RtcpReceiverReport | RtcpSourceDescription | RtcpGoodbye;

const REPORT_BLOCK_LENGTH = 24;
const MAX_REPORT_BLOCKS = 31;
const textDecoder = new TextDecoder('utf-8', { fatal: false });
const textEncoder = new TextEncoder();

/**
 * Parses a compound RTCP packet (RFC 3550 §6.1). Returns the SR, RR, SDES and BYE packets it
 * contains, in order; other types are skipped. Returns `undefined` when the compound is
 * invalid: a packet that is not version 2, a length that overruns the datagram, or bad padding
 * (RFC 3550 Appendix A.2). Malformed contents of a known type invalidate the whole compound.
 */
export function parseRtcp(data: Uint8Array): RtcpPacket[] | undefined {
  const packets: RtcpPacket[] = [];
  let at = 0;
  if (data.length < 4) {
    return undefined;
  }
  while (at < data.length) {
    if (at + 4 > data.length) {
      return undefined;
    }
    const b0 = data[at]!;
    if (b0 >> 6 !== 2) {
      return undefined;
    }
    const packetType = data[at + 1]!;
    const length = (((data[at + 2]! << 8) | data[at + 3]!) + 1) * 4;
    const end = at + length;
    if (end > data.length) {
      return undefined;
    }
    let bodyEnd = end;
    if ((b0 & 0x20) !== 0) {
      // RFC 3550 §6.4.1: the last octet counts the padding, itself included.
      const padding = data[end - 1]!;
      if (padding === 0 || at + 4 + padding > end) {
        return undefined;
      }
      bodyEnd = end - padding;
    }
    const count = b0 & 0x1f;
    const body = data.subarray(at + 4, bodyEnd);
    let parsed: RtcpPacket | undefined | null = null;
    switch (packetType) {
      case RtcpPacketType.SenderReport:
        parsed = parseSenderReport(body, count);
        break;
      case RtcpPacketType.ReceiverReport:
        parsed = parseReceiverReport(body, count);
        break;
      case RtcpPacketType.SourceDescription:
        parsed = parseSourceDescription(body, count);
        break;
      case RtcpPacketType.Goodbye:
        parsed = parseGoodbye(body, count);
        break;
      default:
        break; // skipped (APP, feedback, XR, …)
    }
    if (parsed === undefined) {
      return undefined;
    }
    if (parsed !== null) {
      packets.push(parsed);
    }
    at = end;
  }
  return packets;
}

function parseSenderReport(body: Uint8Array, count: number): RtcpSenderReport | undefined {
  if (body.length < 24 + count * REPORT_BLOCK_LENGTH) {
    return undefined;
  }
  return {
    type: 'sr',
    ssrc: u32(body, 0),
    ntpSeconds: u32(body, 4),
    ntpFraction: u32(body, 8),
    rtpTimestamp: u32(body, 12),
    packetCount: u32(body, 16),
    octetCount: u32(body, 20),
    reports: parseReportBlocks(body, 24, count),
  };
}

function parseReceiverReport(body: Uint8Array, count: number): RtcpReceiverReport | undefined {
  if (body.length < 4 + count * REPORT_BLOCK_LENGTH) {
    return undefined;
  }
  return { type: 'rr', ssrc: u32(body, 0), reports: parseReportBlocks(body, 4, count) };
}

function parseReportBlocks(body: Uint8Array, offset: number, count: number): RtcpReportBlock[] {
  const reports: RtcpReportBlock[] = [];
  for (let i = 0; i < count; i++) {
    const at = offset + i * REPORT_BLOCK_LENGTH;
    const lost = (body[at + 5]! << 16) | (body[at + 6]! << 8) | body[at + 7]!;
    reports.push({
      ssrc: u32(body, at),
      fractionLost: body[at + 4]!,
      packetsLost: lost & 0x800000 ? lost - 0x1000000 : lost,
      highestSequence: u32(body, at + 8),
      jitter: u32(body, at + 12),
      lastSenderReport: u32(body, at + 16),
      delaySinceLastSenderReport: u32(body, at + 20),
    });
  }
  return reports;
}

function parseSourceDescription(
  body: Uint8Array,
  count: number,
): RtcpSourceDescription | undefined {
  const chunks: RtcpSourceDescription['chunks'] = [];
  let at = 0;
  for (let c = 0; c < count; c++) {
    if (at + 4 > body.length) {
      return undefined;
    }
    const ssrc = u32(body, at);
    at += 4;
    const items: SdesItem[] = [];
    for (;;) {
      if (at >= body.length) {
        return undefined;
      }
      const type = body[at]!;
      if (type === 0) {
        // RFC 3550 §6.5: a null item ends the list; the chunk is padded to 32 bits.
        at = (at + 4) & ~3;
        break;
      }
      if (at + 2 > body.length) {
        return undefined;
      }
      const length = body[at + 1]!;
      if (at + 2 + length > body.length) {
        return undefined;
      }
      items.push({ type, value: textDecoder.decode(body.subarray(at + 2, at + 2 + length)) });
      at += 2 + length;
    }
    chunks.push({ ssrc, items });
  }
  return { type: 'sdes', chunks };
}

function parseGoodbye(body: Uint8Array, count: number): RtcpGoodbye | undefined {
  if (body.length < count * 4) {
    return undefined;
  }
  const ssrcs: number[] = [];
  for (let i = 0; i < count; i++) {
    ssrcs.push(u32(body, i * 4));
  }
  let reason: string | undefined;
  const at = count * 4;
  if (at < body.length) {
    const length = body[at]!;
    if (at + 1 + length > body.length) {
      return undefined;
    }
    reason = textDecoder.decode(body.subarray(at + 1, at + 1 + length));
  }
  return { type: 'bye', ssrcs, reason };
}

/** Serializes one sender report. At most 31 report blocks (RC has 5 bits). */
export function serializeSenderReport(report: Omit<RtcpSenderReport, 'type'>): Uint8Array {
  const count = checkBlocks(report.reports.length);
  const out = new Uint8Array(28 + count * REPORT_BLOCK_LENGTH);
  writeHeader(out, 0, count, RtcpPacketType.SenderReport);
  writeU32(out, 4, report.ssrc);
  writeU32(out, 8, report.ntpSeconds);
  writeU32(out, 12, report.ntpFraction);
  writeU32(out, 16, report.rtpTimestamp);
  writeU32(out, 20, report.packetCount);
  writeU32(out, 24, report.octetCount);
  writeReportBlocks(out, 28, report.reports);
  return out;
}

/** Serializes one receiver report. At most 31 report blocks. */
export function serializeReceiverReport(report: Omit<RtcpReceiverReport, 'type'>): Uint8Array {
  const count = checkBlocks(report.reports.length);
  const out = new Uint8Array(8 + count * REPORT_BLOCK_LENGTH);
  writeHeader(out, 0, count, RtcpPacketType.ReceiverReport);
  writeU32(out, 4, report.ssrc);
  writeReportBlocks(out, 8, report.reports);
  return out;
}

/**
 * Serializes a source description. Item values longer than 255 UTF-8 octets are truncated;
 * at most 31 chunks.
 */
export function serializeSourceDescription(
  description: Omit<RtcpSourceDescription, 'type'>,
): Uint8Array {
  const count = checkBlocks(description.chunks.length);
  const encoded = description.chunks.slice(0, count).map((chunk) => ({
    ssrc: chunk.ssrc,
    items: chunk.items.map((item) => ({
      type: item.type & 0xff,
      value: textEncoder.encode(item.value).subarray(0, 255),
    })),
  }));
  let length = 4;
  for (const chunk of encoded) {
    let chunkLength = 4;
    for (const item of chunk.items) {
      chunkLength += 2 + item.value.length;
    }
    // At least one null octet ends the item list, then padding to 32 bits.
    length += (chunkLength + 1 + 3) & ~3;
  }
  const out = new Uint8Array(length);
  writeHeader(out, 0, count, RtcpPacketType.SourceDescription);
  let at = 4;
  for (const chunk of encoded) {
    const start = at;
    writeU32(out, at, chunk.ssrc);
    at += 4;
    for (const item of chunk.items) {
      out[at] = item.type;
      out[at + 1] = item.value.length;
      out.set(item.value, at + 2);
      at += 2 + item.value.length;
    }
    at = start + ((at - start + 1 + 3) & ~3);
  }
  return out;
}

/** Serializes a goodbye (at most 31 SSRCs; reason truncated to 255 UTF-8 octets). */
export function serializeGoodbye(goodbye: Omit<RtcpGoodbye, 'type'>): Uint8Array {
  const count = checkBlocks(goodbye.ssrcs.length);
  const reason =
    goodbye.reason === undefined ? undefined : textEncoder.encode(goodbye.reason).subarray(0, 255);
  const reasonLength = reason === undefined ? 0 : (1 + reason.length + 3) & ~3;
  const out = new Uint8Array(4 + count * 4 + reasonLength);
  writeHeader(out, 0, count, RtcpPacketType.Goodbye);
  for (let i = 0; i < count; i++) {
    writeU32(out, 4 + i * 4, goodbye.ssrcs[i]!);
  }
  if (reason !== undefined) {
    out[4 + count * 4] = reason.length;
    out.set(reason, 5 + count * 4);
  }
  return out;
}

/** Serializes packets into one compound packet (RFC 3550 §6.1: start with SR or RR). */
export function serializeRtcp(packets: readonly RtcpPacket[]): Uint8Array {
  const parts = packets.map((packet) => {
    switch (packet.type) {
      case 'sr':
        return serializeSenderReport(packet);
      case 'rr':
        return serializeReceiverReport(packet);
      case 'sdes':
        return serializeSourceDescription(packet);
      case 'bye':
        return serializeGoodbye(packet);
    }
  });
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
const NTP_UNIX_OFFSET = 2_208_988_800;

/** The NTP timestamp (RFC 3550 §4) of a Unix time in milliseconds. */
export function ntpFromUnixMs(unixMs: number): { ntpSeconds: number; ntpFraction: number } {
  const seconds = Math.floor(unixMs / 1000);
  const fraction = Math.floor(((unixMs - seconds * 1000) / 1000) * 0x1_0000_0000);
  return { ntpSeconds: (seconds + NTP_UNIX_OFFSET) >>> 0, ntpFraction: fraction >>> 0 };
}

/** The middle 32 bits of an NTP timestamp: the LSR of a report block (RFC 3550 §6.4.1). */
export function ntpMiddle32(ntpSeconds: number, ntpFraction: number): number {
  return (((ntpSeconds & 0xffff) << 16) | (ntpFraction >>> 16)) >>> 0;
}

function checkBlocks(count: number): number {
  if (count > MAX_REPORT_BLOCKS) {
    throw new RangeError(`an RTCP packet carries at most ${MAX_REPORT_BLOCKS} items, got ${count}`);
  }
  return count;
}

function writeHeader(out: Uint8Array, at: number, count: number, packetType: number): void {
  const words = (out.length - at) / 4 - 1;
  out[at] = 0x80 | count;
  out[at + 1] = packetType;
  out[at + 2] = words >>> 8;
  out[at + 3] = words & 0xff;
}

function writeReportBlocks(
  out: Uint8Array,
  offset: number,
  reports: readonly RtcpReportBlock[],
): void {
  for (let i = 0; i < reports.length; i++) {
    const block = reports[i]!;
    const at = offset + i * REPORT_BLOCK_LENGTH;
    const lost = Math.min(Math.max(block.packetsLost, -0x800000), 0x7fffff) & 0xffffff;
    writeU32(out, at, block.ssrc);
    out[at + 4] = Math.min(Math.max(block.fractionLost, 0), 255);
    out[at + 5] = lost >>> 16;
    out[at + 6] = (lost >>> 8) & 0xff;
    out[at + 7] = lost & 0xff;
    writeU32(out, at + 8, block.highestSequence);
    writeU32(out, at + 12, block.jitter);
    writeU32(out, at + 16, block.lastSenderReport);
    writeU32(out, at + 20, block.delaySinceLastSenderReport);
  }
}

function u32(data: Uint8Array, at: number): number {
  return ((data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!) >>> 0;
}

function writeU32(target: Uint8Array, at: number, value: number): void {
  target[at] = (value >>> 24) & 0xff;
  target[at + 1] = (value >>> 16) & 0xff;
  target[at + 2] = (value >>> 8) & 0xff;
  target[at + 3] = value & 0xff;
}
